package importer

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"maas-import-boot-images/simplestreams"
	"maas-import-boot-images/simplestreams/streamtest"
)

// TestCrashChild is the child of TestCrashSafety: it runs one import and
// is killed at a random moment.
func TestCrashChild(t *testing.T) {
	if os.Getenv("CRASH_CHILD_URL") == "" {
		t.Skip("only run by TestCrashSafety")
	}
	src := simplestreams.BootSource{URL: os.Getenv("CRASH_CHILD_URL"), KeyringData: streamtest.Keyring(streamtest.Key()),
		Selections: []simplestreams.Selection{{}}}
	if _, err := Run(context.Background(), given([]simplestreams.BootSource{src}), testOptions(os.Getenv("CRASH_CHILD_STORAGE"))); err != nil {
		t.Fatal(err)
	}
}

// TestCrashSafety kills importing child processes with SIGKILL at random
// moments; after each kill current must be absent or a complete, verified
// tree, and the next run must complete.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("the crash test imports ~100 MB 20 times")
	}
	const trials = 20
	opts := func(versions ...string) streamtest.Spec {
		return streamtest.MAAS(streamtest.Options{Releases: []string{"jammy", "noble"}, Versions: versions, Signed: true,
			KernelSize: 4 << 20, InitrdSize: 10 << 20, SquashfsSize: 25 << 20})
	}
	dirs := [2]string{t.TempDir(), t.TempDir()}
	for i, spec := range []streamtest.Spec{opts("20250101"), opts("20250101", "20250202")} {
		if _, err := streamtest.Write(dirs[i], spec); err != nil {
			t.Fatal(err)
		}
	}
	srv := streamtest.NewServer(t, dirs[0])
	storage := t.TempDir()
	src := simplestreams.BootSource{URL: srv.URL + "/", KeyringData: streamtest.Keyring(streamtest.Key()), Selections: []simplestreams.Selection{{}}}

	// How long a whole import takes here, to spread the kills over it.
	start := time.Now()
	mustRun(t, []simplestreams.BootSource{src}, testOptions(t.TempDir()))
	full := time.Since(start) + 300*time.Millisecond // plus the child's start
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	var killedMidway, absent int
	for trial := range trials {
		srv.Serve(dirs[trial%2]) // alternate streams: every trial has work to do
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), "CRASH_CHILD_URL="+srv.URL+"/", "CRASH_CHILD_STORAGE="+storage)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		delay := time.Duration(r.Int64N(int64(full)))
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-time.After(delay):
			_ = cmd.Process.Signal(syscall.SIGKILL)
			if err := <-done; err != nil {
				killedMidway++
			}
		case <-done:
		}
		if ok := checkTree(t, storage); !ok {
			// Only before the first import completed: once a tree was
			// served, a kill must never take it away.
			if trial > 0 {
				t.Fatalf("trial %d, killed after %v: current vanished", trial, delay)
			}
			absent++
		}
		// The next run completes, and its tree verifies.
		res, err := run(t, []simplestreams.BootSource{src}, testOptions(storage))
		if err != nil {
			t.Fatalf("trial %d (killed after %v): the run after the kill failed: %v", trial, delay, err)
		}
		if _, err := Verify(context.Background(), storage, false, nil); err != nil {
			t.Fatalf("trial %d: after the recovery run (%s): %v", trial, res.Status, err)
		}
	}
	t.Logf("%d trials: %d children killed mid-run, %d left no current yet, 0 incomplete trees", trials, killedMidway, absent)
}

// checkTree fails the test unless current is absent or complete: every
// image of its maas.meta has its files, each hashing to the name of the
// cache file it is a link of. It reports whether current exists.
func checkTree(t *testing.T, storage string) bool {
	t.Helper()
	target, err := os.Readlink(filepath.Join(storage, "current"))
	if os.IsNotExist(err) {
		return false
	}
	if err != nil {
		t.Fatalf("current: %v", err)
	}
	snap := filepath.Join(storage, target)
	b, err := os.ReadFile(filepath.Join(snap, "maas.meta"))
	if err != nil {
		t.Fatalf("current -> %s has no maas.meta: %v", target, err)
	}
	var m meta
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("current maas.meta: %v", err)
	}
	images := 0
	for osName, arches := range m {
		for arch, subs := range arches {
			for sub, rels := range subs {
				for rel, labels := range rels {
					for label := range labels {
						images++
						dir := filepath.Join(snap, osName, arch, sub, rel, label)
						for _, f := range []string{"boot-kernel", "boot-initrd", "squashfs", "squashfs.manifest"} {
							p := filepath.Join(dir, f)
							sum := streamtest.SHA256File(t, p)
							fi, _ := os.Stat(p)
							ci, err := os.Stat(filepath.Join(storage, "cache", sum))
							if err != nil || !os.SameFile(fi, ci) {
								t.Fatalf("%s is not the verified cache/%s", p, sum)
							}
						}
					}
				}
			}
		}
	}
	if images != 8 {
		t.Fatalf("current has %d images, want 8", images)
	}
	return true
}
