package fetch_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"maas-import-boot-images/cache"
	"maas-import-boot-images/fetch"
	"maas-import-boot-images/simplestreams/streamtest"
)

const benchFileSize = 256 << 20

// benchServer serves one 256 MiB file from disk.
func benchServer(b *testing.B) (url string, f fetch.File) {
	dir := b.TempDir()
	p := filepath.Join(dir, "squashfs")
	out, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(out, h), streamtest.Payload("bench", benchFileSize)); err != nil {
		b.Fatal(err)
	}
	out.Close()
	srv := streamtest.NewServer(b, dir)
	return srv.URL + "/squashfs", fetch.File{SHA256: hex.EncodeToString(h.Sum(nil)), Size: benchFileSize, URL: srv.URL + "/squashfs", Name: "squashfs"}
}

// BenchmarkDownload fetches, hashes, writes, syncs and renames a 256 MiB
// file into the cache; BenchmarkDownloadBaseline does the same work in the
// plainest way (GET, io.Copy through sha256 into a file, sync), for a ratio
// measured in the same run.
func BenchmarkDownload(b *testing.B) {
	_, f := benchServer(b)
	c := fetch.New(fetch.Options{Timeout: 10e9, Jobs: 1, UserAgent: "bench"})
	b.SetBytes(benchFileSize)
	for b.Loop() {
		if err := c.Get(context.Background(), f, cache.New(b.TempDir())); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDownloadSegments is BenchmarkDownload in 4 segments. On
// loopback one connection is not capped, so this shows what segments
// cost where they cannot help: the re-read of the finished file, and
// four writers instead of one.
func BenchmarkDownloadSegments(b *testing.B) {
	_, f := benchServer(b)
	c := fetch.New(fetch.Options{Timeout: 10e9, Jobs: 1, Segments: 4, UserAgent: "bench"})
	b.SetBytes(benchFileSize)
	for b.Loop() {
		if err := c.Get(context.Background(), f, cache.New(b.TempDir())); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDownloadBaseline(b *testing.B) {
	u, f := benchServer(b)
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
		if hex.EncodeToString(h.Sum(nil)) != f.SHA256 {
			b.Fatal("bad hash")
		}
	}
}
