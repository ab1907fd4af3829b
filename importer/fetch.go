package importer

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

// maxRetryAfter caps how long a Retry-After answer can make a run wait.
const maxRetryAfter = 60 * time.Second

// maxMetadata caps an index or products file.
const maxMetadata = 64 << 20

// fetcher fetches metadata and files over HTTP (with retries) or from the
// local file system. It is safe for concurrent use.
type fetcher struct {
	client    *retryablehttp.Client
	timeout   time.Duration
	retries   int
	userAgent string
	log       *slog.Logger
	received  atomic.Int64 // payload bytes received (or copied from a local mirror)
}

func newFetcher(opts Options) *fetcher {
	transport := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: opts.Timeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   opts.Timeout,
		ResponseHeaderTimeout: opts.Timeout,
		DisableCompression:    true,
		MaxIdleConnsPerHost:   opts.Jobs + 1,
		IdleConnTimeout:       90 * time.Second,
	}
	c := retryablehttp.NewClient()
	c.HTTPClient = &http.Client{Transport: transport}
	c.Logger = nil
	c.RetryMax = opts.Retries
	c.RetryWaitMin = 500 * time.Millisecond
	c.RetryWaitMax = 10 * time.Second
	c.ErrorHandler = retryablehttp.PassthroughErrorHandler
	c.Backoff = func(min, max time.Duration, attempt int, resp *http.Response) time.Duration {
		d := retryablehttp.DefaultBackoff(min, max, attempt, resp)
		return min2(d, maxRetryAfter)
	}
	log := opts.Log
	c.RequestLogHook = func(_ retryablehttp.Logger, req *http.Request, attempt int) {
		if attempt > 0 {
			log.Info("retrying", "url", redact(req.URL), "attempt", attempt)
		}
	}
	return &fetcher{client: c, timeout: opts.Timeout, retries: opts.Retries, userAgent: opts.UserAgent, log: log}
}

func min2(a, b time.Duration) time.Duration {
	if a < b {
		return a
	}
	return b
}

// redact drops a URL's user information for logs and errors.
func redact(u *url.URL) string {
	if u.User == nil {
		return u.String()
	}
	c := *u
	c.User = nil
	return c.String()
}

func redactString(s string) string {
	if u, err := url.Parse(s); err == nil {
		return redact(u)
	}
	return s
}

func isURL(s string) bool { return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://") }

// get starts a GET of an http(s) URL from offset (a Range request when
// offset > 0). The caller closes the body. The body is cancelled when it
// stalls for longer than the timeout.
func (f *fetcher) get(ctx context.Context, rawURL string, offset int64, counter *atomic.Int64) (*http.Response, func(), error) {
	ctx, cancel := context.WithCancel(ctx)
	req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		cancel()
		return nil, nil, &FetchError{URL: redactString(rawURL), Err: err}
	}
	req.Header.Set("User-Agent", f.userAgent)
	req.Header.Set("Accept-Encoding", "identity")
	if offset > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(offset, 10)+"-")
	}
	f.log.Debug("GET", "url", redactString(rawURL), "from", offset)
	resp, err := f.client.Do(req)
	if err != nil {
		cancel()
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			return nil, nil, err
		}
		return nil, nil, &FetchError{URL: redactString(rawURL), Err: err}
	}
	sr := &stallReader{r: resp.Body, timeout: f.timeout, counter: counter}
	sr.timer = time.AfterFunc(f.timeout, func() {
		sr.stalled.Store(true)
		cancel()
	})
	resp.Body = sr
	return resp, cancel, nil
}

// stallError is a body that sent nothing for the timeout: a network fault
// (exit 3 when it persists), not the run being cancelled.
type stallError struct{ timeout time.Duration }

func (e *stallError) Error() string {
	return fmt.Sprintf("no data for %s: the transfer stalled", e.timeout)
}
func (e *stallError) Timeout() bool   { return true }
func (e *stallError) Temporary() bool { return true }

// stallReader cancels its request when no byte arrives for timeout, and
// counts what it reads.
type stallReader struct {
	r       io.ReadCloser
	timer   *time.Timer
	timeout time.Duration
	counter *atomic.Int64
	stalled atomic.Bool
}

func (s *stallReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if n > 0 {
		s.timer.Reset(s.timeout)
		if s.counter != nil {
			s.counter.Add(int64(n))
		}
	}
	if err != nil && err != io.EOF && s.stalled.Load() {
		// The timer cancelled the request: say so, rather than pass on
		// a "context canceled" that reads as the run being interrupted.
		err = &stallError{s.timeout}
	}
	return n, err
}

func (s *stallReader) Close() error {
	s.timer.Stop()
	return s.r.Close()
}

