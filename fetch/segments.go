package fetch

// Segmented downloads. Far from the mirror, one TCP connection is often
// capped well below the link, and the largest file (a squashfs) decides
// how long an import takes; so a file larger than SegmentThreshold is
// fetched as Segments ranges at once, each written at its place in the
// same .part.
//
//   - The first range request is a probe: the other segments start once it
//     is answered 206 with the range asked for. A server that answers 200
//     (it ignores Range) gets one stream instead, from zero; so does one
//     that answers 200 to a later range.
//   - Beside the .part, <sha256>.part.segs (JSON, written atomically
//     through internal/disk) records each segment's range and how many of
//     its bytes, from its start, the .part holds. It is written before any
//     segment is, then at least every saveEvery while bytes arrive, when a
//     segment completes and when the download stops, each time after the
//     .part is synced; so it never claims bytes that a killed process (or
//     a power cut) had not written, and a .part without it
//     is always what a single stream left, a prefix of the file. The next
//     run asks only for what each segment lacks, keeping the layout it
//     finds (with at most Segments of them at once, even 1).
//   - Every segment's body goes through writer.copy, the one read path of
//     single streams: stall detection, progress, and whatever else reads
//     bodies there apply to segments as they are.
//   - The checksums are checked by reading the finished .part once from
//     its start, not by hashing a contiguous prefix as segments complete.
//     SHA-256 cannot take the segments out of order, and equal segments at
//     equal speeds complete together: a prefix hasher could take only the
//     first segment while it streams and would hash the other
//     (Segments-1)/Segments of the file after the last byte anyway, for
//     the price of a goroutine following every segment's progress. The
//     re-read is one pass of memory bandwidth over pages just written
//     (disk bandwidth only if they were evicted meanwhile), under half a
//     second for 256 MiB here (BenchmarkRehash) against tens of seconds of
//     download on the links segments are for; it hashes exactly the bytes
//     that are then renamed into the cache; and a resumed download needs
//     no hash state.

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"maas-import-boot-images/cache"
	"maas-import-boot-images/internal/disk"
	"maas-import-boot-images/internal/fault"
	"maas-import-boot-images/internal/redact"
)

// Defaults of Options.Segments and Options.SegmentThreshold.
const (
	DefaultSegments         = 4
	DefaultSegmentThreshold = 64 << 20
)

// minSegment keeps a small remainder from being cut into tiny ranges.
const minSegment = 64 << 10

// errNoRanges: the server answered a range request with the whole file.
var errNoRanges = errors.New("the server ignores Range")

// segment is the range [From, To) of a file, of which the .part holds
// Done bytes from From on.
type segment struct {
	From int64 `json:"from"`
	To   int64 `json:"to"`
	Done int64 `json:"done"`
}

// segState is what <sha256>.part.segs holds.
type segState struct {
	Size     int64     `json:"size"`
	Segments []segment `json:"segments"`
}

// valid reports whether st describes a file of size whose .part is
// partSize long: segments that tile [0, size), none claiming bytes past
// the end of the .part.
func (st segState) valid(size, partSize int64) bool {
	if st.Size != size || len(st.Segments) == 0 || partSize > size {
		return false
	}
	var at int64
	for _, sg := range st.Segments {
		if sg.From != at || sg.To <= sg.From || sg.Done < 0 || sg.Done > sg.To-sg.From || (sg.Done > 0 && sg.From+sg.Done > partSize) {
			return false
		}
		at = sg.To
	}
	return at == size
}

// plan lays out the segments of a file of size whose first prefix bytes
// are there already: one done segment for them, and the rest cut in k.
func plan(size, prefix int64, k int) []segment {
	var segs []segment
	if prefix > 0 {
		segs = append(segs, segment{From: 0, To: prefix, Done: prefix})
	}
	rest := size - prefix
	if rest <= 0 {
		return segs
	}
	n := min(int64(max(k, 1)), max(rest/minSegment, 1))
	for j := range n {
		segs = append(segs, segment{From: prefix + rest*j/n, To: prefix + rest*(j+1)/n})
	}
	return segs
}

// segments is a segmented download under way. It is safe for concurrent
// use by the goroutines of its segments.
type segments struct {
	path   string     // the state file
	part   *disk.File // the .part it describes
	every  time.Duration
	mu     sync.Mutex // guards st and saved
	st     segState
	saved  time.Time
	saving sync.Mutex // one write of the state file at a time, in order
}

// span is what segment i still lacks: [from, to) of the file.
func (s *segments) span(i int) (from, to int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sg := s.st.Segments[i]
	return sg.From + sg.Done, sg.To
}

