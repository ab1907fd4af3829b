// Package cache is a content-addressed store of verified files: each is
// <dir>/<sha256>, immutable and 0644, and is served by hard links to it,
// so that its link count says whether anything still uses it. Beside them
// are <sha256>.part, a download that the next run resumes (with
// <sha256>.part.segs, how far each range of a segmented one got); temporaries
// (disk.TempPrefix), leftovers of an interrupted run; and <sha256>.<ext>,
// files that a user of the cache keeps about a cached file (the
// importer's bootloader member lists), which are its business.
//
// A Dir is safe for concurrent use by the goroutines of one run; runs
// exclude each other with the storage lock.
package cache

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"maas-import-boot-images/internal/disk"
	"maas-import-boot-images/internal/fault"
)

const (
	partSuffix  = ".part"
	stateSuffix = ".part.segs"
)

// Dir is a cache directory.
type Dir struct{ dir string }

// New returns the cache in dir; nothing is read or made yet.
func New(dir string) *Dir { return &Dir{dir: dir} }

// Root is the directory of the cache.
func (d *Dir) Root() string { return d.dir }

// Path is the path of name in the cache: a sha256 names a cached file.
func (d *Dir) Path(name string) string { return filepath.Join(d.dir, name) }

// Has reports whether the cache holds the file, trusted by name and size:
// verifying it is Verify's job, not every run's.
func (d *Dir) Has(sha string, size int64) bool {
	fi, err := os.Lstat(d.Path(sha))
	return err == nil && fi.Mode().IsRegular() && fi.Size() == size
}

// Create makes the directory (and its parents) with mode 0755, and
// refuses one that is a symlink: nothing is written through a link.
func (d *Dir) Create() error {
	if err := disk.MkdirAll(d.dir); err != nil {
		return err
	}
	if fi, err := os.Lstat(d.dir); err != nil || !fi.IsDir() {
		return disk.Wrap("checking", d.dir, errors.New("not a directory (a symlink?): refusing to write through it"))
	}
	return nil
}

// OpenPart opens the unfinished download of sha for resuming, or starts
// it (disk.OpenPart). Its Commit to Path(sha) stores it.
func (d *Dir) OpenPart(sha string) (*disk.File, error) {
	return disk.OpenPart(d.Path(sha + partSuffix))
}

// PartState is the path of the file in which a segmented download of sha
// records how far each of its ranges got, beside its .part; the fetch
// package owns its content.
func (d *Dir) PartState(sha string) string { return d.Path(sha + stateSuffix) }

// RemovePart drops the unfinished download of sha and its state, so that
// the next attempt starts from zero.
func (d *Dir) RemovePart(sha string) {
	_ = os.Remove(d.Path(sha + partSuffix))
	_ = os.Remove(d.PartState(sha))
}

// Put stores what r yields, which must be size bytes, under its own
// sha256, and returns that sha256. Content the cache holds already is
// kept as it is (perhaps linked). A read error or a wrong length is
// returned as it is; a write error is a *disk.Error.
func (d *Dir) Put(r io.Reader, size int64) (string, error) {
	out, err := disk.Create(d.dir, fault.Put)
	if err != nil {
		return "", err
	}
	defer out.Cleanup()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(out, h), r)
	if err != nil {
		return "", err
	}
	if n != size {
		return "", fmt.Errorf("truncated: %d of %d bytes", n, size)
	}
	sha := hex.EncodeToString(h.Sum(nil))
	if d.Has(sha, size) {
		return sha, nil
	}
	return sha, out.Commit(d.Path(sha))
}

// Sync makes the renames into the cache durable: one directory sync after
// any number of Commits and Puts.
func (d *Dir) Sync() error { return disk.SyncDir(d.dir) }

// Bytes is the size of every regular file in the store, unfinished
// downloads included; a store that does not exist holds nothing.
func (d *Dir) Bytes() (int64, error) {
	entries, err := os.ReadDir(d.dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return 0, disk.Wrap("reading", d.dir, err)
	}
	var n int64
	for _, e := range entries {
		if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
	}
	return n, nil
}

// isWork reports whether name is an unfinished download, its state or a
// temporary.
func isWork(name string) bool {
	return strings.HasSuffix(name, partSuffix) || strings.HasSuffix(name, stateSuffix) || strings.HasPrefix(name, disk.TempPrefix)
}
