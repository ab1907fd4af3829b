package streamtest_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"maas-import-boot-images/simplestreams/streamtest"
)

// answer is what a client got for one request.
type answer struct {
	status int
	header http.Header
	body   []byte
	err    error // from reading the body
}

func get(t *testing.T, ctx context.Context, url, rangeHeader string) answer {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rangeHeader != "" {
		req.Header.Set("Range", rangeHeader)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, body, err}
}

// serveTree writes a small stream and serves it.
func serveTree(t *testing.T, hooks ...streamtest.Hook) (*streamtest.Server, *streamtest.Tree, []byte) {
	t.Helper()
	tree, err := streamtest.Write(t.TempDir(), streamtest.MAAS(streamtest.Options{Signed: true, SquashfsSize: 100_000}))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(tree.Dir, "noble/amd64/20250709/squashfs"))
	if err != nil {
		t.Fatal(err)
	}
	return streamtest.NewServer(t, tree.Dir, hooks...), tree, b
}

// TestServerCounts: every request is recorded with its Range header and
// the body bytes it got; Range requests get 206; Reset starts again.
func TestServerCounts(t *testing.T) {
	s, tree, b := serveTree(t)
	if a := get(t, t.Context(), s.URL+"/"+tree.Index, ""); a.status != 200 || int64(len(a.body)) != tree.Metadata[tree.Index].Size {
		t.Fatalf("index: got %d with %d bytes", a.status, len(a.body))
	}
	sq := "/noble/amd64/20250709/squashfs"
	if a := get(t, t.Context(), s.URL+sq, "bytes=1000-"); a.status != 206 || !bytes.Equal(a.body, b[1000:]) {
		t.Fatalf("ranged: got %d with %d bytes, want 206 with %d", a.status, len(a.body), len(b)-1000)
	}
	get(t, t.Context(), s.URL+"/nowhere", "")
	want := []streamtest.Request{
		{Path: "/" + tree.Index, Bytes: tree.Metadata[tree.Index].Size},
		{Path: sq, Range: "bytes=1000-", Bytes: int64(len(b) - 1000)},
		{Path: "/nowhere", Bytes: int64(len("404 page not found\n"))},
	}
	if diff := cmp.Diff(want, s.Requests()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	if streamtest.IsPayload("/"+tree.Index) || !streamtest.IsPayload(sq) {
		t.Error("IsPayload: the index is metadata, the squashfs a payload")
	}
	s.Reset()
	if r := s.Requests(); len(r) != 0 {
		t.Errorf("after Reset: %v", r)
	}
}

// TestServerSwap: Serve switches the tree at once; Dir follows.
func TestServerSwap(t *testing.T) {
	dirs := []string{t.TempDir(), t.TempDir()}
	for i, d := range dirs {
		os.WriteFile(filepath.Join(d, "f"), []byte{'a' + byte(i)}, 0o644)
	}
	s := streamtest.NewServer(t, dirs[0])
	for _, i := range []int{0, 1, 0} {
		s.Serve(dirs[i])
		if s.Dir() != dirs[i] {
			t.Errorf("Dir() = %s, want %s", s.Dir(), dirs[i])
		}
		if a := get(t, t.Context(), s.URL+"/f", ""); string(a.body) != string(rune('a'+i)) {
			t.Errorf("serving tree %d: got %q", i, a.body)
		}
	}
}

// TestHooks: what a client gets from each fault, and that a hook limited
// to some requests leaves the others alone.
func TestHooks(t *testing.T) {
	sq := "/noble/amd64/20250709/squashfs"
	tests := []struct {
		name   string
		hook   streamtest.Hook
		path   string
		ranged string
		check  func(t *testing.T, a answer, b []byte)
	}{
		{"status with a header", streamtest.Status(429, "Retry-After", "7"), sq, "", func(t *testing.T, a answer, b []byte) {
			if a.status != 429 || a.header.Get("Retry-After") != "7" || len(a.body) != 0 {
				t.Errorf("got %d, Retry-After %q, %d bytes", a.status, a.header.Get("Retry-After"), len(a.body))
			}
		}},
		{"payloads only: metadata passes", streamtest.Payloads(streamtest.Status(500)), "/streams/v1/index.sjson", "", wantWhole(200)},
		{"suffix: another path passes", streamtest.Suffix("/boot-kernel", streamtest.Status(500)), sq, "", wantWhole(200)},
		{"cut before the first byte: no answer", streamtest.CutAfter(0), sq, "", func(t *testing.T, a answer, b []byte) {
			if a.err == nil || a.status != 0 {
				t.Errorf("got %d (%v), want no answer", a.status, a.err)
			}
		}},
		{"cut after n bytes", streamtest.CutAfter(3000), sq, "", wantCut(0, 3000)},
		{"cut after n bytes of a range", streamtest.CutAfter(3000), sq, "bytes=5000-", wantCut(5000, 3000)},
		{"cut at a fraction", streamtest.CutAt(0.5), sq, "", wantCut(0, 50_000)},
		{"ignore range", streamtest.IgnoreRange, sq, "bytes=5000-", wantWhole(200)},
		{"drip", streamtest.Drip(30_000, time.Millisecond), sq, "", wantWhole(200)},
		{"delay", streamtest.Delay(time.Millisecond), sq, "", wantWhole(200)},
		{"garbage", streamtest.Garbage(12345), sq, "", func(t *testing.T, a answer, b []byte) {
			if a.status != 200 || !bytes.Equal(a.body, make([]byte, 12345)) {
				t.Errorf("got %d with %d bytes, want 200 with 12345 zeros", a.status, len(a.body))
			}
		}},
		{"chain: in order", streamtest.Chain(streamtest.IgnoreRange, streamtest.CutAfter(10)), sq, "bytes=5000-", wantCut(0, 10)},
		{"ranged: the range named", streamtest.Ranged("bytes=5000-", streamtest.Status(500)), sq, "bytes=5000-", func(t *testing.T, a answer, b []byte) {
			if a.status != 500 {
				t.Errorf("got %d, want 500", a.status)
			}
		}},
		{"ranged: another range passes", streamtest.Ranged("bytes=0-9", streamtest.Status(500)), sq, "", wantWhole(200)},
		{"rate", streamtest.Rate(10 << 20), sq, "", wantWhole(200)},
		{"corrupt", streamtest.Corrupt, sq, "", wantCorrupt(0)},
		{"corrupt a range", streamtest.Corrupt, sq, "bytes=5000-", wantCorrupt(5000)},
		{"chain: corrupt, then at a rate", streamtest.Chain(streamtest.Corrupt, streamtest.Rate(10<<20)), sq, "", wantCorrupt(0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, tree, _ := serveTree(t, tt.hook)
			file, err := os.ReadFile(filepath.Join(tree.Dir, filepath.FromSlash(tt.path)))
			if err != nil {
				t.Fatal(err)
			}
			// Twice: a hook does the same to every request it applies to.
			for i := range 2 {
				a := get(t, t.Context(), s.URL+tt.path, tt.ranged)
				tt.check(t, a, file)
				if r := s.Requests(); len(r) != i+1 || r[i].Bytes < int64(len(a.body)) {
					t.Errorf("requests %+v: want %d, the last counting the %d bytes the client got", r, i+1, len(a.body))
				}
			}
		})
	}
}

func wantWhole(status int) func(t *testing.T, a answer, b []byte) {
	return func(t *testing.T, a answer, b []byte) {
		t.Helper()
		if a.err != nil || a.status != status || !bytes.Equal(a.body, b) {
			t.Errorf("got %d with %d bytes (%v), want %d and the whole file", a.status, len(a.body), a.err, status)
		}
	}
}

// wantCorrupt: the answer to a request from offset from (0: without
// Range), its length right and every byte of it wrong.
func wantCorrupt(from int) func(t *testing.T, a answer, b []byte) {
	return func(t *testing.T, a answer, b []byte) {
		t.Helper()
		want := 200
		if from > 0 {
			want = 206
		}
		if a.err != nil || a.status != want || len(a.body) != len(b)-from {
			t.Fatalf("got %d with %d bytes (%v), want %d with %d", a.status, len(a.body), a.err, want, len(b)-from)
		}
		for i, c := range a.body {
			if c == b[from+i] {
				t.Fatalf("byte %d is right", from+i)
			}
		}
	}
}

// wantCut: headers for the whole file (or the range from), then n bytes
// of it and a broken body.
func wantCut(from, n int) func(t *testing.T, a answer, b []byte) {
	return func(t *testing.T, a answer, b []byte) {
		t.Helper()
		want := 200
		if from > 0 {
			want = 206
		}
		if a.status != want || !errors.Is(a.err, io.ErrUnexpectedEOF) || !bytes.Equal(a.body, b[from:from+n]) {
			t.Errorf("got %d with %d bytes (%v), want %d with the %d bytes from %d and an unexpected EOF", a.status, len(a.body), a.err, want, n, from)
		}
	}
}

// TestOnceAndFirst: the hooks that count fire on the right requests.
func TestOnceAndFirst(t *testing.T) {
	s, tree, _ := serveTree(t)
	paths := []string{"/" + tree.Index, "/" + tree.Products, "/" + tree.Index, "/" + tree.Products, "/" + tree.Index}
	for _, tt := range []struct {
		hook streamtest.Hook
		want []int
	}{
		{streamtest.Once(streamtest.Status(503)), []int{503, 503, 200, 200, 200}},
		{streamtest.First(3, streamtest.Status(502)), []int{502, 502, 502, 200, 200}},
	} {
		s.SetHook(tt.hook)
		var got []int
		for _, p := range paths {
			got = append(got, get(t, t.Context(), s.URL+p, "").status)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("statuses (-want +got):\n%s", diff)
		}
	}
	s.SetHook()
	if a := get(t, t.Context(), s.URL+"/"+tree.Index, ""); a.status != 200 {
		t.Errorf("without hooks: got %d", a.status)
	}
}

// TestStallAndDrip: the client gets the first bytes, flushed, then
// nothing for a long time; the hook ends when the client gives up, and
// the server still closes with a client that never gives up.
func TestStallAndDrip(t *testing.T) {
	sq := "/noble/amd64/20250709/squashfs"
	for _, tt := range []struct {
		name  string
		hook  streamtest.Hook
		first int
	}{
		{"stall", streamtest.Stall(10), 10},
		{"drip", streamtest.Drip(100, time.Hour), 100},
		{"rate", streamtest.Rate(100), 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ended := make(chan struct{})
			s, _, b := serveTree(t, func(w http.ResponseWriter, r *http.Request, next http.Handler) {
				tt.hook(w, r, next)
				close(ended)
			})
			// A deadline, so that bytes that never come fail the test.
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+sq, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got := make([]byte, tt.first)
			if _, err := io.ReadFull(resp.Body, got); err != nil || !bytes.Equal(got, b[:tt.first]) {
				t.Fatalf("got %d bytes (%v), want the first %d of the file", len(got), err, tt.first)
			}
			if resp.ContentLength != int64(len(b)) {
				t.Errorf("Content-Length %d, want the file's %d", resp.ContentLength, len(b))
			}
			cancel()
			resp.Body.Close()
			select {
			case <-ended:
			case <-time.After(10 * time.Second):
				t.Fatal("the hook outlived its client")
			}
		})
	}

	t.Run("closes with a client still waiting", func(t *testing.T) {
		var wg sync.WaitGroup
		t.Cleanup(wg.Wait) // cleanups run last first: after the server's
		s, _, _ := serveTree(t, streamtest.Stall(10))
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Get(s.URL + sq)
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
		for len(s.Requests()) == 0 {
			time.Sleep(time.Millisecond)
		}
	})
}

