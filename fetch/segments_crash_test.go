package fetch

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"maas-import-boot-images/cache"
	"maas-import-boot-images/internal/disk"
	"maas-import-boot-images/simplestreams/streamtest"
)

// crashClient is the client of TestSegmentCrash and its child: four
// segments, progress recorded every 20 ms.
func crashClient() *Client {
	c := New(Options{Timeout: 5 * time.Second, Segments: 4, SegmentThreshold: 64 << 10})
	c.saveEvery = 20 * time.Millisecond
	return c
}

// TestSegmentCrashChild is the child of TestSegmentCrash: it runs one
// segmented download and is killed at a random moment.
func TestSegmentCrashChild(t *testing.T) {
	url := os.Getenv("SEGMENT_CRASH_URL")
	if url == "" {
		t.Skip("only run by TestSegmentCrash")
	}
	size, _ := strconv.ParseInt(os.Getenv("SEGMENT_CRASH_SIZE"), 10, 64)
	f := File{SHA256: os.Getenv("SEGMENT_CRASH_SHA256"), Size: size, URL: url, Name: "squashfs"}
	if err := crashClient().Get(context.Background(), f, cache.New(os.Getenv("SEGMENT_CRASH_DIR"))); err != nil {
		t.Fatal(err)
	}
}

// TestSegmentCrash kills segmented downloads with SIGKILL at random
// moments. After each kill the state file claims only bytes the .part
// holds, and the next run completes, asking only for what each segment
// lacks by that record: no byte range is fetched twice but the tail of a
// segment that was in flight.
func TestSegmentCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("kills 20 downloads")
	}
	const trials, size = 20, 4 << 20
	b, f := segFile(t, size, "")
	srv := segServer(t, b, streamtest.Rate(4<<20)) // a segment takes 250 ms
	f.URL = srv.URL + f.URL
	d := cache.New(t.TempDir())
	child := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^TestSegmentCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), "SEGMENT_CRASH_URL="+f.URL, "SEGMENT_CRASH_DIR="+d.Root(),
			"SEGMENT_CRASH_SHA256="+f.SHA256, "SEGMENT_CRASH_SIZE="+strconv.Itoa(size))
		return cmd
	}
	// A child's first run, whole; and how long the download itself takes,
	// to spread the kills over it.
	if out, err := child().CombinedOutput(); err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	checkStored(t, d, f)
	os.Remove(d.Path(f.SHA256))
	start := time.Now()
	if err := crashClient().Get(t.Context(), f, d); err != nil {
		t.Fatal(err)
	}
	window := time.Since(start) * 5 / 4
	os.Remove(d.Path(f.SHA256))
	idle(t, srv)
	mark := len(srv.Requests())

	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 15))
	var midway, doubled, maxDoubled int64
	for trial := range trials {
		cmd := child()
		before := len(srv.Requests())
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Killed at a random moment of the download, or a little after.
		waitRequests(t, srv, before+1)
		delay := time.Duration(r.Int64N(int64(window)))
		time.Sleep(delay)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		idle(t, srv)
		killed := srv.Requests()[mark:]
		var segs []segment // what the next run is to ask for
		if !d.Has(f.SHA256, size) {
			var recorded bool
			if segs, recorded = checkRecord(t, d, f, b); recorded {
				midway++
			}
			if err := crashClient().Get(t.Context(), f, d); err != nil {
				t.Fatalf("trial %d (killed after %v): the next run failed: %v", trial, delay, err)
			}
		}
		removeTemporaries(t, d) // what a killed write of the state leaves, which the importer removes
		checkStored(t, d, f)
		idle(t, srv)
		all := srv.Requests()
		next := all[mark+len(killed):]
		mark = len(all)
		if got, want := rangesAsked(next), lacking(segs); !slices.Equal(got, want) {
			t.Fatalf("trial %d (killed after %v): the next run asked for %q, want %q (what the record says each segment lacks)", trial, delay, got, want)
		}
		twice := overlap(killed, next)
		doubled += twice
		maxDoubled = max(maxDoubled, twice)
		os.Remove(d.Path(f.SHA256))
	}
	t.Logf("%d kills, %d with segments recorded midway; fetched twice: %d KiB in all, at most %d KiB after one kill (%d segments in flight)",
		trials, midway, doubled>>10, maxDoubled>>10, 4)
}

// checkRecord fails unless the state file beside f's .part, if there is
// one, claims only bytes that the .part holds as they should be. It
// returns the segments the next run is to resume (a new plan when there
// is no state) and whether there was a state.
func checkRecord(t *testing.T, d *cache.Dir, f File, b []byte) ([]segment, bool) {
	t.Helper()
	part, _ := os.ReadFile(d.Path(f.SHA256 + ".part"))
	js, err := os.ReadFile(d.PartState(f.SHA256))
	if err != nil {
		if len(part) != 0 {
			t.Fatalf("a .part of %d bytes without a state", len(part))
		}
		return plan(f.Size, 0, 4), false
	}
	var st segState
	if err := json.Unmarshal(js, &st); err != nil || !st.valid(f.Size, int64(len(part))) {
		t.Fatalf("state %s (%v) does not describe a .part of %d bytes", js, err, len(part))
	}
	for _, sg := range st.Segments {
		if sg.Done > 0 && !bytes.Equal(part[sg.From:sg.From+sg.Done], b[sg.From:sg.From+sg.Done]) {
			t.Fatalf("segment %+v: the .part does not hold what the state claims", sg)
		}
	}
	return st.Segments, true
}

// lacking are the Range headers of what segs lack, sorted.
func lacking(segs []segment) []string {
	var r []string
	for _, sg := range segs {
		if sg.From+sg.Done < sg.To {
			r = append(r, fmt.Sprintf("bytes=%d-%d", sg.From+sg.Done, sg.To-1))
		}
	}
	slices.Sort(r)
	return r
}

// overlap counts the bytes of the file that requests of both lists got.
// Each asked for a range ("bytes=from-" or "bytes=from-to") and got
// bytes from its start: the server here answers every range.
func overlap(a, b []streamtest.Request) int64 {
	var n int64
	for _, x := range a {
		for _, y := range b {
			xf, yf := rangeStart(x.Range), rangeStart(y.Range)
			lo, hi := max(xf, yf), min(xf+x.Bytes, yf+y.Bytes)
			n += max(hi-lo, 0)
		}
	}
	return n
}

// rangeStart is the first byte a Range header asks for.
func rangeStart(h string) int64 {
	spec, _ := strings.CutPrefix(h, "bytes=")
	from, _, _ := strings.Cut(spec, "-")
	n, _ := strconv.ParseInt(from, 10, 64)
	return n
}

// waitRequests waits until the server has had n requests.
func waitRequests(t *testing.T, srv *streamtest.Server, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for len(srv.Requests()) < n {
		if time.Now().After(deadline) {
			t.Fatal("no request came")
		}
		time.Sleep(time.Millisecond)
	}
}

func removeTemporaries(t *testing.T, d *cache.Dir) {
	for _, name := range streamtest.Names(t, d.Root()) {
		if strings.HasPrefix(name, disk.TempPrefix) {
			os.Remove(d.Path(name))
		}
	}
}

// idle waits until no answer is under way: a killed client's are ended
// by the server's next write, or when it sees the connection close.
func idle(t *testing.T, srv *streamtest.Server) {
	t.Helper()
	for range 500 {
		if srv.Active() == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the server's answers do not end")
}
