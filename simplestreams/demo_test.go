package simplestreams_test

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	ss "maas-import-boot-images/simplestreams"
)

// TestDemoStream reads the committed demo stream the way the importer does:
// locate, verify, parse, select with the selections of its sources.yaml, and
// check every selected file on disk.
func TestDemoStream(t *testing.T) {
	demo, err := filepath.Abs(filepath.Join("..", "testdata", "demo"))
	if err != nil {
		t.Fatal(err)
	}
	loc, err := ss.Locate(demo)
	if err != nil {
		t.Fatal(err)
	}
	if !loc.Signed() {
		t.Fatalf("demo index %s is not signed", loc.Index)
	}
	keys, err := os.ReadFile(filepath.Join(demo, "keyring.gpg"))
	if err != nil {
		t.Fatal(err)
	}
	kr, err := ss.ParseKeyring("keyring.gpg", keys)
	if err != nil {
		t.Fatal(err)
	}
	read := func(rel string) []byte {
		t.Helper()
		p, err := loc.Resolve(rel)
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		body, err := ss.Verify(p, b, kr)
		if err != nil {
			t.Fatal(err)
		}
		return body
	}
	ix, err := ss.ParseIndex(read(loc.Index))
	if err != nil {
		t.Fatal(err)
	}
	var all []*ss.Products
	for _, id := range ix.ContentIDs() {
		p, err := ss.ParseProducts(read(ix.Index[id].Path))
		if err != nil {
			t.Fatal(err)
		}
		if p.ContentID != id {
			t.Errorf("products file %s: content id %q, want %q", ix.Index[id].Path, p.ContentID, id)
		}
		all = append(all, p)
	}
	// The selections of testdata/demo/sources.yaml.
	sels := []ss.Selection{
		{OS: "ubuntu", Release: "noble", Arches: []string{"amd64"}},
		{Release: "jammy", Arches: []string{"amd64"}, Subarches: []string{"ga-22.04", "generic"}},
	}
	ims, err := ss.Select([]ss.Stream{{Products: all, Selections: sels}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, im := range ims {
		seen[im.Release] = true
		if im.Arch != "amd64" || (im.Release == "jammy" && im.Subarch != "ga-22.04" && im.Subarch != "generic") {
			t.Errorf("selected %v, which sources.yaml does not ask for", im.Image)
		}
		if len(im.Items) == 0 {
			t.Errorf("%v has no items", im.Image)
		}
		for _, it := range im.Items {
			p, err := loc.Resolve(it.Path)
			if err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(b)
			if int64(len(b)) != it.Size || hex.EncodeToString(sum[:]) != it.SHA256 {
				t.Errorf("%s: size %d sha256 %x, metadata says %d %s", it.Path, len(b), sum, it.Size, it.SHA256)
			}
		}
	}
	if !seen["noble"] || !seen["jammy"] {
		t.Errorf("got releases %v, want noble and jammy", seen)
	}
}
