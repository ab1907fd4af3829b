package importer

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"maas-import-boot-images/internal/disk"
)

// Lock takes the flock on <storage>/.lock, creating the storage
// directory and the lock file if needed. The lock file is never deleted:
// a lock left by a crashed run is free, since the kernel drops flocks with
// their process. With wait it polls until ctx is done; otherwise a held
// lock is ErrLocked. The returned function releases the lock.
func Lock(ctx context.Context, storage string, wait bool) (func(), error) {
	if err := disk.MkdirAll(storage); err != nil {
		return nil, err
	}
	name := filepath.Join(storage, ".lock")
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, disk.Wrap("opening", name, err)
	}
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() { _ = unix.Flock(int(f.Fd()), unix.LOCK_UN); f.Close() }, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			f.Close()
			return nil, disk.Wrap("locking", name, err)
		}
		if !wait {
			f.Close()
			return nil, &StorageLockError{Path: name}
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// StorageLockError: the lock is held by another run (exit 7).
type StorageLockError struct{ Path string }

func (e *StorageLockError) Error() string { return e.Path + " is held by another run" }
func (e *StorageLockError) Unwrap() error { return ErrLocked }
