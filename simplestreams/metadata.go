package simplestreams

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
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
// signature). Errors wrap ErrInvalid, or ErrUnsafePath for a path that could
// escape the stream's root.
func ParseIndex(data []byte) (*Index, error) {
	if err := checkJSON(data); err != nil {
		return nil, err
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
	items      []Item // items with a path, sorted by name
	incomplete string // why the version cannot be used; "" when complete
}

var (
	hex64  = regexp.MustCompile(`^[0-9a-f]{64}$`)
	hex128 = regexp.MustCompile(`^[0-9a-f]{128}$`)
)

// node is one JSON object of the tree: scalar attributes and the children
// under key.
type node struct {
	attrs    attrs
	children map[string]json.RawMessage
}

func parseNode(data []byte, key, where string) (node, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return node{}, fmt.Errorf("%w: %s: %v", ErrInvalid, where, err)
	}
	n := node{attrs: make(attrs, len(raw))}
	for k, v := range raw {
		if k == key {
			if err := json.Unmarshal(v, &n.children); err != nil {
				return node{}, fmt.Errorf("%w: %s: %s: %v", ErrInvalid, where, key, err)
			}
			continue
		}
		if s, ok := scalar(v); ok {
			n.attrs[k] = s
		}
	}
	return n, nil
}

// scalar converts a JSON string, number or boolean to its string form.
func scalar(v json.RawMessage) (string, bool) {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return "", false
	}
	switch v[0] {
	case '"':
		var s string
		if json.Unmarshal(v, &s) != nil {
			return "", false
		}
		return s, true
	case '{', '[', 'n':
		return "", false
	}
	return string(v), true
}

// ParseProducts parses a products:1.0 document (already stripped of any
// signature), applying attribute inheritance top → product → version → item.
// Errors wrap ErrInvalid, or ErrUnsafePath for an item path or a directory
// name attribute that could escape the tree.
func ParseProducts(data []byte) (*Products, error) {
	if err := checkJSON(data); err != nil {
		return nil, err
	}
	top, err := parseNode(data, "products", "products file")
	if err != nil {
		return nil, err
	}
	if f := top.attrs["format"]; f != "products:1.0" {
		return nil, fmt.Errorf("%w: products file: format is %q, want products:1.0", ErrInvalid, f)
	}
	ps := &Products{ContentID: top.attrs["content_id"]}
	delete(top.attrs, "format")
	for name, raw := range top.children {
		p, err := parseProduct(name, raw, top.attrs)
		if err != nil {
			return nil, err
		}
		ps.products = append(ps.products, p)
	}
	sort.Slice(ps.products, func(i, j int) bool { return ps.products[i].name < ps.products[j].name })
	return ps, nil
}

func parseProduct(name string, raw json.RawMessage, inherited attrs) (product, error) {
	where := "product " + truncate(name)
	n, err := parseNode(raw, "versions", where)
	if err != nil {
		return product{}, err
	}
	p := product{name: name, attrs: merge(inherited, n.attrs)}
	for _, a := range []string{"os", "arch", "subarch", "release", "label", "kflavor"} {
		if v, ok := p.attrs[a]; ok && v != "" {
			if err := checkName(a, v); err != nil {
				return product{}, fmt.Errorf("%s: %w", where, err)
			}
		}
	}
	for vname, vraw := range n.children {
		v, err := parseVersion(vname, vraw, p.attrs, where)
		if err != nil {
			return product{}, err
		}
		p.versions = append(p.versions, v)
	}
	sort.Slice(p.versions, func(i, j int) bool { return p.versions[i].name > p.versions[j].name })
	return p, nil
}

func parseVersion(name string, raw json.RawMessage, inherited attrs, where string) (version, error) {
	where += " version " + truncate(name)
	n, err := parseNode(raw, "items", where)
	if err != nil {
		return version{}, err
	}
	va := merge(inherited, n.attrs)
	v := version{name: name}
	if name == "" {
		v.incomplete = "empty version name"
	}
	for iname, iraw := range n.children {
		in, err := parseNode(iraw, "", where+" item "+truncate(iname))
		if err != nil {
			return version{}, err
		}
		a := merge(va, in.attrs)
		path, ok := a["path"]
		if !ok {
			continue
		}
		if err := CheckPath(path); err != nil {
			return version{}, fmt.Errorf("%s item %s: %w", where, truncate(iname), err)
		}
		it := Item{Name: iname, FType: a["ftype"], Path: path, SHA256: a["sha256"], SHA512: a["sha512"]}
		size, err := strconv.ParseInt(a["size"], 10, 64)
		switch {
		case err != nil || size < 0:
			v.incomplete = fmt.Sprintf("item %s has no valid size", iname)
		case !hex64.MatchString(it.SHA256):
			v.incomplete = fmt.Sprintf("item %s has no valid sha256", iname)
		case it.SHA512 != "" && !hex128.MatchString(it.SHA512):
			v.incomplete = fmt.Sprintf("item %s has an invalid sha512", iname)
		}
		it.Size = size
		v.items = append(v.items, it)
	}
	sort.Slice(v.items, func(i, j int) bool { return v.items[i].Name < v.items[j].Name })
	return v, nil
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
