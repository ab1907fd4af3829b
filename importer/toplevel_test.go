package importer

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"maas-import-boot-images/simplestreams"
	"maas-import-boot-images/simplestreams/streamtest"
)

// maasGrubCfg is MAAS 3.4's GRUB pre-loader, as boot/grub.py's CONFIG_FILE
// writes it (a dedented block that starts with a newline).
const maasGrubCfg = "\n# MAAS GRUB2 pre-loader configuration file\n\n# Load based on MAC address first.\n" +
	"configfile /grub/grub.cfg-${net_default_mac}\n\n# Failed to load based on MAC address. Load based on the CPU\n" +
	"# architecture.\nconfigfile /grub/grub.cfg-default-${grub_cpu}\n"

// TestTopLevelNames: the names MAAS's DHCP configuration and boot methods
// ask for are at the top of current, each the same inode as the bootloader
// member (and cache file) it names; syslinux leads to the PXE modules;
// grub/grub.cfg is MAAS's pre-loader. verify accepts the tree, and an
// unchanged stream stays unchanged run after run.
func TestTopLevelNames(t *testing.T) {
	spec := bootSpec("20250101")
	spec.Products = append(spec.Products, streamtest.MAAS(streamtest.Options{Releases: []string{"noble"}, Arches: []string{"arm64"}, Signed: true}).Products...)
	m := newMirror(t, spec)
	storage := t.TempDir()
	src := []simplestreams.BootSource{m.source(simplestreams.Selection{Release: "noble", Arches: []string{"amd64", "arm64"}})}
	mustRun(t, src, testOptions(storage))
	cur := filepath.Join(storage, "current")
	for top, member := range map[string]string{
		"lpxelinux.0":  "bootloader/pxe/i386/lpxelinux.0",
		"pxelinux.0":   "bootloader/pxe/i386/lpxelinux.0", // MAAS 2.5+: the same file
		"chain.c32":    "bootloader/pxe/i386/chain.c32",
		"ifcpu64.c32":  "bootloader/pxe/i386/ifcpu64.c32",
		"ldlinux.c32":  "bootloader/pxe/i386/ldlinux.c32",
		"libcom32.c32": "bootloader/pxe/i386/libcom32.c32",
		"libutil.c32":  "bootloader/pxe/i386/libutil.c32",
		"bootx64.efi":  "bootloader/uefi/amd64/bootx64.efi",
		"grubx64.efi":  "bootloader/uefi/amd64/grubx64.efi",
		"bootaa64.efi": "bootloader/uefi/arm64/bootaa64.efi",
		"grubaa64.efi": "bootloader/uefi/arm64/grubaa64.efi",
	} {
		ti, err := os.Lstat(filepath.Join(cur, top))
		if err != nil {
			t.Errorf("no %s at the top of the tree: %v", top, err)
			continue
		}
		mi, err := os.Lstat(filepath.Join(cur, member))
		if err != nil {
			t.Fatal(err)
		}
		if !ti.Mode().IsRegular() || !os.SameFile(ti, mi) {
			t.Errorf("%s is not a hard link of %s (mode %v)", top, member, ti.Mode())
		}
	}
	if _, err := os.Lstat(filepath.Join(cur, "bootppc64.bin")); !os.IsNotExist(err) {
		t.Errorf("bootppc64.bin without a ppc64el image: %v", err)
	}
	target, err := os.Readlink(filepath.Join(cur, "syslinux"))
	if err != nil || target != "bootloader/pxe/i386" {
		t.Errorf("syslinux: got %q, %v; want a relative symlink to bootloader/pxe/i386", target, err)
	}
	if b, err := os.ReadFile(filepath.Join(cur, "syslinux", "menu.c32")); err != nil || string(b) != "menu 20250101\n" {
		t.Errorf("syslinux/menu.c32: got %q, %v", b, err)
	}
	cfg := filepath.Join(cur, "grub", "grub.cfg")
	if b, err := os.ReadFile(cfg); err != nil || string(b) != maasGrubCfg {
		t.Errorf("grub/grub.cfg: got %q, %v; want MAAS's pre-loader", b, err)
	}
	if fi, err := os.Stat(cfg); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("grub/grub.cfg: %v, %v; want mode 0644", fi, err)
	}
	if _, err := Verify(t.Context(), storage, false, nil); err != nil {
		t.Fatalf("verify: %v", err)
	}

	snap, _ := os.Readlink(cur)
	for i := range 10 {
		if r := mustRun(t, src, testOptions(storage)); r.Status != StatusUnchanged || r.Snapshot != snap {
			t.Fatalf("rerun %d of an unchanged stream: %s %s, want unchanged %s", i+1, r.Status, r.Snapshot, snap)
		}
	}

	// The no-op check knows the top-level names: a damaged one is rebuilt.
	for _, damage := range []func() error{
		func() error { return os.Remove(filepath.Join(cur, "bootx64.efi")) },
		func() error { return os.Remove(filepath.Join(cur, "grub", "grub.cfg")) },
		func() error {
			if err := os.Remove(filepath.Join(cur, "syslinux")); err != nil {
				return err
			}
			return os.Symlink("bootloader/uefi/amd64", filepath.Join(cur, "syslinux"))
		},
	} {
		if err := damage(); err != nil {
			t.Fatal(err)
		}
		if r := mustRun(t, src, testOptions(storage)); r.Status != StatusImported {
			t.Fatalf("a damaged top-level name: got %s, want imported", r.Status)
		}
		if _, err := Verify(t.Context(), storage, false, nil); err != nil {
			t.Fatalf("verify after the rebuild: %v", err)
		}
	}

	// Cleanup knows them: after new bootloaders, with nothing kept, every
	// cache file left is linked by current, and the old members are gone.
	oldShim := filepath.Join(cur, "bootx64.efi")
	oldInfo, _ := os.Lstat(oldShim)
	spec.Bootloaders = streamtest.Bootloaders("20250202")
	m.write(spec)
	if r := mustRun(t, src, testOptions(storage)); r.Status != StatusImported {
		t.Fatalf("new bootloaders: got %s, want imported", r.Status)
	}
	if b, _ := os.ReadFile(oldShim); string(b) != "shim amd64 20250202\n" {
		t.Errorf("bootx64.efi after new bootloaders: %q", b)
	}
	cache, _ := os.ReadDir(filepath.Join(storage, "cache"))
	for _, e := range cache {
		p := filepath.Join(storage, "cache", e.Name())
		if n := linkCount(t, p); n < 2 {
			t.Errorf("cache/%s is linked by nothing after the cleanup", e.Name())
		}
		if fi, _ := os.Lstat(p); os.SameFile(fi, oldInfo) {
			t.Errorf("the old bootx64.efi is still in the cache as %s", e.Name())
		}
	}

	// --no-bootloaders writes none of them.
	opts := testOptions(t.TempDir())
	opts.NoBootloaders = true
	mustRun(t, src, opts)
	entries, _ := os.ReadDir(filepath.Join(opts.Storage, "current"))
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := "maas.meta ubuntu"; strings.Join(names, " ") != want {
		t.Errorf("--no-bootloaders: current holds %v, want %s", names, want)
	}
}

