package simplestreams

import (
	"cmp"
	"log/slog"
	"slices"
	"strings"
)

// SelectBootloaders picks, for every bootloader-type and arch, the newest
// complete version of the bootloader product that serves one of the given
// image arches (its arches attribute, comma separated, or its arch). Across
// sources the first source wins; within one, the product name that sorts
// first. Products without a bootloader-type are ignored. The result is
// sorted like Select's. log may be nil.
func SelectBootloaders(sources []Stream, imageArches []string, log *slog.Logger) []BootImage {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	type key struct{ typ, arch string }
	chosen := map[key]BootImage{}
	for si, src := range sources {
		mine := map[key]BootImage{}
		for _, ps := range src.Products {
			for i := range ps.products {
				p := &ps.products[i]
				if !isBootloader(p) {
					continue // a boot image: Select's business (and its log)
				}
				v := newest(p, log)
				if v == nil || len(v.items) == 0 {
					continue
				}
				a := v.attrs
				typ, arch := a["bootloader-type"], a["arch"]
				if typ == "" || arch == "" || checkName("bootloader-type", typ) != nil {
					continue
				}
				serves := strings.Split(cmp.Or(a["arches"], arch), ",")
				if !slices.ContainsFunc(serves, func(s string) bool { return slices.Contains(imageArches, strings.TrimSpace(s)) }) {
					continue
				}
				k := key{typ, arch}
				if old, ok := mine[k]; ok && old.ProductName < p.name {
					continue
				}
				mine[k] = BootImage{
					Image:       Image{OS: cmp.Or(a["os"], typ), Arch: arch, Subarch: "generic", Release: typ, Label: cmp.Or(a["label"], "stable")},
					ContentID:   ps.ContentID,
					ProductName: p.name,
					VersionName: v.name,
					Subarches:   "generic",
					Source:      si,
					Items:       v.items,
					Bootloader:  typ,
				}
			}
		}
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

// newest returns the newest complete version of a product, or nil.
func newest(p *product, log *slog.Logger) *version {
	for i := range p.versions {
		if p.versions[i].incomplete == "" {
			return &p.versions[i]
		}
		log.Debug("skipping incomplete version", "product", p.name, "version", p.versions[i].name, "why", p.versions[i].incomplete)
	}
	return nil
}

// isBootloader says whether a product or one of its versions has a
// bootloader-type.
func isBootloader(p *product) bool {
	return p.attrs["bootloader-type"] != "" ||
		slices.ContainsFunc(p.versions, func(v version) bool { return v.attrs["bootloader-type"] != "" })
}
