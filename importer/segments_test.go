package importer

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"maas-import-boot-images/simplestreams"
	"maas-import-boot-images/simplestreams/streamtest"
)

// segmentSpec has a squashfs of 400,000 bytes: 4 segments of 100,000
// with segmentOptions.
func segmentSpec(versions ...string) streamtest.Spec {
	return streamtest.MAAS(streamtest.Options{Releases: []string{"jammy", "noble"}, Versions: versions, Signed: true,
		KernelSize: 10_000, InitrdSize: 30_000, SquashfsSize: 400_000})
}

// segmentOptions fetch every file over 64 KiB (the squashfs) in 4
// segments.
func segmentOptions(storage string) Options {
	opts := testOptions(storage)
	opts.Segments, opts.SegmentThreshold = 4, 64<<10
	return opts
}

// TestSegmentedImport: the squashfs comes in ranges, the tree verifies,
// and no state is left beside the cache.
func TestSegmentedImport(t *testing.T) {
	m := newMirror(t, segmentSpec("20250101"))
	storage := t.TempDir()
	mustRun(t, []simplestreams.BootSource{m.source(simplestreams.Selection{Release: "noble", Subarches: []string{"generic"}})}, segmentOptions(storage))
	if _, err := Verify(t.Context(), storage, false, nil); err != nil {
		t.Fatal(err)
	}
	ranged := 0
	for _, r := range m.payloadRequests() {
		if strings.HasSuffix(r, "/squashfs range") {
			ranged++
		}
	}
	if ranged != 4 {
		t.Errorf("%d ranged requests for the squashfs, want 4: %v", ranged, m.payloadRequests())
	}
	leftovers, _ := filepath.Glob(filepath.Join(storage, "cache", "*.part*"))
	if len(leftovers) != 0 {
		t.Errorf("left %v", leftovers)
	}
}

// TestSegmentWrongBytes: a segment that returns wrong bytes fails the
// file's checksum after the one refetch (exit 6), the file never enters
// the cache and current is as it was.
func TestSegmentWrongBytes(t *testing.T) {
	m := newMirror(t, segmentSpec("20250101"))
	storage := t.TempDir()
	src := []simplestreams.BootSource{m.source(simplestreams.Selection{Release: "noble", Subarches: []string{"generic"}})}
	mustRun(t, src, testOptions(storage))
	before := treeState(t, storage)
	m.write(segmentSpec("20250101", "20250202"))
	m.resetRequests()
	var corrupted atomic.Int32
	m.setFault(func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		// The third of four segments of the squashfs.
		if !strings.HasSuffix(r.URL.Path, "/squashfs") || r.Header.Get("Range") != "bytes=200000-299999" {
			next.ServeHTTP(w, r)
			return
		}
		corrupted.Add(1)
		w.Header().Set("Content-Range", "bytes 200000-299999/400000")
		w.Header().Set("Content-Length", "100000")
		w.WriteHeader(http.StatusPartialContent)
		w.Write(make([]byte, 100_000))
	})
	_, err := run(t, src, segmentOptions(storage))
	if c := (*ChecksumError)(nil); !errors.As(err, &c) || c.What != "sha256" || !strings.HasSuffix(c.URL, "/squashfs") {
		t.Fatalf("got %v, want a sha256 mismatch of the squashfs", err)
	}
	if n := corrupted.Load(); n != 2 {
		t.Errorf("the bad segment was fetched %d times, want 2 (the one refetch)", n)
	}
	if after := treeState(t, storage); after != before {
		t.Errorf("a failed run changed the tree:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	var sha string
	for p, f := range m.tree.Files {
		if strings.HasSuffix(p, "/squashfs") && strings.Contains(p, "20250202") {
			sha = f.SHA256
		}
	}
	for _, name := range []string{sha, sha + ".part", sha + ".part.segs"} {
		if _, err := os.Stat(filepath.Join(storage, "cache", name)); sha == "" || err == nil {
			t.Errorf("cache/%s is there", name)
		}
	}
}
