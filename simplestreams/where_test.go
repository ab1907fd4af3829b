package simplestreams_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	ss "maas-import-boot-images/simplestreams"
)

// TestParseErrorsSayWhere checks that type errors name the product, version
// and item they are in.
func TestParseErrorsSayWhere(t *testing.T) {
	sha := strings.Repeat("a", 64)
	tests := []struct {
		name, doc string
		want      error
		where     string
	}{
		{"arch is an object", `{"format": "products:1.0", "products": {"p1": {"arch": {"x": 1}}}}`,
			ss.ErrInvalid, "product p1: "},
		{"versions is a list", `{"format": "products:1.0", "products": {"p1": {"versions": []}}}`,
			ss.ErrInvalid, "product p1: "},
		{"items is a string", `{"format": "products:1.0", "products": {"p1": {"versions": {"v1": {"items": "x"}}}}}`,
			ss.ErrInvalid, "product p1 version v1: "},
		{"item is a number", `{"format": "products:1.0", "products": {"p1": {"versions": {"v1": {"items": {"i1": 5}}}}}}`,
			ss.ErrInvalid, "product p1 version v1 item i1: "},
		{"size is a list", `{"format": "products:1.0", "products": {"p1": {"versions": {"v1": {"items": {"i1": {"size": [1]}}}}}}}`,
			ss.ErrInvalid, "product p1 version v1 item i1: "},
		{"path is an object", `{"format": "products:1.0", "products": {"p1": {"versions": {"v1": {"items": {"i1": {"path": {}}}}}}}}`,
			ss.ErrInvalid, "product p1 version v1 item i1: "},
		{"content_id is a list", `{"format": "products:1.0", "content_id": [], "products": {}}`,
			ss.ErrInvalid, "products file: "},
		{"unsafe item path", `{"format": "products:1.0", "products": {"p1": {"versions": {"v1": {"items": {"i1": {"path": "a//b", "size": 1, "sha256": "` + sha + `"}}}}}}}`,
			ss.ErrUnsafePath, "product p1 version v1 item i1: "},
		{"unsafe inherited path", `{"format": "products:1.0", "products": {"p1": {"versions": {"v1": {"path": "/etc/passwd", "items": {"i1": {"size": 1, "sha256": "` + sha + `"}}}}}}}`,
			ss.ErrUnsafePath, "product p1 version v1 item i1: "},
		{"unsafe label", `{"format": "products:1.0", "products": {"p1": {"label": "..", "versions": {}}}}`,
			ss.ErrUnsafePath, "product p1: "},
		{"unsafe os", `{"format": "products:1.0", "products": {"p1": {"os": "a\\b", "versions": {}}}}`,
			ss.ErrUnsafePath, "product p1: "},
		{"unsafe subarch", `{"format": "products:1.0", "products": {"p1": {"subarch": "x/y", "versions": {}}}}`,
			ss.ErrUnsafePath, "product p1: "},
		{"unsafe fan-out subarch", `{"format": "products:1.0", "products": {"p1": {"subarches": "generic, ../../etc", "versions": {}}}}`,
			ss.ErrUnsafePath, "product p1: "},
		{"unsafe inherited subarches", `{"format": "products:1.0", "subarches": "a,b/c", "products": {"p1": {"versions": {}}}}`,
			ss.ErrUnsafePath, "product p1: "},
		{"unsafe bootloader-type", `{"format": "products:1.0", "products": {"p1": {"bootloader-type": "..", "versions": {}}}}`,
			ss.ErrUnsafePath, "product p1: "},
		{"unsafe kflavor", `{"format": "products:1.0", "products": {"p1": {"kflavor": "../k", "versions": {}}}}`,
			ss.ErrUnsafePath, "product p1: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ss.ParseProducts([]byte(tt.doc))
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.where) {
				t.Errorf("error %q does not say %q", err, tt.where)
			}
		})
	}
}

