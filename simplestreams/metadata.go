package simplestreams

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Index is an index:1.0 file.
type Index struct {
	Format  string                `json:"format"`
	Updated string                `json:"updated"`
	Index   map[string]IndexEntry `json:"index"`
}

// IndexEntry is one content id of an index.
type IndexEntry struct {
	Path     string   `json:"path"`
	Format   string   `json:"format"`
	Datatype string   `json:"datatype"`
	Updated  string   `json:"updated"`
	Products []string `json:"products"`
}

// ParseIndex parses an index:1.0 document (already stripped of any
// signature). Duplicate keys, nesting deeper than maxDepth and invalid UTF-8
// are refused. Errors wrap ErrInvalid, or ErrUnsafePath for a path that
// could escape the stream's root.
func ParseIndex(data []byte) (*Index, error) {
	if err := checkJSON(data); err != nil {
		return nil, err
	}
	l := &lexer{data: data}
	err := l.skip()
	if err == nil {
		err = l.end()
	}
	if err != nil {
		return nil, fmt.Errorf("%w: index: %v", ErrInvalid, err)
	}
	var ix Index
	if err := json.Unmarshal(data, &ix); err != nil {
		return nil, fmt.Errorf("%w: index: %v", ErrInvalid, err)
	}
	if ix.Format != "index:1.0" {
		return nil, fmt.Errorf("%w: index: format is %q, want index:1.0", ErrInvalid, ix.Format)
	}
	for id, e := range ix.Index {
		if e.Format != "products:1.0" {
			continue
		}
		if err := CheckPath(e.Path); err != nil {
			return nil, fmt.Errorf("index entry %s: %w", id, err)
		}
	}
	return &ix, nil
}

