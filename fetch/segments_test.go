package fetch

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"maas-import-boot-images/cache"
	"maas-import-boot-images/internal/fault"
	"maas-import-boot-images/simplestreams/streamtest"
)

// segServer serves b as /squashfs, through hooks when given.
func segServer(t testing.TB, b []byte, hooks ...streamtest.Hook) *streamtest.Server {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "squashfs"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return streamtest.NewServer(t, dir, hooks...)
}

// rangesAsked are the Range headers of requests, sorted.
func rangesAsked(requests []streamtest.Request) []string {
	var r []string
	for _, q := range requests {
		r = append(r, q.Range)
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

func fetchFile(t *testing.T, k int, size int64, hooks ...streamtest.Hook) (*streamtest.Server, *Client, File, *cache.Dir, error) {
	t.Helper()
	b, f := segFile(t, size, "")
	srv := segServer(t, b, hooks...)
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
	if got := streamtest.SHA256File(t, d.Path(f.SHA256)); got != f.SHA256 {
		t.Fatalf("cache file hashes to %s", got)
	}
	if names := streamtest.Names(t, d.Root()); !slices.Equal(names, []string{f.SHA256}) {
		t.Errorf("cache holds %v, want only the file", names)
	}
}

// TestSegments: a large file is fetched as k ranges, and nothing else.
func TestSegments(t *testing.T) {
	const size = 1<<20 + 7
	srv, c, f, d, err := fetchFile(t, 4, size)
	if err != nil {
		t.Fatal(err)
	}
	checkStored(t, d, f)
	if got, want := rangesAsked(srv.Requests()), rangesOf(size, 4); !slices.Equal(got, want) {
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
		srv, _, f, d, err := fetchFile(t, tt.k, tt.size)
		if err != nil {
			t.Fatal(err)
		}
		checkStored(t, d, f)
		if got := rangesAsked(srv.Requests()); !slices.Equal(got, []string{""}) {
			t.Errorf("k=%d, %d bytes: requests %q, want one without Range", tt.k, tt.size, got)
		}
	}
}

// TestSegmentCutResumesItself: a body cut mid-segment resumes that
// segment only, from where it broke.
func TestSegmentCutResumesItself(t *testing.T) {
	const size, cut = 1 << 20, 100_000
	segs := plan(size, 0, 4)
	srv, c, f, d, err := fetchFile(t, 4, size, streamtest.Ranged(rangesOf(size, 4)[2], streamtest.First(1, streamtest.CutAfter(cut))))
	if err != nil {
		t.Fatal(err)
	}
	checkStored(t, d, f)
	want := append(rangesOf(size, 4), fmt.Sprintf("bytes=%d-%d", segs[2].From+cut, segs[2].To-1))
	slices.Sort(want)
	if got := rangesAsked(srv.Requests()); !slices.Equal(got, want) {
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
		srv, c, f, d, err := fetchFile(t, 4, size, streamtest.IgnoreRange)
		if err != nil {
			t.Fatal(err)
		}
		checkStored(t, d, f)
		if got, want := rangesAsked(srv.Requests()), []string{"", rangesOf(size, 4)[0]}; !slices.Equal(got, want) {
			t.Errorf("requests %q, want %q: the probe, then one stream", got, want)
		}
		if c.Received() > 2*size {
			t.Errorf("received %d bytes", c.Received())
		}
	})
	t.Run("stops answering ranges", func(t *testing.T) {
		b, f := segFile(t, size, "")
		srv := segServer(t, b)
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
		srv.SetHook(streamtest.IgnoreRange)
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
	srv, _, _, d, err := fetchFile(t, 4, size, streamtest.Ranged(rangesOf(size, 4)[3], streamtest.Corrupt))
	var ce *ChecksumError
	if !errors.As(err, &ce) || ce.What != "sha256" {
		t.Fatalf("got %v, want a sha256 *ChecksumError", err)
	}
	want := slices.Concat(rangesOf(size, 4), rangesOf(size, 4))
	slices.Sort(want)
	if got := rangesAsked(srv.Requests()); !slices.Equal(got, want) {
		t.Errorf("requests %q, want every segment twice", got)
	}
	if names := streamtest.Names(t, d.Root()); len(names) != 0 {
		t.Errorf("cache holds %v, want nothing", names)
	}
}

// TestSegmentsShortFile: a file shorter than its metadata says is a size
// mismatch, like one stream's.
func TestSegmentsShortFile(t *testing.T) {
	b, f := segFile(t, 1<<20, "")
	short := len(b) - 300_000
	srv := segServer(t, b[:short])
	f.URL = srv.URL + f.URL
	err := segClient(4).Get(t.Context(), f, cache.New(t.TempDir()))
	var ce *ChecksumError
	if !errors.As(err, &ce) || ce.What != "size" || ce.Got != strconv.Itoa(short) {
		t.Fatalf("got %v, want a size *ChecksumError naming %d", err, short)
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
			srv := segServer(t, b)
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
			if got := rangesAsked(srv.Requests()); !slices.Equal(got, want) {
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
// and the connections open at once, however many Gets run, and is
// reached: each of the jobs Gets runs its segments at once.
func TestSegmentsConnections(t *testing.T) {
	const jobs, k, files = 2, 3, 4
	b, f := segFile(t, 1<<20, "")
	srv := segServer(t, b, streamtest.Rate(4<<20)) // each answer lasts a while
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
	peak, peakConns := srv.PeakActive(), srv.PeakConns()
	if peak > jobs*k || peakConns > jobs*k {
		t.Errorf("%d requests and %d connections at once, want at most %d", peak, peakConns, jobs*k)
	}
	if peak < jobs*k || peakConns < jobs*k {
		t.Errorf("at most %d requests and %d connections at once, want %d: the segments of the Gets did not all run at once", peak, peakConns, jobs*k)
	}
	t.Logf("at most %d requests and %d connections at once (cap %d)", peak, peakConns, jobs*k)
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

// TestSegmentStateSymlink: a symlink planted as the state file is neither
// read nor written through: the download starts afresh and the link's
// target stays as it was.
func TestSegmentStateSymlink(t *testing.T) {
	const size = 1 << 20
	b, f := segFile(t, size, "")
	srv := segServer(t, b)
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
	if got, want := rangesAsked(srv.Requests()), rangesOf(size, 4); !slices.Equal(got, want) {
		t.Errorf("requests %q, want %q", got, want)
	}
	if got, _ := os.ReadFile(victim); !bytes.Equal(got, js) {
		t.Errorf("the link's target was changed: %s", got)
	}
}

// TestSegmentStateAfterSync: every write of the state file comes after a
// sync of the .part it describes, so that the bytes it claims are on the
// disk before the claim is, power cut or not.
func TestSegmentStateAfterSync(t *testing.T) {
	var mu sync.Mutex
	var steps []string
	restore := fault.Set(func(step fault.Step, path string) error {
		if step == fault.SyncFile && strings.HasSuffix(path, ".part") || step == fault.PartState {
			mu.Lock()
			steps = append(steps, step.String())
			mu.Unlock()
		}
		return nil
	})
	defer restore()
	_, _, f, d, err := fetchFile(t, 4, 1<<20+7)
	if err != nil {
		t.Fatal(err)
	}
	checkStored(t, d, f)
	mu.Lock()
	defer mu.Unlock()
	states := 0
	for i, s := range steps {
		if s == fault.PartState.String() {
			states++
			if i == 0 || steps[i-1] != fault.SyncFile.String() {
				t.Fatalf("state file written without a sync of the .part just before it: %v", steps)
			}
		}
	}
	if states < 2 {
		t.Errorf("the state file was written %d times: %v", states, steps)
	}
}
