package importer

import (
	"errors"
	"fmt"
)

var (
	// ErrLocked: another run holds the lock on the storage (exit 7).
	ErrLocked = errors.New("another import holds the lock")
	// ErrStorage: a local storage failure: permission, I/O, no space
	// (exit 8). Every error of a local write step wraps it.
	ErrStorage = errors.New("local storage problem")
	// ErrKeyring: a source's keyring file is missing or unreadable (exit 2).
	ErrKeyring = errors.New("keyring not readable")
	// ErrVerify: verify found cache files or links that do not match
	// (exit 6).
	ErrVerify = errors.New("verification failed")
	// ErrNoCurrent: the storage has no current tree yet (list, verify).
	ErrNoCurrent = errors.New("no current boot tree")
)

// StorageError is a failed local file system operation.
type StorageError struct {
	Op   string
	Path string
	Err  error
}

func (e *StorageError) Error() string   { return e.Op + " " + e.Path + ": " + e.Err.Error() }
func (e *StorageError) Unwrap() []error { return []error{ErrStorage, e.Err} }

// fsErr wraps a local file system error so that it maps to exit 8; nil stays
// nil, and a *StorageError is not wrapped twice.
func fsErr(op, path string, err error) error {
	if err == nil {
		return nil
	}
	var se *StorageError
	if errors.As(err, &se) {
		return err
	}
	return &StorageError{Op: op, Path: path, Err: err}
}

// SpaceError: the storage has too little free space for the files to
// download (exit 8). Nothing was downloaded.
type SpaceError struct {
	Path       string
	Need, Free int64
}

func (e *SpaceError) Error() string {
	return fmt.Sprintf("not enough free space in %s: need %d bytes, %d free", e.Path, e.Need, e.Free)
}

func (e *SpaceError) Unwrap() error { return ErrStorage }

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

// FetchError: a file or metadata could not be fetched (exit 3): a 4xx
// answer, or a connection error, 5xx or 429 after the retries.
type FetchError struct {
	URL    string
	Status int // the HTTP status, 0 when there was no answer
	Err    error
}

func (e *FetchError) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("fetching %s: HTTP %d", e.URL, e.Status)
	}
	return fmt.Sprintf("fetching %s: %v", e.URL, e.Err)
}

func (e *FetchError) Unwrap() error { return e.Err }