// ContentIDs returns the ids of the entries in products:1.0 format, sorted.
func (ix *Index) ContentIDs() []string {
	var ids []string
	for id, e := range ix.Index {
		if e.Format == "products:1.0" {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// checkJSON refuses what encoding/json would accept but a stream must not
// contain: invalid UTF-8 (json replaces it silently).
func checkJSON(data []byte) error {
	if !utf8.Valid(data) {
		return fmt.Errorf("%w: not valid UTF-8", ErrInvalid)
	}
	return nil
}

// Products is a parsed products:1.0 file.
type Products struct {
	ContentID string
	products  []product // sorted by name
}

// Len returns the number of products.
func (p *Products) Len() int { return len(p.products) }

type attrs map[string]string

type product struct {
	name     string
	attrs    attrs     // top level and product, product wins
	versions []version // sorted by name, newest (greatest) first
}

type version struct {
	name       string
	attrs      attrs  // what makes the image: top, product and version, deeper wins
	items      []Item // items with a path, sorted by name
	incomplete string // why the version cannot be used; "" when complete
}

// ParseProducts parses a products:1.0 document (already stripped of any
// signature), applying attribute inheritance top → product → version → item.
// It reads the bytes once; duplicate keys, nesting deeper than maxDepth and
// invalid UTF-8 are refused. Errors wrap ErrInvalid, or ErrUnsafePath for an
// item path or a directory name attribute that could escape the tree.
func ParseProducts(data []byte) (*Products, error) {
	if err := checkJSON(data); err != nil {
		return nil, err
	}
	l := &lexer{data: data}
	top := attrs{}
	var raw []rawProduct
	err := l.object(func(key string) error {
		if key == "products" {
			return l.object(func(name string) error {
				p, err := parseProduct(l, name)
				raw = append(raw, p)
				return err
			})
		}
		return scalarAttr(l, top, key)
	})
	if err == nil {
		err = l.end()
	}
	if err != nil {
		var le *lexError
		if errors.As(err, &le) {
			return nil, fmt.Errorf("%w: products file: %v", ErrInvalid, err)
		}
		return nil, err
	}
	if f := top["format"]; f != "products:1.0" {
		return nil, fmt.Errorf("%w: products file: format is %q, want products:1.0", ErrInvalid, f)
	}
	ps := &Products{ContentID: top["content_id"], products: make([]product, 0, len(raw))}
	delete(top, "format")
	for _, r := range raw {
		p, err := r.finish(top)
		if err != nil {
			return nil, err
		}
		ps.products = append(ps.products, p)
	}
	sort.Slice(ps.products, func(i, j int) bool { return ps.products[i].name < ps.products[j].name })
	return ps, nil
}

// typed are the attributes that must be JSON scalars: the ones that become
// directory names, paths or checksums. Other attributes of another type are
// ignored, as simplestreams clients do.
var typed = map[string]bool{
	"format": true, "content_id": true, "os": true, "arch": true, "subarch": true, "subarches": true,
	"release": true, "label": true, "kflavor": true, "version": true, "bootloader-type": true,
	"path": true, "size": true, "sha256": true, "sha512": true, "ftype": true,
}

func scalarAttr(l *lexer, a attrs, key string) error {
	if c := l.peek(); typed[key] && (c == '{' || c == '[') {
		return l.fail("attribute %s is not a string or a number", key)
	}
	quoted := l.peek() == '"'
	v, ok, err := l.scalar()
	if ok {
		if key == "size" && quoted {
			// The SPEC wants an integer size: "13" is not one, and the
			// quote kept here makes the size check refuse it.
			v = `"` + v
		}
		a[key] = v
	}
	return err
}

// located says where in a products file an error happened.
type located struct {
	where string
	err   error
}

func (e *located) Error() string { return e.where + ": " + e.err.Error() }
func (e *located) Unwrap() error { return e.err }

// at adds where to err unless a deeper level already did.
func at(where string, err error) error {
	var le *located
	if err == nil || errors.As(err, &le) {
		return err
	}
	return &located{where: where, err: err}
}

// rawProduct is a product as read, before inheritance from the top level,
// which may come after it in the file.
type rawProduct struct {
	name     string
	attrs    attrs
	versions []rawVersion
}

type rawVersion struct {
	name  string
	attrs attrs
	items []rawItem
}

type rawItem struct {
	name  string
	attrs attrs
}

func parseProduct(l *lexer, name string) (rawProduct, error) {
	p := rawProduct{name: name, attrs: attrs{}}
	where := "product " + truncate(name)
	err := l.object(func(key string) error {
		if key != "versions" {
			return scalarAttr(l, p.attrs, key)
		}
		return l.object(func(vname string) error {
			v := rawVersion{name: vname, attrs: attrs{}}
			vwhere := where + " version " + truncate(vname)
			err := l.object(func(key string) error {
				if key != "items" {
					return scalarAttr(l, v.attrs, key)
				}
				return l.object(func(iname string) error {
					it := rawItem{name: iname, attrs: make(attrs, 4)}
					err := l.object(func(key string) error { return scalarAttr(l, it.attrs, key) })
					v.items = append(v.items, it)
					return at(vwhere+" item "+truncate(iname), err)
				})
			})
			p.versions = append(p.versions, v)
			return at(vwhere, err)
		})
	})
	return p, at(where, err)
}

// finish applies inheritance and checks the product.
func (r rawProduct) finish(top attrs) (product, error) {
	where := "product " + truncate(r.name)
	p := product{name: r.name, attrs: merge(top, r.attrs)}
	if err := checkIdentity(p.attrs); err != nil {
		return product{}, fmt.Errorf("%s: %w", where, err)
	}
	p.versions = make([]version, 0, len(r.versions))
	for _, rv := range r.versions {
		v, err := rv.finish(p.attrs, where)
		if err != nil {
			return product{}, err
		}
		p.versions = append(p.versions, v)
	}
	sort.Slice(p.versions, func(i, j int) bool { return p.versions[i].name > p.versions[j].name })
	return p, nil
}

// identity lists the attributes that say which image (or bootloader) a
// version is. They may be set at any level, deeper winning; the items of
// one version must agree on them, since one version is one image.
var identity = []string{"os", "arch", "arches", "subarch", "subarches", "release", "version", "label", "kflavor", "bootloader-type"}

// checkIdentity refuses identity values that would be unsafe as directory
// names; every name in subarches becomes a subarch directory too.
func checkIdentity(a attrs) error {
	for _, k := range []string{"os", "arch", "subarch", "release", "label", "kflavor", "bootloader-type"} {
		if v, ok := a[k]; ok && v != "" {
			if err := checkName(k, v); err != nil {
				return err
			}
		}
	}
	for _, s := range strings.Split(a["subarches"], ",") {
		if s = strings.TrimSpace(s); s != "" {
			if err := checkName("subarches", s); err != nil {
				return err
			}
		}
	}
	return nil
}

func (rv rawVersion) finish(parent attrs, where string) (version, error) {
	where += " version " + truncate(rv.name)
	v := version{name: rv.name, attrs: parent}
	if rv.name == "" {
		v.incomplete = "empty version name"
	}
	if slices.ContainsFunc(identity, func(k string) bool { _, ok := rv.attrs[k]; return ok }) {
		v.attrs = merge(parent, rv.attrs)
		if err := checkIdentity(v.attrs); err != nil {
			return version{}, fmt.Errorf("%s: %w", where, err)
		}
	}
	// One version is one image: a version whose items contradict it is
	// not used (like any incomplete version), an older one may be.
	for _, ri := range rv.items {
		for _, k := range identity {
			if s, ok := ri.attrs[k]; ok && s != v.attrs[k] && v.incomplete == "" {
				v.incomplete = fmt.Sprintf("item %s sets %s %q, its version %q", truncate(ri.name), k, truncate(s), truncate(v.attrs[k]))
			}
		}
	}
	// An item's attribute: its own, else the version's, else the product's.
	get := func(it rawItem, k string) string {
		if s, ok := it.attrs[k]; ok {
			return s
		}
		if s, ok := rv.attrs[k]; ok {
			return s
		}
		return parent[k]
	}
	for _, ri := range rv.items {
		path := get(ri, "path")
		if path == "" {
			continue
		}
		if err := CheckPath(path); err != nil {
			return version{}, fmt.Errorf("%s item %s: %w", where, truncate(ri.name), err)
		}
		it := Item{Name: ri.name, FType: get(ri, "ftype"), Path: path, SHA256: get(ri, "sha256"), SHA512: get(ri, "sha512")}
		size, err := strconv.ParseInt(get(ri, "size"), 10, 64)
		switch {
		case err != nil || size < 0:
			v.incomplete = fmt.Sprintf("item %s has no valid size", ri.name)
		case !isHex(it.SHA256, 64):
			v.incomplete = fmt.Sprintf("item %s has no valid sha256", ri.name)
		case it.SHA512 != "" && !isHex(it.SHA512, 128):
			v.incomplete = fmt.Sprintf("item %s has an invalid sha512", ri.name)
		}
		it.Size = size
		v.items = append(v.items, it)
	}
	sort.Slice(v.items, func(i, j int) bool { return v.items[i].Name < v.items[j].Name })
	return v, nil
}

// isHex reports whether s is n lower-case hex digits.
func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < n; i++ {
		c := s[i]
		if !(c >= '0' && c <= '9') && !(c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func merge(parent, child attrs) attrs {
	m := make(attrs, len(parent)+len(child))
	for k, v := range parent {
		m[k] = v
	}
	for k, v := range child {
		m[k] = v
	}
	return m
}
