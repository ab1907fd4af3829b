package mirror

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"

	"maas-import-boot-images/fetch"
	"maas-import-boot-images/metadata"
	"maas-import-boot-images/simplestreams"
)

// plan is what a run publishes: the payload files at their paths, and the
// metadata files, products files before the index.
type plan struct {
	payload  map[string]fetch.File // by path relative to the mirror
	files    []fetch.File          // the distinct files, by sha256, in path order
	meta     []metaFile            // in publication order: the index last
	index    string                // the path of the index clusters read
	products []Product
}

// metaFile is one metadata file to publish.
type metaFile struct {
	path string
	body []byte // what to write; with sign, the body to clear-sign
	sign bool
}

// Product is one product a mirror holds, with the versions it keeps.
type Product struct {
	ContentID string   `json:"content_id"`
	Name      string   `json:"product_name"`
	Versions  []string `json:"versions"` // newest first
}

// kept is one product of one stream that the mirror holds.
type kept struct {
	stream   int
	ps       *simplestreams.Products
	file     int // the index of ps in the stream's Products
	name     string
	versions []string
}

// keptProducts returns the products that the chosen images and
// bootloaders come from, each with its newest max complete versions,
// sorted by stream, content id and name.
func keptProducts(streams []*metadata.Stream, chosen []simplestreams.BootImage, max int, log *slog.Logger) []*kept {
	type key struct {
		stream          int
		contentID, name string
	}
	seen := map[key]*kept{}
	for _, im := range chosen {
		k := key{im.Source, im.ContentID, im.ProductName}
		if seen[k] != nil {
			continue
		}
		s := streams[im.Source]
		for i, ps := range s.Products {
			if _, ok := ps.Products[im.ProductName]; ok && ps.ContentID == im.ContentID {
				seen[k] = &kept{stream: im.Source, ps: ps, file: i, name: im.ProductName,
					versions: ps.NewestVersions(im.ProductName, max, log)}
				break
			}
		}
	}
	out := slices.Collect(maps.Values(seen))
	slices.SortFunc(out, func(a, b *kept) int {
		return cmp.Or(cmp.Compare(a.stream, b.stream), cmp.Compare(a.ps.ContentID, b.ps.ContentID), cmp.Compare(a.name, b.name))
	})
	return out
}

// makePlan plans the payload and the metadata of the kept products.
func makePlan(streams []*metadata.Stream, ks []*kept, opts Options) (*plan, error) {
	p := &plan{payload: map[string]fetch.File{}}
	for _, k := range ks {
		p.products = append(p.products, Product{ContentID: k.ps.ContentID, Name: k.name, Versions: k.versions})
		if err := p.addPayload(streams[k.stream], k); err != nil {
			return nil, err
		}
	}
	var err error
	if opts.Rewrite {
		err = p.rewritten(streams, ks, opts.Signer)
	} else {
		err = p.verbatim(streams, ks)
	}
	if err != nil {
		return nil, err
	}
	if err := p.checkPaths(); err != nil {
		return nil, err
	}
	bySHA := map[string]bool{}
	for _, rel := range slices.Sorted(maps.Keys(p.payload)) {
		if f := p.payload[rel]; !bySHA[f.SHA256] {
			bySHA[f.SHA256] = true
			p.files = append(p.files, f)
		}
	}
	return p, nil
}

// addPayload adds every file of the kept versions of k.
func (p *plan) addPayload(s *metadata.Stream, k *kept) error {
	pr := k.ps.Products[k.name]
	for _, vname := range k.versions {
		files, err := pr.Versions[vname].Files(pr.Attrs.Inherit(k.ps.Attrs))
		if err != nil {
			return err // NewestVersions took only complete versions
		}
		for _, f := range files {
			if err := checkMirrorPath(f.Path); err != nil {
				return fmt.Errorf("product %s version %s: %w", k.name, vname, err)
			}
			u, err := s.Location.Resolve(f.Path)
			if err != nil {
				return err
			}
			if old, ok := p.payload[f.Path]; ok && (old.SHA256 != f.SHA256 || old.Size != f.Size) {
				return fmt.Errorf("%w: %s is listed as two different files (sha256 %s and %s)", simplestreams.ErrInvalid, f.Path, old.SHA256, f.SHA256)
			}
			p.payload[f.Path] = fetch.File{SHA256: f.SHA256, SHA512: f.SHA512, Size: f.Size, URL: u, Name: f.Path}
		}
	}
	return nil
}

// ErrConfig: what the mirror is asked to do cannot be done as asked (a
// configuration error, exit 2).
var ErrConfig = errors.New("mirror configuration")

// verbatim plans the metadata of the one stream the products come from,
// byte for byte as it was served: its index and every products file the
// index names. This is what python-simplestreams' sstream-mirror does:
// ObjectStoreMirrorWriter.insert_products and insert_index
// (simplestreams/mirrors/__init__.py) store the content as it was read,
// signatures included, even when items are filtered out; and it is what
// lets a MAAS region verify the mirror with Ubuntu's keyring.
func (p *plan) verbatim(streams []*metadata.Stream, ks []*kept) error {
	used := map[int]bool{}
	for _, k := range ks {
		used[k.stream] = true
	}
	if len(used) > 1 {
		return fmt.Errorf("%w: the selected images come from %d sources, whose metadata cannot be mirrored verbatim into one tree: use --rewrite, or one mirror directory per source", ErrConfig, len(used))
	}
	s := streams[ks[0].stream]
	for _, path := range s.Paths {
		p.meta = append(p.meta, metaFile{path: path, body: s.Raw[path]})
	}
	p.index = s.Location.Index
	p.meta = append(p.meta, metaFile{path: p.index, body: s.Raw[p.index]})
	return nil
}

