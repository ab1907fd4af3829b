// Package metadata reads a boot source's simplestreams metadata, the index
// and every products file it names, over HTTP or from a directory,
// verifying signatures against the source's keyring (SPEC §3), and selects
// what a run takes from the sources. The importer and the mirror share it.
package metadata

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"maas-import-boot-images/fetch"
	"maas-import-boot-images/internal/logs"
	"maas-import-boot-images/internal/redact"
	"maas-import-boot-images/keyring"
	"maas-import-boot-images/simplestreams"
)

// Options configure Read. The zero value checks every signature.
type Options struct {
	// InsecureSkipVerify reads signed metadata without checking it, with
	// a warning, and reads an unsigned index where a signed one is
	// missing (see Read).
	InsecureSkipVerify bool
	// KeepRaw keeps each file's bytes as served in Stream.Raw.
	KeepRaw bool
	Log     *slog.Logger // nil → discard
}

// Stream is what one source's metadata says.
type Stream struct {
	Source   simplestreams.BootSource
	Location simplestreams.Location
	Index    *simplestreams.Index
	// Products are the products files, one per content id of the index
	// in products:1.0 format, in ContentIDs order; Paths[i] is the path
	// of Products[i] relative to the root, as the index names it.
	Products []*simplestreams.Products
	Paths    []string
	// Raw holds, with Options.KeepRaw, the index and every products file
	// byte for byte as served, by path relative to the root.
	Raw map[string][]byte
}

// Read reads the index of a source and every products file it names.
// A clear-signed (.sjson) index and its products files must verify
// against the source's keyring (a *simplestreams.SignatureError), and a
// signed index that names an unsigned products file is refused.
//
// An index the source does not name, streams/v1/index.sjson, that is
// missing while streams/v1/index.json is there (an unsigned mirror) is
// read, unsigned, only with InsecureSkipVerify; without it that is a
// *simplestreams.SignatureError that says how to read it. A source that
// names index.json is read unsigned, as MAAS does (SPEC §3.3).
func Read(ctx context.Context, f *fetch.Client, src simplestreams.BootSource, opts Options) (*Stream, error) {
	log := logs.OrDiscard(opts.Log)
	loc, err := simplestreams.Locate(src.URL)
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", redact.URL(src.URL), err)
	}
	s := &Stream{Source: src, Location: loc}
	if opts.KeepRaw {
		s.Raw = map[string][]byte{}
	}
	r := &reader{ctx: ctx, f: f, s: s, opts: opts}
	body, err := r.index(log)
	if err != nil {
		return nil, err
	}
	if s.Index, err = simplestreams.ParseIndex(body); err != nil {
		return nil, fmt.Errorf("%s: %w", redact.URL(s.Location.Root+s.Location.Index), err)
	}
	for _, id := range s.Index.ContentIDs() {
		p := s.Index.Index[id].Path
		signed := s.Location.Signed()
		if signed && !isSigned(p) {
			// A signed index must not lead to unsigned metadata.
			return nil, &simplestreams.SignatureError{File: p, Err: errors.New("a signed index names an unsigned products file")}
		}
		body, err := r.read(p, signed)
		if err != nil {
			return nil, err
		}
		ps, err := simplestreams.ParseProducts(body)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		if ps.ContentID == "" {
			ps.ContentID = id
		}
		s.Products = append(s.Products, ps)
		s.Paths = append(s.Paths, p)
	}
	return s, nil
}

// reader reads the files of one source.
type reader struct {
	ctx  context.Context
	f    *fetch.Client
	s    *Stream
	opts Options
	kr   *simplestreams.Keyring
}

// unsignedIndex is where an unsigned mirror keeps its index.
const unsignedIndex = "streams/v1/index.json"

