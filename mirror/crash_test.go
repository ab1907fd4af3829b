package mirror

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"maas-import-boot-images/fetch"
	"maas-import-boot-images/metadata"
	"maas-import-boot-images/simplestreams"
	"maas-import-boot-images/simplestreams/streamtest"
)

// TestKillChild is the child of TestKill: one mirror run, killed at a
// random moment.
func TestKillChild(t *testing.T) {
	url := os.Getenv("MIRROR_KILL_URL")
	if url == "" {
		t.Skip("only run by TestKill")
	}
	if _, err := Run(context.Background(), given(source(url)), testOptions(os.Getenv("MIRROR_KILL_DIR"))); err != nil {
		t.Fatal(err)
	}
}

// killSpec is version i of a stream large enough that a run takes a
// while: every trial publishes a new version, so every run has work.
func killSpec(i int) streamtest.Spec {
	return streamtest.MAAS(streamtest.Options{Releases: []string{"jammy", "noble"}, Versions: []string{fmt.Sprintf("2025%04d", 101+i)},
		Signed: true, Bootloaders: true, KernelSize: 512 << 10, InitrdSize: 2 << 20, SquashfsSize: 5 << 20})
}

// TestKill kills mirror runs with SIGKILL at random moments until 30 were
// killed mid-way (runs that end first count as trials too): after every
// kill the published mirror is complete and consistent, the old version
// or the new one, and the next run succeeds.
func TestKill(t *testing.T) {
	if testing.Short() {
		t.Skip("kills 30 mirror runs")
	}
	const kills, most = 30, 120
	up := newServer(t, upstream(t, killSpec(0)).Dir)
	dir := t.TempDir()
	start := time.Now()
	mirrorOK(t, source(up.URL), testOptions(t.TempDir()))
	full := time.Since(start) + 300*time.Millisecond // plus the child's start
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 13))
	var killed, before int
	prev := ""
	trial := 0
	for killed < kills {
		if trial++; trial > most {
			t.Fatalf("only %d of %d runs were killed mid-way", killed, most)
		}
		next := upstream(t, killSpec(trial))
		up.Serve(next.Dir)
		cmd := exec.Command(os.Args[0], "-test.run=^TestKillChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), "MIRROR_KILL_URL="+up.URL, "MIRROR_KILL_DIR="+dir)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		delay := time.Duration(r.Int64N(int64(full)))
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-time.After(delay):
			_ = cmd.Process.Signal(syscall.SIGKILL)
			<-done
			if !cmd.ProcessState.Success() {
				killed++
			}
		case <-done:
		}
		got := checkMirror(t, dir, trial, delay)
		want := fmt.Sprintf("2025%04d", 101+trial)
		switch {
		case got == nil:
			if trial > 1 {
				t.Fatalf("trial %d (killed after %v): the published mirror vanished", trial, delay)
			}
			before++
		default:
			// Each products file is the old one or the new one: a kill
			// between the two may leave the images new and the
			// bootloaders old, each whole.
			for file, v := range got {
				if v != want && v != prev {
					t.Fatalf("trial %d (killed after %v): %s holds version %s, want %s or %s", trial, delay, file, v, prev, want)
				}
			}
		}
		// The next run succeeds and publishes the new version.
		mirrorOK(t, source(up.URL), testOptions(dir))
		if got := checkMirror(t, dir, trial, delay); got["images"] != want || got["bootloaders"] != want {
			t.Fatalf("trial %d: after the recovery run the mirror holds %v, want %s", trial, got, want)
		}
		prev = want
	}
	t.Logf("%d trials: %d runs killed mid-way, %d before the first publication; every published mirror complete, every next run succeeded", trial, killed, before)
}

// checkMirror reads the published mirror as a cluster selecting
// everything would, from the directory itself, verifying signatures, and
// checks that every file the selection needs is there with its size and
// sha256. It returns the one version the images come from and the one the
// bootloaders come from (each products file is whole), or nil when nothing
// is published yet.
func checkMirror(t *testing.T, dir string, trial int, delay time.Duration) map[string]string {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dir, "streams/v1/index.sjson")); os.IsNotExist(err) {
		return nil
	}
	src := simplestreams.BootSource{URL: dir, KeyringData: streamtest.Keyring(streamtest.Key()), Selections: []simplestreams.Selection{{}}}
	s, err := metadata.Read(context.Background(), fetch.New(fetch.Options{}), src, metadata.Options{})
	if err != nil {
		t.Fatalf("trial %d (killed after %v): the published metadata: %v", trial, delay, err)
	}
	images, bls, err := metadata.Select([]*metadata.Stream{s}, false, nil)
	if err != nil {
		t.Fatalf("trial %d: %v", trial, err)
	}
	versions := map[string]map[string]bool{"images": {}, "bootloaders": {}}
	for i, im := range append(images, bls...) {
		kind := "images"
		if i >= len(images) {
			kind = "bootloaders"
		}
		versions[kind][im.VersionName] = true
		for _, f := range im.Items {
			p := filepath.Join(dir, f.Path)
			if fi, err := os.Stat(p); err != nil || fi.Size() != f.Size || streamtest.SHA256File(t, p) != f.SHA256 {
				t.Fatalf("trial %d (killed after %v): %s is named but not there, or not what is named: %v", trial, delay, f.Path, err)
			}
		}
	}
	if len(versions["images"]) != 1 || len(versions["bootloaders"]) != 1 || len(images) != 8 || len(bls) != 2 {
		t.Fatalf("trial %d: %d images, %d bootloaders of versions %v", trial, len(images), len(bls), versions)
	}
	got := map[string]string{}
	for kind, vs := range versions {
		for v := range vs {
			got[kind] = v
		}
	}
	return got
}
