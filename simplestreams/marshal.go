package simplestreams

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
)

// MarshalJSON writes the products file as compact JSON, keys sorted: what
// ParseProducts reads back as an equal Products. A nil map of products,
// versions or items is left out, an empty one written as {}. Extra's values
// are written as they are (see Attrs).
func (ps Products) MarshalJSON() ([]byte, error) { return ps.appendJSON(nil), nil }

// UnmarshalJSON is ParseProducts, for encoding/json.
func (ps *Products) UnmarshalJSON(data []byte) error {
	p, err := ParseProducts(data)
	if err == nil {
		*ps = *p
	}
	return err
}

// MarshalJSON writes the product as compact JSON, keys sorted.
func (p Product) MarshalJSON() ([]byte, error) { return p.appendJSON(nil), nil }

// MarshalJSON writes the version as compact JSON, keys sorted.
func (v Version) MarshalJSON() ([]byte, error) { return v.appendJSON(nil), nil }

// MarshalJSON writes the attributes as a compact JSON object, keys sorted;
// an Item is its attributes.
func (a Attrs) MarshalJSON() ([]byte, error) { return appendObject(nil, a.members(nil, "")), nil }

// MarshalJSON writes the index as compact JSON, keys sorted: what
// ParseIndex reads back as an equal Index.
func (ix Index) MarshalJSON() ([]byte, error) { return ix.appendJSON(nil), nil }

func (ix Index) appendJSON(b []byte) []byte {
	ms := stringMembers(nil, ix.Extra, "format", ix.Format, "updated", ix.Updated)
	ms, skip := withMap(ms, "index", ix.Index, IndexEntry.appendJSON)
	return appendObject(b, withExtra(ms, ix.Extra, skip))
}

// UnmarshalJSON is ParseIndex, for encoding/json.
func (ix *Index) UnmarshalJSON(data []byte) error {
	p, err := ParseIndex(data)
	if err == nil {
		*ix = *p
	}
	return err
}

// MarshalJSON writes the entry as compact JSON, keys sorted.
func (e IndexEntry) MarshalJSON() ([]byte, error) { return e.appendJSON(nil), nil }

func (e IndexEntry) appendJSON(b []byte) []byte {
	ms := stringMembers(nil, e.Extra, "path", e.Path, "format", e.Format, "datatype", e.Datatype, "updated", e.Updated)
	if _, over := e.Extra["products"]; !over && e.Products != nil {
		ms = append(ms, member{"products", func(b []byte) []byte {
			b = append(b, '[')
			for i, s := range e.Products {
				if i > 0 {
					b = append(b, ',')
				}
				b = appendString(b, s)
			}
			return append(b, ']')
		}})
	}
	return appendObject(b, withExtra(ms, e.Extra, ""))
}

func (ps Products) appendJSON(b []byte) []byte {
	ms := stringMembers(nil, ps.Extra, "content_id", ps.ContentID, "datatype", ps.Datatype, "format", ps.Format, "updated", ps.Updated)
	ms, skip := withMap(ms, "products", ps.Products, Product.appendJSON)
	return appendObject(b, ps.members(ms, skip))
}

func (p Product) appendJSON(b []byte) []byte {
	ms, skip := withMap(nil, "versions", p.Versions, Version.appendJSON)
	return appendObject(b, p.members(ms, skip))
}

func (v Version) appendJSON(b []byte) []byte {
	ms, skip := withMap(nil, "items", v.Items, Item.appendJSON)
	return appendObject(b, v.members(ms, skip))
}

func (it Item) appendJSON(b []byte) []byte { return appendObject(b, it.members(nil, "")) }

// member is one member of an object to write.
type member struct {
	key   string
	value func(b []byte) []byte
}

// withMap adds the member key, m as an object, unless m is nil; it
// returns the name that Extra must not write over it.
func withMap[V any](ms []member, key string, m map[string]V, value func(V, []byte) []byte) ([]member, string) {
	if m == nil {
		return ms, ""
	}
	return append(ms, member{key, func(b []byte) []byte { return appendMap(b, m, value) }}), key
}

// members adds a's non-zero fields that Extra does not override, and
// Extra, but for the member named skip.
func (a *Attrs) members(ms []member, skip string) []member {
	for i, f := range fields {
		if _, over := a.Extra[f.name]; over {
			continue
		}
		switch {
		case i == fSize && a.Size != 0:
			n := a.Size
			ms = append(ms, member{f.name, func(b []byte) []byte { return strconv.AppendInt(b, n, 10) }})
		case i != fSize && a.get(i) != "":
			ms = stringMembers(ms, nil, f.name, a.get(i))
		}
	}
	return withExtra(ms, a.Extra, skip)
}

// stringMembers adds the non-empty strings of kv, pairs of a key and its
// value, that extra does not override.
func stringMembers(ms []member, extra map[string]json.RawMessage, kv ...string) []member {
	for i := 0; i < len(kv); i += 2 {
		if _, over := extra[kv[i]]; over || kv[i+1] == "" {
			continue
		}
		s := kv[i+1]
		ms = append(ms, member{kv[i], func(b []byte) []byte { return appendString(b, s) }})
	}
	return ms
}

// withExtra adds extra's members but skip (unless ""): a level's map of
// products, versions or items, when it has one, is written over Extra's.
func withExtra(ms []member, extra map[string]json.RawMessage, skip string) []member {
	for k, v := range extra {
		if skip == "" || k != skip {
			ms = append(ms, member{k, func(b []byte) []byte { return append(b, v...) }})
		}
	}
	return ms
}

// appendObject writes the members sorted by key.
func appendObject(b []byte, ms []member) []byte {
	slices.SortFunc(ms, func(x, y member) int { return strings.Compare(x.key, y.key) })
	b = append(b, '{')
	for i, m := range ms {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, m.key)
		b = append(b, ':')
		b = m.value(b)
	}
	return append(b, '}')
}

// appendMap writes a map as an object, keys sorted.
func appendMap[V any](b []byte, m map[string]V, value func(V, []byte) []byte) []byte {
	b = append(b, '{')
	for i, k := range sortedKeys(make([]string, 0, len(m)), m) {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		b = value(m[k], b)
	}
	return append(b, '}')
}

// appendString writes s as a JSON string, as encoding/json does.
func appendString(b []byte, s string) []byte {
	q, _ := json.Marshal(s) // a string always marshals
	return append(b, q...)
}
