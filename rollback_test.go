package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"maas-import-boot-images/importer"
	"maas-import-boot-images/simplestreams/streamtest"
)

// currentImages lists current's images.
func currentImages(t *testing.T, storage string) []importer.ListImage {
	t.Helper()
	l, err := importer.List(storage)
	if err != nil {
		t.Fatal(err)
	}
	return l.Images
}

// versionsServed lists the versions of current's images.
func versionsServed(t *testing.T, storage string) []string {
	t.Helper()
	var out []string
	for _, im := range currentImages(t, storage) {
		if !slices.Contains(out, im.VersionName) {
			out = append(out, im.VersionName)
		}
	}
	return out
}

func currentOf(t *testing.T, storage string) string {
	t.Helper()
	target, err := os.Readlink(filepath.Join(storage, "current"))
	if err != nil {
		t.Fatal(err)
	}
	return target
}

// entries lists a directory, for "changes nothing".
func entries(t *testing.T, dir string) string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		if e.Name() != ".lock" {
			names = append(names, e.Name())
		}
	}
	target, _ := os.Readlink(filepath.Join(dir, "current"))
	return strings.Join(names, " ") + " current->" + target
}

// rollbackStreams serves two stream versions, and imports the first and
// then the second with --keep 1 into a new storage.
func rollbackStreams(t *testing.T) (s *streamtest.Server, sources, storage, older, newer string) {
	spec := func(versions ...string) streamtest.Spec {
		return streamtest.MAAS(streamtest.Options{Versions: versions, Signed: true, Bootloaders: true})
	}
	s, dirs := newStreams(t, spec("20250101"), spec("20250101", "20250202"))
	sources, storage = streamsSources(t, s), t.TempDir()
	cliOK(t, "import", "--keep", "1", "--config", sources, "--storage", storage)
	older = currentOf(t, storage)
	s.Serve(dirs[1])
	cliOK(t, "import", "--keep", "1", "--config", sources, "--storage", storage)
	newer = currentOf(t, storage)
	if older == newer || !slices.Equal(versionsServed(t, storage), []string{"20250202"}) {
		t.Fatalf("setup: %s then %s serving %v", older, newer, versionsServed(t, storage))
	}
	return s, sources, storage, older, newer
}

// TestRollback: --keep 1 and rollback undo an import; the next import
// moves forward again.
func TestRollback(t *testing.T) {
	_, sources, storage, older, newer := rollbackStreams(t)
	if rep := statusJSON(t, "--storage", storage); !slices.Equal(rep.Kept, []string{older}) {
		t.Errorf("status lists kept %v, want %s", rep.Kept, older)
	}
	r := cliOK(t, "rollback", "--storage", storage, "-o", "json")
	var res importer.RollbackResult
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatal(err)
	}
	if res.Status != "rolled-back" || res.Snapshot != older || res.Previous != newer || res.Files == 0 {
		t.Errorf("rollback: %+v", res)
	}
	if got := currentOf(t, storage); got != older || !slices.Equal(versionsServed(t, storage), []string{"20250101"}) {
		t.Errorf("after rollback current is %s serving %v, want %s serving 20250101", got, versionsServed(t, storage), older)
	}
	cliOK(t, "verify", "--storage", storage)
	if lr, err := importer.ReadLastRun(storage); err != nil || lr.Command != "rollback" || lr.Status != "rolled-back" || lr.Snapshot != older {
		t.Errorf(".last-run.json: %+v (%v)", lr, err)
	}
	// Nothing older than the oldest: exit 5, nothing changed.
	before := entries(t, storage)
	if r := runCLI(t, context.Background(), nil, "rollback", "--storage", storage); r.code != 5 || !strings.Contains(r.stderr, "no snapshot older than "+older) {
		t.Errorf("second rollback: exit %d: %s", r.code, r.stderr)
	}
	if after := entries(t, storage); after != before {
		t.Errorf("a refused rollback changed %s into %s", before, after)
	}
	// The next import moves forward again, downloading nothing.
	r = cliOK(t, "import", "--keep", "1", "--config", sources, "--storage", storage, "-o", "json")
	var imp importer.Result
	json.Unmarshal([]byte(r.stdout), &imp)
	if imp.Status != "imported" || imp.Bytes.Downloaded != 0 || !slices.Equal(versionsServed(t, storage), []string{"20250202"}) {
		t.Errorf("the import after a rollback: %+v serving %v", imp, versionsServed(t, storage))
	}
	cliOK(t, "verify", "--storage", storage)
	// --to names any kept snapshot, also a newer one; text output.
	_, kept, _ := importer.Snapshots(storage)
	r = cliOK(t, "rollback", "--to", kept[0], "--storage", storage)
	if !strings.HasPrefix(r.stdout, "rolled back: current is "+kept[0]) {
		t.Errorf("rollback --to printed %q", r.stdout)
	}
}