// readMetadata reads an index or products file, at most maxMetadata bytes.
func (f *fetcher) readMetadata(ctx context.Context, loc string) ([]byte, error) {
	if !isURL(loc) {
		fh, err := os.Open(loc)
		if err != nil {
			return nil, &FetchError{URL: loc, Err: err}
		}
		defer fh.Close()
		return readCapped(fh, loc)
	}
	var last error
	for attempt := 0; attempt <= f.retries; attempt++ {
		resp, cancel, err := f.get(ctx, loc, 0, nil)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			cancel()
			return nil, &FetchError{URL: redactString(loc), Status: resp.StatusCode}
		}
		b, err := readCapped(resp.Body, redactString(loc))
		resp.Body.Close()
		cancel()
		if err == nil || errors.As(err, new(*tooLargeError)) {
			return b, err
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		last = err
	}
	return nil, &FetchError{URL: redactString(loc), Err: last}
}

type tooLargeError struct{ loc string }

func (e *tooLargeError) Error() string {
	return fmt.Sprintf("%s is larger than %d MiB: not simplestreams metadata", e.loc, maxMetadata>>20)
}

func readCapped(r io.Reader, loc string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxMetadata+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxMetadata {
		return nil, &FetchError{URL: loc, Err: &tooLargeError{loc}}
	}
	return b, nil
}

// file is one file to download: a distinct sha256.
type file struct {
	SHA256 string
	SHA512 string
	Size   int64
	URL    string // http(s) URL or local path
	Name   string // for progress and logs
}

// errMismatch marks a download whose size or hash is wrong.
type mismatch struct{ ChecksumError }

var bufPool = sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}

// download fetches f into cache/<sha256>: streamed into a .part file while
// hashed, resumed with Range after a broken body, verified, synced and
// renamed. A size or checksum mismatch deletes the .part and fetches once
// more; a second one is a *ChecksumError.
func (f *fetcher) download(ctx context.Context, cache string, fl file, progress Progress) error {
	var fp FileProgress = nopProgress{}
	if progress != nil {
		fp = progress.Start(fl.Name, fl.Size)
	}
	var err error
	for attempt := 0; attempt < 2; attempt++ {
		err = f.downloadOnce(ctx, cache, fl, fp)
		var m *mismatch
		if !errors.As(err, &m) {
			break
		}
		f.log.Warn("downloaded file does not match its metadata", "url", m.URL, "what", m.What, "want", m.Want, "got", m.Got)
		_ = os.Remove(partName(cache, fl.SHA256))
		err = &m.ChecksumError
	}
	fp.Done(err)
	return err
}

func partName(cache, sha string) string { return cache + "/" + sha + ".part" }

func (f *fetcher) downloadOnce(ctx context.Context, cache string, fl file, fp FileProgress) error {
	part := partName(cache, fl.SHA256)
	out, err := openPart(part)
	if err != nil {
		return err
	}
	defer out.Close()
	h := newHasher(fl)
	// Resume: hash what an earlier run left, unless it is too long.
	offset, err := out.Seek(0, io.SeekEnd)
	if err != nil {
		return fsErr("reading", part, err)
	}
	if offset > fl.Size || !isURL(fl.URL) {
		offset = 0
	}
	if offset > 0 {
		if _, err := out.Seek(0, io.SeekStart); err != nil {
			return fsErr("reading", part, err)
		}
		if _, err := io.Copy(h, io.LimitReader(out, offset)); err != nil {
			return fsErr("reading", part, err)
		}
		fp.Add(int(offset))
	}
	if err := restart(out, offset); err != nil {
		return fsErr("writing", part, err)
	}
	if !isURL(fl.URL) {
		src, err := os.Open(fl.URL)
		if err != nil {
			return &FetchError{URL: fl.URL, Err: err}
		}
		defer src.Close()
		n, err := copyBuf(out, h, src, fl.Size+1, fp)
		f.received.Add(n)
		if err != nil {
			return err
		}
		offset = n
	} else {
		var bodyErr error
		for try := 0; ; try++ {
			if err := ctx.Err(); err != nil {
				return err
			}
			n, done, err := f.fetchRange(ctx, fl, offset, out, h, fp)
			if n > offset {
				try = 0 // progress: the body broke, the server did not
			}
			offset = n
			if done || err == nil {
				break
			}
			var fe *FetchError
			if errors.As(err, &fe) || errors.As(err, new(*StorageError)) || ctx.Err() != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return err
			}
			bodyErr = err
			if try >= f.retries+2 {
				return &FetchError{URL: redactString(fl.URL), Err: fmt.Errorf("body kept breaking: %w", bodyErr)}
			}
			f.log.Info("download interrupted; resuming", "url", redactString(fl.URL), "at", offset, "err", err)
		}
	}
	if offset != fl.Size {
		return &mismatch{ChecksumError{URL: redactString(fl.URL), What: "size", Want: strconv.FormatInt(fl.Size, 10), Got: strconv.FormatInt(offset, 10)}}
	}
	if err := h.check(redactString(fl.URL)); err != nil {
		return err
	}
	if err := syncFile(out); err != nil {
		return fsErr("syncing", part, err)
	}
	if err := out.Close(); err != nil {
		return fsErr("closing", part, err)
	}
	final := cache + "/" + fl.SHA256
	if err := os.Chmod(part, 0o644); err != nil {
		return fsErr("chmod", part, err)
	}
	if err := fault("rename-cache", part); err != nil {
		return fsErr("renaming", part, err)
	}
	return fsErr("renaming", part, os.Rename(part, final))
}

