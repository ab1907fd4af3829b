package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"maas-import-boot-images/simplestreams/streamtest"
)

// openPTY opens a pseudo-terminal pair with x/sys/unix alone: the
// master, to read what is drawn, and the terminal a child writes to.
func openPTY(t *testing.T) (master, tty *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	fd := int(master.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlocking the pty: %v", err)
	}
	n, err := unix.IoctlGetUint32(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("naming the pty: %v", err)
	}
	tty, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlSetWinsize(int(tty.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 40, Col: 160}); err != nil {
		t.Fatal(err)
	}
	return master, tty
}

// onTerminal runs the binary with stderr on a pseudo-terminal, and
// returns what it drew there (escape sequences dropped) and its stdout.
func onTerminal(t *testing.T, bin string, args ...string) (drawn, stdout string) {
	t.Helper()
	master, tty := openPTY(t)
	defer master.Close()
	cmd := exec.Command(bin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, tty
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tty.Close()
	var screen bytes.Buffer
	read := make(chan struct{})
	go func() { io.Copy(&screen, master); close(read) }() // ends with EIO when the child is gone
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%v: %v\n%s", args, err, screen.String())
	}
	select {
	case <-read:
	case <-time.After(5 * time.Second):
		t.Fatal("the terminal never closed")
	}
	escapes := regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]`)
	// The terminal writes \r\n for \n.
	return strings.ReplaceAll(escapes.ReplaceAllString(screen.String(), ""), "\r", ""), out.String()
}

// TestProgressOnTerminal: on a terminal, the whole run's line (files,
// bytes done of total, rate, ETA) and bars that name their image are
// drawn; nothing with --quiet or --output json.
func TestProgressOnTerminal(t *testing.T) {
	bin := binary(t)
	srv := demoServer(t, streamtest.Payloads(streamtest.Delay(300*time.Millisecond)))
	sources := demoSources(t, srv, "{release: noble, arches: [amd64]}")
	run := func(extra ...string) (string, string) {
		return onTerminal(t, bin, append([]string{"import", "--config", sources, "--storage", t.TempDir(), "--log-level", "error"}, extra...)...)
	}
	drawn, stdout := run()
	// 12 files: the demo's amd64 images and bootloaders, 1.6 KiB.
	runLine := regexp.MustCompile(`(?m)^all 12 files +\[[-=>]+\] [0-9.]+ (b|KiB) / 1\.6 KiB [0-9.]+ (b|KiB)/s ETA \d+s$`)
	if !runLine.MatchString(drawn) {
		t.Errorf("no whole-run line with bytes of total, rate and ETA:\n%s", drawn)
	}
	image := regexp.MustCompile(`noble/amd64/(ga-24\.04|generic|hwe-\S+) (boot-kernel|boot-initrd|squashfs)\s+\[`)
	if !image.MatchString(drawn) || !strings.Contains(drawn, "bootloader/pxe/i386 pxelinux.tar.xz") {
		t.Errorf("no bar named after its image:\n%s", drawn)
	}
	if !strings.HasPrefix(stdout, "imported snapshot-") {
		t.Errorf("stdout %q", stdout)
	}
	if drawn, stdout := run("--quiet"); drawn != "" || stdout != "" {
		t.Errorf("--quiet drew %q and printed %q", drawn, stdout)
	}
	if drawn, stdout := run("--output", "json"); strings.Contains(drawn, "files") || strings.Contains(drawn, "[") || !strings.HasPrefix(stdout, `{"status":"imported"`) {
		t.Errorf("--output json drew %q and printed %q", drawn, stdout)
	}
}
