package main

import (
	"bytes"
	"debug/elf"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestEndToEndTFTP builds the static binary, imports the demo stream from a
// local HTTP server, serves <storage>/current with a real tftpd-hpa on
// 127.0.0.1 and fetches through it, with the tftp-hpa client, what a machine
// booting from a MAAS rack asks for.
//
// It runs when MAAS_E2E is set (.ci/run sets MAAS_E2E=require, which turns a
// missing tftpd or tftp into a failure instead of a skip).
func TestEndToEndTFTP(t *testing.T) {
	mode := os.Getenv("MAAS_E2E")
	if mode == "" {
		t.Skip("set MAAS_E2E=1 to run the end-to-end test (.ci/run does)")
	}
	need := func(tool string) string {
		p, err := exec.LookPath(tool)
		if err != nil {
			if mode == "require" {
				t.Fatalf("%s is not installed (apt-get install tftpd-hpa tftp-hpa)", tool)
			}
			t.Skipf("%s is not installed; skipping", tool)
		}
		return p
	}
	tftpd, tftp := need("in.tftpd"), need("tftp")

	dir := t.TempDir()
	bin := filepath.Join(dir, "maas-import-boot-images")
	build := exec.Command("go", "build", "-trimpath", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	assertStatic(t, bin)

	srv := demoServer(t)
	keyring, err := filepath.Abs("testdata/demo/keyring.gpg")
	if err != nil {
		t.Fatal(err)
	}
	sources := filepath.Join(dir, "sources.yaml")
	writeFile(t, sources, "- url: "+srv.URL+"/\n  keyring: "+keyring+"\n  selections:\n    - release: '*'\n")

	storage := filepath.Join(dir, "boot-resources")
	cmd := exec.Command(bin, "import", "--config", sources, "--storage", storage, "--output", "json")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	var res struct {
		Status string
		Images []struct{ OS, Arch, Subarch, Release, Label string }
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("import --output json printed %q: %v", out, err)
	}
	if res.Status != "imported" || len(res.Images) == 0 {
		t.Fatalf("import: got status %q with %d images, want imported with some", res.Status, len(res.Images))
	}

	port := freeUDPPort(t)
	args := []string{"--foreground", "--address", "127.0.0.1:" + strconv.Itoa(port), "--verbose"}
	root := filepath.Join(storage, "current")
	if os.Geteuid() != 0 {
		if mode == "require" {
			t.Fatal("the end-to-end test runs tftpd as on a cluster controller, which needs root")
		}
		t.Skip("tftpd needs root to chroot into the tree; skipping")
	}
	// tftpd chroots into current and drops to an unprivileged user, as on
	// a cluster controller: only world-readable files can be served.
	u := "nobody"
	if _, err := user.Lookup("tftp"); err == nil {
		u = "tftp"
	}
	args = append(args, "--secure", "--user", u, root)
	daemon := exec.Command(tftpd, args...)
	var dlog bytes.Buffer
	daemon.Stdout, daemon.Stderr = &dlog, &dlog
	if err := daemon.Start(); err != nil {
		t.Fatalf("starting %s: %v", tftpd, err)
	}
	t.Cleanup(func() {
		_ = daemon.Process.Kill()
		_ = daemon.Wait()
		if t.Failed() {
			t.Logf("tftpd output:\n%s", dlog.String())
		}
	})

	im := res.Images[0] // boot images come before bootloaders
	imageDir := strings.Join([]string{im.OS, im.Arch, im.Subarch, im.Release, im.Label}, "/")
	for _, name := range []string{imageDir + "/boot-kernel", imageDir + "/boot-initrd"} {
		got := tftpGet(t, tftp, port, name, filepath.Join(dir, "got"))
		if want := readTree(t, root, name); !bytes.Equal(got, want) || demoFile(t, got) == "" {
			t.Fatalf("tftp %s: got %d bytes, want the %d of the demo stream's file", name, len(got), len(want))
		}
	}
	// What a MAAS 2.x–3.4 rack's DHCP hands out and its boot methods load,
	// from the top of the root (SPEC §4.1), each with the bytes of the
	// bootloader member it names; and a module that pxelinux finds only
	// through its syslinux/ search path.
	for name, member := range map[string]string{
		"lpxelinux.0":       "bootloader/pxe/i386/lpxelinux.0",
		"pxelinux.0":        "bootloader/pxe/i386/lpxelinux.0",
		"ldlinux.c32":       "bootloader/pxe/i386/ldlinux.c32",
		"syslinux/menu.c32": "bootloader/pxe/i386/menu.c32",
		"bootx64.efi":       "bootloader/uefi/amd64/bootx64.efi",
		"grubx64.efi":       "bootloader/uefi/amd64/grubx64.efi",
		"bootaa64.efi":      "bootloader/uefi/arm64/bootaa64.efi",
		"grubaa64.efi":      "bootloader/uefi/arm64/grubaa64.efi",
	} {
		got := tftpGet(t, tftp, port, name, filepath.Join(dir, "got"))
		want := readTree(t, root, member)
		if !bytes.Equal(got, want) || !bytes.Contains(got, []byte("20250709")) {
			t.Fatalf("tftp %s: got %q, want %s of the demo's bootloaders (%q)", name, got, member, want)
		}
	}
	if got := tftpGet(t, tftp, port, "grub/grub.cfg", filepath.Join(dir, "got")); !bytes.Contains(got, []byte("configfile /grub/grub.cfg-${net_default_mac}\n")) ||
		!bytes.Contains(got, []byte("configfile /grub/grub.cfg-default-${grub_cpu}\n")) {
		t.Fatalf("tftp grub/grub.cfg: got %q, want MAAS's GRUB pre-loader", got)
	}
}

// readTree reads a file of the served tree.
func readTree(t *testing.T, root, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(name)))
	if err != nil {
		t.Fatalf("the tree has no %s: %v", name, err)
	}
	return b
}

// tftpGet fetches name over TFTP, retrying while the daemon starts.
func tftpGet(t *testing.T, tftp string, port int, name, local string) []byte {
	t.Helper()
	var last []byte
	for attempt := 0; attempt < 20; attempt++ {
		_ = os.Remove(local)
		cmd := exec.Command(tftp, "-m", "binary", "127.0.0.1", strconv.Itoa(port), "-c", "get", name, local)
		out, err := cmd.CombinedOutput()
		last = out
		if err == nil && !bytes.Contains(out, []byte("Error")) && !bytes.Contains(out, []byte("timed out")) {
			b, err := os.ReadFile(local)
			if err == nil {
				return b
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("tftp get %s failed: %s", name, last)
	return nil
}

// demoFile returns the demo stream file with exactly these bytes, or "".
func demoFile(t *testing.T, content []byte) string {
	t.Helper()
	var found string
	_ = filepath.WalkDir("testdata/demo", func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || found != "" {
			return err
		}
		if b, err := os.ReadFile(p); err == nil && bytes.Equal(b, content) {
			found = p
		}
		return nil
	})
	return found
}

func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// assertStatic fails unless bin is a statically linked ELF executable.
func assertStatic(t *testing.T, bin string) {
	t.Helper()
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatalf("%s is dynamically linked (it has an interpreter)", bin)
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Fatalf("%s needs shared libraries %v", bin, libs)
	}
}

func writeFile(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
