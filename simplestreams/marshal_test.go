package simplestreams_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	ss "maas-import-boot-images/simplestreams"
	"maas-import-boot-images/simplestreams/streamtest"
)

// marshalers are the ways a model goes back out: ours, and encoding/json's
// (which compacts and escapes what MarshalJSON returns) indented as a
// mirror would write it.
var marshalers = map[string]func(any) ([]byte, error){
	"MarshalJSON":   func(v any) ([]byte, error) { return v.(json.Marshaler).MarshalJSON() },
	"MarshalIndent": func(v any) ([]byte, error) { return json.MarshalIndent(v, "", " ") },
}

// roundTrip marshals p every way and parses it again, expecting p.
func roundTrip(t *testing.T, p *ss.Products) {
	t.Helper()
	for name, marshal := range marshalers {
		b, err := marshal(p)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !json.Valid(b) {
			t.Fatalf("%s: invalid JSON %s", name, b)
		}
		again, err := ss.ParseProducts(b)
		if err != nil {
			t.Fatalf("%s: parsing what it wrote: %v\n%s", name, err, b)
		}
		if d := cmp.Diff(p, again, sameModel); d != "" {
			t.Errorf("%s: parse → marshal → parse (-first +again):\n%s", name, d)
		}
	}
}

// roundTripIndex marshals ix every way and parses it again, expecting ix;
// it returns what each way wrote, compacted.
func roundTripIndex(t *testing.T, ix *ss.Index) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for name, marshal := range marshalers {
		b, err := marshal(ix)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		again, err := ss.ParseIndex(b)
		if err != nil {
			t.Fatalf("%s: parsing what it wrote: %v\n%s", name, err, b)
		}
		if d := cmp.Diff(ix, again); d != "" {
			t.Errorf("%s: parse → marshal → parse (-first +again):\n%s", name, d)
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, b); err != nil {
			t.Fatal(err)
		}
		out[name] = compact.Bytes()
	}
	return out
}

// readTree parses the index and every products file of a streamtest tree.
func readTree(t *testing.T, tree *streamtest.Tree) (*ss.Index, map[string]*ss.Products) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(tree.Dir, tree.Index))
	if err != nil {
		t.Fatal(err)
	}
	ix, err := ss.ParseIndex(b)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*ss.Products{}
	for _, id := range ix.ContentIDs() {
		b, err := os.ReadFile(filepath.Join(tree.Dir, ix.Index[id].Path))
		if err != nil {
			t.Fatal(err)
		}
		if out[id], err = ss.ParseProducts(b); err != nil {
			t.Fatal(err)
		}
	}
	return ix, out
}

// TestRoundTripMAAS: a MAAS-shaped stream (boot images of two releases and
// arches, two versions, lowlatency kernels, bootloaders) reads back equal
// after it is written out, index and products files alike.
func TestRoundTripMAAS(t *testing.T) {
	tree, err := streamtest.Write(t.TempDir(), streamtest.MAAS(streamtest.Options{Releases: []string{"jammy", "noble"},
		Arches: []string{"amd64", "arm64"}, Versions: []string{"20250101", "20250709"}, Lowlatency: true, Bootloaders: true}))
	if err != nil {
		t.Fatal(err)
	}
	ix, files := readTree(t, tree)
	if len(files) != 2 {
		t.Fatalf("got %d products files, want 2", len(files))
	}
	for id, p := range files {
		t.Run(id, func(t *testing.T) { roundTrip(t, p) })
	}
	roundTripIndex(t, ix)
	// The model is what the file says, field for field.
	p := files[streamtest.ContentID]
	prod := p.Products["com.ubuntu.maas.stable:v3:boot:24.04:arm64:ga-24.04-lowlatency"]
	want := ss.Attrs{OS: "ubuntu", Arch: "arm64", Subarch: "ga-24.04-lowlatency", Subarches: "ga-24.04-lowlatency", Release: "noble",
		Version: "24.04", Label: "stable", KFlavor: "lowlatency", Extra: map[string]json.RawMessage{"krel": json.RawMessage(`"noble"`)}}
	if d := cmp.Diff(want, prod.Attrs, cmpopts.IgnoreUnexported(ss.Attrs{})); d != "" || p.Format != "products:1.0" || p.Datatype != "image-ids" || p.Updated == "" {
		t.Errorf("product attributes (-want +got):\n%s\nfile %q %q %q", d, p.Format, p.Datatype, p.Updated)
	}
	it := prod.Versions["20250709"].Items["squashfs"]
	if f := tree.Files["noble/arm64/20250709/squashfs"]; it.FType != "squashfs" || it.Path != f.Path || it.Size != f.Size || it.SHA256 != f.SHA256 || it.Extra != nil {
		t.Errorf("squashfs item %+v, want the file %+v", it, f)
	}
}

