package fetch

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"maas-import-boot-images/cache"
	"maas-import-boot-images/simplestreams/streamtest"
)

// answer is one request a rangeServer answered: the Range asked for and
// the bytes of the file it sent, [From, From+N).
type answer struct {
	Range   string
	From, N int64
}

// rangeServer serves one file as a web server does, with Range, and
// records what it sent. It counts the requests and the connections open
// at once.
type rangeServer struct {
	*httptest.Server
	b    []byte
	rate int64 // bytes per second per answer; 0: as fast as it goes
	// fault, when not nil, may change the answer to the n-th request (1 is
	// the first), for the range [from, to): it returns how many bytes of
	// it to send before breaking the connection (-1: all of them),
	// whether to ignore Range and send the whole file, and a function
	// that corrupts what is sent.
	fault func(n int, from, to int64) misbehave

	mu                     sync.Mutex
	answers                []answer
	active, peak           int
	conns, peakConns, reqs int
}

type misbehave struct {
	cut         int64
	ignoreRange bool
	corrupt     bool
}

// newRangeServer serves b; rate and fault are as in rangeServer.
func newRangeServer(t testing.TB, b []byte, rate int64, fault func(n int, from, to int64) misbehave) *rangeServer {
	s := &rangeServer{b: b, rate: rate, fault: fault}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.Server.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		s.mu.Lock()
		defer s.mu.Unlock()
		switch st {
		case http.StateNew:
			s.conns++
			s.peakConns = max(s.peakConns, s.conns)
		case http.StateClosed, http.StateHijacked:
			s.conns--
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

func (s *rangeServer) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.reqs++
	n := s.reqs
	s.active++
	s.peak = max(s.peak, s.active)
	s.mu.Unlock()
	size := int64(len(s.b))
	from, to, ranged := parseRange(r.Header.Get("Range"), size)
	f := misbehave{cut: -1}
	if s.fault != nil {
		f = s.fault(n, from, to)
	}
	a := answer{Range: r.Header.Get("Range"), From: from}
	defer func() {
		s.mu.Lock()
		s.active--
		s.answers = append(s.answers, a)
		s.mu.Unlock()
	}()
	switch {
	case ranged && from >= size:
		w.Header().Set("Content-Range", "bytes */"+strconv.FormatInt(size, 10))
		w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
		return
	case !ranged || f.ignoreRange:
		from, to, a.From = 0, size, 0
		w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
		w.WriteHeader(http.StatusOK)
	default:
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", from, to-1, size))
		w.Header().Set("Content-Length", strconv.FormatInt(to-from, 10))
		w.WriteHeader(http.StatusPartialContent)
	}
	s.send(w, &a, from, to, f)
}

// send writes [from, to) of the file in chunks, paced by rate, counting
// in a.N what the connection took.
func (s *rangeServer) send(w http.ResponseWriter, a *answer, from, to int64, f misbehave) {
	const chunk = 16 << 10
	start := time.Now()
	for at := from; at < to; {
		end := min(at+chunk, to)
		if f.cut >= 0 && end-from >= f.cut {
			end = from + f.cut
		}
		p := s.b[at:end]
		if f.corrupt {
			p = []byte(strings.Repeat("x", len(p)))
		}
		if _, err := w.Write(p); err != nil {
			return
		}
		w.(http.Flusher).Flush()
		a.N += end - at
		at = end
		if f.cut >= 0 && at-from >= f.cut {
			panic(http.ErrAbortHandler)
		}
		if s.rate > 0 {
			time.Sleep(time.Until(start.Add(time.Duration(float64(at-from) / float64(s.rate) * float64(time.Second)))))
		}
	}
}

// parseRange reads "bytes=a-b" or "bytes=a-" into [from, to).
func parseRange(h string, size int64) (from, to int64, ok bool) {
	spec, ok := strings.CutPrefix(h, "bytes=")
	if !ok {
		return 0, size, false
	}
	a, b, _ := strings.Cut(spec, "-")
	from, _ = strconv.ParseInt(a, 10, 64)
	to = size
	if b != "" {
		last, _ := strconv.ParseInt(b, 10, 64)
		to = min(last+1, size)
	}
	return from, to, true
}

func (s *rangeServer) log() []answer {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.answers)
}

func (s *rangeServer) ranges() []string {
	var r []string
	for _, a := range s.log() {
		r = append(r, a.Range)
	}
	slices.Sort(r)
	return r
}