// TestIncompleteIsNotAnError: items without a valid size or checksum make
// their version incomplete; the file still parses.
func TestIncompleteIsNotAnError(t *testing.T) {
	sha := strings.Repeat("b", 64)
	for name, item := range map[string]string{
		"no size":         `{"path": "k", "sha256": "` + sha + `"}`,
		"float size":      `{"path": "k", "size": 1.5, "sha256": "` + sha + `"}`,
		"negative size":   `{"path": "k", "size": -1, "sha256": "` + sha + `"}`,
		"no sha256":       `{"path": "k", "size": 1}`,
		"short sha256":    `{"path": "k", "size": 1, "sha256": "abc"}`,
		"upper sha256":    `{"path": "k", "size": 1, "sha256": "` + strings.ToUpper(sha) + `"}`,
		"bad sha512":      `{"path": "k", "size": 1, "sha256": "` + sha + `", "sha512": "xyz"}`,
		"null sha256":     `{"path": "k", "size": 1, "sha256": null}`,
		"numeric sha256":  `{"path": "k", "size": 1, "sha256": 12}`,
		"string not hex":  `{"path": "k", "size": 1, "sha256": "` + strings.Repeat("g", 64) + `"}`,
		"size is boolean": `{"path": "k", "size": true, "sha256": "` + sha + `"}`,
		"size is string":  `{"path": "k", "size": "13", "sha256": "` + sha + `"}`,
	} {
		t.Run(name, func(t *testing.T) {
			doc := `{"format": "products:1.0", "products": {"p": {"arch": "amd64", "release": "noble", "label": "stable", "subarch": "ga-24.04",
				"versions": {"1": {"items": {"k": ` + item + `}}}}}}`
			p, err := ss.ParseProducts([]byte(doc))
			if err != nil {
				t.Fatalf("got %v, want no parse error", err)
			}
			if _, err := ss.Select([]ss.Stream{{Products: []*ss.Products{p}, Selections: []ss.Selection{{}}}}, nil); !errors.Is(err, ss.ErrNothingSelected) {
				t.Errorf("Select: got %v, want ErrNothingSelected (the only version is incomplete)", err)
			}
		})
	}
}

