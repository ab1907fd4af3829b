package simplestreams

import (
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// Location says where a source's index is (SPEC §3.1).
type Location struct {
	// Root is the base of every path in the metadata: an http(s) URL
	// ending in "/" or a local directory ending in the path separator.
	Root string
	// Index is the index file's path relative to Root.
	Index string
}

const defaultIndex = "streams/v1/index.sjson"

// Locate finds the index of a source: an http(s) URL, a file:// URL or a
// local path. A source ending in streams/v1/<name>.json or .sjson names the
// index itself; otherwise the index is streams/v1/index.sjson under it.
func Locate(source string) (Location, error) {
	if source == "" {
		return Location{}, fmt.Errorf("%w: empty source URL", ErrInvalid)
	}
	if strings.ContainsRune(source, 0) || !utf8.ValidString(source) {
		return Location{}, fmt.Errorf("%w: source URL %q", ErrUnsafePath, source)
	}
	u, err := url.Parse(source)
	switch {
	case err == nil && (u.Scheme == "http" || u.Scheme == "https"):
		if u.Host == "" {
			return Location{}, fmt.Errorf("%w: source URL %q has no host", ErrInvalid, source)
		}
		root, index := split(u.Path)
		u.Path, u.RawPath, u.RawQuery, u.Fragment = root, "", "", ""
		return Location{Root: u.String(), Index: index}, nil
	case err == nil && u.Scheme == "file":
		// file:///abs/path or file://localhost/abs/path; file:rel has no
		// path at all and must not become the root directory.
		if u.Opaque != "" || u.Path == "" || (u.Host != "" && u.Host != "localhost") {
			return Location{}, fmt.Errorf("%w: source URL %q: want file:///absolute/path", ErrInvalid, source)
		}
		source = u.Path
	case err == nil && len(u.Scheme) > 1:
		return Location{}, fmt.Errorf("%w: source URL %q: unsupported scheme %q", ErrInvalid, source, u.Scheme)
	}
	root, index := split(filepath.ToSlash(source))
	if root == "" {
		root = "./" // streams/v1/index.json relative to the working directory
	}
	return Location{Root: filepath.FromSlash(root), Index: index}, nil
}

// split splits a slash-separated path into a root ending in "/" and the
// index path relative to it.
func split(p string) (root, index string) {
	if strings.HasSuffix(p, ".json") || strings.HasSuffix(p, ".sjson") {
		i := strings.LastIndex(p, "streams/v1/")
		if i >= 0 && (i == 0 || p[i-1] == '/') && !strings.Contains(p[i+len("streams/v1/"):], "/") {
			return p[:i], p[i:]
		}
	}
	if !strings.HasSuffix(p, "/") {
		p += "/"
	}
	return p, defaultIndex
}

// IsURL reports whether the root is an http(s) URL rather than a directory.
func (l Location) IsURL() bool {
	return strings.HasPrefix(l.Root, "http://") || strings.HasPrefix(l.Root, "https://")
}

// Signed reports whether the index is clear-signed (.sjson).
func (l Location) Signed() bool { return strings.HasSuffix(l.Index, ".sjson") }

// Resolve joins Root and a metadata path after CheckPath accepts it.
func (l Location) Resolve(p string) (string, error) {
	if err := CheckPath(p); err != nil {
		return "", err
	}
	if l.IsURL() {
		segs := strings.Split(p, "/")
		for i, s := range segs {
			segs[i] = url.PathEscape(s)
		}
		return l.Root + strings.Join(segs, "/"), nil
	}
	return l.Root + filepath.FromSlash(p), nil
}

// maxPath caps a metadata path; real ones are well under 200 bytes.
const maxPath = 1024

// CheckPath refuses absolute paths, "." and ".." components, backslashes,
// empty components, NUL, invalid UTF-8 and over-long paths; the error wraps
// ErrUnsafePath.
func CheckPath(p string) error {
	bad := func(why string) error { return fmt.Errorf("%w %q: %s", ErrUnsafePath, truncate(p), why) }
	switch {
	case p == "":
		return bad("empty")
	case len(p) > maxPath:
		return bad("too long")
	case !utf8.ValidString(p):
		return bad("not UTF-8")
	case strings.ContainsRune(p, 0):
		return bad("contains NUL")
	case strings.ContainsRune(p, '\\'):
		return bad("contains a backslash")
	case strings.HasPrefix(p, "/"):
		return bad("absolute")
	}
	for s := range strings.SplitSeq(p, "/") {
		switch s {
		case "":
			return bad("empty component")
		case ".", "..":
			return bad("dot component")
		}
	}
	return nil
}

// checkName checks a value that becomes one directory name in the tree.
func checkName(attr, v string) error {
	if err := CheckPath(v); err != nil {
		return fmt.Errorf("attribute %s: %w", attr, err)
	}
	if strings.Contains(v, "/") || len(v) > 255 {
		return fmt.Errorf("attribute %s: %w %q: not a single directory name", attr, ErrUnsafePath, truncate(v))
	}
	return nil
}

func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