// segFile is a payload of size bytes and its description, at url.
func segFile(t testing.TB, size int64, url string) ([]byte, File) {
	b := make([]byte, size)
	if _, err := io.ReadFull(streamtest.Payload("segments", size), b); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return b, File{SHA256: hex.EncodeToString(sum[:]), Size: size, URL: url + "/squashfs", Name: "squashfs"}
}

// segClient fetches files over 64 KiB in k segments, retrying quickly.
func segClient(k int) *Client {
	c := New(Options{Timeout: 2 * time.Second, Retries: 2, Segments: k, SegmentThreshold: 64 << 10})
	c.policy.waitMin, c.policy.waitMax = time.Millisecond, 10*time.Millisecond
	return c
}

// rangesOf are the Range headers of the segments of plan(size, 0, k).
func rangesOf(size int64, k int) []string {
	var r []string
	for _, sg := range plan(size, 0, k) {
		r = append(r, fmt.Sprintf("bytes=%d-%d", sg.From, sg.To-1))
	}
	return r
}

func fetchFile(t *testing.T, k int, size int64, mis func(n int, from, to int64) misbehave) (*rangeServer, *Client, File, *cache.Dir, error) {
	t.Helper()
	b, f := segFile(t, size, "")
	srv := newRangeServer(t, b, 0, mis)
	f.URL = srv.URL + f.URL
	d := cache.New(t.TempDir())
	c := segClient(k)
	return srv, c, f, d, c.Get(t.Context(), f, d)
}

// checkStored fails unless f is in the cache with nothing beside it.
func checkStored(t *testing.T, d *cache.Dir, f File) {
	t.Helper()
	if !d.Has(f.SHA256, f.Size) {
		t.Fatal("not in the cache")
	}
	if got := sha256File(t, d.Path(f.SHA256)); got != f.SHA256 {
		t.Fatalf("cache file hashes to %s", got)
	}
	if names := dirNames(t, d.Root()); !slices.Equal(names, []string{f.SHA256}) {
		t.Errorf("cache holds %v, want only the file", names)
	}
}

