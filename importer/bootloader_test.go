package importer

import (
	"archive/tar"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"maas-import-boot-images/internal/fault"
	"maas-import-boot-images/simplestreams"
	"maas-import-boot-images/simplestreams/streamtest"
	"maas-import-boot-images/source"
)

func bootSpec(versions ...string) streamtest.Spec {
	spec := maasSpec(versions...)
	spec.Bootloaders = streamtest.Bootloaders("20250101")
	return spec
}

func TestBootloaders(t *testing.T) {
	m := newMirror(t, bootSpec("20250101"))
	storage := t.TempDir()
	src := []source.BootSource{m.source(simplestreams.Selection{Release: "noble"})}
	res := mustRun(t, src, testOptions(storage))
	cur := filepath.Join(storage, "current")
	// Both archives of each version land: pxelinux and syslinux-common,
	// grub2-signed and shim-signed.
	for rel, want := range map[string]string{
		"bootloader/pxe/i386/lpxelinux.0":             "lpxelinux 20250101\n",
		"bootloader/pxe/i386/pxelinux.0":              "pxelinux 20250101\n",
		"bootloader/pxe/i386/ldlinux.c32":             "ldlinux 20250101\n",
		"bootloader/pxe/i386/menu.c32":                "menu 20250101\n",
		"bootloader/uefi/amd64/bootx64.efi":           "shim amd64 20250101\n",
		"bootloader/uefi/amd64/grubx64.efi":           "grub amd64 20250101\n",
		"bootloader/uefi/amd64/grub/x86_64-efi.txt":   "modules 20250101\n",
		"ubuntu/amd64/ga-24.04/noble/stable/squashfs": "",
	} {
		b, err := os.ReadFile(filepath.Join(cur, rel))
		if err != nil {
			t.Errorf("missing %s: %v", rel, err)
			continue
		}
		if want != "" && string(b) != want {
			t.Errorf("%s: got %q, want %q", rel, b, want)
		}
		fi, _ := os.Stat(filepath.Join(cur, rel))
		if fi.Mode().Perm() != 0o644 {
			t.Errorf("%s: mode %v", rel, fi.Mode())
		}
	}
	// ppc64el's open-firmware bootloader serves no selected arch.
	if _, err := os.Stat(filepath.Join(cur, "bootloader/open-firmware")); !os.IsNotExist(err) {
		t.Errorf("open-firmware bootloader imported for an amd64-only selection: %v", err)
	}
	meta, _ := os.ReadFile(filepath.Join(cur, "maas.meta"))
	if !strings.Contains(string(meta), `"pxelinux": {"i386": {"generic": {"pxe": {"stable": {"content_id": "com.ubuntu.maas:stable:1:bootloader-download", "path": "bootloaders/pxe/i386/20250101/pxelinux.tar.xz", "product_name": "com.ubuntu.maas.stable:1:pxelinux:pxe:i386"`) {
		t.Errorf("maas.meta does not record the pxe bootloader as MAAS does:\n%s", meta)
	}
	if len(res.Images) != 6 {
		t.Errorf("got %d images (4 boot images and 2 bootloaders expected)", len(res.Images))
	}
	if _, err := Verify(t.Context(), storage, false, nil); err != nil {
		t.Fatalf("verify: %v", err)
	}
	l, err := List(storage)
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, im := range l.Images {
		if im.OS == "grub-efi-signed" && im.Release == "uefi" && im.Size > 0 {
			found = true
		}
	}
	if !found {
		t.Errorf("list does not show the uefi bootloader with its size: %+v", l.Images)
	}

	// Unchanged: nothing fetched.
	m.resetRequests()
	if r := mustRun(t, src, testOptions(storage)); r.Status != StatusUnchanged {
		t.Fatalf("second run: %s", r.Status)
	}
	// A new image version with the same bootloaders: the archives are
	// neither fetched nor extracted again.
	manifests, _ := filepath.Glob(filepath.Join(storage, "cache", "*.members"))
	if len(manifests) != 4 {
		t.Fatalf("got %d member lists in the cache, want 4 (two archives for pxe, two for uefi)", len(manifests))
	}
	before, _ := os.Stat(manifests[0])
	m.write(bootSpec("20250101", "20250202"))
	m.resetRequests()
	time.Sleep(1100 * time.Millisecond)
	if r := mustRun(t, src, testOptions(storage)); r.Status != StatusImported {
		t.Fatalf("third run: %s", r.Status)
	}
	for _, req := range m.payloadRequests() {
		if strings.HasPrefix(req, "/bootloaders/") {
			t.Errorf("fetched %s again", req)
		}
	}
	after, err := os.Stat(manifests[0])
	if err != nil || !os.SameFile(before, after) || !after.ModTime().Equal(before.ModTime()) {
		t.Errorf("the archive was extracted again (%v)", err)
	}

	// --no-bootloaders
	opts := testOptions(t.TempDir())
	opts.NoBootloaders = true
	if r := mustRun(t, src, opts); len(r.Images) != 4 {
		t.Errorf("--no-bootloaders: got %d images, want 4", len(r.Images))
	}
}

