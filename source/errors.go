package source

import "errors"

// Sentinel errors that callers branch on; the CLI maps them to exit codes.
var (
	// ErrUsage: contradictory or incomplete flags (exit 2).
	ErrUsage = errors.New("usage error")
	// ErrConfig: a sources file or a source that cannot be used (exit 2).
	ErrConfig = errors.New("configuration error")
	// ErrUnreachable: the region could not be reached or answered garbage
	// (exit 3).
	ErrUnreachable = errors.New("region not reachable")
	// ErrRefused: the region refused this cluster: unknown cluster UUID or
	// bad credentials (exit 4).
	ErrRefused = errors.New("region refused the request")
	// ErrNoSources: a backend resolved no boot sources (exit 5).
	ErrNoSources = errors.New("no boot sources")
)

// Error is a failure of a backend. Its message names the file, or the
// region URL and the cluster; never a credential.
type Error struct {
	Msg  string
	Hint string // a second line for the user, or ""
	Kind error  // one of the sentinels above
	Err  error  // the cause, if any
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Msg + ": " + e.Err.Error()
	}
	return e.Msg
}

func (e *Error) Unwrap() []error {
	if e.Err != nil {
		return []error{e.Kind, e.Err}
	}
	return []error{e.Kind}
}

// Hint returns the hint of a source error, or "".
func Hint(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Hint
	}
	return ""
}
