package disk

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"maas-import-boot-images/internal/fault"
	"maas-import-boot-images/simplestreams/streamtest"
)

// TestCommit: a committed file has its name, its content and mode 0644
// whatever the umask, and no temporary is left.
func TestCommit(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	dir := t.TempDir()
	final := filepath.Join(dir, "final")
	if err := WriteFile(final, []byte("content"), fault.WriteMeta); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(final)
	if err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("got %v, %v; want a 0644 file", fi, err)
	}
	if b, _ := os.ReadFile(final); string(b) != "content" {
		t.Errorf("got %q, want %q", b, "content")
	}
	if names := streamtest.Names(t, dir); len(names) != 1 {
		t.Errorf("got %v in the directory, want only final", names)
	}
}

// TestCleanup: an abandoned temporary is removed, an abandoned .part is
// kept for the next run, and Cleanup after Commit is a no-op.
func TestCleanup(t *testing.T) {
	dir := t.TempDir()
	tmp, err := Create(dir, fault.Put)
	if err != nil {
		t.Fatal(err)
	}
	tmp.Cleanup()
	part, err := OpenPart(filepath.Join(dir, "x.part"))
	if err != nil {
		t.Fatal(err)
	}
	part.Write([]byte("half"))
	part.Cleanup()
	if names := streamtest.Names(t, dir); strings.Join(names, " ") != "x.part" {
		t.Errorf("got %v, want only x.part", names)
	}
	part, err = OpenPart(filepath.Join(dir, "x.part"))
	if err != nil {
		t.Fatal(err)
	}
	if n, err := part.Size(); n != 4 || err != nil {
		t.Errorf("reopened part: size %d, %v; want 4", n, err)
	}
	if err := part.Commit(filepath.Join(dir, "x")); err != nil {
		t.Fatal(err)
	}
	part.Cleanup()
	if names := streamtest.Names(t, dir); strings.Join(names, " ") != "x" {
		t.Errorf("got %v, want only x", names)
	}
}

// TestOpenPartRefusesLinks: a symlink planted at a .part's name is
// replaced, never written through.
func TestOpenPartRefusesLinks(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(t.TempDir(), "victim")
	os.WriteFile(victim, []byte("precious"), 0o644)
	os.Symlink(victim, filepath.Join(dir, "x.part"))
	f, err := OpenPart(filepath.Join(dir, "x.part"))
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("download"))
	f.Cleanup()
	if b, _ := os.ReadFile(victim); string(b) != "precious" {
		t.Errorf("wrote through a planted symlink: %q", b)
	}
}

// TestFaults: each step of writing a file fails through the seam as an
// *Error that wraps ErrStorage and the errno, leaving no temporary.
func TestFaults(t *testing.T) {
	for _, step := range []fault.Step{fault.WriteMeta, fault.Write, fault.SyncFile, fault.Rename} {
		t.Run(step.String(), func(t *testing.T) {
			defer fault.Set(func(s fault.Step, _ string) error {
				if s == step {
					return syscall.ENOSPC
				}
				return nil
			})()
			dir := t.TempDir()
			err := WriteFile(filepath.Join(dir, "f"), []byte("x"), fault.WriteMeta)
			var de *Error
			if !errors.As(err, &de) || !errors.Is(err, ErrStorage) || !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("got %v, want an *Error wrapping ErrStorage and ENOSPC", err)
			}
			if names := streamtest.Names(t, dir); len(names) != 0 {
				t.Errorf("left %v behind", names)
			}
		})
	}
}