func (s *segments) advance(i, n int) {
	s.mu.Lock()
	s.st.Segments[i].Done += int64(n)
	s.mu.Unlock()
}

// done is how many bytes the .part holds, in all.
func (s *segments) done() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for _, sg := range s.st.Segments {
		n += sg.Done
	}
	return n
}

func (s *segments) incomplete() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	var todo []int
	for i, sg := range s.st.Segments {
		if sg.From+sg.Done < sg.To {
			todo = append(todo, i)
		}
	}
	return todo
}

// save writes the state file now.
func (s *segments) save() error {
	s.saving.Lock()
	defer s.saving.Unlock()
	return s.write()
}

// maybeSave writes the state file if it is older than every and no
// other segment is writing it.
func (s *segments) maybeSave() error {
	s.mu.Lock()
	due := time.Since(s.saved) >= s.every
	s.mu.Unlock()
	if !due || !s.saving.TryLock() {
		return nil
	}
	defer s.saving.Unlock()
	return s.write()
}

// write writes the state file; s.saving is held. The bytes it claims are
// synced first, so that after a power cut, too, it claims none that the
// .part lacks.
func (s *segments) write() error {
	s.mu.Lock()
	b, err := json.Marshal(s.st)
	s.saved = time.Now()
	s.mu.Unlock()
	if err != nil {
		return err
	}
	if err := s.part.Sync(); err != nil {
		return err
	}
	return disk.WriteFile(s.path, b, fault.PartState)
}

// segmentSink writes segment i of a download at its place in the .part.
type segmentSink struct {
	s   *segments
	i   int
	out *disk.File
}

func (k *segmentSink) Write(p []byte) (int, error) {
	from, to := k.s.span(k.i)
	if int64(len(p)) > to-from {
		return 0, io.ErrShortWrite // never past the segment: copy's limit keeps within it
	}
	n, err := k.out.WriteAt(p, from)
	k.s.advance(k.i, n)
	if err != nil {
		return n, err
	}
	return n, k.s.maybeSave()
}

// Truncate drops what segment i holds past n bytes from its start.
func (k *segmentSink) Truncate(n int64) error {
	k.s.mu.Lock()
	defer k.s.mu.Unlock()
	sg := &k.s.st.Segments[k.i]
	sg.Done = min(sg.Done, n)
	return nil
}

// segmented reports whether f is fetched in segments: a file larger than
// the threshold when more than one segment is asked for, and any file
// whose .part has a segment state, so that a download resumes as it began.
func (c *Client) segmented(f File, into *cache.Dir) bool {
	if !isURL(f.URL) {
		return false
	}
	if _, err := os.Lstat(into.PartState(f.SHA256)); err == nil {
		return true
	}
	return c.opts.Segments > 1 && f.Size > c.opts.SegmentThreshold
}

// getSegments is getOnce for a segmented download: it resumes or plans
// the segments, fetches what they lack, checks the whole file and
// commits it. errNoRanges means the server ignores Range: the .part is
// then empty, without a state, for one stream to fetch.
func (c *Client) getSegments(ctx context.Context, f File, into *cache.Dir, fp FileProgress) error {
	out, err := into.OpenPart(f.SHA256)
	if err != nil {
		return err
	}
	defer out.Cleanup()
	s, err := c.resumeSegments(f, into.PartState(f.SHA256), out)
	if err != nil {
		return err
	}
	fp.Add(int(s.done()))
	err = c.fetchSegments(ctx, f, out, s, fp)
	if errors.Is(err, errNoRanges) {
		c.opts.Log.Debug("server ignored Range; fetching in one stream", "url", redact.URL(f.URL))
		fp.Add(-int(s.done()))
		// The .part first: without a state it must be a prefix.
		if err := out.Truncate(0); err != nil {
			return err
		}
		if err := os.Remove(s.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return disk.Wrap("removing", s.path, err)
		}
		return errNoRanges
	}
	if err != nil {
		// So that the next attempt starts where this one stopped.
		if serr := s.save(); serr != nil {
			c.opts.Log.Debug("recording the segments of an interrupted download", "err", serr)
		}
		return err
	}
	if err := c.rehash(ctx, f, out); err != nil {
		return err
	}
	if err := out.Commit(into.Path(f.SHA256)); err != nil {
		return err
	}
	_ = os.Remove(s.path) // a leftover state without its .part is ignored, and cleaned up
	return nil
}

