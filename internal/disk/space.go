package disk

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// SpaceError: a directory has too little free space for the files a run
// must download (exit 8). Nothing was downloaded.
type SpaceError struct {
	Path       string
	Need, Free int64
}

func (e *SpaceError) Error() string {
	return fmt.Sprintf("not enough free space in %s: need %d bytes, %d free", e.Path, e.Need, e.Free)
}

func (e *SpaceError) Unwrap() error { return ErrStorage }

// statfs is unix.Statfs; SetStatfsForTest replaces it.
var statfs = unix.Statfs

// SetStatfsForTest makes CheckSpace ask f instead of the file system, to
// simulate a full or a roomy disk, until the returned function restores
// it. It is for tests only, and not safe while a run may check space.
func SetStatfsForTest(f func(path string, st *unix.Statfs_t) error) (restore func()) {
	old := statfs
	statfs = f
	return func() { statfs = old }
}

// CheckSpace refuses, with a *SpaceError, need bytes that do not fit in
// dir, which need not exist yet (its nearest existing parent is asked).
// Other errors are *Error.
func CheckSpace(dir string, need int64) error {
	if need <= 0 {
		return nil
	}
	at := dir
	for {
		if _, err := os.Stat(at); err == nil || filepath.Dir(at) == at {
			break
		}
		at = filepath.Dir(at)
	}
	var st unix.Statfs_t
	if err := statfs(at, &st); err != nil {
		return Wrap("checking free space of", at, err)
	}
	free := int64(st.Bavail) * int64(st.Bsize)
	if free < need {
		return &SpaceError{Path: dir, Need: need, Free: free}
	}
	return nil
}
