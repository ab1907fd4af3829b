package simplestreams

import (
	"cmp"
	"log/slog"
	"slices"
	"strings"

	"maas-import-boot-images/internal/logs"
)

// SelectBootloaders picks, for every bootloader-type and arch, the newest
// complete version of the bootloader product that serves one of the given
// image arches (its arches attribute, comma separated, or its arch). Across
// sources the first source wins; within one, the product name that sorts
// first. Products without a bootloader-type are ignored. The result is
// sorted like Select's. log may be nil.
func SelectBootloaders(sources []Stream, imageArches []string, log *slog.Logger) []BootImage {
	log = logs.OrDiscard(log)
	chosen := map[bootloaderKey]BootImage{}
	for si, src := range sources {
		mine := map[bootloaderKey]BootImage{}
		eachProduct(src, func(ps *Products, p product) {
			b, ok := bootloader(p, imageArches, log)
			if !ok {
				return
			}
			k := bootloaderKey{b.Bootloader, b.Arch}
			if old, ok := mine[k]; ok && old.ProductName < p.name {
				return
			}
			b.ContentID, b.Source = ps.ContentID, si
			mine[k] = b
		})
		for k, b := range mine {
			if _, ok := chosen[k]; !ok {
				chosen[k] = b
			}
		}
	}
	out := make([]BootImage, 0, len(chosen))
	for _, b := range chosen {
		out = append(out, b)
	}
	slices.SortFunc(out, func(a, b BootImage) int { return compareImages(a.Image, b.Image) })
	return out
}

// bootloaderKey is what one bootloader is chosen for.
type bootloaderKey struct{ typ, arch string }

// bootloader returns the newest complete version of a bootloader product
// that serves one of imageArches, as a BootImage without its ContentID
// and Source.
func bootloader(p product, imageArches []string, log *slog.Logger) (BootImage, bool) {
	if !p.isBootloader() {
		return BootImage{}, false // a boot image: Select's business (and its log)
	}
	v, ok := p.newest(log)
	if !ok || len(v.files) == 0 {
		return BootImage{}, false
	}
	a := v.attrs
	typ, arch := a.BootloaderType, a.Arch
	if typ == "" || arch == "" || checkName("bootloader-type", typ) != nil {
		return BootImage{}, false
	}
	serves := strings.Split(cmp.Or(a.Arches, arch), ",")
	if !slices.ContainsFunc(serves, func(s string) bool { return slices.Contains(imageArches, strings.TrimSpace(s)) }) {
		return BootImage{}, false
	}
	return BootImage{
		Image:       Image{OS: cmp.Or(a.OS, typ), Arch: arch, Subarch: "generic", Release: typ, Label: cmp.Or(a.Label, "stable")},
		ProductName: p.name,
		VersionName: v.name,
		Subarches:   "generic",
		Items:       v.files,
		Bootloader:  typ,
	}, true
}

// isBootloader says whether a product or one of its versions has a
// bootloader-type.
func (p product) isBootloader() bool {
	if p.attrs.BootloaderType != "" {
		return true
	}
	for _, v := range p.versions {
		if v.Attrs.Inherit(p.attrs).BootloaderType != "" {
			return true
		}
	}
	return false
}
