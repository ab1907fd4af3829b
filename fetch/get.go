package fetch

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"

	"maas-import-boot-images/cache"
	"maas-import-boot-images/internal/disk"
	"maas-import-boot-images/internal/redact"
)

var bufPool = sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}

// Get downloads f into the cache as into.Path(f.SHA256), through its
// .part: streamed while hashed, resumed with Range after a broken body,
// verified, synced and renamed (the cache directory is not synced: that
// is the caller's, once after many Gets). A size or checksum mismatch
// deletes the .part and fetches once more from zero; a second one is a
// *ChecksumError. Other errors are *Error, *disk.Error, or ctx's when it
// is done. Get does not look whether the cache has f already.
func (c *Client) Get(ctx context.Context, f File, into *cache.Dir) error {
	var fp FileProgress = nopProgress{}
	if c.opts.Progress != nil {
		fp = c.opts.Progress.Start(f.Name, f.Size)
	}
	var err error
	for range 2 {
		err = c.getOnce(ctx, f, into, fp)
		var m *mismatch
		if !errors.As(err, &m) {
			break
		}
		c.opts.Log.Warn("downloaded file does not match its metadata", "url", m.URL, "what", m.What, "want", m.Want, "got", m.Got)
		into.RemovePart(f.SHA256)
		err = &m.ChecksumError
	}
	fp.Done(err)
	return err
}

func (c *Client) getOnce(ctx context.Context, f File, into *cache.Dir, fp FileProgress) error {
	if c.segmented(f, into) {
		if err := c.getSegments(ctx, f, into, fp); !errors.Is(err, errNoRanges) {
			return err
		}
	}
	out, err := into.OpenPart(f.SHA256)
	if err != nil {
		return err
	}
	defer out.Cleanup()
	w := &writer{out: out, h: newHasher(f), fp: fp}
	// Resume: hash what an earlier run left, unless it is too long.
	offset, err := out.Size()
	if err != nil {
		return err
	}
	if offset > f.Size || !isURL(f.URL) {
		offset = 0
	}
	if _, err := io.Copy(w.h, io.NewSectionReader(out, 0, offset)); err != nil {
		return err
	}
	fp.Add(int(offset))
	if err := out.Truncate(offset); err != nil {
		return err
	}
	if isURL(f.URL) {
		err = c.do(ctx, f.URL, func() (bool, error) {
			n, err := c.fetchRange(ctx, f, offset, w)
			progress := n > offset
			offset = n
			return progress, err
		})
	} else {
		offset, err = c.copyLocal(f, w)
	}
	if err != nil {
		return err
	}
	if offset != f.Size {
		return &mismatch{ChecksumError{URL: redact.URL(f.URL), What: "size", Want: strconv.FormatInt(f.Size, 10), Got: strconv.FormatInt(offset, 10)}}
	}
	if err := w.h.check(redact.URL(f.URL)); err != nil {
		return err
	}
	return out.Commit(into.Path(f.SHA256))
}

// copyLocal copies f from a local mirror directory.
func (c *Client) copyLocal(f File, w *writer) (int64, error) {
	src, err := os.Open(f.URL)
	if err != nil {
		return 0, &Error{URL: f.URL, Err: err}
	}
	defer src.Close()
	n, err := w.copy(src, f.Size+1)
	c.received.Add(n)
	return n, err
}

// fetchRange fetches f from offset, appending to w. It returns the new
// length of what w holds; nil when the body ended at its natural end (the
// size is checked by the caller). A broken or stalled body is a
// *retryable.
func (c *Client) fetchRange(ctx context.Context, f File, offset int64, w *writer) (int64, error) {
	resp, err := c.request(ctx, f.URL, offset, &c.received)
	if err != nil {
		return offset, err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusPartialContent && offset > 0 && contentRangeStart(resp) == offset:
	case resp.StatusCode == http.StatusOK:
		if offset > 0 {
			// The server ignored Range: start again from zero.
			c.opts.Log.Debug("server ignored Range; restarting", "url", redact.URL(f.URL))
			if err := w.restart(offset); err != nil {
				return 0, err
			}
			offset = 0
		}
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable && offset == f.Size:
		return offset, nil
	default:
		return offset, &Error{URL: redact.URL(f.URL), Status: resp.StatusCode}
	}
	n, err := w.copy(resp.Body, f.Size-offset+1)
	var de *disk.Error
	if err != nil && !errors.As(err, &de) {
		err = &retryable{err: err}
	}
	return offset + n, err
}

func contentRangeStart(resp *http.Response) int64 {
	cr := resp.Header.Get("Content-Range") // bytes 100-199/200
	cr = strings.TrimPrefix(cr, "bytes ")
	start, _, ok := strings.Cut(cr, "-")
	if !ok {
		return -1
	}
	n, err := strconv.ParseInt(start, 10, 64)
	if err != nil {
		return -1
	}
	return n
}

// writer puts a download into its .part and its hasher in one pass.
type writer struct {
	out sink
	h   *hasher // nil for a segment: the whole file is hashed at the end
	fp  FileProgress
}

// sink is where a writer puts a body: the .part (*disk.File), appended
// to, or one segment of it (*segmentSink), written at its place.
type sink interface {
	Write(p []byte) (int, error)
	Truncate(n int64) error // drop what is past n and write from there
}

// restart drops the had bytes already written, to write from zero.
func (w *writer) restart(had int64) error {
	w.h.reset()
	w.fp.Add(-int(had))
	return w.out.Truncate(0)
}

// copy copies at most limit bytes from src, with a large buffer. Write
// errors are *disk.Error; read errors are returned as they are.
func (w *writer) copy(src io.Reader, limit int64) (int64, error) {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	src = io.LimitReader(src, limit)
	var n int64
	for {
		m, rerr := src.Read(buf)
		if m > 0 {
			if _, err := w.out.Write(buf[:m]); err != nil {
				return n, err
			}
			w.h.Write(buf[:m])
			n += int64(m)
			w.fp.Add(m)
		}
		if rerr == io.EOF {
			return n, nil
		}
		if rerr != nil {
			return n, rerr
		}
	}
}

// hasher computes sha256 and, when the metadata has one, sha512 together.
type hasher struct {
	f      File
	sha256 hash.Hash
	sha512 hash.Hash
}

func newHasher(f File) *hasher {
	h := &hasher{f: f}
	h.reset()
	return h
}

func (h *hasher) reset() {
	h.sha256 = sha256.New()
	if h.f.SHA512 != "" {
		h.sha512 = sha512.New()
	}
}

// Write hashes p; a nil *hasher hashes nothing.
func (h *hasher) Write(p []byte) (int, error) {
	if h == nil {
		return len(p), nil
	}
	h.sha256.Write(p)
	if h.sha512 != nil {
		h.sha512.Write(p)
	}
	return len(p), nil
}

func (h *hasher) check(url string) error {
	if got := hex.EncodeToString(h.sha256.Sum(nil)); got != h.f.SHA256 {
		return &mismatch{ChecksumError{URL: url, What: "sha256", Want: h.f.SHA256, Got: got}}
	}
	if h.sha512 != nil {
		if got := hex.EncodeToString(h.sha512.Sum(nil)); got != h.f.SHA512 {
			return &mismatch{ChecksumError{URL: url, What: "sha512", Want: h.f.SHA512, Got: got}}
		}
	}
	return nil
}

type nopProgress struct{}

func (nopProgress) Add(int)    {}
func (nopProgress) Done(error) {}