// TestRate: a body at a rate takes at least as long as the rate says,
// and arrives whole.
func TestRate(t *testing.T) {
	const rate = 400_000
	s, _, b := serveTree(t, streamtest.Rate(rate))
	start := time.Now()
	a := get(t, t.Context(), s.URL+"/noble/amd64/20250709/squashfs", "")
	took := time.Since(start)
	wantWhole(200)(t, a, b)
	// The last piece (a hundredth of a second's worth) is due then.
	if least := time.Duration(len(b)-rate/100) * time.Second / rate; took < least {
		t.Errorf("%d bytes at %d a second took %v, want at least %v", len(b), rate, took, least)
	}
}

// TestServerPeaks: the requests under way and the connections open are
// counted, the most at once kept until Reset, which starts them again
// from what is open.
func TestServerPeaks(t *testing.T) {
	const n = 3
	s, _, _ := serveTree(t, streamtest.Stall(10))
	ctx, cancel := context.WithCancel(t.Context())
	client := &http.Client{Transport: &http.Transport{}}
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/noble/amd64/20250709/squashfs", nil)
			if resp, err := client.Do(req); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
	waitFor(t, func() bool { return s.Active() == n })
	if s.Conns() != n || s.PeakActive() != n || s.PeakConns() != n {
		t.Errorf("peaks: %d requests, %d connections, want %d of each", s.PeakActive(), s.PeakConns(), n)
	}
	cancel()
	wg.Wait()
	waitFor(t, func() bool { return s.Active() == 0 && s.Conns() == 0 })
	s.SetHook()
	for range 2 { // one after the other, on one connection
		if a := get(t, t.Context(), s.URL+"/"+"streams/v1/index.sjson", ""); a.status != 200 {
			t.Fatalf("got %d", a.status)
		}
	}
	if s.PeakActive() != n || s.PeakConns() != n {
		t.Errorf("after: peaks %d and %d, want %d still", s.PeakActive(), s.PeakConns(), n)
	}
	// The server counts a request as done a moment after the client has
	// its body.
	waitFor(t, func() bool { return s.Active() == 0 })
	s.Reset()
	if s.PeakActive() != 0 || s.PeakConns() != 1 || s.Conns() != 1 {
		t.Errorf("after Reset: peaks %d and %d, %d connections open, want 0 requests and the one connection kept open", s.PeakActive(), s.PeakConns(), s.Conns())
	}
}

// waitFor waits up to 10 s for cond.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("waited 10 s in vain")
		}
	}
}
