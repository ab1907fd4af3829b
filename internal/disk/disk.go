// Package disk is the one way the storage is written: a file is created
// under a temporary name (or, for a download, its stable .part name),
// written, made 0644 whatever the umask, synced, closed and renamed into
// place; directories are 0755 whatever the umask. Syncing the directory
// after a rename is left to the caller, so that one sync can make many
// renames durable. Every step passes the fault seam first, and every
// failure is an *Error wrapping ErrStorage.
package disk

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"maas-import-boot-images/internal/fault"
)

// ErrStorage: a local storage failure: permission, I/O, no space (exit 8).
// Every error of a local write step wraps it.
var ErrStorage = errors.New("local storage problem")

// Error is a failed local file system operation.
type Error struct {
	Op   string
	Path string
	Err  error
}

func (e *Error) Error() string   { return e.Op + " " + e.Path + ": " + e.Err.Error() }
func (e *Error) Unwrap() []error { return []error{ErrStorage, e.Err} }

// Wrap makes err an *Error naming op and path; nil stays nil, and an
// *Error is not wrapped twice.
func Wrap(op, path string, err error) error {
	if err == nil {
		return nil
	}
	var de *Error
	if errors.As(err, &de) {
		return err
	}
	return &Error{Op: op, Path: path, Err: err}
}

// Do runs one write step: the fault seam, then fn. Either's error is an
// *Error naming op and path.
func Do(step fault.Step, op, path string, fn func() error) error {
	if err := fault.Check(step, path); err != nil {
		return Wrap(op, path, err)
	}
	return Wrap(op, path, fn())
}

// TempPrefix begins the name of every temporary file, directory or link:
// whatever carries it is a leftover of an interrupted run once no run
// holds the storage lock.
const TempPrefix = ".tmp-"

// TempPath returns a fresh temporary name in dir: TempPrefix, stem, and a
// random suffix.
func TempPath(dir, stem string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return filepath.Join(dir, TempPrefix+stem+hex.EncodeToString(b))
}

// File is a file being written. Commit gives it its name; Cleanup
// abandons it. A File is not safe for concurrent use, but for WriteAt.
type File struct {
	f    *os.File
	keep bool // a .part: kept when abandoned, for the next run to resume
	done bool // committed or cleaned up
}