// odd is a products file with what a stream may carry beyond what MAAS
// reads: unknown members at every level (objects, lists, numbers, unicode,
// escapes, characters encoding/json escapes), attributes MAAS reads given
// as numbers, "" and null, sizes that are not integers, and a top level
// that comes after the products it passes its attributes to.
var odd = `{
 "format": "products:1.0",
 "products": {
  "p\u00e9-ü": {
   "arch": "amd64", "release": "noble", "label": "stable", "subarch": "ga-24.04", "subarches": "generic,ga-24.04",
   "os": "", "version": 24.04, "arches": ["amd64", "i386"],
   "krel": "noble", "nested": {"a": [1, 2, {"b": null}], "c": "<&>"}, "emoji": "😀 \ud83d\ude00",
   "versions": {
    "20250709": {
     "pubname": "noble-24.04-amd64-server-20250709", "label": "stable", "list": [ ],
     "items": {
      "boot-kernel": {"ftype": "boot-kernel", "path": "noble/k", "size": 7, "sha256": "` + sha64 + `", "md5": "00ff", "kpackage": "linux-generic", "x": true},
      "empty": {"ftype": "", "size": 0, "path": "noble/empty", "sha256": "` + sha64 + `"},
      "notafile": {"ftype": "manifest", "size": 1.5, "sha512": null, "deep": {"deeper": {"deepest": []}}}
     }
    },
    "20250801": {
     "items": {"k": {"path": "noble/k2", "size": "13", "sha256": "` + sha64 + `"}, "m": {"path": "noble/m", "size": -0, "sha256": "` + sha64 + `"}}
    },
    "2024\u2028": {"items": {}},
    "0-no-items": {"label": "stable"}
   }
  },
  "no-versions": {"arch": "arm64", "note": "\"quoted\" \\ back\/slash \t tab"}
 },
 "content_id": "com.example:odd",
 "datatype": {"kind": "image-ids"},
 "updated": 5,
 "license": "http://example.com/l?a=1&b=2",
 "ftype": "from-top"
}`

// TestRoundTripOdd: nothing of odd is lost, and it reads back the same.
func TestRoundTripOdd(t *testing.T) {
	p, err := ss.ParseProducts([]byte(odd))
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, p)
	b, err := p.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	// What the fields cannot hold is written as the file wrote it.
	for _, want := range []string{`"os":""`, `"version":24.04`, `"arches":["amd64","i386"]`, `"size":"13"`, `"size":-0`, `"size":1.5`,
		`"size":0`, `"ftype":""`, `"sha512":null`, `"updated":5`, `"datatype":{"kind":"image-ids"}`, `"items":{}`, `"list":[]`,
		`"nested":{"a":[1,2,{"b":null}],"c":"\u003c\u0026\u003e"}`, `"license":"http://example.com/l?a=1\u0026b=2"`} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("output lacks %s:\n%s", want, b)
		}
	}
	// And every member of the file is there with the same value.
	var in, out any
	if err := json.Unmarshal([]byte(odd), &in); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(in, out); d != "" {
		t.Errorf("the file as JSON values (-read +written):\n%s", d)
	}
	// What MAAS reads is in the fields; the number 24.04 as its text.
	prod := p.Products["p\u00e9-ü"]
	if prod.Version != "24.04" || prod.Arches != "" || prod.Label != "stable" || p.Datatype != "" || p.Updated != "5" || p.FType != "from-top" {
		t.Errorf("product %+v; file datatype %q updated %q ftype %q", prod.Attrs, p.Datatype, p.Updated, p.FType)
	}
	if it := prod.Versions["20250801"].Items["k"]; it.Size != -1 {
		t.Errorf("size \"13\": got Size %d, want -1", it.Size)
	}
}

