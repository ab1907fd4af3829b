package simplestreams

// This file holds the agreed signatures until their implementations land.
// Every function here is replaced, keeping its signature.

import (
	"errors"
	"log/slog"
)

var errTODO = errors.New("not implemented yet")

// Sentinel errors that callers branch on (the CLI maps them to exit codes).
var (
	// ErrInvalid: metadata that is not well-formed simplestreams (exit 3).
	ErrInvalid = errors.New("invalid simplestreams metadata")
	// ErrUnsafePath: a path or a directory-name attribute that could
	// escape the tree (exit 3).
	ErrUnsafePath = errors.New("unsafe path")
	// ErrSignature: any verification failure (exit 6); SignatureError wraps it.
	ErrSignature = errors.New("signature verification failed")
	// ErrNothingSelected: no image matched any selection (exit 5).
	ErrNothingSelected = errors.New("no image matches the selections")
)

// Location says where a source's index is (SPEC §3.1).
type Location struct {
	// Root is the base of every path in the metadata: a URL ending in "/"
	// (http, https or file) or a local directory ending in "/".
	Root string
	// Index is the index file's path relative to Root.
	Index string
}

// Locate finds the index of a source URL or local path.
func Locate(source string) (Location, error) { return Location{}, errTODO }

// Signed reports whether the index is clear-signed (.sjson).
func (l Location) Signed() bool { return false }

// Resolve joins Root and a metadata path after CheckPath accepts it.
func (l Location) Resolve(path string) (string, error) { return "", errTODO }

// CheckPath refuses absolute paths, "." and ".." components, backslashes,
// empty components and NUL; the error wraps ErrUnsafePath.
func CheckPath(path string) error { return errTODO }

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

// ParseIndex parses an index:1.0 document (already stripped of any signature).
func ParseIndex(data []byte) (*Index, error) { return nil, errTODO }

// Products is a parsed products:1.0 file.
type Products struct {
	ContentID string
	// unexported fields hold the products, versions and items
}

// ParseProducts parses a products:1.0 document (already stripped of any
// signature).
func ParseProducts(data []byte) (*Products, error) { return nil, errTODO }

// Keyring is a set of OpenPGP public keys.
type Keyring struct{}

// ParseKeyring reads a binary (gpg --export) or ASCII-armored keyring. name
// is used in errors. A GnuPG keybox or a keyring with no keys is an error
// wrapping ErrSignature.
func ParseKeyring(name string, data []byte) (*Keyring, error) { return nil, errTODO }

// Verify checks a clear-signed message against the keyring and returns its
// body. name (a URL or path) is used in errors. Failures are *SignatureError.
func Verify(name string, data []byte, kr *Keyring) ([]byte, error) { return nil, errTODO }

// StripSignature returns the body of a clear-signed message without checking
// the signature (--insecure-skip-verify).
func StripSignature(name string, data []byte) ([]byte, error) { return nil, errTODO }

// Stream is what one source offers, in source order.
type Stream struct {
	Products   []*Products
	Selections []Selection
}

// Select applies MAAS's rules (SPEC §3.4) to every source and returns the
// selected images sorted by (os, arch, subarch, release, label). log may be nil.
// No image at all is ErrNothingSelected.
func Select(sources []Stream, log *slog.Logger) ([]BootImage, error) { return nil, errTODO }

// SignatureError is a verification failure of one file.
type SignatureError struct {
	File  string // URL or path of the file that failed
	KeyID string // the signing key id, upper-case hex, when known
	Err   error
}

func (e *SignatureError) Error() string {
	if e.KeyID != "" {
		return "verifying " + e.File + " (key " + e.KeyID + "): " + e.Err.Error()
	}
	return "verifying " + e.File + ": " + e.Err.Error()
}

func (e *SignatureError) Unwrap() []error { return []error{ErrSignature, e.Err} }
