package simplestreams_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	ss "maas-import-boot-images/simplestreams"
)

// sameModel compares two parsed models, including which attributes the
// file set to a zero value.
var sameModel = cmp.AllowUnexported(ss.Attrs{})

var sha64 = strings.Repeat("e", 64)

// TestInherit: the deeper level wins, a value set to "" or 0 in the file
// hides its parent's, and Extra is each level's own.
func TestInherit(t *testing.T) {
	top := ss.Attrs{OS: "ubuntu", Arch: "amd64", Label: "stable", Size: 3, Extra: map[string]json.RawMessage{"t": json.RawMessage(`1`)}}
	prod := ss.Attrs{Arch: "arm64", Release: "noble"}
	got := prod.Inherit(top)
	want := ss.Attrs{OS: "ubuntu", Arch: "arm64", Label: "stable", Release: "noble", Size: 3}
	if d := cmp.Diff(want, got, sameModel); d != "" {
		t.Errorf("product over top (-want +got):\n%s", d)
	}
	p, err := ss.ParseProducts([]byte(`{"format": "products:1.0", "os": "centos", "products": {"p": {"versions": {"1": {"items": {
		"i": {"os": "", "size": 0, "x": 1}}}}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	item := p.Products["p"].Versions["1"].Items["i"]
	got = item.Inherit(p.Products["p"].Versions["1"].Inherit(p.Products["p"].Inherit(ss.Attrs{OS: "ubuntu", Size: 9})))
	if got.OS != "" || got.Size != 0 || string(got.Extra["x"]) != "1" {
		t.Errorf("item setting os \"\" and size 0: got os %q size %d extra %s, want both hiding their parents'", got.OS, got.Size, got.Extra)
	}
}

// TestFiles: a version's files, and why a version cannot be used.
func TestFiles(t *testing.T) {
	item := func(path string, size int64, sha string) ss.Item {
		return ss.Item{Attrs: ss.Attrs{Path: path, Size: size, SHA256: sha}}
	}
	parent := ss.Attrs{Arch: "amd64", FType: "from-product"}
	v := ss.Version{Items: map[string]ss.Item{"b": item("x/b", 2, sha64), "a": item("x/a", 1, sha64), "c": {Attrs: ss.Attrs{FType: "no path"}}}}
	files, err := v.Files(parent)
	want := []ss.File{{Name: "a", FType: "from-product", Path: "x/a", Size: 1, SHA256: sha64}, {Name: "b", FType: "from-product", Path: "x/b", Size: 2, SHA256: sha64}}
	if d := cmp.Diff(want, files); err != nil || d != "" {
		t.Errorf("files (-want +got), %v:\n%s", err, d)
	}
	for name, v := range map[string]ss.Version{
		"no size":                {Items: map[string]ss.Item{"a": item("x/a", 0, sha64)}},
		"bad sha256":             {Items: map[string]ss.Item{"a": item("x/a", 1, "abc")}},
		"contradicts its arch":   {Items: map[string]ss.Item{"a": {Attrs: ss.Attrs{Arch: "arm64", Path: "x/a", Size: 1, SHA256: sha64}}}},
		"contradicts its parent": {Attrs: ss.Attrs{Label: "daily"}, Items: map[string]ss.Item{"a": {Attrs: ss.Attrs{Label: "stable", Path: "x/a", Size: 1, SHA256: sha64}}}},
	} {
		if files, err := v.Files(parent); !errors.Is(err, ss.ErrIncomplete) || files != nil {
			t.Errorf("%s: got %v, %v; want ErrIncomplete", name, files, err)
		}
	}
	bad := ss.Version{Items: map[string]ss.Item{"a": item("../a", 1, sha64)}}
	if _, err := bad.Files(parent); !errors.Is(err, ss.ErrUnsafePath) || !strings.Contains(err.Error(), "item a: ") {
		t.Errorf("unsafe path: got %v, want ErrUnsafePath naming item a", err)
	}
}

// TestSelectBuiltModel: Select checks the names of a model made in code as
// ParseProducts checks a file's: an unsafe one is never selected.
func TestSelectBuiltModel(t *testing.T) {
	version := ss.Version{Items: map[string]ss.Item{"k": {Attrs: ss.Attrs{Path: "k", Size: 1, SHA256: sha64}}}}
	p := &ss.Products{ContentID: "c", Products: map[string]ss.Product{
		"good": {Attrs: ss.Attrs{Arch: "amd64", Release: "noble", Label: "stable", Subarch: "generic"}, Versions: map[string]ss.Version{"1": version}},
		"bad":  {Attrs: ss.Attrs{Arch: "../../etc", Release: "noble", Label: "stable", Subarch: "generic"}, Versions: map[string]ss.Version{"1": version}},
	}}
	got, err := ss.Select([]ss.Stream{{Products: []*ss.Products{p}, Selections: []ss.Selection{{}}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"ubuntu/amd64/generic/noble/stable=good@1"}, imageNames(got)); d != "" {
		t.Errorf("images (-want +got):\n%s", d)
	}
}
