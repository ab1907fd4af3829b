package simplestreams_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	ss "maas-import-boot-images/simplestreams"
	"maas-import-boot-images/simplestreams/streamtest"
)

func TestLocate(t *testing.T) {
	tests := []struct {
		in, root, index string
		signed          bool
	}{
		{"http://images.maas.io/ephemeral-v3/stable/", "http://images.maas.io/ephemeral-v3/stable/", "streams/v1/index.sjson", true},
		{"http://images.maas.io/ephemeral-v3/stable", "http://images.maas.io/ephemeral-v3/stable/", "streams/v1/index.sjson", true},
		{"https://m.example.com/maas/streams/v1/index.json", "https://m.example.com/maas/", "streams/v1/index.json", false},
		{"https://m.example.com/streams/v1/custom.sjson", "https://m.example.com/", "streams/v1/custom.sjson", true},
		{"file:///srv/mirror/", "/srv/mirror/", "streams/v1/index.sjson", true},
		{"file:///srv/mirror/streams/v1/index.json", "/srv/mirror/", "streams/v1/index.json", false},
		{"/srv/mirror", "/srv/mirror/", "streams/v1/index.sjson", true},
		{"/srv/mystreams/v1/index.json", "/srv/mystreams/v1/index.json/", "streams/v1/index.sjson", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			l, err := ss.Locate(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if l.Root != tt.root || l.Index != tt.index || l.Signed() != tt.signed {
				t.Errorf("got %+v signed=%v, want root %q index %q signed=%v", l, l.Signed(), tt.root, tt.index, tt.signed)
			}
		})
	}
	for _, bad := range []string{"", "ftp://x/y", "http:///nohost"} {
		if _, err := ss.Locate(bad); err == nil {
			t.Errorf("Locate(%q): got no error", bad)
		}
	}
}

func TestResolve(t *testing.T) {
	l, _ := ss.Locate("http://h/maas/")
	got, err := l.Resolve("streams/v1/com.ubuntu.maas:stable:v3:download.sjson")
	if want := "http://h/maas/streams/v1/com.ubuntu.maas:stable:v3:download.sjson"; err != nil || got != want {
		t.Errorf("got %q, %v; want %q", got, err, want)
	}
	got, _ = l.Resolve("a b/c%d")
	if want := "http://h/maas/a%20b/c%25d"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if _, err := l.Resolve("../etc/passwd"); !errors.Is(err, ss.ErrUnsafePath) {
		t.Errorf("Resolve(../etc/passwd): got %v, want ErrUnsafePath", err)
	}
}

func TestCheckPath(t *testing.T) {
	good := []string{"a", "noble/amd64/20250709/squashfs", "a.b/c-d_e:f"}
	bad := []string{"", "/etc/passwd", "../x", "a/../b", "a/./b", "a//b", "a/", `a\b`, "a\x00b", "\xff", strings.Repeat("a/", 600) + "x"}
	for _, p := range good {
		if err := ss.CheckPath(p); err != nil {
			t.Errorf("CheckPath(%q): got %v, want nil", p, err)
		}
	}
	for _, p := range bad {
		if err := ss.CheckPath(p); !errors.Is(err, ss.ErrUnsafePath) {
			t.Errorf("CheckPath(%q): got %v, want ErrUnsafePath", p, err)
		}
	}
}

// products builds a products file from a spec without payloads on disk.
func products(t testing.TB, spec streamtest.Spec) *ss.Products {
	t.Helper()
	tree, err := streamtest.Write(t.TempDir(), spec)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(tree.Dir, tree.Products))
	if err != nil {
		t.Fatal(err)
	}
	if spec.Signed {
		if b, err = ss.StripSignature("products", b); err != nil {
			t.Fatal(err)
		}
	}
	p, err := ss.ParseProducts(b)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func imageNames(ims []ss.BootImage) []string {
	var out []string
	for _, im := range ims {
		out = append(out, fmt.Sprintf("%s/%s/%s/%s/%s=%s@%s", im.OS, im.Arch, im.Subarch, im.Release, im.Label,
			strings.TrimPrefix(im.ProductName, "com.ubuntu.maas.stable:v3:boot:"), im.VersionName))
	}
	return out
}

