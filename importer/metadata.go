package importer

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"maas-import-boot-images/fetch"
	"maas-import-boot-images/keyring"
	"maas-import-boot-images/simplestreams"
)

// loadImages reads every source's index and products files, verifying
// signatures, and selects the images. It returns each source's location
// too, for the item URLs. Any source that fails fails the run.
func loadImages(ctx context.Context, f *fetch.Client, sources []simplestreams.BootSource, opts Options) (images, bootloaders []simplestreams.BootImage, locs []simplestreams.Location, err error) {
	streams := make([]simplestreams.Stream, len(sources))
	locs = make([]simplestreams.Location, len(sources))
	for i, src := range sources {
		loc, products, err := loadSource(ctx, f, src, opts)
		if err != nil {
			return nil, nil, nil, err
		}
		locs[i] = loc
		streams[i] = simplestreams.Stream{Products: products, Selections: src.Selections}
	}
	if images, err = simplestreams.Select(streams, opts.Log); err != nil {
		return nil, nil, nil, err
	}
	if !opts.NoBootloaders {
		var arches []string
		for _, im := range images {
			if !slices.Contains(arches, im.Arch) {
				arches = append(arches, im.Arch)
			}
		}
		bootloaders = simplestreams.SelectBootloaders(streams, arches, opts.Log)
	}
	return images, bootloaders, locs, nil
}

func loadSource(ctx context.Context, f *fetch.Client, src simplestreams.BootSource, opts Options) (simplestreams.Location, []*simplestreams.Products, error) {
	loc, err := simplestreams.Locate(src.URL)
	if err != nil {
		return loc, nil, fmt.Errorf("source %s: %w", redactString(src.URL), err)
	}
	var kr *simplestreams.Keyring
	if loc.Signed() && !opts.InsecureSkipVerify {
		if kr, _, err = keyring.Load(src, opts.Log); err != nil {
			return loc, nil, err
		}
	}
	if opts.InsecureSkipVerify && loc.Signed() {
		opts.Log.Warn("NOT verifying the signatures of a signed source (--insecure-skip-verify)", "source", redactString(src.URL))
	}
	read := func(rel string, signed bool) ([]byte, error) {
		where, err := loc.Resolve(rel)
		if err != nil {
			return nil, fmt.Errorf("source %s: %w", redactString(src.URL), err)
		}
		b, err := f.Metadata(ctx, where)
		if err != nil {
			return nil, err
		}
		name := redactString(where)
		switch {
		case signed && opts.InsecureSkipVerify:
			return simplestreams.StripSignature(name, b)
		case signed:
			return simplestreams.Verify(name, b, kr)
		}
		return b, nil
	}
	body, err := read(loc.Index, loc.Signed())
	if err != nil {
		return loc, nil, err
	}
	ix, err := simplestreams.ParseIndex(body)
	if err != nil {
		return loc, nil, fmt.Errorf("%s: %w", redactString(loc.Root+loc.Index), err)
	}
	var products []*simplestreams.Products
	for _, id := range ix.ContentIDs() {
		p := ix.Index[id].Path
		signed := loc.Signed()
		if signed && !isSigned(p) {
			// A signed index must not lead to unsigned metadata.
			return loc, nil, &simplestreams.SignatureError{File: p, Err: errors.New("a signed index names an unsigned products file")}
		}
		body, err := read(p, signed)
		if err != nil {
			return loc, nil, err
		}
		ps, err := simplestreams.ParseProducts(body)
		if err != nil {
			return loc, nil, fmt.Errorf("%s: %w", p, err)
		}
		if ps.ContentID == "" {
			ps.ContentID = id
		}
		products = append(products, ps)
	}
	return loc, products, nil
}

func isSigned(p string) bool { return len(p) > 6 && p[len(p)-6:] == ".sjson" }
