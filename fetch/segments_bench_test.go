package fetch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"path/filepath"
	"testing"

	"maas-import-boot-images/internal/disk"
	"maas-import-boot-images/simplestreams/streamtest"
)

// BenchmarkRehash is the check of a finished segmented download: one read
// of a 256 MiB .part from the page cache, hashed.
func BenchmarkRehash(b *testing.B) {
	const size = 256 << 20
	out, err := disk.OpenPart(filepath.Join(b.TempDir(), "x.part"))
	if err != nil {
		b.Fatal(err)
	}
	defer out.Cleanup()
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(out, h), streamtest.Payload("bench", size)); err != nil {
		b.Fatal(err)
	}
	f := File{SHA256: hex.EncodeToString(h.Sum(nil)), Size: size, URL: "http://bench/x"}
	c := New(Options{})
	b.SetBytes(size)
	for b.Loop() {
		if err := c.rehash(context.Background(), f, out); err != nil {
			b.Fatal(err)
		}
	}
}
