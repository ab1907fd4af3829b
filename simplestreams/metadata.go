package simplestreams

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ParseIndex parses an index:1.0 document (already stripped of any
// signature). Duplicate keys, nesting deeper than maxDepth, invalid UTF-8
// and members of the wrong type are refused. Errors wrap ErrInvalid, or
// ErrUnsafePath for the path of a products:1.0 entry that could escape the
// stream's root.
func ParseIndex(data []byte) (*Index, error) {
	if err := checkJSON(data); err != nil {
		return nil, err
	}
	l := &lexer{data: data}
	ix := &Index{}
	err := l.object(func(key string) error { return ix.read(l, key) })
	if err == nil {
		err = l.end()
	}
	if err != nil {
		return nil, fmt.Errorf("%w: index: %v", ErrInvalid, err)
	}
	if ix.Format != "index:1.0" {
		return nil, fmt.Errorf("%w: index: format is %q, want index:1.0", ErrInvalid, ix.Format)
	}
	for _, id := range ix.ContentIDs() {
		if err := CheckPath(ix.Index[id].Path); err != nil {
			return nil, fmt.Errorf("index entry %s: %w", id, err)
		}
	}
	return ix, nil
}

func (ix *Index) read(l *lexer, key string) error {
	var err error
	switch key {
	case "format":
		_, err = l.member(&ix.Format, &ix.Extra, key, 0)
	case "updated":
		_, err = l.member(&ix.Updated, &ix.Extra, key, 0)
	case "index":
		if l.peek() == 'n' {
			return l.keep(&ix.Extra, key)
		}
		ix.Index = map[string]IndexEntry{}
		return l.object(func(id string) error {
			var e IndexEntry
			err := e.read(l)
			ix.Index[id] = e
			return within("content id "+truncate(id), err)
		})
	default:
		err = l.keep(&ix.Extra, key)
	}
	return err
}

// read reads one entry; null is an entry with nothing set, as
// encoding/json reads it.
func (e *IndexEntry) read(l *lexer) error {
	if l.peek() == 'n' {
		return l.literal("null")
	}
	return l.object(func(key string) error {
		var err error
		switch key {
		case "path":
			_, err = l.member(&e.Path, &e.Extra, key, 0)
		case "format":
			_, err = l.member(&e.Format, &e.Extra, key, 0)
		case "datatype":
			_, err = l.member(&e.Datatype, &e.Extra, key, 0)
		case "updated":
			_, err = l.member(&e.Updated, &e.Extra, key, 0)
		case "products":
			err = e.readProducts(l)
		default:
			err = l.keep(&e.Extra, key)
		}
		return err
	})
}

// readProducts reads the list of product names: strings, or null, which
// encoding/json reads as "" (the list is then kept in Extra as written).
func (e *IndexEntry) readProducts(l *lexer) error {
	if l.peek() == 'n' {
		return l.keep(&e.Extra, "products")
	}
	start, null := l.pos, false
	e.Products = []string{}
	err := l.list(func() error {
		if l.peek() == 'n' {
			null = true
			e.Products = append(e.Products, "")
			return l.literal("null")
		}
		if l.peek() != '"' {
			return l.fail("products: want a list of strings")
		}
		s, err := l.str()
		e.Products = append(e.Products, s)
		return err
	})
	if err == nil && null {
		err = l.keepSince(start, &e.Extra, "products")
	}
	return err
}

// checkJSON refuses what encoding/json would accept but a stream must not
// contain: invalid UTF-8 (json replaces it silently).
func checkJSON(data []byte) error {
	if !utf8.Valid(data) {
		return fmt.Errorf("%w: not valid UTF-8", ErrInvalid)
	}
	return nil
}

// ParseProducts parses a products:1.0 document (already stripped of any
// signature) in one pass over the bytes. Duplicate keys, nesting deeper than
// maxDepth, invalid UTF-8, and an object or list where an attribute MAAS
// reads must be a string or a number are refused. Errors wrap ErrInvalid,
// or ErrUnsafePath for an item path or a directory name attribute that
// could escape the tree, at any level and in any version (see Files);
// either names the product, version and item it is in. A version that
// cannot be used (ErrIncomplete) is no error: Select skips it.
func ParseProducts(data []byte) (*Products, error) {
	if err := checkJSON(data); err != nil {
		return nil, err
	}
	l := &lexer{data: data}
	ps := &Products{}
	var order []string // product names in file order, to check in that order
	err := readLevel(l, func(key string) error { return ps.read(l, key) }, "products", &ps.Products,
		func(name string, p *Product) error {
			order = append(order, name)
			return p.read(l)
		})
	if err == nil {
		err = l.end()
	}
	if err != nil {
		return nil, fmt.Errorf("%w: products file: %v", ErrInvalid, err)
	}
	if ps.Format != "products:1.0" {
		return nil, fmt.Errorf("%w: products file: format is %q, want products:1.0", ErrInvalid, ps.Format)
	}
	for _, name := range order {
		if err := ps.check(name); err != nil {
			return nil, within("product "+truncate(name), err)
		}
	}
	return ps, nil
}

// check refuses a product whose attributes, or those of one of its
// versions or items, could escape the tree once inherited.
func (ps *Products) check(name string) error {
	p := ps.Products[name]
	pa := p.Attrs.Inherit(ps.Attrs)
	if err := checkIdentity(&pa); err != nil {
		return err
	}
	var buf [8]string
	for _, vname := range sortedKeys(buf[:0], p.Versions) {
		v := p.Versions[vname]
		err := error(nil)
		if v.setsIdentity() {
			va := v.Attrs.Inherit(pa)
			err = checkIdentity(&va)
		}
		if err == nil {
			err = v.checkPaths(&pa)
		}
		if errors.Is(err, ErrUnsafePath) {
			return within("version "+truncate(vname), err)
		}
	}
	return nil
}

// read reads one member of the top level.
func (ps *Products) read(l *lexer, key string) error {
	var err error
	switch key {
	case "content_id":
		_, err = l.member(&ps.ContentID, &ps.Extra, key, textOK)
	case "format":
		_, err = l.member(&ps.Format, &ps.Extra, key, textOK)
	case "datatype":
		_, err = l.member(&ps.Datatype, &ps.Extra, key, textOK|anyOK)
	case "updated":
		_, err = l.member(&ps.Updated, &ps.Extra, key, textOK|anyOK)
	default:
		err = ps.Attrs.read(l, key)
	}
	return err
}

func (p *Product) read(l *lexer) error {
	return readLevel(l, func(key string) error { return p.Attrs.read(l, key) }, "versions", &p.Versions,
		func(_ string, v *Version) error { return v.read(l) })
}

func (v *Version) read(l *lexer) error {
	return readLevel(l, func(key string) error { return v.Attrs.read(l, key) }, "items", &v.Items,
		func(_ string, it *Item) error {
			return l.object(func(key string) error { return it.Attrs.read(l, key) })
		})
}

// readLevel reads the object of one level of a products file: attr reads
// each member but the one named key, the object of the level below, whose
// members child reads into children (the products, versions or items).
func readLevel[C any](l *lexer, attr func(key string) error, key string, children *map[string]C, child func(name string, c *C) error) error {
	return l.object(func(k string) error {
		if k != key {
			return attr(k)
		}
		*children = map[string]C{}
		return l.object(func(name string) error {
			var c C
			err := child(name, &c)
			(*children)[name] = c
			if err != nil {
				// Where: "product …" for a member of "products".
				return within(strings.TrimSuffix(key, "s")+" "+truncate(name), err)
			}
			return nil
		})
	})
}

// read reads the attribute key of one level into a.
func (a *Attrs) read(l *lexer, key string) error {
	i := fieldIndex(key)
	switch {
	case i < 0 && (key == "content_id" || key == "format"):
		// Not read below the top level, but no more free there.
		if c := l.peek(); c == '{' || c == '[' {
			return l.fail("attribute %s is not a string or a number", key)
		}
		return l.keep(&a.Extra, key)
	case i < 0:
		return l.keep(&a.Extra, key)
	case i == fSize:
		return a.readSize(l)
	}
	r := textOK
	if fields[i].loose {
		r |= anyOK
	}
	set, err := l.member(a.str(i), &a.Extra, key, r)
	if set {
		a.set |= 1 << i
	}
	return err
}

// readSize reads the size attribute: an integer, or any other scalar, which
// makes Size -1 (a size in quotes is not an integer either, as the SPEC
// wants).
func (a *Attrs) readSize(l *lexer) error {
	switch c := l.peek(); {
	case c == '{' || c == '[':
		return l.fail("attribute size is not a string or a number")
	case c == 'n':
		return l.keep(&a.Extra, "size")
	}
	start := l.pos
	s, _, err := l.scalar()
	if err != nil {
		return err
	}
	quoted := l.data[start] == '"'
	n, perr := strconv.ParseInt(s, 10, 64)
	if quoted || perr != nil {
		n = -1
	}
	a.Size, a.set = n, a.set|1<<fSize
	// A JSON integer that ParseInt takes is written as FormatInt writes
	// it, but for -0; 0 is a zero field (see Attrs).
	if quoted || perr != nil || n == 0 {
		return l.keepSince(start, &a.Extra, "size")
	}
	return nil
}

// rule says which values of a member with a string field are not an error.
type rule uint8

const (
	textOK rule = 1 << iota // a number or a boolean: the field gets its text
	anyOK                   // an object or a list: kept in Extra, the field unset
)

// member reads a member that has a string field, dst. A non-empty string
// is dst's value alone; anything else is kept in extra as well, as JSON
// text (Attrs says why): "" and, with textOK, a number or a boolean set dst
// (to its text); null and, with anyOK, an object or a list leave it unset.
// Any other value is an error. set says whether dst was set.
func (l *lexer) member(dst *string, extra *map[string]json.RawMessage, key string, r rule) (set bool, err error) {
	c := l.peek()
	switch {
	case c == 'n' || ((c == '{' || c == '[') && r&anyOK != 0):
		return false, l.keep(extra, key)
	case c == '{' || c == '[':
		return false, l.fail("attribute %s is not a string or a number", key)
	case c != '"' && r&textOK == 0:
		return false, l.fail("%s: want a string", key)
	}
	start := l.pos
	s, _, err := l.scalar()
	if err != nil {
		return false, err
	}
	*dst = s
	if c != '"' || s == "" {
		return true, l.keepSince(start, extra, key)
	}
	return true, nil
}

// located says where in a file an error happened.
type located struct {
	where string
	err   error
}

func (e *located) Error() string { return e.where + ": " + e.err.Error() }
func (e *located) Unwrap() error { return e.err }

// within says that err happened in where, a product, version or item:
// inner places that err names already come after it.
func within(where string, err error) error {
	if err == nil {
		return nil
	}
	if le, ok := err.(*located); ok {
		return &located{where: where + " " + le.where, err: le.err}
	}
	return &located{where: where, err: err}
}
