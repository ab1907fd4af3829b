package simplestreams

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// maxDepth caps the nesting of metadata JSON; products files need 5.
const maxDepth = 32

// lexer is a small single-pass JSON reader for products files: one scan
// of the bytes, no intermediate trees, duplicate keys refused, nesting
// capped. Callers walk objects with a callback per key.
type lexer struct {
	data  []byte
	pos   int
	depth int
}

type lexError struct {
	pos int
	msg string
}

func (e *lexError) Error() string { return fmt.Sprintf("offset %d: %s", e.pos, e.msg) }

func (l *lexer) fail(format string, a ...any) error {
	return &lexError{pos: l.pos, msg: fmt.Sprintf(format, a...)}
}

func (l *lexer) ws() {
	for l.pos < len(l.data) {
		switch l.data[l.pos] {
		case ' ', '\t', '\n', '\r':
			l.pos++
		default:
			return
		}
	}
}

func (l *lexer) peek() byte {
	l.ws()
	if l.pos < len(l.data) {
		return l.data[l.pos]
	}
	return 0
}

func (l *lexer) end() error {
	if l.peek() != 0 {
		return l.fail("data after the top-level value")
	}
	return nil
}

// enter steps into an object or a list, which starts with c, one level
// deeper; the caller steps out with l.depth--.
func (l *lexer) enter(c byte, what string) error {
	if l.peek() != c {
		return l.fail("want %s", what)
	}
	l.pos++
	if l.depth++; l.depth > maxDepth {
		return l.fail("nested deeper than %d", maxDepth)
	}
	return nil
}

// object reads an object, calling fn for each key with the lexer at the
// key's value; fn must consume the value. Duplicate keys are an error.
func (l *lexer) object(fn func(key string) error) error {
	if err := l.enter('{', "an object"); err != nil {
		return err
	}
	defer func() { l.depth-- }()
	var small []string
	var seen map[string]struct{}
	if l.peek() == '}' {
		l.pos++
		return nil
	}
	for {
		if l.peek() != '"' {
			return l.fail("want a string key")
		}
		key, err := l.str()
		if err != nil {
			return err
		}
		if seen != nil {
			if _, dup := seen[key]; dup {
				return l.fail("duplicate key %q", truncate(key))
			}
			seen[key] = struct{}{}
		} else {
			for _, k := range small {
				if k == key {
					return l.fail("duplicate key %q", truncate(key))
				}
			}
			small = append(small, key)
			if len(small) > 16 {
				seen = make(map[string]struct{}, 64)
				for _, k := range small {
					seen[k] = struct{}{}
				}
			}
		}
		if l.peek() != ':' {
			return l.fail("want ':' after a key")
		}
		l.pos++
		if err := fn(key); err != nil {
			return err
		}
		switch l.peek() {
		case ',':
			l.pos++
		case '}':
			l.pos++
			return nil
		default:
			return l.fail("want ',' or '}' in an object")
		}
	}
}

// scalar reads a string, number, true or false as its string form; null
// and containers are skipped, with ok false.
func (l *lexer) scalar() (s string, ok bool, err error) {
	switch c := l.peek(); {
	case c == '"':
		s, err = l.str()
		return s, err == nil, err
	case c == '{' || c == '[':
		return "", false, l.skip()
	case c == 't':
		return "true", true, l.literal("true")
	case c == 'f':
		return "false", true, l.literal("false")
	case c == 'n':
		return "", false, l.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		start := l.pos
		if !l.number() {
			return "", false, l.fail("bad number")
		}
		return string(l.data[start:l.pos]), true, nil
	}
	return "", false, l.fail("want a value")
}

func (l *lexer) literal(word string) error {
	if len(l.data)-l.pos < len(word) || string(l.data[l.pos:l.pos+len(word)]) != word {
		return l.fail("want a value")
	}
	l.pos += len(word)
	return nil
}

// skip reads and discards any value.
func (l *lexer) skip() error {
	switch l.peek() {
	case '{':
		return l.object(func(string) error { return l.skip() })
	case '[':
		return l.list(l.skip)
	}
	_, _, err := l.scalar()
	return err
}

// list reads a list, calling fn with the lexer at each element; fn must
// consume it.
func (l *lexer) list(fn func() error) error {
	if err := l.enter('[', "a list"); err != nil {
		return err
	}
	defer func() { l.depth-- }()
	if l.peek() == ']' {
		l.pos++
		return nil
	}
	for {
		if err := fn(); err != nil {
			return err
		}
		switch l.peek() {
		case ',':
			l.pos++
		case ']':
			l.pos++
			return nil
		default:
			return l.fail("want ',' or ']' in a list")
		}
	}
}

