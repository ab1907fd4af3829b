package fetch

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"maas-import-boot-images/cache"
)

func TestParseRate(t *testing.T) {
	for in, want := range map[string]int64{
		"1": 1, "500": 500, "500K": 500 << 10, "500k": 500 << 10, "50M": 50 << 20, "50m": 50 << 20,
		"1G": 1 << 30, "1.5M": 3 << 19, " 20M ": 20 << 20,
	} {
		if got, err := ParseRate(in); err != nil || got != want {
			t.Errorf("ParseRate(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "M", "0", "0K", "-1M", "20MB", "20 M", "fast", "NaN", "inf", "1T"} {
		if got, err := ParseRate(in); err == nil {
			t.Errorf("ParseRate(%q) = %d, want an error", in, got)
		}
	}
}

// generated is a large file served without holding it: a random 1 MiB
// block repeated.
type generated struct {
	block []byte
	size  int64
}

func newGenerated(seed uint64, size int64) (*generated, File) {
	g := &generated{block: make([]byte, 1<<20), size: size}
	r := rand.New(rand.NewPCG(seed, 1))
	for i := range g.block {
		g.block[i] = byte(r.Uint32())
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(g, 0, size)); err != nil {
		panic(err)
	}
	return g, File{SHA256: hex.EncodeToString(h.Sum(nil)), Size: size, Name: fmt.Sprint(seed)}
}

func (g *generated) ReadAt(p []byte, off int64) (int, error) {
	if off >= g.size {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), g.size-off)]
	for n := 0; n < len(p); {
		n += copy(p[n:], g.block[(off+int64(n))%int64(len(g.block)):])
	}
	return len(p), nil
}

// serveGenerated serves files by name under /<name>, with Range; fault,
// when not nil, sees each request first and may answer it (returning
// true). It returns the server's URL and what lists the Range header of
// each request so far.
func serveGenerated(t *testing.T, files map[string]*generated, fault func(w http.ResponseWriter, r *http.Request) bool) (string, func() []string) {
	var mu sync.Mutex
	var ranges []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ranges = append(ranges, r.Header.Get("Range"))
		mu.Unlock()
		if fault != nil && fault(w, r) {
			return
		}
		g := files[strings.TrimPrefix(r.URL.Path, "/")]
		if g == nil {
			http.NotFound(w, r)
			return
		}
		http.ServeContent(w, r, "f", time.Time{}, io.NewSectionReader(g, 0, g.size))
	}))
	t.Cleanup(srv.Close)
	return srv.URL, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), ranges...)
	}
}

// lastByte is a Progress that notes when the last bytes arrived.
type lastByte struct{ at atomic.Int64 }

func (l *lastByte) Start(string, int64) FileProgress { return l }
func (l *lastByte) Add(int)                          { l.at.Store(time.Now().UnixNano()) }
func (l *lastByte) Done(error)                       {}

// memDir is a directory in memory where there is one (/dev/shm), so that
// what the disk does on a busy machine does not slow a timed transfer.
func memDir(t *testing.T) string {
	dir, err := os.MkdirTemp("/dev/shm", "fetch-test")
	if err != nil {
		return t.TempDir()
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// TestLimitRate: 200 MiB in four downloads at once under a cap of
// 20 MiB/s over all of them: the measured rate is within 10 % of the cap.
func TestLimitRate(t *testing.T) {
	if testing.Short() {
		t.Skip("a 10 s transfer; skipped with -short")
	}
	const (
		capRate = 20 << 20
		jobs    = 4
		each    = 50 << 20
	)
	files := map[string]*generated{}
	var want []File
	for i := range jobs {
		g, f := newGenerated(uint64(i+1), each)
		files[f.Name] = g
		want = append(want, f)
	}
	url, _ := serveGenerated(t, files, nil)
	var last lastByte
	c := New(Options{Jobs: jobs, Limiter: NewLimiter(capRate), Progress: &last})
	d := cache.New(memDir(t))
	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, jobs)
	for i, f := range want {
		f.URL = url + "/" + f.Name
		wg.Go(func() { errs[i] = c.Get(t.Context(), f, d) })
	}
	wg.Wait()
	// The rate is that of the transfer: up to the last byte received, not
	// the syncs after it.
	elapsed := time.Unix(0, last.at.Load()).Sub(start)
	for i, err := range errs {
		if err != nil || !d.Has(want[i].SHA256, want[i].Size) {
			t.Fatalf("download %d: %v", i, err)
		}
	}
	got := float64(c.Received()) / elapsed.Seconds()
	t.Logf("%d MiB in %.2fs: %.2f MiB/s under a cap of %d MiB/s (%+.1f %%)",
		c.Received()>>20, elapsed.Seconds(), got/(1<<20), capRate>>20, 100*(got/capRate-1))
	if c.Received() != jobs*each {
		t.Errorf("received %d bytes, want %d", c.Received(), jobs*each)
	}
	if got < 0.9*capRate || got > 1.1*capRate {
		t.Errorf("measured %.2f MiB/s, want %d MiB/s ± 10 %%", got/(1<<20), capRate>>20)
	}
}

// TestLimitRateResumeRetry: under a cap, a body cut short is resumed with
// Range and a 503 is retried, and the file arrives whole.
func TestLimitRateResumeRetry(t *testing.T) {
	g, f := newGenerated(7, 4<<20)
	var cut, unavailable atomic.Bool
	url, requests := serveGenerated(t, map[string]*generated{f.Name: g}, func(w http.ResponseWriter, r *http.Request) bool {
		switch {
		case unavailable.CompareAndSwap(false, true):
			w.WriteHeader(http.StatusServiceUnavailable)
			return true
		case cut.CompareAndSwap(false, true):
			// Promise the whole file, send a third of it.
			w.Header().Set("Content-Length", fmt.Sprint(g.size))
			w.WriteHeader(http.StatusOK)
			io.Copy(w, io.NewSectionReader(g, 0, g.size/3))
			return true
		}
		return false
	})
	f.URL = url + "/" + f.Name
	lim := NewLimiter(8 << 20)
	c := New(Options{Timeout: 2 * time.Second, Retries: 1, Limiter: lim})
	c.policy.waitMin, c.policy.waitMax = time.Millisecond, 10*time.Millisecond
	d := cache.New(t.TempDir())
	start := time.Now()
	if err := c.Get(t.Context(), f, d); err != nil {
		t.Fatal(err)
	}
	if !d.Has(f.SHA256, f.Size) {
		t.Fatal("not in the cache")
	}
	got := requests()
	if len(got) != 3 || got[0] != "" || got[1] != "" || got[2] != fmt.Sprintf("bytes=%d-", g.size/3) {
		t.Errorf("requests with Range %q: want a plain one (503), a plain one (cut), then one from %d", got, g.size/3)
	}
	// What arrived beyond the first burst came at 8 MiB/s at most.
	least := time.Duration(float64(c.Received()-int64(lim.Burst())) / float64(lim.Limit()) * float64(time.Second))
	if d := time.Since(start); d < least*9/10 {
		t.Errorf("%d bytes at 8 MiB/s took %v, want at least %v: the cap did not hold", c.Received(), d, least)
	}
}
