package redact

import (
	"strings"
	"testing"
)

func TestURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://user:secret@mirror/streams/v1/index.sjson": "http://mirror/streams/v1/index.sjson",
		"http://mirror/a":                      "http://mirror/a",
		"http://user:secret@mirror/%zz":        "http://mirror/%zz", // does not parse
		"http://user:se@cret@mirror:80/x?y#z%": "http://mirror:80/x?y#z%",
		"/srv/mirror/":                         "/srv/mirror/",
	} {
		got := URL(in)
		if got != want || strings.Contains(got, "secret") || strings.Contains(got, "cret") {
			t.Errorf("URL(%q) = %q, want %q", in, got, want)
		}
	}
}
