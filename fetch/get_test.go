package fetch

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"maas-import-boot-images/cache"
	"maas-import-boot-images/simplestreams/streamtest"
)

// testSize is the size of the test file.
const testSize = 64 << 10

// serve serves a test file as /f, through hooks when given, and returns
// its bytes and description.
func serve(t *testing.T, hooks ...streamtest.Hook) (*streamtest.Server, []byte, File) {
	dir := t.TempDir()
	b := bytes.Repeat([]byte("0123456789abcdef"), testSize/16)
	if err := os.WriteFile(filepath.Join(dir, "f"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	srv := streamtest.NewServer(t, dir, hooks...)
	sum := sha256.Sum256(b)
	return srv, b, File{SHA256: hex.EncodeToString(sum[:]), Size: int64(len(b)), URL: srv.URL + "/f", Name: "f"}
}

// testClient retries quickly.
func testClient(retries int) *Client {
	c := New(Options{Timeout: 300 * time.Millisecond, Retries: retries})
	c.policy.waitMin, c.policy.waitMax = time.Millisecond, 10*time.Millisecond
	return c
}

// TestGetResumes: a .part left by an earlier run is resumed with Range,
// and only the rest is fetched.
func TestGetResumes(t *testing.T) {
	srv, b, f := serve(t)
	d := cache.New(t.TempDir())
	os.WriteFile(d.Path(f.SHA256+".part"), b[:1000], 0o644)
	c := testClient(0)
	if err := c.Get(t.Context(), f, d); err != nil {
		t.Fatal(err)
	}
	if !d.Has(f.SHA256, f.Size) {
		t.Fatal("not in the cache")
	}
	if got := srv.Requests(); len(got) != 1 || got[0].Range != "bytes=1000-" {
		t.Errorf("requests %+v, want one with Range bytes=1000-", got)
	}
	if c.Received() != f.Size-1000 {
		t.Errorf("received %d bytes, want %d", c.Received(), f.Size-1000)
	}
}

// TestRetryPolicy: how many attempts each failure gets, and what it ends
// in.
func TestRetryPolicy(t *testing.T) {
	// A sixth of the file per answer: never whole, always progress.
	const sixth = testSize/6 + 1
	tests := []struct {
		name     string
		retries  int
		fault    streamtest.Hook
		attempts int
		want     func(error) bool
	}{
		{"500 forever", 2, streamtest.Status(500),
			3, func(err error) bool { var e *Error; return errors.As(err, &e) && e.Status == 500 }},
		{"404 is not retried", 2, streamtest.Status(404),
			1, func(err error) bool { var e *Error; return errors.As(err, &e) && e.Status == 404 }},
		{"503 twice, then the file", 2, streamtest.First(2, streamtest.Status(503)), 3, nil},
		{"a body that breaks before its first byte", 2, streamtest.CutAfter(0),
			3, func(err error) bool { var e *Error; return errors.As(err, &e) && e.Status == 0 }},
		{"a body that breaks after new bytes every time", 0, streamtest.CutAfter(sixth), 6, nil},
		{"wrong bytes: fetched once more, then refused", 5, streamtest.Garbage(testSize),
			2, func(err error) bool { var e *ChecksumError; return errors.As(err, &e) && e.What == "sha256" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _, f := serve(t, tt.fault)
			d := cache.New(t.TempDir())
			err := testClient(tt.retries).Get(t.Context(), f, d)
			if tt.want == nil && err != nil {
				t.Fatalf("got %v, want the file", err)
			}
			if tt.want != nil && !tt.want(err) {
				t.Fatalf("got %v (%T)", err, err)
			}
			if got := len(srv.Requests()); got != tt.attempts {
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
	srv := streamtest.NewServer(t, t.TempDir(), streamtest.Garbage(MaxMetadata+2<<20))
	// A long stall timeout: reading 64 MiB under -race is slow.
	c := New(Options{Timeout: 10 * time.Second, Retries: 3})
	_, err := c.Metadata(t.Context(), srv.URL+"/index.json")
	var e *Error
	if !errors.As(err, &e) || !strings.Contains(err.Error(), "larger than 64 MiB") {
		t.Fatalf("got %v, want an *Error about the size", err)
	}
	if n := len(srv.Requests()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}
