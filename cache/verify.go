package cache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"strings"
	"syscall"

	"maas-import-boot-images/internal/disk"
)

// Report is what Verify found.
type Report struct {
	Files int   // files re-hashed
	Bytes int64 // their total size
	// Good maps the inode of every file whose content matches its name to
	// that name, so that a caller can tell whether a link elsewhere is of
	// a verified file.
	Good map[uint64]string
	// Bad lists the files whose content does not match their name, and
	// Removed those of them that Verify removed (with repair).
	Bad     []Mismatch
	Removed []string
	// Others are the files named <sha256>.<ext>, which Verify leaves to
	// the caller.
	Others []fs.DirEntry
}

// Mismatch is a cache file whose content hashes to another name.
type Mismatch struct{ Name, Got string }

// Verify re-hashes every cached file (neither a .part nor a temporary nor
// a <sha256>.<ext>) and reports those whose content does not match their
// name; with repair it removes them, so that the next run fetches them
// again. A cache that does not exist is empty. Errors are *disk.Error, or
// ctx's when it is done.
func (d *Dir) Verify(ctx context.Context, repair bool) (*Report, error) {
	entries, err := os.ReadDir(d.dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, disk.Wrap("reading", d.dir, err)
	}
	rep := &Report{Good: map[uint64]string{}}
	buf := make([]byte, 1<<20)
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		name := e.Name()
		switch {
		case isWork(name) || !e.Type().IsRegular():
			continue
		case strings.Contains(name, "."):
			rep.Others = append(rep.Others, e)
			continue
		}
		p := d.Path(name)
		got, size, ino, err := hashFile(p, buf)
		if err != nil {
			return nil, disk.Wrap("reading", p, err)
		}
		rep.Files++
		rep.Bytes += size
		if got == name {
			rep.Good[ino] = name
			continue
		}
		rep.Bad = append(rep.Bad, Mismatch{Name: name, Got: got})
		if repair {
			if err := os.Remove(p); err != nil {
				return nil, disk.Wrap("removing", p, err)
			}
			rep.Removed = append(rep.Removed, name)
		}
	}
	return rep, nil
}

func hashFile(p string, buf []byte) (sum string, size int64, ino uint64, err error) {
	f, err := os.Open(p)
	if err != nil {
		return "", 0, 0, err
	}
	defer f.Close()
	h := sha256.New()
	size, err = io.CopyBuffer(h, f, buf)
	if err != nil {
		return "", 0, 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		return "", 0, 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), size, Inode(fi), nil
}

// Inode is a file's inode number, or 0 where the system has none.
func Inode(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
}

// LinkCount is a file's number of hard links, or 0 where the system has none.
func LinkCount(fi fs.FileInfo) int {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Nlink)
	}
	return 0
}

// RemoveUnreferenced removes the files that nothing outside the cache
// links (link count 1, once goingAway's count of links for the inode is
// taken off) and, with parts, the unfinished downloads and temporaries.
// With dryRun it only lists them. It returns their names and total size;
// a cache that does not exist is empty.
func (d *Dir) RemoveUnreferenced(parts, dryRun bool, goingAway map[uint64]int) ([]string, int64, error) {
	entries, err := os.ReadDir(d.dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, 0, disk.Wrap("reading", d.dir, err)
	}
	var names []string
	var size int64
	for _, e := range entries {
		name := e.Name()
		fi, err := e.Info()
		if err != nil || !fi.Mode().IsRegular() || LinkCount(fi) == 0 {
			continue
		}
		if work := isWork(name); (work && !parts) || (!work && LinkCount(fi)-goingAway[Inode(fi)] > 1) {
			continue
		}
		names = append(names, name)
		size += fi.Size()
		if !dryRun {
			if err := os.Remove(d.Path(name)); err != nil {
				return nil, 0, disk.Wrap("removing", d.Path(name), err)
			}
		}
	}
	return names, size, nil
}