func TestHostileBootloaderArchives(t *testing.T) {
	tests := map[string][]streamtest.TarEntry{
		"dot-dot":        {{Name: "../../etc/cron.d/evil", Body: []byte("x")}},
		"absolute":       {{Name: "/etc/passwd", Body: []byte("x")}},
		"inner dot-dot":  {{Name: "grub/../../x", Body: []byte("x")}},
		"symlink":        {{Name: "pxelinux.0", Typeflag: tar.TypeSymlink, Linkname: "/etc/shadow"}},
		"hard link":      {{Name: "a", Body: []byte("x")}, {Name: "b", Typeflag: tar.TypeLink, Linkname: "/etc/shadow"}},
		"device":         {{Name: "dev", Typeflag: tar.TypeChar}},
		"fifo":           {{Name: "fifo", Typeflag: tar.TypeFifo}},
		"huge member":    {{Name: "big", Body: []byte("tiny"), Size: 1 << 30}},
		"truncated":      {{Name: "short", Body: []byte("tiny"), Size: 4096}},
		"duplicate name": {{Name: "a", Body: []byte("1")}, {Name: "a", Body: []byte("2")}},
		"too deep":       {{Name: "grub", Typeflag: tar.TypeDir}, {Name: "grub/x86_64-efi/normal.mod", Body: []byte("x")}},
	}
	for name, entries := range tests {
		t.Run(name, func(t *testing.T) {
			storage, before, err := importArchive(t, entries)
			if !errors.Is(err, simplestreams.ErrInvalid) && !errors.Is(err, simplestreams.ErrUnsafePath) {
				t.Fatalf("got %v, want a refusal", err)
			}
			if !strings.Contains(err.Error(), "pxelinux.tar.xz") {
				t.Errorf("error %q does not name the archive", err)
			}
			if after := treeState(t, storage); after != before {
				t.Errorf("a refused archive changed the tree:\n%s\n%s", before, after)
			}
			if _, err := os.Lstat("/etc/cron.d/evil"); err == nil {
				t.Fatal("escaped the tree")
			}
		})
	}
}

// importArchive imports a stream without bootloaders, then the same with a
// pxelinux archive of the given entries. It returns the storage, its state
// before the second run, and that run's error.
func importArchive(t *testing.T, entries []streamtest.TarEntry) (storage, before string, err error) {
	t.Helper()
	spec := maasSpec("20250101")
	m := newMirror(t, spec)
	storage = t.TempDir()
	src := []source.BootSource{m.source(simplestreams.Selection{Release: "noble"})}
	mustRun(t, src, testOptions(storage))
	before = treeState(t, storage)
	spec.Bootloaders = []streamtest.Product{streamtest.Bootloader("pxelinux", "pxe", "amd64", "amd64", "20250101", streamtest.Archive{Name: "pxelinux", Members: entries})}
	m.write(spec)
	_, err = run(t, src, testOptions(storage))
	return storage, before, err
}

// TestBootloaderCaps: an archive whose members are real but too big, too
// many or too much in all is refused, naming the cap, with current
// untouched. The caps are lowered so that the archives stay small.
func TestBootloaderCaps(t *testing.T) {
	defer func(m, a int64, n int) { maxMember, maxArchiveSize, maxMembers = m, a, n }(maxMember, maxArchiveSize, maxMembers)
	maxMember, maxArchiveSize, maxMembers = 2048, 5000, 4
	kib := func(name string, n int) streamtest.TarEntry {
		return streamtest.TarEntry{Name: name, Body: []byte(strings.Repeat("x", n*1024))}
	}
	tests := map[string]struct {
		entries []streamtest.TarEntry
		msg     string
	}{
		"a member over the cap": {[]streamtest.TarEntry{kib("a", 1), kib("big", 3)}, "member big is larger than"},
		"too many members":      {[]streamtest.TarEntry{kib("a", 0), kib("b", 0), kib("c", 0), kib("d", 0), kib("e", 0)}, "or 4 files"},
		"too much in all":       {[]streamtest.TarEntry{kib("a", 2), kib("b", 2), kib("c", 2)}, "unpacks to more than"},
		"just under every cap":  {[]streamtest.TarEntry{kib("a", 2), kib("b", 2)}, ""},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			storage, before, err := importArchive(t, tt.entries)
			if tt.msg == "" {
				if err != nil {
					t.Fatalf("an archive within the caps: %v", err)
				}
				return
			}
			if !errors.Is(err, simplestreams.ErrInvalid) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("got %v, want a refusal saying %q", err, tt.msg)
			}
			if after := treeState(t, storage); after != before {
				t.Errorf("a refused archive changed the tree:\n%s\n%s", before, after)
			}
		})
	}
}

// TestBootloaderMembersSynced: the members unpacked into the cache are made
// durable (a sync of the cache directory after the last of them) before the
// snapshot that links them is published.
func TestBootloaderMembersSynced(t *testing.T) {
	m := newMirror(t, bootSpec("20250101"))
	storage := t.TempDir()
	var (
		mu  sync.Mutex
		ops []string
	)
	defer fault.Set(func(step fault.Step, path string) error {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case step == fault.Put:
			ops = append(ops, "extract")
		case step == fault.SyncDir && path == filepath.Join(storage, "cache"):
			ops = append(ops, "sync-cache")
		case step == fault.RenameSnapshot:
			ops = append(ops, "publish")
		}
		return nil
	})()
	mustRun(t, []source.BootSource{m.source(simplestreams.Selection{Release: "noble"})}, testOptions(storage))
	lastExtract, syncAfter, publish := -1, -1, -1
	for i, op := range ops {
		switch op {
		case "extract":
			lastExtract = i
		case "sync-cache":
			if lastExtract >= 0 && syncAfter < lastExtract {
				syncAfter = i
			}
		case "publish":
			publish = i
		}
	}
	if lastExtract < 0 || publish < 0 || syncAfter < lastExtract || syncAfter > publish {
		t.Errorf("want extract… then a sync of the cache, then publish; got %v", ops)
	}
}
