package fetch

import (
	"context"
	"fmt"
	"io"
	"maas-import-boot-images/internal/redact"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// request makes one GET of an http(s) URL from offset (a Range request
// when offset > 0). The error is a *retryable or an *Error (see
// policy.classify); otherwise the caller judges the status and closes the
// body, whose reads fail with a *stallError, cancelling the request, when
// nothing arrives for the timeout. counter, when not nil, counts what the
// body brings.
func (c *Client) request(ctx context.Context, rawURL string, offset int64, counter *atomic.Int64) (*http.Response, error) {
	return c.requestRange(ctx, rawURL, offset, -1, counter)
}

// requestRange is request for the bytes from offset to last (inclusive;
// -1: to the end). It waits for one of the Client's Jobs × Segments
// tokens, which closing the body gives back; ctx's error if ctx is done
// first.
func (c *Client) requestRange(ctx context.Context, rawURL string, offset, last int64, counter *atomic.Int64) (*http.Response, error) {
	select {
	case c.conns <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	release := sync.OnceFunc(func() { <-c.conns })
	ctx, cancel := context.WithCancel(ctx)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		cancel()
		release()
		return nil, &Error{URL: redact.URL(rawURL), Err: err}
	}
	req.Header.Set("User-Agent", c.opts.UserAgent)
	req.Header.Set("Accept-Encoding", "identity")
	if offset > 0 || last >= 0 {
		rng := "bytes=" + strconv.FormatInt(offset, 10) + "-"
		if last >= 0 {
			rng += strconv.FormatInt(last, 10)
		}
		req.Header.Set("Range", rng)
	}
	c.opts.Log.Debug("GET", "url", redact.URL(rawURL), "from", offset, "to", last)
	resp, err := c.http.Do(req)
	if err := c.policy.classify(ctx, rawURL, resp, err); err != nil {
		if resp != nil {
			resp.Body.Close()
		}
		cancel()
		release()
		return nil, err
	}
	sr := &stallReader{r: resp.Body, cancel: cancel, timeout: c.opts.Timeout, counter: counter, release: release}
	if lim := c.opts.Limiter; lim != nil {
		sr.chunk = lim.Burst()
		sr.wait = func(n int) error { return waitFor(ctx, lim, n) }
	}
	sr.timer = time.AfterFunc(c.opts.Timeout, func() {
		sr.stalled.Store(true)
		cancel()
	})
	resp.Body = sr
	return resp, nil
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
// counts what it reads. Under a rate cap (Options.Limiter) it reads at
// most chunk bytes at a time and, after each read, waits for the limiter;
// that wait is not a stall. Closing it ends the request.
type stallReader struct {
	r       io.ReadCloser
	cancel  context.CancelFunc
	timer   *time.Timer
	timeout time.Duration
	counter *atomic.Int64
	stalled atomic.Bool
	chunk   int               // 0: no cap
	wait    func(n int) error // waits for the rate cap to let n bytes through
	release func()            // gives the Client's token back
}

func (s *stallReader) Read(p []byte) (int, error) {
	if s.chunk > 0 && len(p) > s.chunk {
		p = p[:s.chunk]
	}
	n, err := s.r.Read(p)
	if n > 0 {
		s.timer.Reset(s.timeout)
		if s.counter != nil {
			s.counter.Add(int64(n))
		}
		if s.wait != nil {
			s.timer.Stop()
			if werr := s.wait(n); werr != nil {
				return n, werr
			}
			s.timer.Reset(s.timeout)
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
	err := s.r.Close()
	s.cancel()
	s.release()
	return err
}
