package simplestreams

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Files returns the version's items that have a path, as files whose
// attributes are inherited from the version and from parent, the
// attributes in force at the product (see Inherit), sorted by item name.
//
// An error wrapping ErrUnsafePath says that a path could escape the tree
// (the names that become directories are checked by ParseProducts and
// Select). One wrapping ErrIncomplete says the version cannot be used: an
// item with a path lacks an integer size or a 64-hex sha256, has a sha512
// that is not 128 hex digits, or sets an identity attribute (os, arch,
// release, label …) to another value than its version, since one version
// is one image. Files returns no files with an error.
func (v Version) Files(parent Attrs) ([]File, error) {
	va := v.Attrs.Inherit(parent)
	files := make([]File, 0, len(v.Items))
	var why, whyItem string // the reason of the first item, by name, that makes the version incomplete
	for name, it := range v.Items {
		reason := contradiction(&it.Attrs, &va, name)
		ia := it.Attrs.Inherit(va)
		if ia.Path != "" {
			f := File{Name: name, FType: ia.FType, Path: ia.Path, Size: ia.Size, SHA256: ia.SHA256, SHA512: ia.SHA512}
			reason = cmp.Or(reason, invalid(&ia, f))
			files = append(files, f)
		}
		if reason != "" && (why == "" || name < whyItem) {
			why, whyItem = reason, name
		}
	}
	slices.SortFunc(files, func(a, b File) int { return strings.Compare(a.Name, b.Name) })
	for _, f := range files {
		if err := CheckPath(f.Path); err != nil {
			return nil, within("item "+truncate(f.Name), err)
		}
	}
	if why != "" {
		return nil, fmt.Errorf("%w: %s", ErrIncomplete, why)
	}
	return files, nil
}

// checkPaths refuses a version whose items' paths, once inherited from
// the version and parent, could escape the tree: the path checks of
// Files, without the rest of its work, for ParseProducts to run on every
// version.
func (v Version) checkPaths(parent *Attrs) error {
	bad, badItem := error(nil), ""
	for name, it := range v.Items {
		path := parent.Path
		switch {
		case it.has(fPath):
			path = it.Path
		case v.has(fPath):
			path = v.Path
		}
		if path == "" || (bad != nil && name > badItem) {
			continue
		}
		if err := CheckPath(path); err != nil {
			bad, badItem = err, name
		}
	}
	if bad != nil {
		return within("item "+truncate(badItem), bad)
	}
	return nil
}

// contradiction says which identity attribute an item sets to another
// value than its version va, or "".
func contradiction(it, va *Attrs, name string) string {
	for i, f := range fields {
		if f.identity && it.has(i) && it.get(i) != va.get(i) {
			return fmt.Sprintf("item %s sets %s %q, its version %q", truncate(name), f.name, truncate(it.get(i)), truncate(va.get(i)))
		}
	}
	return ""
}

// invalid says why a file's size or checksums cannot be used, or "".
func invalid(ia *Attrs, f File) string {
	switch {
	case !ia.has(fSize) || f.Size < 0:
		return fmt.Sprintf("item %s has no valid size", truncate(f.Name))
	case !isHex(f.SHA256, 64):
		return fmt.Sprintf("item %s has no valid sha256", truncate(f.Name))
	case f.SHA512 != "" && !isHex(f.SHA512, 128):
		return fmt.Sprintf("item %s has an invalid sha512", truncate(f.Name))
	}
	return ""
}

// setsIdentity reports whether a sets an identity attribute.
func (a *Attrs) setsIdentity() bool {
	for i, f := range fields {
		if f.identity && a.has(i) {
			return true
		}
	}
	return false
}

// checkIdentity refuses identity values that would be unsafe as directory
// names; every name in subarches becomes a subarch directory too.
func checkIdentity(a *Attrs) error {
	for i, f := range fields {
		if !f.dirName || a.get(i) == "" {
			continue
		}
		if err := checkName(f.name, a.get(i)); err != nil {
			return err
		}
	}
	for s := range strings.SplitSeq(a.Subarches, ",") {
		if s = strings.TrimSpace(s); s != "" {
			if err := checkName("subarches", s); err != nil {
				return err
			}
		}
	}
	return nil
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
