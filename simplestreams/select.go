package simplestreams

import (
	"cmp"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"maas-import-boot-images/internal/logs"
)

// Stream is what one source offers, in source order.
type Stream struct {
	Products   []*Products
	Selections []Selection
}

// Matches reports whether the selection selects the image.
func (s Selection) Matches(im Image) bool {
	return matchOne(s.OS, im.OS) && matchOne(s.Release, im.Release) &&
		matchList(s.Arches, im.Arch) && matchList(s.Subarches, im.Subarch) && matchList(s.Labels, im.Label)
}

func matchOne(want, got string) bool { return want == "" || want == "*" || want == got }

func matchList(want []string, got string) bool {
	if want == nil {
		return true
	}
	return slices.Contains(want, "*") || slices.Contains(want, got)
}

// Claim strengths: how strongly a product claims an image's subarch. The
// strongest claim wins; a tie goes to the product name that sorts first.
const (
	claimOwn     = 3 // the product's own subarch (with its flavour, see flavoured)
	claimGeneric = 2 // "generic", claimed by the release's own GA kernel
	claimFanOut  = 1 // any other name in subarches
)

type claim struct {
	strength int
	image    BootImage
}

// Select applies MAAS's rules (SPEC §3.4) to every source and returns the
// selected images sorted by (os, arch, subarch, release, label). Across
// sources the first source that provides an image wins. log may be nil. No
// image at all is ErrNothingSelected.
func Select(sources []Stream, log *slog.Logger) ([]BootImage, error) {
	log = logs.OrDiscard(log)
	chosen := map[Image]BootImage{}
	var offered []Image // for the error when nothing is chosen
	for si, src := range sources {
		claims := map[Image]claim{}
		eachProduct(src, func(ps *Products, p product) { offer(claims, p, ps.ContentID, si, log) })
		for im := range claims {
			offered = append(offered, im)
		}
		for im, c := range claims {
			if _, taken := chosen[im]; taken || !selected(src.Selections, im) {
				continue
			}
			chosen[im] = c.image
		}
	}
	if len(chosen) == 0 {
		return nil, &NothingSelectedError{Offered: summarize(offered)}
	}
	out := make([]BootImage, 0, len(chosen))
	for _, b := range chosen {
		out = append(out, b)
	}
	slices.SortFunc(out, func(a, b BootImage) int { return compareImages(a.Image, b.Image) })
	return out, nil
}

func compareImages(a, b Image) int {
	return cmp.Or(cmp.Compare(a.OS, b.OS), cmp.Compare(a.Arch, b.Arch), cmp.Compare(a.Subarch, b.Subarch),
		cmp.Compare(a.Release, b.Release), cmp.Compare(a.Label, b.Label))
}

func selected(sels []Selection, im Image) bool {
	for _, s := range sels {
		if s.Matches(im) {
			return true
		}
	}
	return false
}

// offer records the images a product claims, keeping the strongest claim.
func offer(claims map[Image]claim, p product, contentID string, source int, log *slog.Logger) {
	if p.attrs.BootloaderType != "" {
		return // a bootloader: SelectBootloaders' business (and its log)
	}
	v, ok := p.newest(log)
	if !ok {
		return
	}
	a := v.attrs
	arch, release, label := a.Arch, a.Release, a.Label
	own, fan := a.Subarch, a.Subarches
	if arch == "" || release == "" || label == "" || (own == "" && fan == "") || a.BootloaderType != "" {
		return // not a boot image (a bootloader, say)
	}
	osName := cmp.Or(a.OS, "ubuntu")
	subarches := cmp.Or(fan, own)
	base := BootImage{
		Image:       Image{OS: osName, Arch: arch, Release: release, Label: label},
		ContentID:   contentID,
		ProductName: p.name,
		VersionName: v.name,
		Subarches:   subarches,
		Source:      source,
		Items:       v.files,
	}
	put := func(subarch string, strength int) {
		if checkName("subarch", subarch) != nil {
			return
		}
		b := base
		b.Subarch = subarch
		c, ok := claims[b.Image]
		if ok && (c.strength > strength || (c.strength == strength && c.image.ProductName < p.name)) {
			return
		}
		claims[b.Image] = claim{strength: strength, image: b}
	}
	if kf := a.KFlavor; kf != "" && kf != "generic" {
		if own == "" {
			own = strings.Split(fan, ",")[0]
		}
		put(flavoured(own, kf), claimOwn)
		return
	}
	if own != "" {
		put(own, claimOwn)
	}
	ga := own == "ga-"+a.Version || (len(release) > 0 && own == "hwe-"+release[:1])
	for _, s := range strings.Split(fan, ",") {
		s = strings.TrimSpace(s)
		switch {
		case s == "" || s == own:
		case s == "generic" && ga:
			put(s, claimGeneric)
		default:
			put(s, claimFanOut)
		}
	}
}

