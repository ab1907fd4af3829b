// Package redact drops credentials from URLs before they reach a message.
package redact

import (
	"net/url"
	"strings"
)

// URL returns s without the user and password of its authority. A string
// that does not parse as a URL loses everything before the last "@" of
// what would be its authority, so that a password never survives a bad
// escape elsewhere in the URL.
func URL(s string) string {
	if u, err := url.Parse(s); err == nil {
		u.User = nil
		return u.String()
	}
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return s
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	if at := strings.LastIndex(rest[:end], "@"); at >= 0 {
		rest = rest[at+1:]
	}
	return scheme + "://" + rest
}