// index reads the index, or the unsigned one beside a missing signed one
// (see Read). MAAS never falls back like this: it checks signatures when
// the index path ends in .sjson and not when it ends in .json. The
// fallback only applies when signatures are not checked anyway, so that
// an unsigned mirror can be read at its root URL as signed ones are.
func (r *reader) index(log *slog.Logger) ([]byte, error) {
	loc := &r.s.Location
	src := redact.URL(r.s.Source.URL)
	if loc.Signed() && !r.opts.InsecureSkipVerify {
		kr, _, err := keyring.Load(r.s.Source, log)
		if err != nil {
			return nil, err
		}
		r.kr = kr
	}
	if r.opts.InsecureSkipVerify && loc.Signed() {
		log.Warn("NOT verifying the signatures of a signed source (--insecure-skip-verify)", "source", src)
	}
	body, err := r.read(loc.Index, loc.Signed())
	if err == nil || !loc.Signed() || !missing(err) {
		return body, err
	}
	// Is there an unsigned index instead?
	plain, perr := r.read(unsignedIndex, false)
	if perr != nil {
		return nil, err // the signed index's error says what is missing
	}
	if !r.opts.InsecureSkipVerify {
		return nil, &simplestreams.SignatureError{File: redact.URL(loc.Root + loc.Index),
			Err: errors.New("missing: the source has only an unsigned " + unsignedIndex + "; name it in the source URL to read it unsigned, or use --insecure-skip-verify")}
	}
	log.Warn("reading the unsigned index of a source without a signed one (--insecure-skip-verify)", "source", src, "index", unsignedIndex)
	if r.s.Raw != nil {
		delete(r.s.Raw, loc.Index)
	}
	loc.Index = unsignedIndex
	return plain, nil
}

// read fetches a file relative to the root and verifies it when signed.
func (r *reader) read(rel string, signed bool) ([]byte, error) {
	where, err := r.s.Location.Resolve(rel)
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", redact.URL(r.s.Source.URL), err)
	}
	b, err := r.f.Metadata(r.ctx, where)
	if err != nil {
		return nil, err
	}
	if r.s.Raw != nil {
		r.s.Raw[rel] = b
	}
	name := redact.URL(where)
	switch {
	case signed && r.opts.InsecureSkipVerify:
		return simplestreams.StripSignature(name, b)
	case signed:
		return simplestreams.Verify(name, b, r.kr)
	}
	return b, nil
}

// missing reports whether a fetch failed because the file is not there.
func missing(err error) bool {
	var fe *fetch.Error
	return errors.As(err, &fe) && (fe.Status == http.StatusNotFound || errors.Is(fe.Err, fs.ErrNotExist))
}

func isSigned(p string) bool { return strings.HasSuffix(p, ".sjson") }

// ReadAll reads every source; any source that fails fails the run.
func ReadAll(ctx context.Context, f *fetch.Client, sources []simplestreams.BootSource, opts Options) ([]*Stream, error) {
	out := make([]*Stream, 0, len(sources))
	for _, src := range sources {
		s, err := Read(ctx, f, src, opts)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// Select applies the selections of each stream by MAAS's rules
// (simplestreams.Select) and, unless noBootloaders, takes the bootloaders
// that serve the selected images' arches. A BootImage's Source is the
// index of its stream. No image at all is ErrNothingSelected.
func Select(streams []*Stream, noBootloaders bool, log *slog.Logger) (images, bootloaders []simplestreams.BootImage, err error) {
	ss := make([]simplestreams.Stream, len(streams))
	for i, s := range streams {
		ss[i] = simplestreams.Stream{Products: s.Products, Selections: s.Source.Selections}
	}
	if images, err = simplestreams.Select(ss, log); err != nil {
		return nil, nil, err
	}
	if !noBootloaders {
		var arches []string
		for _, im := range images {
			if !slices.Contains(arches, im.Arch) {
				arches = append(arches, im.Arch)
			}
		}
		bootloaders = simplestreams.SelectBootloaders(ss, arches, log)
	}
	return images, bootloaders, nil
}
