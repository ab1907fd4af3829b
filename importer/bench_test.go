package importer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"testing"

	"maas-import-boot-images/simplestreams"
)

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
			if err := os.WriteFile(st.cache().Path(it.SHA256), []byte("x"), 0o644); err != nil {
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
			if !st.cache().Has(fl.SHA256, fl.Size) {
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