// TestSegments: a large file is fetched as k ranges, and nothing else.
func TestSegments(t *testing.T) {
	const size = 1<<20 + 7
	srv, c, f, d, err := fetchFile(t, 4, size, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkStored(t, d, f)
	if got, want := srv.ranges(), rangesOf(size, 4); !slices.Equal(got, want) {
		t.Errorf("requests %q, want %q", got, want)
	}
	if c.Received() != size {
		t.Errorf("received %d bytes, want %d", c.Received(), size)
	}
}

// TestSegmentsSmallFile: a file under the threshold, and any file with
// --segments 1, is one stream.
func TestSegmentsSmallFile(t *testing.T) {
	for _, tt := range []struct {
		k    int
		size int64
	}{{4, 64 << 10}, {1, 1 << 20}} {
		srv, _, f, d, err := fetchFile(t, tt.k, tt.size, nil)
		if err != nil {
			t.Fatal(err)
		}
		checkStored(t, d, f)
		if got := srv.ranges(); !slices.Equal(got, []string{""}) {
			t.Errorf("k=%d, %d bytes: requests %q, want one without Range", tt.k, tt.size, got)
		}
	}
}

// TestSegmentCutResumesItself: a body cut mid-segment resumes that
// segment only, from where it broke.
func TestSegmentCutResumesItself(t *testing.T) {
	const size, cut = 1 << 20, 100_000
	segs := plan(size, 0, 4)
	var once atomic.Bool
	srv, c, f, d, err := fetchFile(t, 4, size, func(_ int, from, _ int64) misbehave {
		if from == segs[2].From && once.CompareAndSwap(false, true) {
			return misbehave{cut: cut}
		}
		return misbehave{cut: -1}
	})
	if err != nil {
		t.Fatal(err)
	}
	checkStored(t, d, f)
	want := append(rangesOf(size, 4), fmt.Sprintf("bytes=%d-%d", segs[2].From+cut, segs[2].To-1))
	slices.Sort(want)
	if got := srv.ranges(); !slices.Equal(got, want) {
		t.Errorf("requests %q, want %q", got, want)
	}
	if c.Received() != size {
		t.Errorf("received %d bytes, want %d: nothing twice", c.Received(), size)
	}
}

// TestSegmentsFallBack: a server that ignores Range gets one stream, at
// once; so does one that stops answering ranges, and a .part that
// segments had half filled is fetched again from zero.
func TestSegmentsFallBack(t *testing.T) {
	const size = 1 << 20
	t.Run("ignores Range", func(t *testing.T) {
		srv, c, f, d, err := fetchFile(t, 4, size, func(int, int64, int64) misbehave { return misbehave{cut: -1, ignoreRange: true} })
		if err != nil {
			t.Fatal(err)
		}
		checkStored(t, d, f)
		if got, want := srv.ranges(), []string{"", rangesOf(size, 4)[0]}; !slices.Equal(got, want) {
			t.Errorf("requests %q, want %q: the probe, then one stream", got, want)
		}
		if c.Received() > 2*size {
			t.Errorf("received %d bytes", c.Received())
		}
	})
	t.Run("stops answering ranges", func(t *testing.T) {
		var ignore atomic.Bool
		b, f := segFile(t, size, "")
		srv := newRangeServer(t, b, 0, func(int, int64, int64) misbehave { return misbehave{cut: -1, ignoreRange: ignore.Load()} })
		f.URL = srv.URL + f.URL
		d := cache.New(t.TempDir())
		// An earlier run left half of two segments.
		st := segState{Size: size, Segments: plan(size, 0, 4)}
		part := make([]byte, st.Segments[1].From+1000)
		for _, i := range []int{0, 1} {
			st.Segments[i].Done = 1000
			copy(part[st.Segments[i].From:], b[st.Segments[i].From:st.Segments[i].From+1000])
		}
		writeState(t, d, f, st, part)
		ignore.Store(true)
		if err := segClient(4).Get(t.Context(), f, d); err != nil {
			t.Fatal(err)
		}
		checkStored(t, d, f)
	})
}

// TestSegmentWrongBytes: a segment that returns wrong bytes fails the
// file's checksum; the file is fetched once more from zero, and then
// refused, with nothing left in the cache.
func TestSegmentWrongBytes(t *testing.T) {
	const size = 1 << 20
	segs := plan(size, 0, 4)
	srv, _, _, d, err := fetchFile(t, 4, size, func(_ int, from, _ int64) misbehave {
		return misbehave{cut: -1, corrupt: from == segs[3].From}
	})
	var ce *ChecksumError
	if !errors.As(err, &ce) || ce.What != "sha256" {
		t.Fatalf("got %v, want a sha256 *ChecksumError", err)
	}
	want := slices.Concat(rangesOf(size, 4), rangesOf(size, 4))
	slices.Sort(want)
	if got := srv.ranges(); !slices.Equal(got, want) {
		t.Errorf("requests %q, want every segment twice", got)
	}
	if names := dirNames(t, d.Root()); len(names) != 0 {
		t.Errorf("cache holds %v, want nothing", names)
	}
}

// TestSegmentsShortFile: a file shorter than its metadata says is a size
// mismatch, like one stream's.
func TestSegmentsShortFile(t *testing.T) {
	b, f := segFile(t, 1<<20, "")
	srv := newRangeServer(t, b[:len(b)-300_000], 0, nil)
	f.URL = srv.URL + f.URL
	err := segClient(4).Get(t.Context(), f, cache.New(t.TempDir()))
	var ce *ChecksumError
	if !errors.As(err, &ce) || ce.What != "size" || ce.Got != strconv.Itoa(len(srv.b)) {
		t.Fatalf("got %v, want a size *ChecksumError naming %d", err, len(srv.b))
	}
}

// TestSegmentsResume: a state file beside the .part is resumed: each
// segment from what it lacks, complete ones not at all, with the layout
// it records whatever k is now; a .part without one is a single stream's
// prefix; a state that does not describe the .part is dropped.
func TestSegmentsResume(t *testing.T) {
	const size = 1 << 20
	tests := []struct {
		name  string
		k     int
		setup func(b []byte) (*segState, []byte)
		want  []string
	}{
		{"state", 1, func(b []byte) (*segState, []byte) {
			st := segState{Size: size, Segments: plan(size, 0, 4)}
			st.Segments[0].Done = st.Segments[0].To // complete
			st.Segments[2].Done = 5000
			part := slices.Clone(b[:st.Segments[2].From+5000])
			clear(part[st.Segments[1].From:st.Segments[2].From]) // a hole where segment 1 has nothing
			return &st, part
		}, []string{"bytes=262144-524287", "bytes=529288-786431", "bytes=786432-1048575"}},
		{"a single stream's prefix", 4, func(b []byte) (*segState, []byte) {
			return nil, slices.Clone(b[:size-4*minSegment])
		}, rangesFrom(size-4*minSegment, size, 4)},
		{"a state claiming more than the .part holds", 4, func(b []byte) (*segState, []byte) {
			st := segState{Size: size, Segments: plan(size, 0, 4)}
			st.Segments[3].Done = 10
			return &st, slices.Clone(b[:1000])
		}, rangesOf(size, 4)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, f := segFile(t, size, "")
			srv := newRangeServer(t, b, 0, nil)
			f.URL = srv.URL + f.URL
			d := cache.New(t.TempDir())
			st, part := tt.setup(b)
			if st != nil {
				writeState(t, d, f, *st, part)
			} else {
				os.WriteFile(d.Path(f.SHA256+".part"), part, 0o644)
			}
			if err := segClient(tt.k).Get(t.Context(), f, d); err != nil {
				t.Fatal(err)
			}
			checkStored(t, d, f)
			want := slices.Sorted(slices.Values(tt.want))
			if got := srv.ranges(); !slices.Equal(got, want) {
				t.Errorf("requests %q, want %q", got, want)
			}
		})
	}
}