// resumeSegments returns the segments of f's download: those its state
// file records when they describe out, else a new plan, recorded before
// any segment is written. Without a state file, out holds what a single
// stream left, a prefix that is kept; with one that does not describe
// out, out is emptied.
func (c *Client) resumeSegments(f File, path string, out *disk.File) (*segments, error) {
	partSize, err := out.Size()
	if err != nil {
		return nil, err
	}
	s := &segments{path: path, part: out, every: c.saveEvery}
	b, err := readState(path)
	if err == nil && json.Unmarshal(b, &s.st) == nil && s.st.valid(f.Size, partSize) {
		return s, nil
	}
	prefix := partSize
	if err == nil || !errors.Is(err, fs.ErrNotExist) || prefix > f.Size {
		prefix = 0
	}
	if err := out.Truncate(prefix); err != nil {
		return nil, err
	}
	s.st = segState{Size: f.Size, Segments: plan(f.Size, prefix, c.opts.Segments)}
	return s, s.save()
}

// readState reads a state file, never through a symlink and never more
// than a state of many segments could need.
func readState(path string) ([]byte, error) {
	fh, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	return io.ReadAll(io.LimitReader(fh, 1<<20))
}

// fetchSegments fetches what the segments lack, at most Segments at once.
// The first request is made alone: the others follow once it is answered
// with a range.
func (c *Client) fetchSegments(ctx context.Context, f File, out *disk.File, s *segments, fp FileProgress) error {
	todo := s.incomplete()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.opts.Segments)
	ranged := make(chan struct{})
	probed := sync.OnceFunc(func() { close(ranged) })
	for n, i := range todo {
		g.Go(func() error {
			if n > 0 {
				select {
				case <-ranged:
				case <-gctx.Done():
					return gctx.Err()
				}
			}
			return c.fetchSegment(gctx, f, out, s, i, fp, probed)
		})
	}
	return g.Wait()
}

// fetchSegment fetches what segment i lacks under the retry policy (a
// body that broke after new bytes resumes at once), and records the
// segment as complete.
func (c *Client) fetchSegment(ctx context.Context, f File, out *disk.File, s *segments, i int, fp FileProgress, ranged func()) error {
	w := &writer{out: &segmentSink{s: s, i: i, out: out}, fp: fp}
	err := c.do(ctx, f.URL, func() (bool, error) {
		from, _ := s.span(i)
		err := c.fetchSpan(ctx, f, s, i, w, ranged)
		now, _ := s.span(i)
		return now > from, err
	})
	if err != nil {
		return err
	}
	return s.save()
}

// fetchSpan makes one request for what segment i lacks and writes its
// body. A body that breaks, stalls or ends short is a *retryable.
func (c *Client) fetchSpan(ctx context.Context, f File, s *segments, i int, w *writer, ranged func()) error {
	from, to := s.span(i)
	resp, err := c.requestRange(ctx, f.URL, from, to-1, &c.received)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusPartialContent && contentRangeStart(resp) == from:
		ranged()
	case resp.StatusCode == http.StatusOK:
		return errNoRanges
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable:
		// The file is shorter than its metadata says.
		return &mismatch{ChecksumError{URL: redact.URL(f.URL), What: "size", Want: strconv.FormatInt(f.Size, 10), Got: shorterThan(resp, from)}}
	default:
		return &Error{URL: redact.URL(f.URL), Status: resp.StatusCode}
	}
	n, err := w.copy(resp.Body, to-from)
	var de *disk.Error
	switch {
	case err != nil && errors.As(err, &de):
		return err
	case err != nil:
		return &retryable{err: err}
	case n < to-from:
		return &retryable{err: io.ErrUnexpectedEOF}
	}
	return nil
}

// shorterThan is the size of a file that a 416 answer to a range from
// offset reveals: its Content-Range ("bytes */N"), else "less than
// offset+1".
func shorterThan(resp *http.Response, offset int64) string {
	if n, ok := strings.CutPrefix(resp.Header.Get("Content-Range"), "bytes */"); ok {
		if _, err := strconv.ParseInt(n, 10, 64); err == nil {
			return n
		}
	}
	return "less than " + strconv.FormatInt(offset+1, 10)
}

// rehash checks the finished .part against f's size and checksums,
// reading it once from its start.
func (c *Client) rehash(ctx context.Context, f File, out *disk.File) error {
	size, err := out.Size()
	if err != nil {
		return err
	}
	if size != f.Size {
		return &mismatch{ChecksumError{URL: redact.URL(f.URL), What: "size", Want: strconv.FormatInt(f.Size, 10), Got: strconv.FormatInt(size, 10)}}
	}
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	h := newHasher(f)
	for off := int64(0); off < size; {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := out.ReadAt((*bp)[:min(int64(len(*bp)), size-off)], off)
		h.Write((*bp)[:n])
		off += int64(n)
		if err != nil && !(errors.Is(err, io.EOF) && off == size) {
			return disk.Wrap("reading", out.Name(), err)
		}
	}
	return h.check(redact.URL(f.URL))
}