// keep reads any value into extra[key], as canonical JSON text.
func (l *lexer) keep(extra *map[string]json.RawMessage, key string) error {
	l.ws()
	start := l.pos
	if err := l.skip(); err != nil {
		return err
	}
	return l.keepSince(start, extra, key)
}

// keepSince sets extra[key] to the canonical JSON text of the value the
// lexer has read since start: compact, with <, >, &, U+2028 and U+2029
// escaped, as encoding/json writes it. A value kept as text thus reads back
// the same after json.Marshal, which compacts and escapes what a Marshaler
// returns.
func (l *lexer) keepSince(start int, extra *map[string]json.RawMessage, key string) error {
	text := l.data[start:l.pos]
	v := json.RawMessage(nil)
	if c := text[0]; c == '{' || c == '[' || escapes(text) {
		var compact, escaped bytes.Buffer
		if err := json.Compact(&compact, text); err != nil {
			return l.fail("%v", err)
		}
		json.HTMLEscape(&escaped, compact.Bytes())
		v = escaped.Bytes()
	} else {
		v = bytes.Clone(text)
	}
	if *extra == nil {
		*extra = make(map[string]json.RawMessage, 2)
	}
	(*extra)[key] = v
	return nil
}

// escapes reports whether encoding/json would escape a byte of a JSON
// scalar's text: <, > or &, or the first byte of U+2028 or U+2029.
func escapes(text []byte) bool {
	for _, c := range text {
		if c == '<' || c == '>' || c == '&' || c == 0xe2 {
			return true
		}
	}
	return false
}

// str reads a JSON string; the lexer is at its opening quote.
func (l *lexer) str() (string, error) {
	l.pos++ // the quote
	start := l.pos
	for l.pos < len(l.data) {
		c := l.data[l.pos]
		switch {
		case c == '"':
			s := string(l.data[start:l.pos])
			l.pos++
			return s, nil
		case c == '\\':
			return l.slowStr(start)
		case c < 0x20:
			return "", l.fail("control character in a string")
		}
		l.pos++
	}
	return "", l.fail("unterminated string")
}

func (l *lexer) slowStr(start int) (string, error) {
	b := append([]byte(nil), l.data[start:l.pos]...)
	for l.pos < len(l.data) {
		c := l.data[l.pos]
		switch {
		case c == '"':
			l.pos++
			return string(b), nil
		case c < 0x20:
			return "", l.fail("control character in a string")
		case c != '\\':
			b = append(b, c)
			l.pos++
			continue
		}
		if l.pos+1 >= len(l.data) {
			break
		}
		e := l.data[l.pos+1]
		l.pos += 2
		switch e {
		case '"', '\\', '/':
			b = append(b, e)
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r, ok := l.hex4()
			if !ok {
				return "", l.fail("bad \\u escape")
			}
			if utf16.IsSurrogate(r) {
				r = l.lowSurrogate(r)
			}
			b = utf8.AppendRune(b, r)
		default:
			return "", l.fail("bad escape")
		}
	}
	return "", l.fail("unterminated string")
}

// lowSurrogate decodes the pair that high starts with the \u escape after
// it, which it then consumes; as encoding/json, without one it gives
// U+FFFD and leaves what follows to be read on its own.
func (l *lexer) lowSurrogate(high rune) rune {
	if l.pos+1 >= len(l.data) || l.data[l.pos] != '\\' || l.data[l.pos+1] != 'u' {
		return utf8.RuneError
	}
	l.pos += 2
	low, ok := l.hex4()
	if r := utf16.DecodeRune(high, low); ok && r != utf8.RuneError {
		return r
	}
	l.pos -= 2
	if ok {
		l.pos -= 4
	}
	return utf8.RuneError
}

func (l *lexer) hex4() (rune, bool) {
	if len(l.data)-l.pos < 4 {
		return 0, false
	}
	n, err := strconv.ParseUint(string(l.data[l.pos:l.pos+4]), 16, 32)
	if err != nil {
		return 0, false
	}
	l.pos += 4
	return rune(n), true
}

// number reads -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (l *lexer) number() bool {
	digits := func() int {
		n := 0
		for l.pos < len(l.data) && l.data[l.pos] >= '0' && l.data[l.pos] <= '9' {
			l.pos++
			n++
		}
		return n
	}
	at := func(c byte) bool {
		if l.pos < len(l.data) && l.data[l.pos] == c {
			l.pos++
			return true
		}
		return false
	}
	at('-')
	if at('0') {
		// no more integer digits after a leading zero
	} else if digits() == 0 {
		return false
	}
	if at('.') && digits() == 0 {
		return false
	}
	if at('e') || at('E') {
		if !at('+') {
			at('-')
		}
		if digits() == 0 {
			return false
		}
	}
	return true
}
