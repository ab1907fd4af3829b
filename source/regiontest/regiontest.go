// Package regiontest is a fake MAAS region controller for tests: a real
// HTTP server that answers the per-cluster and the 2.0 boot-sources
// endpoints, checks the OAuth header and injects faults.
package regiontest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// Source is one boot source the region knows.
type Source struct {
	URL             string           `json:"url"`
	KeyringFilename string           `json:"keyring_filename"`
	KeyringData     string           `json:"keyring_data"`
	Selections      []map[string]any `json:"-"`
}

// Options configure the fake region.
type Options struct {
	Cluster string   // the cluster UUID it knows
	Key     string   // consumer:token:secret it accepts; "" accepts anonymous requests
	Sources []Source // what it answers
	// Embed answers selections inside each source (the per-cluster shape);
	// otherwise they come from resource_uri + "selections/".
	Embed bool
	// Fault, when set, may answer a request itself (returning true).
	Fault func(w http.ResponseWriter, r *http.Request) bool
}

// Region is a running fake region.
type Region struct {
	srv  *httptest.Server
	opts Options

	mu       sync.Mutex
	requests []Request
}

// Request is what the region saw of one request.
type Request struct {
	Path          string
	Authorization string
	OAuth         map[string]string // parsed Authorization parameters
}

// New starts a fake region; it stops when the test ends.
func New(t testing.TB, opts Options) *Region {
	r := &Region{opts: opts}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

// URL is the region's MAAS URL (with the /MAAS path).
func (r *Region) URL() string { return r.srv.URL + "/MAAS" }

// Requests returns what the region saw so far.
func (r *Region) Requests() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Request(nil), r.requests...)
}

// ParseOAuth parses an OAuth Authorization header into its parameters,
// percent-decoded; nil when it is not one.
func ParseOAuth(h string) map[string]string {
	rest, ok := strings.CutPrefix(h, "OAuth ")
	if !ok {
		return nil
	}
	m := map[string]string{}
	for _, part := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
			return nil
		}
		m[k] = unescape(v[1 : len(v)-1])
	}
	return m
}

func unescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			var c byte
			fmt.Sscanf(s[i+1:i+3], "%02X", &c)
			b.WriteByte(c)
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func (r *Region) authorized(o map[string]string) bool {
	if r.opts.Key == "" {
		return true
	}
	parts := strings.Split(r.opts.Key, ":")
	return o != nil && o["oauth_version"] == "1.0" && o["oauth_signature_method"] == "PLAINTEXT" &&
		o["oauth_consumer_key"] == parts[0] && o["oauth_token"] == parts[1] &&
		o["oauth_signature"] == "&"+parts[2] && o["oauth_nonce"] != "" && o["oauth_timestamp"] != "" && o["realm"] == ""
}

func (r *Region) serve(w http.ResponseWriter, req *http.Request) {
	auth := req.Header.Get("Authorization")
	o := ParseOAuth(auth)
	r.mu.Lock()
	r.requests = append(r.requests, Request{Path: req.URL.Path, Authorization: auth, OAuth: o})
	r.mu.Unlock()
	if r.opts.Fault != nil && r.opts.Fault(w, req) {
		return
	}
	if !r.authorized(o) {
		http.Error(w, "Authorization Required", http.StatusUnauthorized)
		return
	}
	p := strings.TrimPrefix(req.URL.Path, "/MAAS/")
	switch {
	case strings.HasPrefix(p, "api/1.0/nodegroups/"):
		uuid := strings.TrimSuffix(strings.TrimPrefix(p, "api/1.0/nodegroups/"), "/boot-sources/")
		if uuid != r.opts.Cluster || !strings.HasSuffix(p, "/boot-sources/") {
			http.NotFound(w, req)
			return
		}
		r.writeSources(w)
	case p == "api/2.0/boot-sources/":
		r.writeSources(w)
	case strings.HasPrefix(p, "api/2.0/boot-sources/") && strings.HasSuffix(p, "/selections/"):
		var id int
		if _, err := fmt.Sscanf(p, "api/2.0/boot-sources/%d/selections/", &id); err != nil || id < 1 || id > len(r.opts.Sources) {
			http.NotFound(w, req)
			return
		}
		sels := []map[string]any{}
		for i, s := range r.opts.Sources[id-1].Selections {
			m := map[string]any{"id": i + 1, "boot_source_id": id, "resource_uri": fmt.Sprintf("/MAAS/api/2.0/boot-sources/%d/selections/%d/", id, i+1)}
			for k, v := range s {
				m[k] = v
			}
			sels = append(sels, m)
		}
		writeJSON(w, sels)
	default:
		http.NotFound(w, req)
	}
}

func (r *Region) writeSources(w http.ResponseWriter) {
	out := []map[string]any{}
	for i, s := range r.opts.Sources {
		m := map[string]any{"url": s.URL, "keyring_filename": s.KeyringFilename, "keyring_data": s.KeyringData}
		if r.opts.Embed {
			m["selections"] = s.Selections
		} else {
			m["id"] = i + 1
			m["resource_uri"] = fmt.Sprintf("/MAAS/api/2.0/boot-sources/%d/", i+1)
			m["created"] = "2026-01-05T10:11:12"
		}
		out = append(out, m)
	}
	writeJSON(w, out)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
