// Package lock is the flock that one run holds on a directory (a boot
// storage or a mirror) for its whole length, so that runs on the same
// directory exclude each other.
package lock

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"maas-import-boot-images/internal/disk"
)

// ErrLocked: another run holds the lock on the directory (exit 7).
var ErrLocked = errors.New("another run holds the lock")

// HeldError: the lock is held by another run; it wraps ErrLocked.
type HeldError struct{ Path string }

func (e *HeldError) Error() string { return e.Path + " is held by another run" }
func (e *HeldError) Unwrap() error { return ErrLocked }

// Name is the lock file's name in the directory; it is never deleted.
const Name = ".lock"

// Take takes the flock on <dir>/.lock, creating the directory and the
// lock file if needed. The lock file is never deleted: a lock left by a
// crashed run is free, since the kernel drops flocks with their process.
// With wait it polls until ctx is done; otherwise a held lock is a
// *HeldError. The returned function releases the lock.
func Take(ctx context.Context, dir string, wait bool) (func(), error) {
	if err := disk.MkdirAll(dir); err != nil {
		return nil, err
	}
	name := filepath.Join(dir, Name)
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
			return nil, &HeldError{Path: name}
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
