package main

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"maas-import-boot-images/importer"
	"maas-import-boot-images/simplestreams/streamtest"
)

var (
	buildOnce sync.Once
	builtBin  string
	buildOut  []byte
	buildErr  error
	buildDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// binary builds the static binary once per test run.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "maas-import-boot-images-test")
		if buildErr != nil {
			return
		}
		builtBin = filepath.Join(buildDir, "maas-import-boot-images")
		cmd := exec.Command("go", "build", "-trimpath", "-o", builtBin, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		buildOut, buildErr = cmd.CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("go build: %v\n%s", buildErr, buildOut)
	}
	return builtBin
}

// newStreams writes each spec to a directory of its own and serves the
// first.
func newStreams(t *testing.T, specs ...streamtest.Spec) (*streamtest.Server, []string) {
	var dirs []string
	for _, spec := range specs {
		dir := t.TempDir()
		if _, err := streamtest.Write(dir, spec); err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, dir)
	}
	return streamtest.NewServer(t, dirs[0]), dirs
}

func streamsSources(t *testing.T, s *streamtest.Server) string {
	return sourcesFile(t, "- url: "+s.URL+"/\n  keyring_data: "+b64(streamtest.Keyring(streamtest.Key()))+"\n  selections: [{release: '*'}]\n")
}

func crashSpec(versions ...string) streamtest.Spec {
	return streamtest.MAAS(streamtest.Options{Releases: []string{"jammy", "noble"}, Versions: versions, Signed: true, Bootloaders: true,
		KernelSize: 2 << 20, InitrdSize: 5 << 20, SquashfsSize: 12 << 20})
}

// TestSIGTERM: a terminated import exits 130 and leaves the tree as it was.
func TestSIGTERM(t *testing.T) {
	bin := binary(t)
	s, dirs := newStreams(t, crashSpec("20250101"), crashSpec("20250101", "20250202"))
	storage := t.TempDir()
	sources := streamsSources(t, s)
	if out, err := exec.Command(bin, "--quiet", "--config", sources, "--storage", storage).CombinedOutput(); err != nil {
		t.Fatalf("first import: %v\n%s", err, out)
	}
	before, _ := os.Readlink(filepath.Join(storage, "current"))
	s.Serve(dirs[1])
	cmd := exec.Command(bin, "--config", sources, "--storage", storage)
	stderr := startDownloading(t, s, cmd)
	start := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	err := cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Fatalf("exit %d (%v), want 130\n%s", code, err, stderr.String())
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("stopping took %v", d)
	}
	if !strings.Contains(stderr.String(), "error: interrupted; the boot tree is as it was") {
		t.Errorf("stderr: %s", stderr.String())
	}
	if after, _ := os.Readlink(filepath.Join(storage, "current")); after != before {
		t.Errorf("current moved from %s to %s", before, after)
	}
	if _, err := importer.Verify(context.Background(), storage, false, nil); err != nil {
		t.Errorf("after SIGTERM: %v", err)
	}
	entries, _ := os.ReadDir(storage)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".tmp-") {
			t.Errorf("left %s behind", e.Name())
		}
	}
}

// TestCrashSafetyBinary kills the binary with SIGKILL at 50 random moments
// of imports that always have work to do; after each kill current is
// absent or verifies, and the next run succeeds.
func TestCrashSafetyBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("50 killed imports; skipped with -short")
	}
	const trials = 50
	bin := binary(t)
	s, dirs := newStreams(t, crashSpec("20250101"), crashSpec("20250101", "20250202"))
	storage := t.TempDir()
	sources := streamsSources(t, s)
	start := time.Now()
	if out, err := exec.Command(bin, "--quiet", "--config", sources, "--storage", t.TempDir()).CombinedOutput(); err != nil {
		t.Fatalf("timing run: %v\n%s", err, out)
	}
	full := time.Since(start)
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 11))
	var killed, absent, recovered int
	for trial := range trials {
		s.Serve(dirs[trial%2])
		cmd := exec.Command(bin, "--quiet", "--config", sources, "--storage", storage)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		delay := time.Duration(r.Int64N(int64(full)))
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-time.After(delay):
			cmd.Process.Signal(syscall.SIGKILL)
			<-done
			if !cmd.ProcessState.Success() {
				killed++
			}
		case <-done:
		}
		if _, err := os.Lstat(filepath.Join(storage, "current")); os.IsNotExist(err) {
			// Only before the first import completed: once a tree was
			// served, a kill must never take it away.
			if trial > 0 {
				t.Fatalf("trial %d, killed after %v: current vanished", trial, delay)
			}
			absent++
		} else if _, err := importer.Verify(context.Background(), storage, false, nil); err != nil {
			t.Fatalf("trial %d, killed after %v: current is not a complete, verified tree: %v", trial, delay, err)
		}
		if out, err := exec.Command(bin, "--quiet", "--config", sources, "--storage", storage).CombinedOutput(); err != nil {
			t.Fatalf("trial %d: the run after the kill failed: %v\n%s", trial, err, out)
		}
		if _, err := importer.Verify(context.Background(), storage, false, nil); err != nil {
			t.Fatalf("trial %d: after the recovery run: %v", trial, err)
		}
		recovered++
	}
	t.Logf("%d trials: %d killed mid-run, %d before the first current; 0 vanished, incomplete or dangling trees; %d/%d re-runs succeeded",
		trials, killed, absent, recovered, trials)
}

// TestSystemdUnits: the units in contrib/systemd pass systemd's own check,
// pointed at the binary just built (skipped where systemd-analyze is
// missing).
func TestSystemdUnits(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed")
	}
	bin := binary(t)
	dir := t.TempDir()
	for _, name := range []string{"maas-import-boot-images.service", "maas-import-boot-images.timer"} {
		b, err := os.ReadFile(filepath.Join("contrib/systemd", name))
		if err != nil {
			t.Fatal(err)
		}
		b = bytes.ReplaceAll(b, []byte("/usr/local/bin/maas-import-boot-images"), []byte(bin))
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.Command(analyze, "verify", filepath.Join(dir, "maas-import-boot-images.service"), filepath.Join(dir, "maas-import-boot-images.timer")).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) != 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// startDownloading starts cmd, an import from s, with s dripping its
// payloads, and returns once cmd is downloading; stderr is cmd's.
func startDownloading(t *testing.T, s *streamtest.Server, cmd *exec.Cmd) (stderr *bytes.Buffer) {
	t.Helper()
	payloads := dripPayloads(s)
	stderr = &bytes.Buffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-payloads:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatal("the import never started downloading")
	}
	return stderr
}
