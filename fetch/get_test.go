package fetch

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"maas-import-boot-images/cache"
)

// payload is a test file and its description.
func payload(url string) ([]byte, File) {
	b := bytes.Repeat([]byte("0123456789abcdef"), 4096)
	sum := sha256.Sum256(b)
	return b, File{SHA256: hex.EncodeToString(sum[:]), Size: int64(len(b)), URL: url + "/f", Name: "f"}
}

// server answers with handle, recording each request's Range header.
type server struct {
	*httptest.Server
	mu     sync.Mutex
	ranges []string
}

func newServer(t *testing.T, handle func(w http.ResponseWriter, r *http.Request, n int)) *server {
	s := &server{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.ranges = append(s.ranges, r.Header.Get("Range"))
		n := len(s.ranges)
		s.mu.Unlock()
		handle(w, r, n)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.ranges...)
}

// testClient retries quickly.
func testClient(retries int) *Client {
	c := New(Options{Timeout: 300 * time.Millisecond, Retries: retries})
	c.policy.waitMin, c.policy.waitMax = time.Millisecond, 10*time.Millisecond
	return c
}

func serveFile(w http.ResponseWriter, r *http.Request, b []byte) {
	http.ServeContent(w, r, "f", time.Time{}, bytes.NewReader(b))
}

// TestGetResumes: a .part left by an earlier run is resumed with Range,
// and only the rest is fetched.
func TestGetResumes(t *testing.T) {
	var b []byte
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request, _ int) { serveFile(w, r, b) })
	b, f := payload(srv.URL)
	d := cache.New(t.TempDir())
	os.WriteFile(d.Path(f.SHA256+".part"), b[:1000], 0o644)
	c := testClient(0)
	if err := c.Get(t.Context(), f, d); err != nil {
		t.Fatal(err)
	}
	if !d.Has(f.SHA256, f.Size) {
		t.Fatal("not in the cache")
	}
	if got := srv.requests(); len(got) != 1 || got[0] != "bytes=1000-" {
		t.Errorf("requests with Range %q, want one from 1000", got)
	}
	if c.Received() != f.Size-1000 {
		t.Errorf("received %d bytes, want %d", c.Received(), f.Size-1000)
	}
}

// TestRetryPolicy: how many attempts each failure gets, and what it ends
// in.
func TestRetryPolicy(t *testing.T) {
	tests := []struct {
		name     string
		retries  int
		handle   func(w http.ResponseWriter, r *http.Request, n int, b []byte)
		attempts int
		want     func(error) bool
	}{
		{"500 forever", 2, func(w http.ResponseWriter, r *http.Request, n int, b []byte) { w.WriteHeader(500) },
			3, func(err error) bool { var e *Error; return errors.As(err, &e) && e.Status == 500 }},
		{"404 is not retried", 2, func(w http.ResponseWriter, r *http.Request, n int, b []byte) { http.NotFound(w, r) },
			1, func(err error) bool { var e *Error; return errors.As(err, &e) && e.Status == 404 }},
		{"503 twice, then the file", 2, func(w http.ResponseWriter, r *http.Request, n int, b []byte) {
			if n <= 2 {
				w.WriteHeader(503)
				return
			}
			serveFile(w, r, b)
		}, 3, nil},
		{"a body that breaks before its first byte", 2, func(w http.ResponseWriter, r *http.Request, n int, b []byte) {
			w.Header().Set("Content-Length", strconv.Itoa(len(b)))
			w.WriteHeader(200)
			panic(http.ErrAbortHandler)
		}, 3, func(err error) bool { var e *Error; return errors.As(err, &e) && e.Status == 0 }},
		{"a body that breaks after new bytes every time", 0, func(w http.ResponseWriter, r *http.Request, n int, b []byte) {
			// A sixth of the file per answer: never whole, always progress.
			from := 0
			if rg := r.Header.Get("Range"); rg != "" {
				from, _ = strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(rg, "bytes="), "-"))
				w.Header().Set("Content-Range", "bytes "+strconv.Itoa(from)+"-"+strconv.Itoa(len(b)-1)+"/"+strconv.Itoa(len(b)))
				w.Header().Set("Content-Length", strconv.Itoa(len(b)-from))
				w.WriteHeader(206)
			} else {
				w.Header().Set("Content-Length", strconv.Itoa(len(b)))
				w.WriteHeader(200)
			}
			end := min(from+len(b)/6+1, len(b))
			w.Write(b[from:end])
			if end < len(b) {
				panic(http.ErrAbortHandler)
			}
		}, 6, nil},
		{"wrong bytes: fetched once more, then refused", 5, func(w http.ResponseWriter, r *http.Request, n int, b []byte) {
			w.Write(bytes.Repeat([]byte("x"), len(b)))
		}, 2, func(err error) bool { var e *ChecksumError; return errors.As(err, &e) && e.What == "sha256" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b []byte
			srv := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) { tt.handle(w, r, n, b) })
			b, f := payload(srv.URL)
			d := cache.New(t.TempDir())
			err := testClient(tt.retries).Get(t.Context(), f, d)
			if tt.want == nil && err != nil {
				t.Fatalf("got %v, want the file", err)
			}
			if tt.want != nil && !tt.want(err) {
				t.Fatalf("got %v (%T)", err, err)
			}
			if got := len(srv.requests()); got != tt.attempts {
				t.Errorf("%d requests, want %d", got, tt.attempts)
			}
			if tt.want == nil && !d.Has(f.SHA256, f.Size) {
				t.Error("not in the cache")
			}
		})
	}
}

// TestMetadataCap: a metadata file over the cap is refused at once.
func TestMetadataCap(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		chunk := make([]byte, 1<<20)
		for range MaxMetadata>>20 + 2 {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	// A long stall timeout: reading 64 MiB under -race is slow.
	c := New(Options{Timeout: 10 * time.Second, Retries: 3})
	_, err := c.Metadata(t.Context(), srv.URL+"/index.json")
	var e *Error
	if !errors.As(err, &e) || !strings.Contains(err.Error(), "larger than 64 MiB") {
		t.Fatalf("got %v, want an *Error about the size", err)
	}
	if n := len(srv.requests()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}