// TestRoundTripKeepsSelection: what Select makes of odd does not change
// when it is written out and read again: the version with the quoted size
// stays incomplete, os "" still means ubuntu.
func TestRoundTripKeepsSelection(t *testing.T) {
	p, err := ss.ParseProducts([]byte(odd))
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	again, err := ss.ParseProducts(b)
	if err != nil {
		t.Fatal(err)
	}
	var got [][]ss.BootImage
	for _, p := range []*ss.Products{p, again} {
		ims, err := ss.Select([]ss.Stream{{Products: []*ss.Products{p}, Selections: []ss.Selection{{}}}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ims)
	}
	if d := cmp.Diff(got[0], got[1]); d != "" {
		t.Errorf("images (-read +read again):\n%s", d)
	}
	if d := cmp.Diff([]string{"ubuntu/amd64/ga-24.04/noble/stable=p\u00e9-ü@20250709", "ubuntu/amd64/generic/noble/stable=p\u00e9-ü@20250709"}, imageNames(got[1])); d != "" {
		t.Errorf("images (-want +got):\n%s", d)
	}
	if n := len(got[1][0].Items); n != 2 {
		t.Errorf("got %d files, want boot-kernel and empty", n)
	}
}

// TestFilteredRewrite is what a mirror does with --rewrite: drop the
// products, versions and items it does not hold, write the files out, and
// read exactly what it kept.
func TestFilteredRewrite(t *testing.T) {
	tree, err := streamtest.Write(t.TempDir(), streamtest.MAAS(streamtest.Options{Releases: []string{"jammy", "noble"},
		Versions: []string{"20250101", "20250709"}}))
	if err != nil {
		t.Fatal(err)
	}
	ix, files := readTree(t, tree)
	p := files[streamtest.ContentID]
	for name := range p.Products {
		if strings.Contains(name, ":22.04:") {
			delete(p.Products, name) // jammy is not mirrored
		}
	}
	ga := p.Products["com.ubuntu.maas.stable:v3:boot:24.04:amd64:ga-24.04"]
	delete(ga.Versions, "20250101") // nor older versions
	delete(ga.Versions["20250709"].Items, "squashfs.manifest")
	delete(ga.Versions["20250709"].Items, "manifest")
	entry := ix.Index[streamtest.ContentID]
	entry.Products = []string{"com.ubuntu.maas.stable:v3:boot:24.04:amd64:ga-24.04", "com.ubuntu.maas.stable:v3:boot:24.04:amd64:hwe-24.04"}
	ix.Index[streamtest.ContentID] = entry

	b, err := json.MarshalIndent(p, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	again, err := ss.ParseProducts(b)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(p, again, sameModel); d != "" {
		t.Errorf("products (-kept +read):\n%s", d)
	}
	var names []string
	for name, prod := range again.Products {
		for vname, v := range prod.Versions {
			for iname := range v.Items {
				names = append(names, strings.TrimPrefix(name, "com.ubuntu.maas.stable:v3:boot:")+"@"+vname+"/"+iname)
			}
		}
	}
	if len(names) != 3+4*2 {
		t.Errorf("got %d items, want 11: %v", len(names), names)
	}
	if bytes.Contains(b, []byte("22.04")) || bytes.Contains(b, []byte("jammy")) {
		t.Errorf("what was dropped is written:\n%s", b)
	}
	roundTripIndex(t, ix)
}

// TestIndexRoundTrip: an index keeps what it has beyond what MAAS reads.
func TestIndexRoundTrip(t *testing.T) {
	doc := `{"format": "index:1.0", "updated": "", "extra": {"é": [1, "<"]}, "index": {
		"c": {"format": "products:1.0", "path": "streams/v1/c.json", "products": ["a", null], "clouds": [{"region": "x"}], "size": 5},
		"m": {"format": "mirrors:1.0", "path": "/abs", "datatype": null},
		"z": null}}`
	ix, err := ss.ParseIndex([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range roundTripIndex(t, ix) {
		for _, want := range []string{`"updated":""`, `"products":["a",null]`, `"datatype":null`, `"clouds":[{"region":"x"}]`, `"size":5`} {
			if !bytes.Contains(b, []byte(want)) {
				t.Errorf("%s: output lacks %s:\n%s", name, want, b)
			}
		}
	}
	if e := ix.Index["c"]; e.Path != "streams/v1/c.json" || !cmp.Equal(e.Products, []string{"a", ""}) {
		t.Errorf("entry c: %+v", e)
	}
}

// TestMarshalBuiltModel: a model made in code with an unsafe name is
// written out as it is, and ParseProducts refuses what it wrote.
func TestMarshalBuiltModel(t *testing.T) {
	version := ss.Version{Items: map[string]ss.Item{"k": {Attrs: ss.Attrs{Path: "k", Size: 1, SHA256: sha64}}}}
	p := &ss.Products{Format: "products:1.0", Products: map[string]ss.Product{
		"bad": {Attrs: ss.Attrs{Arch: "../../etc", Release: "noble", Label: "stable", Subarch: "generic"}, Versions: map[string]ss.Version{"1": version}},
	}}
	b, err := p.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ss.ParseProducts(b); !errors.Is(err, ss.ErrUnsafePath) {
		t.Errorf("parsing %s: got %v, want ErrUnsafePath", b, err)
	}
}
