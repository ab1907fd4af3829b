package simplestreams

import "errors"

// Sentinel errors that callers branch on (the CLI maps them to exit codes).
var (
	// ErrInvalid: metadata that is not well-formed simplestreams (exit 3).
	ErrInvalid = errors.New("invalid simplestreams metadata")
	// ErrUnsafePath: a path or a directory-name attribute that could
	// escape the tree (exit 3).
	ErrUnsafePath = errors.New("unsafe path")
	// ErrSignature: any verification failure (exit 6); SignatureError wraps it.
	ErrSignature = errors.New("signature verification failed")
	// ErrIncomplete: a version that cannot be used (an item without a
	// valid size or sha256, items that contradict their version); Select
	// skips it and takes an older one.
	ErrIncomplete = errors.New("incomplete version")
	// ErrNothingSelected: no image matched any selection (exit 5).
	ErrNothingSelected = errors.New("no image matches the selections")
)

// SignatureError is a verification failure of one file.
type SignatureError struct {
	File  string // URL or path of the file that failed
	KeyID string // the signing key id, upper-case hex, when known
	Err   error
}

func (e *SignatureError) Error() string {
	if e.KeyID != "" {
		return "verifying " + e.File + " (signed by key " + e.KeyID + "): " + e.Err.Error()
	}
	return "verifying " + e.File + ": " + e.Err.Error()
}

func (e *SignatureError) Unwrap() []error { return []error{ErrSignature, e.Err} }