// restart positions out at offset, dropping anything after it.
func restart(out *os.File, offset int64) error {
	if err := out.Truncate(offset); err != nil {
		return err
	}
	_, err := out.Seek(offset, io.SeekStart)
	return err
}

// fetchRange fetches fl from offset, appending to out. It returns the new
// length of out; done is true when the body ended at its natural end (the
// size is checked by the caller). An error that is not a *FetchError is a
// broken or stalled body, worth resuming.
func (f *fetcher) fetchRange(ctx context.Context, fl file, offset int64, out *os.File, h *hasher, fp FileProgress) (int64, bool, error) {
	resp, cancel, err := f.get(ctx, fl.URL, offset, &f.received)
	if err != nil {
		return offset, false, err
	}
	defer cancel()
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusPartialContent && offset > 0 && contentRangeStart(resp) == offset:
	case resp.StatusCode == http.StatusOK:
		if offset > 0 {
			// The server ignored Range: start again from zero.
			f.log.Debug("server ignored Range; restarting", "url", redactString(fl.URL))
			h.reset()
			fp.Add(-int(offset))
			offset = 0
			if err := restart(out, 0); err != nil {
				return 0, false, fsErr("writing", out.Name(), err)
			}
		}
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable && offset == fl.Size:
		return offset, true, nil
	default:
		return offset, false, &FetchError{URL: redactString(fl.URL), Status: resp.StatusCode}
	}
	n, err := copyBuf(out, h, resp.Body, fl.Size-offset+1, fp)
	return offset + n, err == nil, err
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

// copyBuf copies at most limit bytes from src to out and the hasher, in
// one pass with a large buffer. Write errors are storage errors; read
// errors are returned as they are.
func copyBuf(out *os.File, h *hasher, src io.Reader, limit int64, fp FileProgress) (int64, error) {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	src = io.LimitReader(src, limit)
	var n int64
	for {
		m, rerr := src.Read(buf)
		if m > 0 {
			if err := fault("write", out.Name()); err != nil {
				return n, fsErr("writing", out.Name(), err)
			}
			if _, err := out.Write(buf[:m]); err != nil {
				return n, fsErr("writing", out.Name(), err)
			}
			h.Write(buf[:m])
			n += int64(m)
			fp.Add(m)
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
	fl     file
	sha256 hash.Hash
	sha512 hash.Hash
}

func newHasher(fl file) *hasher {
	h := &hasher{fl: fl}
	h.reset()
	return h
}

func (h *hasher) reset() {
	h.sha256 = sha256.New()
	if h.fl.SHA512 != "" {
		h.sha512 = sha512.New()
	}
}

func (h *hasher) Write(p []byte) (int, error) {
	h.sha256.Write(p)
	if h.sha512 != nil {
		h.sha512.Write(p)
	}
	return len(p), nil
}

func (h *hasher) check(url string) error {
	if got := hex.EncodeToString(h.sha256.Sum(nil)); got != h.fl.SHA256 {
		return &mismatch{ChecksumError{URL: url, What: "sha256", Want: h.fl.SHA256, Got: got}}
	}
	if h.sha512 != nil {
		if got := hex.EncodeToString(h.sha512.Sum(nil)); got != h.fl.SHA512 {
			return &mismatch{ChecksumError{URL: url, What: "sha512", Want: h.fl.SHA512, Got: got}}
		}
	}
	return nil
}

type nopProgress struct{}

func (nopProgress) Add(int)    {}
func (nopProgress) Done(error) {}

// openPart opens (or creates) a .part file for appending, never through a
// symlink: anything at that name that is not a regular file is removed
// first, so that a link planted in the cache cannot redirect a download.
func openPart(part string) (*os.File, error) {
	if err := fault("create-part", part); err != nil {
		return nil, fsErr("creating", part, err)
	}
	for range 2 {
		out, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0o644)
		if err == nil {
			fi, err := out.Stat()
			if err == nil && fi.Mode().IsRegular() {
				return out, nil
			}
			out.Close()
		} else if !errors.Is(err, syscall.ELOOP) {
			return nil, fsErr("creating", part, err)
		}
		if err := os.Remove(part); err != nil {
			return nil, fsErr("removing", part, err)
		}
	}
	return nil, fsErr("creating", part, errors.New("keeps being replaced"))
}
