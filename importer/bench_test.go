package importer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"maas-import-boot-images/simplestreams"
	"maas-import-boot-images/simplestreams/streamtest"
)

const benchFileSize = 256 << 20

// benchServer serves one 256 MiB file from disk.
func benchServer(b *testing.B) (url string, fl file) {
	dir := b.TempDir()
	p := filepath.Join(dir, "squashfs")
	f, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(f, h), streamtest.Payload("bench", benchFileSize)); err != nil {
		b.Fatal(err)
	}
	f.Close()
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	b.Cleanup(srv.Close)
	return srv.URL + "/squashfs", file{SHA256: hex.EncodeToString(h.Sum(nil)), Size: benchFileSize, URL: srv.URL + "/squashfs", Name: "squashfs"}
}

// BenchmarkDownload fetches, hashes, writes, syncs and renames a 256 MiB
// file into the cache; BenchmarkDownloadBaseline does the same work in the
// plainest way (GET, io.Copy through sha256 into a file, sync), for a ratio
// measured in the same run.
func BenchmarkDownload(b *testing.B) {
	_, fl := benchServer(b)
	f := newFetcher(Options{Timeout: 10e9, Jobs: 1, UserAgent: "bench", Log: nil}.withDefaults())
	b.SetBytes(benchFileSize)
	for b.Loop() {
		cache := b.TempDir()
		if err := f.download(context.Background(), cache, fl, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDownloadBaseline(b *testing.B) {
	u, fl := benchServer(b)
	b.SetBytes(benchFileSize)
	for b.Loop() {
		resp, err := http.Get(u)
		if err != nil {
			b.Fatal(err)
		}
		out, _ := os.Create(filepath.Join(b.TempDir(), "f"))
		h := sha256.New()
		if _, err := io.Copy(io.MultiWriter(out, h), resp.Body); err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		out.Sync()
		out.Close()
		if hex.EncodeToString(h.Sum(nil)) != fl.SHA256 {
			b.Fatal("bad hash")
		}
	}
}

// fakeImages makes n images of 4 items each, with distinct sha256s.
func fakeImages(n int) []simplestreams.BootImage {
	var ims []simplestreams.BootImage
	for i := range n {
		im := simplestreams.BootImage{Image: simplestreams.Image{OS: "ubuntu", Arch: "amd64", Subarch: fmt.Sprintf("ga-%d", i), Release: "noble", Label: "stable"},
			ContentID: "c", ProductName: fmt.Sprintf("p%d", i), VersionName: "1", Subarches: "x"}
		for j, name := range []string{"boot-initrd", "boot-kernel", "manifest", "squashfs"} {
			sum := sha256.Sum256([]byte(fmt.Sprint(i, j)))
			im.Items = append(im.Items, simplestreams.File{Name: name, Path: fmt.Sprintf("noble/%d/%s", i, name), Size: 1, SHA256: hex.EncodeToString(sum[:])})
		}
		ims = append(ims, im)
	}
	return ims
}

// fillCache writes a one-byte cache file for every item.
func fillCache(b *testing.B, st storage, ims []simplestreams.BootImage) {
	if err := st.mkdirs(); err != nil {
		b.Fatal(err)
	}
	for _, im := range ims {
		for _, it := range im.Items {
			if err := os.WriteFile(filepath.Join(st.cache(), it.SHA256), []byte("x"), 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkPlan plans 2,500 images (10,000 files) against a cache that
// holds them all.
func BenchmarkPlan(b *testing.B) {
	ims := fakeImages(2500)
	st := storage(b.TempDir())
	fillCache(b, st, ims)
	loc, _ := simplestreams.Locate("http://mirror/")
	locs := []simplestreams.Location{loc}
	b.ResetTimer()
	for b.Loop() {
		files, err := planFiles(ims, locs)
		if err != nil {
			b.Fatal(err)
		}
		for _, fl := range files {
			if !st.cached(fl) {
				b.Fatal("not cached")
			}
		}
	}
}

// BenchmarkUnchanged is the no-op check with 100 images in current.
func BenchmarkUnchanged(b *testing.B) {
	ims := fakeImages(100)
	st := storage(b.TempDir())
	fillCache(b, st, ims)
	meta := encodeMeta(ims)
	t, err := st.snapshotTree(ims, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := st.publish(context.Background(), t, meta); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		t, err := st.snapshotTree(ims, nil, nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, ok := st.unchanged(t, encodeMeta(ims)); !ok {
			b.Fatal("changed")
		}
	}
}