// product is a product as selection sees it: its name, its versions and
// the attributes in force at it, inherited from the top level.
type product struct {
	name     string
	versions map[string]Version
	attrs    Attrs
}

// eachProduct calls fn with every product of the stream, file by file, in
// name order (so that the debug log does not depend on map order).
func eachProduct(src Stream, fn func(ps *Products, p product)) {
	for _, ps := range src.Products {
		for _, name := range sortedKeys(make([]string, 0, len(ps.Products)), ps.Products) {
			p := ps.Products[name]
			fn(ps, product{name: name, versions: p.Versions, attrs: p.Attrs.Inherit(ps.Attrs)})
		}
	}
}

// version is the newest complete version of a product: its name, the
// attributes in force at it and its files.
type version struct {
	name  string
	attrs Attrs
	files []File
}

// newest returns the newest complete version of a product: the greatest
// name in byte order whose Files are usable. The versions it skips are
// logged at debug level.
func (p product) newest(log *slog.Logger) (version, bool) {
	var v version
	found := false
	p.complete(log, func(c version) bool { v, found = c, true; return false })
	return v, found
}

// complete calls fn with the product's complete versions, newest first,
// until fn returns false.
func (p product) complete(log *slog.Logger, fn func(version) bool) {
	var buf [8]string
	names := sortedKeys(buf[:0], p.versions)
	for i := len(names) - 1; i >= 0; i-- {
		v := p.versions[names[i]]
		va := v.Attrs.Inherit(p.attrs)
		var files []File
		err := fmt.Errorf("%w: empty version name", ErrIncomplete)
		if names[i] != "" {
			files, err = v.Files(p.attrs)
		}
		if err == nil {
			err = checkIdentity(&va) // for a Products not made by ParseProducts
		}
		if err != nil {
			log.Debug("skipping incomplete version", "product", p.name, "version", names[i], "why", err)
			continue
		}
		if !fn(version{name: names[i], attrs: va, files: files}) {
			return
		}
	}
}

// NewestVersions returns the names of the n newest complete versions of
// the product named name in ps, newest first: the first is the one that
// Select and SelectBootloaders take. A mirror keeps these (SPEC §7,
// --max-versions). log may be nil.
func (ps *Products) NewestVersions(name string, n int, log *slog.Logger) []string {
	pr, ok := ps.Products[name]
	if !ok || n <= 0 {
		return nil
	}
	p := product{name: name, versions: pr.Versions, attrs: pr.Attrs.Inherit(ps.Attrs)}
	var out []string
	p.complete(logs.OrDiscard(log), func(v version) bool {
		out = append(out, v.name)
		return len(out) < n
	})
	return out
}

// flavoured names the image of a flavoured kernel (kflavor not generic) as
// MAAS's region does (src/maasserver/bootresources.py,
// get_or_create_boot_resource, MAAS 3.4): a ga- or hwe- subarch that does
// not already contain the flavour gets it, before "-edge" when it ends so;
// any other subarch is kept. images.maas.io already puts the flavour in the
// subarch (hwe-22.04-lowlatency), which is then kept as it is.
func flavoured(subarch, kflavor string) string {
	if !strings.Contains(subarch, "ga-") && !strings.Contains(subarch, "hwe-") || strings.Contains(subarch, kflavor) {
		return subarch
	}
	if base, ok := strings.CutSuffix(subarch, "-edge"); ok {
		return base + "-" + kflavor + "-edge"
	}
	return subarch + "-" + kflavor
}

// NothingSelectedError is ErrNothingSelected with what the streams offer,
// so that the operator can fix the selections without another tool.
type NothingSelectedError struct {
	Offered []string // "ubuntu/amd64 jammy, noble (stable)", sorted
}

func (e *NothingSelectedError) Error() string {
	if len(e.Offered) == 0 {
		return ErrNothingSelected.Error() + "; the streams offer no boot images"
	}
	const most = 8
	list := e.Offered
	more := ""
	if len(list) > most {
		more = fmt.Sprintf("; and %d more", len(list)-most)
		list = list[:most]
	}
	return ErrNothingSelected.Error() + "; the streams offer " + strings.Join(list, "; ") + more
}

func (e *NothingSelectedError) Unwrap() error { return ErrNothingSelected }

// summarize groups images by os, arch and label, listing their releases.
func summarize(images []Image) []string {
	type group struct{ os, arch, label string }
	releases := map[group]map[string]bool{}
	for _, im := range images {
		g := group{im.OS, im.Arch, im.Label}
		if releases[g] == nil {
			releases[g] = map[string]bool{}
		}
		releases[g][im.Release] = true
	}
	out := make([]string, 0, len(releases))
	for g, rels := range releases {
		names := make([]string, 0, len(rels))
		for r := range rels {
			names = append(names, r)
		}
		slices.Sort(names)
		out = append(out, fmt.Sprintf("%s/%s %s (%s)", g.os, g.arch, strings.Join(names, ", "), g.label))
	}
	slices.Sort(out)
	return out
}
