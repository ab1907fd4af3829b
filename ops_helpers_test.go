package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"maas-import-boot-images/simplestreams/streamtest"
)

// opsMirror serves the streams of the operations tests (status, metrics,
// rollback, the rate cap, progress): one of several trees, switchable,
// through a hook that may answer a request itself, with payloads that
// can drip.
type opsMirror struct {
	*httptest.Server
	dirs     []string
	which    atomic.Int32
	drip     atomic.Bool
	payloads chan struct{} // one token per payload request, when not full
}

// newOpsMirror serves dirs (the first until which is changed); hook, when
// not nil, sees each request first and may answer it (returning true).
func newOpsMirror(t *testing.T, hook func(w http.ResponseWriter, r *http.Request) bool, dirs ...string) *opsMirror {
	m := &opsMirror{dirs: dirs, payloads: make(chan struct{}, 1)}
	var files []http.Handler
	for _, d := range dirs {
		files = append(files, http.FileServer(http.Dir(d)))
	}
	m.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hook != nil && hook(w, r) {
			return
		}
		if !strings.HasPrefix(r.URL.Path, "/streams/") {
			select {
			case m.payloads <- struct{}{}:
			default:
			}
			if m.drip.Load() {
				w.Header().Set("Content-Type", "application/octet-stream")
				w.WriteHeader(http.StatusOK)
				for i := 0; i < 100 && r.Context().Err() == nil; i++ {
					w.Write([]byte{0})
					w.(http.Flusher).Flush()
					time.Sleep(100 * time.Millisecond)
				}
				return
			}
		}
		files[m.which.Load()].ServeHTTP(w, r)
	}))
	t.Cleanup(m.Close)
	return m
}

// opsDemo serves the demo stream.
func opsDemo(t *testing.T, hook func(w http.ResponseWriter, r *http.Request) bool) *opsMirror {
	return newOpsMirror(t, hook, "testdata/demo")
}

// opsStreams writes a stream for each spec and serves them.
func opsStreams(t *testing.T, specs ...streamtest.Spec) *opsMirror {
	var dirs []string
	for _, spec := range specs {
		dir := t.TempDir()
		if _, err := streamtest.Write(dir, spec); err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, dir)
	}
	return newOpsMirror(t, nil, dirs...)
}

// demoSources writes a sources file for the demo stream m serves, with
// the demo keyring and one selection (a YAML flow mapping).
func (m *opsMirror) demoSources(t *testing.T, selection string) string {
	return sourcesFile(t, "- url: "+m.URL+"/\n  keyring: "+keyringFile(t)+"\n  selections: ["+selection+"]\n")
}

// streamSources writes a sources file for the generated streams m serves,
// selecting everything.
func (m *opsMirror) streamSources(t *testing.T) string {
	return sourcesFile(t, "- url: "+m.URL+"/\n  keyring_data: "+b64(streamtest.Keyring(streamtest.Key()))+"\n  selections: [{release: '*'}]\n")
}

// missingSources writes a sources file for a stream that m does not have
// (HTTP 404).
func (m *opsMirror) missingSources(t *testing.T) string {
	return sourcesFile(t, "- url: "+m.URL+"/nowhere/\n  keyring: "+keyringFile(t)+"\n  selections: [{release: noble}]\n")
}
