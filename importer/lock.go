package importer

import (
	"context"

	"maas-import-boot-images/internal/lock"
)

// Lock takes the flock on <storage>/.lock (see lock.Take): ErrLocked
// when another run holds it, unless wait. The returned function releases
// the lock.
func Lock(ctx context.Context, storage string, wait bool) (func(), error) {
	return lock.Take(ctx, storage, wait)
}

// StorageLockError: the lock is held by another run (exit 7).
type StorageLockError = lock.HeldError
