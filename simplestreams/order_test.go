package simplestreams_test

import (
	"encoding/json"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	ss "maas-import-boot-images/simplestreams"
	"maas-import-boot-images/simplestreams/streamtest"
)

// productsInOrder writes the products of a MAAS-shaped stream as JSON text
// in the given order of product names (Write sorts them), so that the parser
// sees them in that order.
func productsInOrder(t *testing.T, raw map[string]json.RawMessage, names []string) *ss.Products {
	t.Helper()
	var b strings.Builder
	b.WriteString(`{"format": "products:1.0", "content_id": "` + streamtest.ContentID + `", "products": {`)
	for i, n := range names {
		if i > 0 {
			b.WriteString(", ")
		}
		k, _ := json.Marshal(n)
		b.Write(k)
		b.WriteString(": ")
		b.Write(raw[n])
	}
	b.WriteString("}}")
	p, err := ss.ParseProducts([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSelectOrderIndependent: the same MAAS-shaped products, in shuffled
// JSON order and split over two products files given in either order, give
// the same images from the same products.
func TestSelectOrderIndependent(t *testing.T) {
	spec := streamtest.MAAS(streamtest.Options{Releases: []string{"focal", "jammy", "noble"}, Arches: []string{"amd64", "arm64", "s390x"},
		Versions: []string{"20250101", "20250709"}, Lowlatency: true})
	tree, err := streamtest.Write(t.TempDir(), spec)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(tree.Dir, tree.Products))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct{ Products map[string]json.RawMessage }
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	var names []string
	for n := range doc.Products {
		names = append(names, n)
	}
	slices.Sort(names)
	sels := []ss.Selection{{Release: "*"}}
	want, err := ss.Select([]ss.Stream{{Products: []*ss.Products{productsInOrder(t, doc.Products, names)}, Selections: sels}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(want) != 3*3*5 {
		t.Fatalf("got %d images, want 45", len(want))
	}
	r := rand.New(rand.NewPCG(7, 11))
	for round := range 20 {
		shuffled := slices.Clone(names)
		r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		cut := 1 + r.IntN(len(shuffled)-1)
		a, b := productsInOrder(t, doc.Products, shuffled[:cut]), productsInOrder(t, doc.Products, shuffled[cut:])
		for _, files := range [][]*ss.Products{{a, b}, {b, a}} {
			got, err := ss.Select([]ss.Stream{{Products: files, Selections: sels}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(imageNames(want), imageNames(got)); d != "" {
				t.Fatalf("round %d (-want +got):\n%s", round, d)
			}
		}
	}
}

func TestSelectionMatches(t *testing.T) {
	im := ss.Image{OS: "ubuntu", Arch: "amd64", Subarch: "ga-24.04", Release: "noble", Label: "stable"}
	tests := []struct {
		name string
		sel  ss.Selection
		want bool
	}{
		{"all zero", ss.Selection{}, true},
		{"star os and release", ss.Selection{OS: "*", Release: "*"}, true},
		{"os", ss.Selection{OS: "ubuntu"}, true},
		{"other os", ss.Selection{OS: "centos"}, false},
		{"other release", ss.Selection{Release: "jammy"}, false},
		{"arch listed", ss.Selection{Arches: []string{"arm64", "amd64"}}, true},
		{"arch not listed", ss.Selection{Arches: []string{"arm64"}}, false},
		{"star in list", ss.Selection{Arches: []string{"arm64", "*"}}, true},
		{"empty arches", ss.Selection{Arches: []string{}}, false},
		{"empty subarches", ss.Selection{Subarches: []string{}}, false},
		{"empty labels", ss.Selection{Labels: []string{}}, false},
		{"subarch listed", ss.Selection{Subarches: []string{"ga-24.04"}}, true},
		{"subarch not listed", ss.Selection{Subarches: []string{"generic"}}, false},
		{"label", ss.Selection{Labels: []string{"stable"}}, true},
		{"other label", ss.Selection{Labels: []string{"candidate"}}, false},
		{"everything named", ss.Selection{OS: "ubuntu", Release: "noble", Arches: []string{"amd64"}, Subarches: []string{"ga-24.04"}, Labels: []string{"stable"}}, true},
		{"one field off", ss.Selection{OS: "ubuntu", Release: "noble", Arches: []string{"amd64"}, Subarches: []string{"ga-24.04"}, Labels: []string{"daily"}}, false},
		{"case matters", ss.Selection{Release: "Noble"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.sel.Matches(im); got != tt.want {
				t.Errorf("%+v.Matches(%v): got %v, want %v", tt.sel, im, got, tt.want)
			}
		})
	}
}

// TestSelectOSDefault: a product without os is ubuntu; one with os keeps it.
func TestSelectOSDefault(t *testing.T) {
	item := []streamtest.Version{{Name: "1", Items: []streamtest.Item{{Name: "k", Path: "k", Size: 1}}}}
	p := products(t, streamtest.Spec{Products: []streamtest.Product{
		{Name: "a", Attrs: map[string]any{"arch": "amd64", "release": "noble", "label": "stable", "subarch": "generic"}, Versions: item},
		{Name: "b", Attrs: map[string]any{"os": "centos", "arch": "amd64", "release": "centos9", "label": "stable", "subarch": "generic"}, Versions: item},
		{Name: "c", Attrs: map[string]any{"os": "", "arch": "amd64", "release": "jammy", "label": "stable", "subarch": "generic"}, Versions: item},
	}})
	for _, tt := range []struct {
		sel  ss.Selection
		want []string
	}{
		{ss.Selection{OS: "ubuntu"}, []string{"ubuntu/amd64/generic/jammy/stable=c@1", "ubuntu/amd64/generic/noble/stable=a@1"}},
		{ss.Selection{OS: "centos"}, []string{"centos/amd64/generic/centos9/stable=b@1"}},
	} {
		got, err := ss.Select([]ss.Stream{{Products: []*ss.Products{p}, Selections: []ss.Selection{tt.sel}}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(tt.want, imageNames(got)); d != "" {
			t.Errorf("%+v (-want +got):\n%s", tt.sel, d)
		}
	}
}

// TestSelectLogsIncomplete: the skipped newest version is logged at debug
// level, naming the product, the version and the reason.
func TestSelectLogsIncomplete(t *testing.T) {
	sha := strings.Repeat("c", 64)
	doc := `{"format": "products:1.0", "products": {"prod-x": {"arch": "amd64", "release": "noble", "label": "stable", "subarch": "ga-24.04",
		"versions": {
			"20250101": {"items": {"k": {"path": "old", "size": 1, "sha256": "` + sha + `"}}},
			"20250709": {"items": {"k": {"path": "new", "sha256": "` + sha + `"}}}}}}}`
	p, err := ss.ParseProducts([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	var buf strings.Builder
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	got, err := ss.Select([]ss.Stream{{Products: []*ss.Products{p}, Selections: []ss.Selection{{}}}}, log)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].VersionName != "20250101" {
		t.Errorf("got %v, want version 20250101", imageNames(got))
	}
	for _, want := range []string{"level=DEBUG", "prod-x", "20250709", "size"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("log %q does not contain %q", buf.String(), want)
		}
	}
}
