package simplestreams_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	ss "maas-import-boot-images/simplestreams"
	"maas-import-boot-images/simplestreams/streamtest"
)

// The seeds are whole MAAS-shaped files, so minimizing each new input takes
// the fuzzer most of its time by default; run with a bounded minimization:
//
//	go test -run '^$' -fuzz '^FuzzParseProducts$' -fuzztime 20s -fuzzminimizetime 200x ./simplestreams/
func seedTree(f *testing.F) *streamtest.Tree {
	tree, err := streamtest.Write(f.TempDir(), streamtest.MAAS(streamtest.Options{Lowlatency: true, Releases: []string{"noble", "jammy"}}))
	if err != nil {
		f.Fatal(err)
	}
	return tree
}

func FuzzParseIndex(f *testing.F) {
	tree := seedTree(f)
	b, _ := os.ReadFile(filepath.Join(tree.Dir, tree.Index))
	f.Add(b)
	f.Add([]byte(`{"format": "index:1.0", "index": {"a": {"format": "products:1.0", "path": "x/../y"}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ix, err := ss.ParseIndex(data)
		if err != nil {
			return
		}
		for _, id := range ix.ContentIDs() {
			if ss.CheckPath(ix.Index[id].Path) != nil {
				t.Fatalf("accepted unsafe path %q", ix.Index[id].Path)
			}
		}
		roundTripIndex(t, ix)
	})
}

func FuzzParseProducts(f *testing.F) {
	tree := seedTree(f)
	b, _ := os.ReadFile(filepath.Join(tree.Dir, tree.Products))
	f.Add(b)
	f.Add([]byte(`{"format": "products:1.0", "products": {"p": {"arch": "a", "release": "r", "label": "l", "subarches": "x,,y", "versions": {"1": {"items": {"i": {"path": "p", "size": 1, "sha256": "00"}}}}}}}`))
	f.Add([]byte(odd))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ss.ParseProducts(data)
		if err != nil {
			return
		}
		if !json.Valid(data) {
			t.Fatalf("accepted invalid JSON %q", data)
		}
		roundTrip(t, p) // what it reads, it writes back out as a file it reads the same
		ims, _ := ss.Select([]ss.Stream{{Products: []*ss.Products{p}, Selections: []ss.Selection{{}}}}, nil)
		for _, im := range ims {
			for _, name := range []string{im.OS, im.Arch, im.Subarch, im.Release, im.Label} {
				if ss.CheckPath(name) != nil {
					t.Fatalf("selected an image with unsafe name %q", name)
				}
			}
			for _, it := range im.Items {
				if ss.CheckPath(it.Path) != nil || it.Size < 0 || len(it.SHA256) != 64 {
					t.Fatalf("selected a bad item %+v", it)
				}
			}
		}
	})
}

func FuzzVerify(f *testing.F) {
	kr, err := ss.ParseKeyring("k", streamtest.Keyring(streamtest.Key()))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(streamtest.ClearSign(body))
	f.Add(streamtest.ClearSignWith(streamtest.OtherKey(), body))
	f.Add([]byte("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nx\n-----BEGIN PGP SIGNATURE-----\n\n-----END PGP SIGNATURE-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = ss.Verify("f", data, kr)
		_, _ = ss.StripSignature("f", data)
	})
}
