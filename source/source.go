// Package source resolves a cluster's boot sources from exactly one backend:
// a sources file, the region controller, or a fixed default.
package source

import (
	"context"

	"maas-import-boot-images/simplestreams"
)

// DefaultStorage is where MAAS keeps the boot resources: the storage of a
// MAAS 1.5 file that names none, and the command line's default.
const DefaultStorage = "/var/lib/maas/boot-resources"

// Config is what a backend resolved.
type Config struct {
	// Origin says, for humans, which backend answered, e.g.
	// "file /etc/maas/bootresources.yaml" or "region http://r:5240/MAAS".
	Origin  string
	Sources []simplestreams.BootSource
	// Storage is the storage directory a MAAS 1.5 file names; "" otherwise.
	Storage string
}

// Source is a backend.
//
// Resolve returns at least one boot source, each with a URL and at least
// one selection; a backend that has none returns an error wrapping
// ErrNoSources. Every error is an *Error whose Kind is one of this
// package's sentinels (or wraps ctx's error when ctx ends), and names the
// file or the region URL and cluster; no error or log line carries a
// credential. Resolve may ask another machine, so a caller that takes a
// lock takes it first; calling it again asks again.
type Source interface {
	Resolve(ctx context.Context) (*Config, error)
}

// Backend is the backend that Choose picked.
type Backend struct {
	Source
	// Storage is the storage directory that a MAAS 1.5 sources file
	// names (read when the backend was chosen, so that a caller can lock
	// that storage before resolving); "" for every other backend.
	Storage string
}

// fixed is a backend whose answer is already known.
type fixed struct{ cfg *Config }

var _ Source = fixed{}

func (f fixed) Resolve(ctx context.Context) (*Config, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return f.cfg, nil
}