// TestVerifyRefusesOtherSymlinks: the one symlink a snapshot may hold is
// syslinux, pointing at the PXE directory.
func TestVerifyRefusesOtherSymlinks(t *testing.T) {
	m := newMirror(t, bootSpec("20250101"))
	storage := t.TempDir()
	mustRun(t, []simplestreams.BootSource{m.source(simplestreams.Selection{Release: "noble"})}, testOptions(storage))
	cur := filepath.Join(storage, "current")
	for name, target := range map[string]string{
		"syslinux":      "/etc",
		"grub/evil.cfg": "../bootloader/pxe/i386",
	} {
		p := filepath.Join(cur, name)
		_ = os.Remove(p)
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
		if _, err := Verify(t.Context(), storage, false, nil); !errors.Is(err, ErrVerify) || !strings.Contains(err.Error(), name) {
			t.Errorf("a symlink %s -> %s: verify said %v", name, target, err)
		}
		_ = os.Remove(p)
	}
}

// TestBootloaderMemberInTwoArchives: a member that two archives of one
// version both carry is the later one's in item-name order, with a warning
// naming both archives, the same on every run.
func TestBootloaderMemberInTwoArchives(t *testing.T) {
	spec := maasSpec("20250101")
	spec.Bootloaders = []streamtest.Product{streamtest.Bootloader("grub-efi-signed", "uefi", "amd64", "amd64", "20250101",
		streamtest.Archive{Name: "shim-signed", Members: []streamtest.TarEntry{{Name: "bootx64.efi", Body: []byte("shim\n")}}},
		streamtest.Archive{Name: "grub2-signed", Members: []streamtest.TarEntry{{Name: "bootx64.efi", Body: []byte("grub\n")}, {Name: "grubx64.efi", Body: []byte("g\n")}}},
	)}
	m := newMirror(t, spec)
	storage := t.TempDir()
	src := []simplestreams.BootSource{m.source(simplestreams.Selection{Release: "noble"})}
	for i := range 3 {
		var logs bytes.Buffer
		opts := testOptions(storage)
		opts.Log = slog.New(slog.NewTextHandler(&logs, nil))
		mustRun(t, src, opts)
		for _, p := range []string{"bootloader/uefi/amd64/bootx64.efi", "bootx64.efi"} {
			if b, _ := os.ReadFile(filepath.Join(storage, "current", p)); string(b) != "shim\n" {
				t.Errorf("run %d: %s is %q, want shim-signed's (the later by item name)", i+1, p, b)
			}
		}
		if !strings.Contains(logs.String(), "bootx64.efi is in archives grub2-signed and shim-signed") {
			t.Errorf("run %d: no warning naming both archives:\n%s", i+1, logs.String())
		}
	}
}

// TestTopLevelClash: an image whose os is named like a top-level file
// would need a path as both a file and a directory: the run is refused
// before anything is written.
func TestTopLevelClash(t *testing.T) {
	spec := bootSpec("20250101")
	for i := range spec.Products {
		spec.Products[i].Attrs["os"] = "bootx64.efi"
	}
	m := newMirror(t, spec)
	storage := t.TempDir()
	_, err := run(t, []simplestreams.BootSource{m.source(simplestreams.Selection{Release: "noble"})}, testOptions(storage))
	if !errors.Is(err, simplestreams.ErrInvalid) || !strings.Contains(err.Error(), "bootx64.efi") {
		t.Fatalf("got %v, want a refusal naming bootx64.efi", err)
	}
	if _, err := os.Lstat(filepath.Join(storage, "current")); !os.IsNotExist(err) {
		t.Errorf("current exists after a refused run: %v", err)
	}
}

// linkCount is a file's number of hard links.
func linkCount(t *testing.T, p string) uint64 {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return uint64(fi.Sys().(*syscall.Stat_t).Nlink)
}