func TestParseIndexErrors(t *testing.T) {
	tests := []struct {
		name, doc string
		want      error
	}{
		{"not json", `{"format": "index:1.0"`, ss.ErrInvalid},
		{"a list", `[]`, ss.ErrInvalid},
		{"wrong format", `{"format": "products:1.0", "index": {}}`, ss.ErrInvalid},
		{"no format", `{"index": {}}`, ss.ErrInvalid},
		{"index is a list", `{"format": "index:1.0", "index": []}`, ss.ErrInvalid},
		{"products is a string", `{"format": "index:1.0", "index": {"c": {"format": "products:1.0", "path": "p", "products": "x"}}}`, ss.ErrInvalid},
		{"path is a number", `{"format": "index:1.0", "index": {"c": {"format": "products:1.0", "path": 5}}}`, ss.ErrInvalid},
		{"duplicate content id", `{"format": "index:1.0", "index": {"c": {"format": "products:1.0", "path": "a"}, "c": {"format": "products:1.0", "path": "b"}}}`, ss.ErrInvalid},
		{"duplicate format", `{"format": "index:1.0", "format": "index:1.0", "index": {}}`, ss.ErrInvalid},
		{"invalid utf-8", "{\"format\": \"index:1.0\", \"index\": {\"\xfe\": {}}}", ss.ErrInvalid},
		{"trailing data", `{"format": "index:1.0", "index": {}} x`, ss.ErrInvalid},
		{"absolute path", `{"format": "index:1.0", "index": {"c": {"format": "products:1.0", "path": "/etc/passwd"}}}`, ss.ErrUnsafePath},
		{"dot-dot path", `{"format": "index:1.0", "index": {"c": {"format": "products:1.0", "path": "streams/../../x.json"}}}`, ss.ErrUnsafePath},
		{"backslash path", `{"format": "index:1.0", "index": {"c": {"format": "products:1.0", "path": "streams\\v1\\x.json"}}}`, ss.ErrUnsafePath},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ss.ParseIndex([]byte(tt.doc)); !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
	// Entries of other formats are kept but not checked or listed.
	ix, err := ss.ParseIndex([]byte(`{"format": "index:1.0", "index": {"c": {"format": "products:1.0", "path": "a.json", "datatype": "image-ids"}, "m": {"format": "mirrors:1.0", "path": "/x"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if ids := ix.ContentIDs(); len(ids) != 1 || ids[0] != "c" {
		t.Errorf("got content ids %v, want [c]", ids)
	}
}

// TestVersionAttributes: attributes inherit top → product → version → item,
// deeper winning, for what makes the image too; the items of one version
// must agree on it, and unsafe values are refused at any level.
func TestVersionAttributes(t *testing.T) {
	sha := strings.Repeat("b", 64)
	doc := func(version, item string) []byte {
		return []byte(`{"format": "products:1.0", "label": "stable", "products": {"p": {"arch": "amd64", "release": "noble", "subarch": "ga-24.04",
			"versions": {"1": {` + version + `"items": {"k": {"path": "k", "size": 1, "sha256": "` + sha + `"` + item + `}}}}}}}`)
	}
	sel := func(t *testing.T, b []byte) ([]ss.BootImage, error) {
		t.Helper()
		p, err := ss.ParseProducts(b)
		if err != nil {
			return nil, err
		}
		return ss.Select([]ss.Stream{{Products: []*ss.Products{p}, Selections: []ss.Selection{{}}}}, nil)
	}
	got, err := sel(t, doc(`"label": "candidate", "subarch": "hwe-24.04", `, ``))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Label != "candidate" || got[0].Subarch != "hwe-24.04" {
		t.Errorf("version attributes: got %+v, want label candidate, subarch hwe-24.04", got)
	}
	// An item may repeat its version's identity, not contradict it.
	if _, err := sel(t, doc(``, `, "label": "stable"`)); err != nil {
		t.Errorf("item repeating the label: %v", err)
	}
	// One contradicting it makes the version unusable, like an incomplete
	// one: here the only version, so nothing is selected.
	if _, err := sel(t, doc(``, `, "label": "daily"`)); !errors.Is(err, ss.ErrNothingSelected) {
		t.Errorf("item contradicting the label: got %v, want the version skipped", err)
	}
	if _, err := sel(t, doc(`"label": "../x", `, ``)); !errors.Is(err, ss.ErrUnsafePath) {
		t.Errorf("unsafe version label: got %v, want ErrUnsafePath", err)
	}
}

// TestItemFieldsInherit: an item takes a field it lacks from its version,
// else its product, else the top level.
func TestItemFieldsInherit(t *testing.T) {
	sha := strings.Repeat("c", 64)
	doc := `{"format": "products:1.0", "ftype": "from-top", "products": {"p": {"arch": "amd64", "release": "noble", "label": "stable", "subarch": "ga-24.04", "sha256": "` + sha + `",
		"versions": {"1": {"size": 7, "items": {
			"a": {"path": "a"},
			"b": {"path": "b", "ftype": "own", "size": 9}}}}}}}`
	p, err := ss.ParseProducts([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	got, err := ss.Select([]ss.Stream{{Products: []*ss.Products{p}, Selections: []ss.Selection{{}}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []ss.File{{Name: "a", FType: "from-top", Path: "a", Size: 7, SHA256: sha}, {Name: "b", FType: "own", Path: "b", Size: 9, SHA256: sha}}
	if len(got) != 1 {
		t.Fatalf("got %d images", len(got))
	}
	if d := cmp.Diff(want, got[0].Items); d != "" {
		t.Errorf("items (-want +got):\n%s", d)
	}
}

// TestNothingSelectedSaysWhatIsOffered: the error for an empty selection
// lists what the streams offer, grouped, and is still ErrNothingSelected.
func TestNothingSelectedSaysWhatIsOffered(t *testing.T) {
	sha := strings.Repeat("d", 64)
	prod := func(arch, release string) string {
		return `"p-` + arch + `-` + release + `": {"arch": "` + arch + `", "release": "` + release + `", "label": "stable", "subarch": "ga", "subarches": "ga,generic",
			"versions": {"1": {"items": {"k": {"path": "k", "size": 1, "sha256": "` + sha + `"}}}}}`
	}
	doc := `{"format": "products:1.0", "products": {` + prod("amd64", "noble") + `, ` + prod("amd64", "jammy") + `, ` + prod("arm64", "noble") + `}}`
	p, err := ss.ParseProducts([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	_, err = ss.Select([]ss.Stream{{Products: []*ss.Products{p}, Selections: []ss.Selection{{Release: "focal"}}}}, nil)
	want := "no image matches the selections; the streams offer ubuntu/amd64 jammy, noble (stable); ubuntu/arm64 noble (stable)"
	if !errors.Is(err, ss.ErrNothingSelected) || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
}