// Paths of rewritten metadata.
const (
	indexJSON  = "streams/v1/index.json"
	indexSJSON = "streams/v1/index.sjson"
	// KeyringFile is where a signed mirror publishes its public key.
	KeyringFile = "mirror-keyring.gpg"
)

// rewritten plans metadata that lists exactly the kept products,
// versions and items: one products file per content id, unsigned .json,
// or with signer .sjson and .json, then the index (or both indexes). As
// in Canonical's streams, index.sjson names the .sjson products files and
// index.json the .json ones: MAAS reads a .json index unsigned and checks
// an .sjson one and everything it names (its get_signing_policy).
func (p *plan) rewritten(streams []*metadata.Stream, ks []*kept, signer *simplestreams.Signer) error {
	type group struct {
		stream, file int
		products     map[string]simplestreams.Product
	}
	groups := map[string]*group{}
	var ids []string
	for _, k := range ks {
		g := groups[k.ps.ContentID]
		if g == nil {
			g = &group{stream: k.stream, file: k.file, products: map[string]simplestreams.Product{}}
			groups[k.ps.ContentID] = g
			ids = append(ids, k.ps.ContentID)
		} else if g.stream != k.stream || g.file != k.file {
			return fmt.Errorf("%w: content id %s comes from two sources (or files): use one mirror directory per source", ErrConfig, k.ps.ContentID)
		}
		pr := k.ps.Products[k.name]
		versions := make(map[string]simplestreams.Version, len(k.versions))
		for _, v := range k.versions {
			versions[v] = pr.Versions[v]
		}
		pr.Versions = versions
		g.products[k.name] = pr
	}
	first := streams[ks[0].stream].Index
	ix := &simplestreams.Index{Format: first.Format, Updated: first.Updated, Extra: first.Extra, Index: map[string]simplestreams.IndexEntry{}}
	signedIx := &simplestreams.Index{Format: first.Format, Updated: first.Updated, Extra: first.Extra, Index: map[string]simplestreams.IndexEntry{}}
	for _, id := range ids {
		g := groups[id]
		s := streams[g.stream]
		ps := *s.Products[g.file]
		ps.Products = g.products
		body, err := marshal(ps)
		if err != nil {
			return err
		}
		base := strings.TrimSuffix(strings.TrimSuffix(s.Paths[g.file], ".sjson"), ".json")
		entry := s.Index.Index[id]
		entry.Products = slices.Sorted(maps.Keys(g.products))
		entry.Path = base + ".json"
		ix.Index[id] = entry
		p.meta = append(p.meta, metaFile{path: entry.Path, body: body})
		if signer != nil {
			entry.Path = base + ".sjson"
			signedIx.Index[id] = entry
			p.meta = append(p.meta, metaFile{path: entry.Path, body: body, sign: true})
		}
	}
	p.index = indexJSON
	if signer != nil {
		kr, err := signer.Keyring()
		if err != nil {
			return err
		}
		p.meta = append(p.meta, metaFile{path: KeyringFile, body: kr})
		body, err := marshal(signedIx)
		if err != nil {
			return err
		}
		p.meta = append(p.meta, metaFile{path: indexSJSON, body: body, sign: true})
		p.index = indexSJSON
	}
	body, err := marshal(ix)
	if err != nil {
		return err
	}
	p.meta = append(p.meta, metaFile{path: indexJSON, body: body})
	return nil
}

// marshal writes metadata as upstream streams are written: indented,
// with a final newline.
func marshal(v any) ([]byte, error) {
	b, err := json.MarshalIndent(v, "", " ")
	return append(b, '\n'), err
}

// checkPaths refuses a plan in which one path is needed both as a file
// and as a directory, or twice (a payload file at a metadata path).
func (p *plan) checkPaths() error {
	all := map[string]bool{}
	for rel := range p.payload {
		all[rel] = true
	}
	for _, m := range p.meta {
		if err := checkOwnPath(m.path); err != nil {
			return err
		}
		if _, ok := p.payload[m.path]; ok {
			return fmt.Errorf("%w: %s is both a payload file and metadata", simplestreams.ErrInvalid, m.path)
		}
		all[m.path] = true
	}
	for rel := range all {
		for dir := rel; ; {
			i := strings.LastIndexByte(dir, '/')
			if i < 0 {
				break
			}
			dir = dir[:i]
			if all[dir] {
				return fmt.Errorf("%w: %s is needed both as a file and as the directory of %s", simplestreams.ErrInvalid, dir, rel)
			}
		}
	}
	return nil
}

// checkMirrorPath refuses a payload path that CheckPath refuses, or that
// would land on the mirror's own files: any name starting with "." at the
// top (.cache, .lock, the state file), any temporary name, and the
// published keyring.
func checkMirrorPath(rel string) error {
	if err := simplestreams.CheckPath(rel); err != nil {
		return err
	}
	top, _, _ := strings.Cut(rel, "/")
	if strings.HasPrefix(top, ".") || top == KeyringFile || strings.Contains(rel, "/.tmp-") {
		return fmt.Errorf("%w %q: the mirror keeps its own files there", simplestreams.ErrUnsafePath, rel)
	}
	return nil
}
