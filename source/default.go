package source

import (
	"context"

	"maas-import-boot-images/keyring"
	"maas-import-boot-images/simplestreams"
)

// The default source (SPEC §2.3): narrow on purpose.
const (
	DefaultURL     = "http://images.maas.io/ephemeral-v3/stable/"
	DefaultKeyring = keyring.UbuntuFile
)

type defaultSource struct{ releases, arches []string }

var _ Source = (*defaultSource)(nil)

// NewDefault returns the built-in default: ubuntu noble amd64 from
// images.maas.io, or one selection per release with all the arches.
func NewDefault(releases, arches []string) Source {
	if len(releases) == 0 {
		releases = []string{"noble"}
	}
	if len(arches) == 0 {
		arches = []string{"amd64"}
	}
	return &defaultSource{releases: releases, arches: arches}
}

func (d *defaultSource) Resolve(ctx context.Context) (*Config, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	src := simplestreams.BootSource{URL: DefaultURL, Keyring: DefaultKeyring}
	for _, r := range d.releases {
		src.Selections = append(src.Selections, simplestreams.Selection{OS: "ubuntu", Release: r,
			Arches: append([]string(nil), d.arches...), Subarches: []string{"*"}, Labels: []string{"*"}})
	}
	return &Config{Origin: "the built-in default source", Sources: []simplestreams.BootSource{src}}, nil
}