// Create creates a new empty file under a temporary name in dir; step is
// the fault step that creating it stands for.
func Create(dir string, step fault.Step) (*File, error) {
	name := TempPath(dir, "")
	var f *os.File
	err := Do(step, "creating", name, func() (err error) {
		f, err = os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &File{f: f}, nil
}

// OpenPart opens the unfinished download name for resuming, or creates
// it, never through a symlink: anything at that name that is not a
// regular file is removed first, so that a link planted in the cache
// cannot redirect a download. Cleanup keeps the file.
func OpenPart(name string) (*File, error) {
	if err := fault.Check(fault.CreatePart, name); err != nil {
		return nil, Wrap("creating", name, err)
	}
	for range 2 {
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0o644)
		if err == nil {
			fi, err := f.Stat()
			if err == nil && fi.Mode().IsRegular() {
				return &File{f: f, keep: true}, nil
			}
			f.Close()
		} else if !errors.Is(err, syscall.ELOOP) {
			return nil, Wrap("creating", name, err)
		}
		if err := os.Remove(name); err != nil {
			return nil, Wrap("removing", name, err)
		}
	}
	return nil, Wrap("creating", name, errors.New("keeps being replaced"))
}

// Name is the file's current (temporary or .part) name.
func (f *File) Name() string { return f.f.Name() }

// Write writes p at the current offset.
func (f *File) Write(p []byte) (int, error) {
	if err := fault.Check(fault.Write, f.f.Name()); err != nil {
		return 0, Wrap("writing", f.f.Name(), err)
	}
	n, err := f.f.Write(p)
	return n, Wrap("writing", f.f.Name(), err)
}

// WriteAt writes p at off, leaving the offset of Write alone. Calls at
// disjoint offsets may run at once: the segments of one download write
// into one .part together.
func (f *File) WriteAt(p []byte, off int64) (int, error) {
	if err := fault.Check(fault.Write, f.f.Name()); err != nil {
		return 0, Wrap("writing", f.f.Name(), err)
	}
	n, err := f.f.WriteAt(p, off)
	return n, Wrap("writing", f.f.Name(), err)
}

// Size is the length of the file.
func (f *File) Size() (int64, error) {
	fi, err := f.f.Stat()
	if err != nil {
		return 0, Wrap("reading", f.f.Name(), err)
	}
	return fi.Size(), nil
}

// ReadAt reads what the file holds at off, as io.ReaderAt.
func (f *File) ReadAt(p []byte, off int64) (int, error) {
	n, err := f.f.ReadAt(p, off)
	if err != nil && !errors.Is(err, io.EOF) {
		err = Wrap("reading", f.f.Name(), err)
	}
	return n, err
}

// Sync makes what was written to the file durable.
func (f *File) Sync() error {
	return Do(fault.SyncFile, "syncing", f.f.Name(), f.f.Sync)
}

// Truncate drops everything from n on and makes the next Write start at n.
func (f *File) Truncate(n int64) error {
	if err := f.f.Truncate(n); err != nil {
		return Wrap("writing", f.f.Name(), err)
	}
	_, err := f.f.Seek(n, io.SeekStart)
	return Wrap("writing", f.f.Name(), err)
}

// Commit makes the file 0644, syncs and closes it, and renames it to
// final, replacing what is there. The directory is not synced: that is
// the caller's, once for many renames. On error the file is cleaned up.
func (f *File) Commit(final string) error {
	name := f.f.Name()
	err := Wrap("chmod", name, f.f.Chmod(0o644))
	if err == nil {
		err = Do(fault.SyncFile, "syncing", name, f.f.Sync)
	}
	if err != nil {
		f.Cleanup()
		return err
	}
	f.done = true
	if err := f.f.Close(); err != nil {
		f.remove()
		return Wrap("closing", name, err)
	}
	if err := Do(fault.Rename, "renaming", name, func() error { return os.Rename(name, final) }); err != nil {
		f.remove()
		return err
	}
	return nil
}

// Cleanup abandons a file that was not committed: it is closed and, unless
// it is a .part, removed. It is a no-op after Commit.
func (f *File) Cleanup() {
	if f.done {
		return
	}
	f.done = true
	f.f.Close()
	f.remove()
}

func (f *File) remove() {
	if !f.keep {
		_ = os.Remove(f.f.Name())
	}
}

// WriteFile writes b to name through a temporary file in its directory
// (Create, Write, Commit); step is the fault step of creating it.
func WriteFile(name string, b []byte, step fault.Step) error {
	f, err := Create(filepath.Dir(name), step)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Cleanup()
		return err
	}
	return f.Commit(name)
}

// SyncDir makes the renames and links in dir durable.
func SyncDir(dir string) error {
	if err := fault.Check(fault.SyncDir, dir); err != nil {
		return Wrap("syncing", dir, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return Wrap("opening", dir, err)
	}
	defer d.Close()
	return Wrap("syncing", dir, d.Sync())
}

// Mkdir makes a directory with mode 0755 whatever the umask.
func Mkdir(dir string) error {
	if err := Do(fault.Mkdir, "creating", dir, func() error { return os.Mkdir(dir, 0o755) }); err != nil {
		return err
	}
	return Wrap("chmod", dir, os.Chmod(dir, 0o755))
}

// MkdirAll is os.MkdirAll with mode 0755 whatever the umask: tftpd and the
// HTTP boot server, unprivileged, must be able to enter the storage. Only
// the directories it creates are changed.
func MkdirAll(dir string) error {
	var created []string
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if _, err := os.Lstat(d); err == nil || d == filepath.Dir(d) {
			break
		}
		created = append(created, d)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Wrap("creating", dir, err)
	}
	for _, d := range created {
		if err := os.Chmod(d, 0o755); err != nil {
			return Wrap("creating", dir, err)
		}
	}
	return nil
}