// rangesFrom are the Range headers of the k segments of [from, size).
func rangesFrom(from, size int64, k int) []string {
	var r []string
	for _, sg := range plan(size, from, k)[1:] {
		r = append(r, fmt.Sprintf("bytes=%d-%d", sg.From, sg.To-1))
	}
	return r
}

// TestSegmentsConnections: jobs × segments caps the requests under way
// and the connections open at once, however many Gets run.
func TestSegmentsConnections(t *testing.T) {
	const jobs, k, files = 2, 3, 4
	b, f := segFile(t, 1<<20, "")
	srv := newRangeServer(t, b, 4<<20, nil) // each answer lasts a while
	f.URL = srv.URL + f.URL
	c := New(Options{Timeout: 5 * time.Second, Jobs: jobs, Segments: k, SegmentThreshold: 64 << 10})
	var wg sync.WaitGroup
	errs := make([]error, files)
	for i := range files {
		wg.Go(func() { errs[i] = c.Get(t.Context(), f, cache.New(t.TempDir())) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.peak > jobs*k || srv.peakConns > jobs*k {
		t.Errorf("%d requests and %d connections at once, want at most %d", srv.peak, srv.peakConns, jobs*k)
	}
	if srv.peak <= jobs {
		t.Errorf("at most %d requests at once: the segments did not run in parallel", srv.peak)
	}
	t.Logf("at most %d requests and %d connections at once (cap %d)", srv.peak, srv.peakConns, jobs*k)
}

// writeState leaves a .part and its state as an earlier run would.
func writeState(t *testing.T, d *cache.Dir, f File, st segState, part []byte) {
	t.Helper()
	js, _ := json.Marshal(st)
	if err := os.WriteFile(d.PartState(f.SHA256), js, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(d.Path(f.SHA256+".part"), part, 0o644); err != nil {
		t.Fatal(err)
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func sha256File(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// TestSegmentStateSymlink: a symlink planted as the state file is neither
// read nor written through: the download starts afresh and the link's
// target stays as it was.
func TestSegmentStateSymlink(t *testing.T) {
	const size = 1 << 20
	b, f := segFile(t, size, "")
	srv := newRangeServer(t, b, 0, nil)
	f.URL = srv.URL + f.URL
	d := cache.New(t.TempDir())
	// The victim is a state that would skip three segments.
	st := segState{Size: size, Segments: plan(size, 0, 4)}
	for i := range 3 {
		st.Segments[i].Done = st.Segments[i].To - st.Segments[i].From
	}
	js, _ := json.Marshal(st)
	victim := filepath.Join(t.TempDir(), "victim")
	os.WriteFile(victim, js, 0o644)
	os.Symlink(victim, d.PartState(f.SHA256))
	os.WriteFile(d.Path(f.SHA256+".part"), make([]byte, size), 0o644)
	if err := segClient(4).Get(t.Context(), f, d); err != nil {
		t.Fatal(err)
	}
	checkStored(t, d, f)
	if got, want := srv.ranges(), rangesOf(size, 4); !slices.Equal(got, want) {
		t.Errorf("requests %q, want %q", got, want)
	}
	if got, _ := os.ReadFile(victim); !bytes.Equal(got, js) {
		t.Errorf("the link's target was changed: %s", got)
	}
}
