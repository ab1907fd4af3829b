package fetch

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"maas-import-boot-images/cache"
	"maas-import-boot-images/simplestreams/streamtest"
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

// serveFiles writes n deterministic files of size bytes each, named 1,
// 2 …, into a directory in memory (memDir) and serves them with
// streamtest.Server, through hooks when given. It returns the server and
// the files, their URLs set.
func serveFiles(t *testing.T, n int, size int64, hooks ...streamtest.Hook) (*streamtest.Server, []File) {
	dir := memDir(t)
	var files []File
	for i := range n {
		name := fmt.Sprint(i + 1)
		out, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		_, err = io.Copy(io.MultiWriter(out, h), streamtest.Payload(name, size))
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, File{SHA256: hex.EncodeToString(h.Sum(nil)), Size: size, Name: name})
	}
	srv := streamtest.NewServer(t, dir, hooks...)
	for i := range files {
		files[i].URL = srv.URL + "/" + files[i].Name
	}
	return srv, files
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

// capRate is the cap of the timed transfers: 20 MiB/s.
const capRate = 20 << 20

// TestLimitRate: 200 MiB in four downloads at once under a cap of
// 20 MiB/s over all of them: the measured rate is within 10 % of the cap.
func TestLimitRate(t *testing.T) {
	if testing.Short() {
		t.Skip("a 10 s transfer; skipped with -short")
	}
	_, files := serveFiles(t, 4, 50<<20)
	var last lastByte
	c := New(Options{Jobs: 4, Limiter: NewLimiter(capRate), Progress: &last})
	checkCapped(t, c, &last, files)
}

// TestLimitRateSegments: one 200 MiB file fetched as four ranges at once
// under a cap of 20 MiB/s: the ranges share the cap, and the measured rate
// is within 10 % of it.
func TestLimitRateSegments(t *testing.T) {
	if testing.Short() {
		t.Skip("a 10 s transfer; skipped with -short")
	}
	srv, files := serveFiles(t, 1, 200<<20)
	var last lastByte
	c := New(Options{Jobs: 1, Segments: 4, SegmentThreshold: 1 << 20, Limiter: NewLimiter(capRate), Progress: &last})
	checkCapped(t, c, &last, files)
	var ranged int
	for _, r := range srv.Requests() {
		if strings.HasPrefix(r.Range, "bytes=") && !strings.HasSuffix(r.Range, "-") {
			ranged++
		}
	}
	if ranged < 4 {
		t.Errorf("%d requests for a range with an end, want the 4 segments: %+v", ranged, srv.Requests())
	}
}

// checkCapped downloads files at once with c, whose Progress is last,
// and checks that the measured rate of the transfer is within 10 % of
// capRate.
func checkCapped(t *testing.T, c *Client, last *lastByte, files []File) {
	d := cache.New(memDir(t))
	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, len(files))
	var want int64
	for i, f := range files {
		want += f.Size
		wg.Go(func() { errs[i] = c.Get(t.Context(), f, d) })
	}
	wg.Wait()
	// The rate is that of the transfer: up to the last byte received, not
	// the syncs after it.
	elapsed := time.Unix(0, last.at.Load()).Sub(start)
	for i, err := range errs {
		if err != nil || !d.Has(files[i].SHA256, files[i].Size) {
			t.Fatalf("download %d: %v", i, err)
		}
	}
	got := float64(c.Received()) / elapsed.Seconds()
	t.Logf("%d MiB in %.2fs: %.2f MiB/s under a cap of %d MiB/s (%+.1f %%)",
		c.Received()>>20, elapsed.Seconds(), got/(1<<20), capRate>>20, 100*(got/capRate-1))
	if c.Received() != want {
		t.Errorf("received %d bytes, want %d", c.Received(), want)
	}
	if got < 0.9*capRate || got > 1.1*capRate {
		t.Errorf("measured %.2f MiB/s, want %d MiB/s ± 10 %%", got/(1<<20), capRate>>20)
	}
}

// TestLimitRateResumeRetry: under a cap, a body cut short is resumed with
// Range and a 503 is retried, and the file arrives whole.
func TestLimitRateResumeRetry(t *testing.T) {
	const size = 4 << 20
	// A 503, then the whole file promised and a third of it sent.
	srv, files := serveFiles(t, 1, size, streamtest.First(1, streamtest.Status(http.StatusServiceUnavailable)),
		streamtest.First(1, streamtest.CutAt(1.0/3)))
	f := files[0]
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
	var got []string
	for _, r := range srv.Requests() {
		got = append(got, r.Range)
	}
	if len(got) != 3 || got[0] != "" || got[1] != "" || got[2] != fmt.Sprintf("bytes=%d-", size/3) {
		t.Errorf("requests with Range %q: want a plain one (503), a plain one (cut), then one from %d", got, size/3)
	}
	// What arrived beyond the first burst came at 8 MiB/s at most.
	least := time.Duration(float64(c.Received()-int64(lim.Burst())) / float64(lim.Limit()) * float64(time.Second))
	if d := time.Since(start); d < least*9/10 {
		t.Errorf("%d bytes at 8 MiB/s took %v, want at least %v: the cap did not hold", c.Received(), d, least)
	}
}
