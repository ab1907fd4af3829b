package importer

import (
	"errors"

	"maas-import-boot-images/fetch"
	"maas-import-boot-images/internal/disk"
	"maas-import-boot-images/internal/lock"
	"maas-import-boot-images/keyring"
)

var (
	// ErrLocked: another run holds the lock on the storage (exit 7).
	ErrLocked = lock.ErrLocked
	// ErrStorage: a local storage failure: permission, I/O, no space
	// (exit 8). Every error of a local write step wraps it.
	ErrStorage = disk.ErrStorage
	// ErrKeyring: a source's keyring file is missing or unreadable (exit 2).
	ErrKeyring = keyring.ErrUnreadable
	// ErrVerify: verify found cache files or links that do not match
	// (exit 6).
	ErrVerify = errors.New("verification failed")
	// ErrNoCurrent: the storage has no current tree yet (list, verify).
	ErrNoCurrent = errors.New("no current boot tree")
)

// The errors of the packages that do the work, under the names the
// importer's callers know.
type (
	// StorageError is a failed local file system operation (exit 8).
	StorageError = disk.Error
	// ChecksumError: a downloaded file does not match its metadata,
	// twice (exit 6).
	ChecksumError = fetch.ChecksumError
	// FetchError: a file or metadata could not be fetched (exit 3).
	FetchError = fetch.Error
)

// SpaceError: the storage has too little free space for the files to
// download (exit 8). Nothing was downloaded.
type SpaceError = disk.SpaceError
