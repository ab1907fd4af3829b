package cache_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"maas-import-boot-images/cache"
	"maas-import-boot-images/internal/disk"
	"maas-import-boot-images/simplestreams/streamtest"
)

func sum(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func newCache(t *testing.T) *cache.Dir {
	t.Helper()
	d := cache.New(filepath.Join(t.TempDir(), "cache"))
	if err := d.Create(); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestPut: content is stored under its sha256; the same content again
// leaves the stored file as it is; a short or broken reader stores
// nothing and is not a storage error.
func TestPut(t *testing.T) {
	d := newCache(t)
	sha, err := d.Put(strings.NewReader("member"), 6)
	if err != nil || sha != sum("member") || !d.Has(sha, 6) {
		t.Fatalf("got %s, %v; want %s stored", sha, err, sum("member"))
	}
	before, _ := os.Stat(d.Path(sha))
	if _, err := d.Put(strings.NewReader("member"), 6); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.Stat(d.Path(sha)); !os.SameFile(before, after) {
		t.Error("storing the same content again replaced the file")
	}
	if _, err := d.Put(strings.NewReader("mem"), 6); err == nil || errors.Is(err, disk.ErrStorage) {
		t.Errorf("short reader: got %v, want a refusal that is not a storage error", err)
	}
	if _, err := d.Put(iotest.ErrReader(errors.New("corrupt")), 6); err == nil || errors.Is(err, disk.ErrStorage) {
		t.Errorf("broken reader: got %v", err)
	}
	if names := streamtest.Names(t, d.Root()); !slices.Equal(names, []string{sha}) {
		t.Errorf("cache holds %v, want only %s", names, sha)
	}
}

// TestVerify: a file whose content does not match its name is reported,
// and removed with repair; .part files, their segment states and
// temporaries are not hashed, and <sha256>.<ext> files are left to the
// caller.
func TestVerify(t *testing.T) {
	d := newCache(t)
	good, _ := d.Put(strings.NewReader("good"), 4)
	bad := sum("other")
	os.WriteFile(d.Path(bad), []byte("tampered"), 0o644)
	os.WriteFile(d.Path(sum("p")+".part"), []byte("half"), 0o644)
	os.WriteFile(d.PartState(sum("p")), []byte("{}"), 0o644)
	os.WriteFile(d.Path(disk.TempPrefix+"x"), []byte("tmp"), 0o644)
	os.WriteFile(d.Path(good+".members"), []byte("[]"), 0o644)
	rep, err := d.Verify(t.Context(), false)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Files != 2 || len(rep.Bad) != 1 || rep.Bad[0].Name != bad || rep.Bad[0].Got != sum("tampered") || len(rep.Removed) != 0 {
		t.Errorf("got %+v, want 2 files hashed and %s bad", rep, bad)
	}
	if len(rep.Good) != 1 || len(rep.Others) != 1 || rep.Others[0].Name() != good+".members" {
		t.Errorf("got good %v, others %v", rep.Good, rep.Others)
	}
	rep, err = d.Verify(t.Context(), true)
	if err != nil || !slices.Equal(rep.Removed, []string{bad}) || d.Has(bad, 8) {
		t.Errorf("repair: got %+v, %v; want %s removed", rep, err, bad)
	}
}

// TestRemoveUnreferenced: a file linked elsewhere stays, unless the links
// are going away; .part files, their segment states and temporaries go
// only with parts; a dry run only lists.
func TestRemoveUnreferenced(t *testing.T) {
	d := newCache(t)
	linked, _ := d.Put(strings.NewReader("linked"), 6)
	alone, _ := d.Put(strings.NewReader("alone"), 5)
	elsewhere := filepath.Join(t.TempDir(), "link")
	if err := os.Link(d.Path(linked), elsewhere); err != nil {
		t.Fatal(err)
	}
	part, state := sum("p")+".part", sum("p")+".part.segs"
	os.WriteFile(d.Path(part), []byte("half"), 0o644)
	os.WriteFile(d.PartState(sum("p")), []byte("{}"), 0o644)

	names, size, err := d.RemoveUnreferenced(false, true, nil)
	if err != nil || !slices.Equal(names, []string{alone}) || size != 5 {
		t.Errorf("dry run: got %v, %d, %v; want %s", names, size, err, alone)
	}
	fi, _ := os.Stat(elsewhere)
	names, _, _ = d.RemoveUnreferenced(false, true, map[uint64]int{cache.Inode(fi): 1})
	if want := []string{alone, linked}; !slices.Equal(sorted(names), sorted(want)) {
		t.Errorf("with its link going away: got %v, want %v", names, want)
	}
	if names := streamtest.Names(t, d.Root()); len(names) != 4 {
		t.Fatalf("a dry run removed files: %v", names)
	}
	names, _, err = d.RemoveUnreferenced(true, false, nil)
	if want := []string{alone, part, state}; err != nil || !slices.Equal(sorted(names), sorted(want)) {
		t.Errorf("got %v, %v; want %v", names, err, want)
	}
	if names := streamtest.Names(t, d.Root()); !slices.Equal(names, []string{linked}) {
		t.Errorf("cache holds %v, want only %s", names, linked)
	}
}

// TestCreateRefusesSymlink: a cache directory that is a link is refused.
func TestCreateRefusesSymlink(t *testing.T) {
	dir := t.TempDir()
	os.Symlink(t.TempDir(), filepath.Join(dir, "cache"))
	if err := cache.New(filepath.Join(dir, "cache")).Create(); !errors.Is(err, disk.ErrStorage) {
		t.Errorf("got %v, want a storage error", err)
	}
}

func sorted(s []string) []string { return slices.Sorted(slices.Values(s)) }
