package simplestreams_test

import (
	"errors"
	"path/filepath"
	"testing"

	ss "maas-import-boot-images/simplestreams"
)

func TestLocateMore(t *testing.T) {
	tests := []struct {
		in, root, index string
	}{
		{"file://localhost/srv/m", "/srv/m/", "streams/v1/index.sjson"},
		{"mirror", "mirror/", "streams/v1/index.sjson"},
		{"./streams/v1/index.json", "./", "streams/v1/index.json"},
		{"streams/v1/index.sjson", "./", "streams/v1/index.sjson"},
		{"/srv/m/streams/v1/sub/x.json", "/srv/m/streams/v1/sub/x.json/", "streams/v1/index.sjson"},
		{"/srv/m/notstreams/v1/index.json", "/srv/m/notstreams/v1/index.json/", "streams/v1/index.sjson"},
		{"http://h:8080/a%20b/streams/v1/index.json?x=1#f", "http://h:8080/a%20b/", "streams/v1/index.json"},
		{"HTTP://h/m", "http://h/m/", "streams/v1/index.sjson"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			l, err := ss.Locate(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if l.Root != filepath.FromSlash(tt.root) || l.Index != tt.index {
				t.Errorf("got root %q index %q, want %q %q", l.Root, l.Index, tt.root, tt.index)
			}
		})
	}
	for _, bad := range []string{"file:rel", "file://", "file://elsewhere/srv", "gopher://h/", "http://h/\x00", "\xff"} {
		if _, err := ss.Locate(bad); err == nil {
			t.Errorf("Locate(%q): got no error", bad)
		}
	}
}

func TestResolveLocal(t *testing.T) {
	l, err := ss.Locate("/srv/mirror")
	if err != nil {
		t.Fatal(err)
	}
	got, err := l.Resolve("streams/v1/index.sjson")
	if want := filepath.FromSlash("/srv/mirror/streams/v1/index.sjson"); err != nil || got != want {
		t.Errorf("got %q, %v; want %q", got, err, want)
	}
	if l.IsURL() {
		t.Error("a local root says it is a URL")
	}
	for _, p := range []string{"/etc/passwd", "a/../../b", `a\b`, ""} {
		if _, err := l.Resolve(p); !errors.Is(err, ss.ErrUnsafePath) {
			t.Errorf("Resolve(%q): got %v, want ErrUnsafePath", p, err)
		}
	}
}
