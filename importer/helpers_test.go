package importer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"maas-import-boot-images/simplestreams"
	"maas-import-boot-images/simplestreams/streamtest"
)

// mirror is an httptest server that serves a streamtest tree and can
// inject faults.
type mirror struct {
	t      *testing.T
	dir    string
	srv    *httptest.Server
	tree   *streamtest.Tree
	served atomic.Int64 // payload bytes written to clients

	mu       sync.Mutex
	requests []string // paths of payload requests, with " range" when ranged
	fault    func(w http.ResponseWriter, r *http.Request) bool
}

func newMirror(t *testing.T, spec streamtest.Spec) *mirror {
	t.Helper()
	m := &mirror{t: t, dir: t.TempDir()}
	m.write(spec)
	files := http.FileServer(http.Dir(m.dir))
	m.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		payload := !strings.HasPrefix(r.URL.Path, "/streams/")
		m.mu.Lock()
		fault := m.fault
		if payload {
			entry := r.URL.Path
			if r.Header.Get("Range") != "" {
				entry += " range"
			}
			m.requests = append(m.requests, entry)
		}
		m.mu.Unlock()
		if fault != nil && fault(w, r) {
			return
		}
		if payload {
			w = &countingWriter{ResponseWriter: w, n: &m.served}
		}
		files.ServeHTTP(w, r)
	}))
	t.Cleanup(m.srv.Close)
	return m
}

// write (re)writes the stream.
func (m *mirror) write(spec streamtest.Spec) {
	m.t.Helper()
	tree, err := streamtest.Write(m.dir, spec)
	if err != nil {
		m.t.Fatal(err)
	}
	m.tree = tree
}

func (m *mirror) setFault(f func(w http.ResponseWriter, r *http.Request) bool) {
	m.mu.Lock()
	m.fault = f
	m.mu.Unlock()
}

func (m *mirror) payloadRequests() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.requests...)
}

func (m *mirror) resetRequests() {
	m.mu.Lock()
	m.requests = nil
	m.mu.Unlock()
	m.served.Store(0)
}

func (m *mirror) source(sels ...simplestreams.Selection) simplestreams.BootSource {
	if len(sels) == 0 {
		sels = []simplestreams.Selection{{}}
	}
	return simplestreams.BootSource{URL: m.srv.URL + "/", KeyringData: streamtest.Keyring(streamtest.Key()), Selections: sels}
}

type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.n.Add(int64(n))
	return n, err
}

func testOptions(storage string) Options {
	return Options{Storage: storage, Timeout: 2 * time.Second, Retries: 3}
}

func run(t *testing.T, srcs []simplestreams.BootSource, opts Options) (*Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return Run(ctx, given(srcs), opts)
}

// given resolves to srcs.
func given(srcs []simplestreams.BootSource) Resolve {
	return func(context.Context) ([]simplestreams.BootSource, error) { return srcs, nil }
}

func mustRun(t *testing.T, srcs []simplestreams.BootSource, opts Options) *Result {
	t.Helper()
	res, err := run(t, srcs, opts)
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	return res
}

// treeState snapshots what a reader of the storage sees: current's target
// and the list of entries, to assert that a failed run changed nothing.
func treeState(t *testing.T, storage string) string {
	t.Helper()
	var b strings.Builder
	target, _ := os.Readlink(filepath.Join(storage, "current"))
	b.WriteString("current -> " + target + "\n")
	_ = filepath.WalkDir(storage, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(storage, p)
		if strings.HasPrefix(rel, "cache"+string(filepath.Separator)) {
			// A failed run may leave verified downloads and .part files
			// (with their segment states) for the next run to reuse;
			// nothing else.
			name := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(filepath.Base(rel), ".segs"), ".part"), ".members")
			if len(name) != 64 {
				b.WriteString("stray " + rel + "\n")
			}
			return nil
		}
		if rel == ".lock" {
			return nil
		}
		b.WriteString(rel + "\n")
		return nil
	})
	return b.String()
}

func sha256File(t *testing.T, p string) string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}