// TestRollbackRefused: with nothing kept (exit 5), to a snapshot that is
// not kept (exit 5), to a kept snapshot that lost a cache file (exit 8)
// or while another run holds the lock (exit 7), rollback changes nothing.
func TestRollbackRefused(t *testing.T) {
	demo := demoSources(t, demoServer(t), "{release: noble}")
	alone := t.TempDir()
	cliOK(t, "import", "--config", demo, "--storage", alone)

	_, _, storage, older, _ := rollbackStreams(t)
	// The older snapshot's squashfs is the only link of its cache file
	// besides the cache's own name: remove that name.
	squashfs, err := os.Stat(filepath.Join(storage, older, "ubuntu", "amd64", "ga-24.04", "noble", "stable", "squashfs"))
	if err != nil {
		t.Fatal(err)
	}
	lost := filepath.Join(t.TempDir(), "lost")
	cache, _ := os.ReadDir(filepath.Join(storage, "cache"))
	for _, e := range cache {
		if fi, err := e.Info(); err == nil && os.SameFile(fi, squashfs) {
			lost = filepath.Join(storage, "cache", e.Name())
		}
	}
	if err := os.Remove(lost); err != nil {
		t.Fatal(err)
	}
	locked := t.TempDir()
	cliOK(t, "import", "--keep", "1", "--config", demo, "--storage", locked)
	unlock, err := importer.Lock(context.Background(), locked, false)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()

	tests := []struct {
		name    string
		storage string
		args    []string
		code    int
		msg     string
	}{
		{"nothing kept", alone, nil, 5, "keeps no snapshot besides current"},
		{"not kept", alone, []string{"--to", "snapshot-20200101-000000"}, 5, "has no snapshot snapshot-20200101-000000 (kept: none)"},
		{"not a snapshot", alone, []string{"--to", "../etc"}, 5, "not a snapshot name"},
		{"no storage", filepath.Join(alone, "nowhere"), nil, 5, "does not exist"},
		{"lost a cache file", storage, nil, 8, "snapshot " + older + " cannot be served again: ubuntu/amd64/ga-24.04/noble/stable/squashfs is no longer a file of the cache"},
		{"locked", locked, nil, 7, "held by another run"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before string
			if _, err := os.Stat(tt.storage); err == nil {
				before = entries(t, tt.storage)
			}
			r := runCLI(t, context.Background(), nil, append([]string{"rollback", "--storage", tt.storage, "-o", "json"}, tt.args...)...)
			if r.code != tt.code || !strings.Contains(r.stderr, tt.msg) {
				t.Errorf("exit %d, want %d with %q: %s", r.code, tt.code, tt.msg, r.stderr)
			}
			if !strings.Contains(r.stdout, `"status":"failed"`) {
				t.Errorf("stdout %q", r.stdout)
			}
			if before != "" {
				if after := entries(t, tt.storage); after != before {
					t.Errorf("changed %s into %s", before, after)
				}
			}
		})
	}
}