func TestSelectMAAS(t *testing.T) {
	all := []ss.Selection{{}}
	spec := streamtest.MAAS(streamtest.Options{Releases: []string{"jammy", "noble"}, Arches: []string{"amd64", "arm64"},
		Versions: []string{"20250101", "20250709"}, Lowlatency: true})
	p := products(t, spec)
	tests := []struct {
		name string
		sels []ss.Selection
		want []string
	}{
		{"noble amd64, every subarch", []ss.Selection{{Release: "noble", Arches: []string{"amd64"}}}, []string{
			"ubuntu/amd64/ga-24.04/noble/stable=24.04:amd64:ga-24.04@20250709",
			"ubuntu/amd64/ga-24.04-lowlatency/noble/stable=24.04:amd64:ga-24.04-lowlatency@20250709",
			// generic belongs to the GA kernel, not the HWE one that also lists it
			"ubuntu/amd64/generic/noble/stable=24.04:amd64:ga-24.04@20250709",
			"ubuntu/amd64/hwe-24.04/noble/stable=24.04:amd64:hwe-24.04@20250709",
			"ubuntu/amd64/hwe-n/noble/stable=24.04:amd64:ga-24.04@20250709",
		}},
		{"subarch filter", []ss.Selection{{Release: "jammy", Arches: []string{"arm64"}, Subarches: []string{"generic"}}}, []string{
			"ubuntu/arm64/generic/jammy/stable=22.04:arm64:ga-22.04@20250709",
		}},
		{"two selections", []ss.Selection{
			{OS: "ubuntu", Release: "noble", Arches: []string{"arm64"}, Subarches: []string{"ga-24.04"}},
			{Release: "jammy", Arches: []string{"amd64"}, Subarches: []string{"hwe-j"}, Labels: []string{"*"}},
		}, []string{
			"ubuntu/amd64/hwe-j/jammy/stable=22.04:amd64:ga-22.04@20250709",
			"ubuntu/arm64/ga-24.04/noble/stable=24.04:arm64:ga-24.04@20250709",
		}},
		{"empty list matches nothing", []ss.Selection{{Release: "noble", Arches: []string{}}}, nil},
		{"other label", []ss.Selection{{Labels: []string{"candidate"}}}, nil},
		{"other os", []ss.Selection{{OS: "centos"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ss.Select([]ss.Stream{{Products: []*ss.Products{p}, Selections: tt.sels}}, nil)
			if tt.want == nil {
				if !errors.Is(err, ss.ErrNothingSelected) {
					t.Fatalf("got %v, %v; want ErrNothingSelected", imageNames(got), err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, imageNames(got)); d != "" {
				t.Errorf("images (-want +got):\n%s", d)
			}
		})
	}
	got, _ := ss.Select([]ss.Stream{{Products: []*ss.Products{p}, Selections: all}}, nil)
	if len(got) != 2*2*5 {
		t.Errorf("everything: got %d images, want 20", len(got))
	}
	// The shared squashfs: every image of noble/amd64 links the same file.
	sq := map[string]bool{}
	for _, im := range got {
		if im.Release == "noble" && im.Arch == "amd64" {
			if im.Items[3].Name != "squashfs" {
				t.Fatalf("items not sorted by name: %+v", im.Items)
			}
			sq[im.Items[3].SHA256] = true
			if len(im.Items) != 4 || im.ContentID != streamtest.ContentID {
				t.Errorf("image %v: %d items, content id %q", im.Image, len(im.Items), im.ContentID)
			}
		}
	}
	if len(sq) != 1 {
		t.Errorf("noble/amd64 images name %d squashfs files, want 1 shared", len(sq))
	}
}

// TestSelectRules covers each claim rule on hand-made products, in every
// order of the products.
func TestSelectRules(t *testing.T) {
	item := func(path string) []streamtest.Version {
		return []streamtest.Version{{Name: "20250101", Items: []streamtest.Item{{Name: "boot-kernel", Path: path, Size: 1}}}}
	}
	prods := []streamtest.Product{
		// hwe-22.04 fans out to generic and to ga-22.04, but ga-22.04 is
		// the other product's own subarch, and generic is the GA kernel's.
		{Name: "p-a-hwe", Attrs: map[string]any{"arch": "amd64", "release": "jammy", "label": "stable", "version": "22.04",
			"subarch": "hwe-22.04", "subarches": "generic,ga-22.04,hwe-22.04,extra"}, Versions: item("a")},
		{Name: "p-b-ga", Attrs: map[string]any{"arch": "amd64", "release": "jammy", "label": "stable", "version": "22.04",
			"subarch": "ga-22.04", "subarches": "generic,ga-22.04,hwe-j"}, Versions: item("b")},
		// extra is claimed by fan-out twice: the first product name wins.
		{Name: "p-c-other", Attrs: map[string]any{"arch": "amd64", "release": "jammy", "label": "stable", "version": "22.04",
			"subarch": "hwe-x", "subarches": "hwe-x,extra"}, Versions: item("c")},
		// os given; kflavor suffix without fan-out.
		{Name: "p-d-centos", Attrs: map[string]any{"os": "centos", "arch": "amd64", "release": "centos9", "label": "stable",
			"subarch": "generic", "kflavor": "rt", "subarches": "generic,hwe-z"}, Versions: item("d")},
		// v2 style: hwe-<letter> is the GA kernel and claims generic, even
		// over an HWE product whose name sorts first.
		{Name: "p-f-v2", Attrs: map[string]any{"arch": "i386", "release": "trusty", "label": "release",
			"subarch": "hwe-t", "subarches": "generic,hwe-t"}, Versions: item("e")},
		{Name: "p-e-v2hwe", Attrs: map[string]any{"arch": "i386", "release": "trusty", "label": "release",
			"subarch": "hwe-u", "subarches": "generic,hwe-u"}, Versions: item("f")},
		// not boot images
		{Name: "p-g-bootloader", Attrs: map[string]any{"arch": "amd64", "bootloader-type": "uefi", "label": "stable"}, Versions: item("g")},
		{Name: "p-h-nosubarch", Attrs: map[string]any{"arch": "amd64", "release": "jammy", "label": "stable"}, Versions: item("h")},
	}
	want := []string{
		"centos/amd64/generic/centos9/stable=p-d-centos", // no ga-/hwe-: no flavour (MAAS's region rule)
		"ubuntu/amd64/extra/jammy/stable=p-a-hwe",
		"ubuntu/amd64/ga-22.04/jammy/stable=p-b-ga",
		"ubuntu/amd64/generic/jammy/stable=p-b-ga",
		"ubuntu/amd64/hwe-22.04/jammy/stable=p-a-hwe",
		"ubuntu/amd64/hwe-j/jammy/stable=p-b-ga",
		"ubuntu/amd64/hwe-x/jammy/stable=p-c-other",
		"ubuntu/i386/generic/trusty/release=p-f-v2",
		"ubuntu/i386/hwe-t/trusty/release=p-f-v2",
		"ubuntu/i386/hwe-u/trusty/release=p-e-v2hwe",
	}
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 10 {
		shuffled := append([]streamtest.Product(nil), prods...)
		r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		p := products(t, streamtest.Spec{Products: shuffled})
		got, err := ss.Select([]ss.Stream{{Products: []*ss.Products{p}, Selections: []ss.Selection{{}}}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, im := range got {
			names = append(names, fmt.Sprintf("%s/%s/%s/%s/%s=%s", im.OS, im.Arch, im.Subarch, im.Release, im.Label, im.ProductName))
		}
		if d := cmp.Diff(want, names); d != "" {
			t.Fatalf("round %d (-want +got):\n%s", round, d)
		}
	}
}

// TestFlavourRule: a flavoured kernel's image is named as MAAS's region
// names it (SPEC §3.4), whether or not the stream's subarch carries the
// flavour already, as images.maas.io's does.
func TestFlavourRule(t *testing.T) {
	tests := []struct{ subarch, kflavor, want string }{
		{"ga-22.04", "lowlatency", "ga-22.04-lowlatency"},
		{"hwe-22.04-lowlatency", "lowlatency", "hwe-22.04-lowlatency"}, // images.maas.io's shape
		{"hwe-22.04-edge", "lowlatency", "hwe-22.04-lowlatency-edge"},
		{"hwe-22.04-lowlatency-edge", "lowlatency", "hwe-22.04-lowlatency-edge"},
		{"hwe-t", "lowlatency", "hwe-t-lowlatency"},
		{"generic", "lowlatency", "generic"}, // neither ga- nor hwe-: kept
		{"hwe-22.04", "generic", "hwe-22.04"},
		{"ga-24.04", "", "ga-24.04"}, // no kflavor
	}
	for _, tt := range tests {
		t.Run(tt.subarch+"+"+tt.kflavor, func(t *testing.T) {
			attrs := map[string]any{"arch": "amd64", "release": "jammy", "label": "stable", "subarch": tt.subarch}
			if tt.kflavor != "" {
				attrs["kflavor"] = tt.kflavor
			}
			p := products(t, streamtest.Spec{Products: []streamtest.Product{{Name: "p", Attrs: attrs,
				Versions: []streamtest.Version{{Name: "1", Items: []streamtest.Item{{Name: "boot-kernel", Path: "k", Size: 1}}}}}}})
			got, err := ss.Select([]ss.Stream{{Products: []*ss.Products{p}, Selections: []ss.Selection{{}}}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0].Subarch != tt.want {
				t.Fatalf("got %v, want one image with subarch %s", imageNames(got), tt.want)
			}
		})
	}
}

func TestSelectNewestComplete(t *testing.T) {
	attrs := map[string]any{"arch": "amd64", "release": "noble", "label": "stable", "subarch": "ga-24.04"}
	p := products(t, streamtest.Spec{Products: []streamtest.Product{{Name: "p", Attrs: attrs, Versions: []streamtest.Version{
		{Name: "20250101", Items: []streamtest.Item{{Name: "k", Path: "old", Size: 1}}},
		{Name: "20250709", Items: []streamtest.Item{{Name: "k", Path: "new", Size: 1}}},
		// newest by byte order, but its item has no sha256: skipped
		{Name: "20250801", Items: []streamtest.Item{{Name: "k", Path: "broken", Size: 1, Attrs: map[string]any{"sha256": nil}}}},
		// "2025" sorts before "20250101" in byte order
		{Name: "2025", Items: []streamtest.Item{{Name: "k", Path: "short", Size: 1}}},
	}}}})
	got, err := ss.Select([]ss.Stream{{Products: []*ss.Products{p}, Selections: []ss.Selection{{}}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].VersionName != "20250709" || got[0].Items[0].Path != "new" {
		t.Fatalf("got %+v, want version 20250709", got)
	}
}

func TestSelectFirstSourceWins(t *testing.T) {
	a := products(t, streamtest.MAAS(streamtest.Options{Versions: []string{"20250101"}}))
	b := products(t, streamtest.MAAS(streamtest.Options{Versions: []string{"20259999"}, Releases: []string{"noble", "jammy"}}))
	got, err := ss.Select([]ss.Stream{
		{Products: []*ss.Products{a}, Selections: []ss.Selection{{Release: "*"}}},
		{Products: []*ss.Products{b}, Selections: []ss.Selection{{Release: "*"}}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, im := range got {
		wantSource, wantVersion := 0, "20250101"
		if im.Release == "jammy" {
			wantSource, wantVersion = 1, "20259999"
		}
		if im.Source != wantSource || im.VersionName != wantVersion {
			t.Errorf("%v: got source %d version %s, want source %d version %s", im.Image, im.Source, im.VersionName, wantSource, wantVersion)
		}
	}
	// A source whose selections exclude an image leaves it to the next.
	got, _ = ss.Select([]ss.Stream{
		{Products: []*ss.Products{a}, Selections: []ss.Selection{{Release: "jammy"}}},
		{Products: []*ss.Products{b}, Selections: []ss.Selection{{Release: "noble"}}},
	}, nil)
	for _, im := range got {
		if im.Source != 1 {
			t.Errorf("%v: got source %d, want 1", im.Image, im.Source)
		}
	}
	// No selections select nothing.
	if _, err := ss.Select([]ss.Stream{{Products: []*ss.Products{a}}}, nil); !errors.Is(err, ss.ErrNothingSelected) {
		t.Errorf("no selections: got %v, want ErrNothingSelected", err)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, doc string
		want      error
	}{
		{"not json", `{`, ss.ErrInvalid},
		{"wrong format", `{"format": "index:1.0", "products": {}}`, ss.ErrInvalid},
		{"products not an object", `{"format": "products:1.0", "products": []}`, ss.ErrInvalid},
		{"versions wrong type", `{"format": "products:1.0", "products": {"p": {"versions": "x"}}}`, ss.ErrInvalid},
		{"unsafe path", `{"format": "products:1.0", "products": {"p": {"versions": {"1": {"items": {"k": {"path": "../../etc/shadow", "size": 1, "sha256": "` + strings.Repeat("a", 64) + `"}}}}}}}`, ss.ErrUnsafePath},
		{"unsafe arch", `{"format": "products:1.0", "products": {"p": {"arch": "../x", "versions": {}}}}`, ss.ErrUnsafePath},
		{"unsafe release", `{"format": "products:1.0", "release": "a/b", "products": {"p": {"versions": {}}}}`, ss.ErrUnsafePath},
		{"duplicate product", `{"format": "products:1.0", "products": {"p": {}, "p": {}}}`, ss.ErrInvalid},
		{"duplicate attribute", `{"format": "products:1.0", "products": {"p": {"arch": "amd64", "arch": "../x"}}}`, ss.ErrInvalid},
		{"deep nesting", `{"format": "products:1.0", "x": ` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`, ss.ErrInvalid},
		{"trailing data", `{"format": "products:1.0", "products": {}} {}`, ss.ErrInvalid},
		{"bad number", `{"format": "products:1.0", "products": {"p": {"versions": {"1": {"items": {"k": {"size": 1e}}}}}}}`, ss.ErrInvalid},
		{"invalid utf-8", "{\"format\": \"products:1.0\", \"products\": {\"\xff\": {}}}", ss.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ss.ParseProducts([]byte(tt.doc))
			if !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
	for _, doc := range []string{`[]`, `{"format": "products:1.0"}`, `{"format": "index:1.0", "index": {"c": {"format": "products:1.0", "path": "/abs"}}}`} {
		if _, err := ss.ParseIndex([]byte(doc)); err == nil {
			t.Errorf("ParseIndex(%s): got no error", doc)
		}
	}
}

func TestParseIndex(t *testing.T) {
	tree, err := streamtest.Write(t.TempDir(), streamtest.MAAS(streamtest.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(tree.Dir, tree.Index))
	ix, err := ss.ParseIndex(b)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{streamtest.ContentID}, ix.ContentIDs()); d != "" {
		t.Error(d)
	}
	if e := ix.Index[streamtest.ContentID]; e.Path != tree.Products || len(e.Products) != 2 {
		t.Errorf("entry %+v", e)
	}
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
}

func TestParseEscapes(t *testing.T) {
	p, err := ss.ParseProducts([]byte(`{"format": "products:1.0", "content_id": "c\u00e9\n\"\\\/\ud83d\ude00", "products": {}, "n": -0.5e+3, "b": true}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := "c\u00e9\n\"\\/\U0001F600"; p.ContentID != want {
		t.Errorf("got %q, want %q", p.ContentID, want)
	}
}

func TestSelectBootloaders(t *testing.T) {
	spec := streamtest.Spec{Products: streamtest.Bootloaders("20250101")}
	spec.Products = append(spec.Products, streamtest.Bootloader("pxelinux", "pxe", "i386", "i386,amd64", "20240101", streamtest.Archive{Name: "pxelinux"}))
	spec.Products[len(spec.Products)-1].Name += ":old" // an older product claiming the same type and arch
	p := products(t, spec)
	names := func(arches ...string) []string {
		var out []string
		for _, b := range ss.SelectBootloaders([]ss.Stream{{Products: []*ss.Products{p}}}, arches, nil) {
			out = append(out, fmt.Sprintf("%s/%s/%s@%s", b.Bootloader, b.Arch, b.OS, b.VersionName))
			if b.Subarch != "generic" || b.Release != b.Bootloader || len(b.Items) == 0 {
				t.Errorf("bootloader %+v", b)
			}
			// Every archive of the version, in item-name order.
			var items []string
			for _, it := range b.Items {
				items = append(items, it.Name)
			}
			want := map[string][]string{"pxe": {"pxelinux", "syslinux-common"}, "uefi": {"grub2-signed", "shim-signed"}, "open-firmware": {"grub2"}}
			if d := cmp.Diff(want[b.Bootloader], items); d != "" {
				t.Errorf("%s items (-want +got):\n%s", b.ProductName, d)
			}
		}
		return out
	}
	if d := cmp.Diff([]string{"uefi/amd64/grub-efi-signed@20250101", "pxe/i386/pxelinux@20250101"}, names("amd64")); d != "" {
		t.Errorf("amd64 (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"pxe/i386/pxelinux@20250101"}, names("i386")); d != "" {
		t.Errorf("i386 (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"uefi/arm64/grub-efi-signed@20250101"}, names("arm64")); d != "" {
		t.Errorf("arm64 (-want +got):\n%s", d)
	}
	if got := names("s390x"); got != nil {
		t.Errorf("s390x: got %v, want none", got)
	}
	if d := cmp.Diff([]string{"open-firmware/ppc64el/grub-ieee1275@20250101"}, names("ppc64el")); d != "" {
		t.Errorf("ppc64el (-want +got):\n%s", d)
	}
	// Bootloader products are never boot images.
	if _, err := ss.Select([]ss.Stream{{Products: []*ss.Products{p}, Selections: []ss.Selection{{}}}}, nil); !errors.Is(err, ss.ErrNothingSelected) {
		t.Errorf("Select over bootloaders: got %v", err)
	}
	// Across sources the first wins, even over a newer version later.
	newer := products(t, streamtest.Spec{Products: streamtest.Bootloaders("20260101")})
	for _, order := range [][]*ss.Products{{p, newer}, {newer, p}} {
		got := ss.SelectBootloaders([]ss.Stream{{Products: []*ss.Products{order[0]}}, {Products: []*ss.Products{order[1]}}}, []string{"amd64"}, nil)
		want := "20250101"
		if order[0] == newer {
			want = "20260101"
		}
		for _, b := range got {
			if b.VersionName != want || b.Source != 0 {
				t.Errorf("sources in order %s first: got %s/%s@%s from source %d", want, b.Bootloader, b.Arch, b.VersionName, b.Source)
			}
		}
		if len(got) != 2 {
			t.Errorf("got %d bootloaders, want 2", len(got))
		}
	}
}

// TestParseEscapesAsEncodingJSON: strings decode as encoding/json decodes
// them, lone surrogates too, and a broken escape is refused as it is.
func TestParseEscapesAsEncodingJSON(t *testing.T) {
	for _, s := range []string{`\ud83d\ude00`, `\ud83d\u0041`, `\ud83dA`, `\ud83d`, `\ude00\ud83d`, `\ud83d\ud83d\ude00`, `a\u00e9\n`,
		`\ud83d\u bde00`, `\ud83d\u12`, `\x`} {
		doc := `{"format": "products:1.0", "content_id": "` + s + `", "products": {}}`
		var want struct {
			ContentID string `json:"content_id"`
		}
		wantErr := json.Unmarshal([]byte(doc), &want)
		p, err := ss.ParseProducts([]byte(doc))
		switch {
		case (err != nil) != (wantErr != nil):
			t.Errorf("%s: got error %v, encoding/json %v", s, err, wantErr)
		case err == nil && p.ContentID != want.ContentID:
			t.Errorf("%s: got %q, encoding/json %q", s, p.ContentID, want.ContentID)
		}
	}
}
