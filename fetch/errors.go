package fetch

import "fmt"

// Error: a file or metadata could not be fetched (exit 3): a 4xx answer,
// or a connection error, 5xx, 429 or broken body after the retries.
type Error struct {
	URL    string
	Status int // the HTTP status, 0 when there was no answer
	Err    error
}

func (e *Error) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("fetching %s: HTTP %d", e.URL, e.Status)
	}
	return fmt.Sprintf("fetching %s: %v", e.URL, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// ChecksumError: a downloaded file does not match its metadata, twice
// (exit 6).
type ChecksumError struct {
	URL  string
	What string // "size", "sha256" or "sha512"
	Want string
	Got  string
}

func (e *ChecksumError) Error() string {
	return fmt.Sprintf("%s: %s mismatch: want %s, got %s", e.URL, e.What, e.Want, e.Got)
}

// mismatch is a first ChecksumError: the file is fetched once more.
type mismatch struct{ ChecksumError }
