// Package source resolves a cluster's boot sources from exactly one backend:
// a sources file, the region controller, or a fixed default.
package source

import (
	"context"

	"maas-import-boot-images/simplestreams"
)

// BootSource is one simplestreams mirror and what to take from it.
type BootSource struct {
	URL         string // http(s)://, file:// or an absolute local path
	Keyring     string // path of a keyring file; "" when none
	KeyringData []byte // keyring bytes; wins over Keyring
	Selections  []simplestreams.Selection
}

// Config is what a backend resolved.
type Config struct {
	// Origin says, for humans, which backend answered, e.g.
	// "file /etc/maas/bootresources.yaml" or "region http://r:5240/MAAS".
	Origin  string
	Sources []BootSource
	// Storage is the storage directory a MAAS 1.5 file names; "" otherwise.
	Storage string
}

// Source is a backend.
type Source interface {
	// Resolve asks the backend for the boot sources.
	Resolve(ctx context.Context) (*Config, error)
}

// Remote says whether resolving s asks another machine (the region), so
// that a caller can take its storage lock first.
func Remote(s Source) bool {
	_, ok := s.(*regionSource)
	return ok
}
