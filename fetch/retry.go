package fetch

import (
	"context"
	"errors"
	"maas-import-boot-images/internal/redact"
	"net/http"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

// maxRetryAfter caps how long a Retry-After answer can make a run wait.
const maxRetryAfter = 60 * time.Second

// policy is a Client's one rule for trying again (Options.Retries): an
// attempt is one request and the body it answers; one that fails with a
// *retryable error is tried again while no more than retries attempts in
// a row have failed without progress. Which failures are retryable, and
// how long to wait before the next attempt, is retryablehttp's rule
// (DefaultRetryPolicy, DefaultBackoff with Retry-After), the wait capped
// at maxRetryAfter.
type policy struct {
	retries          int
	waitMin, waitMax time.Duration
}

// retryable is a failed attempt worth another: a connection error, a 5xx
// or 429 answer, or a body that broke or stalled.
type retryable struct {
	err  error          // nil for an answer's status
	resp *http.Response // the answer, body closed; nil when there was none
}

func (r *retryable) Error() string {
	if r.err == nil {
		return r.resp.Status
	}
	return r.err.Error()
}

func (r *retryable) Unwrap() error { return r.err }

// giveUp is the error of the last attempt when there is to be no other.
func (r *retryable) giveUp(rawURL string) error {
	e := &Error{URL: redact.URL(rawURL), Err: r.err}
	if r.err == nil {
		e.Status = r.resp.StatusCode
	}
	return e
}

// classify sorts the outcome of a request: a *retryable, an *Error that
// no retry can mend, or nil for an answer whose status is the caller's to
// judge.
func (p policy) classify(ctx context.Context, rawURL string, resp *http.Response, err error) error {
	retry, _ := retryablehttp.DefaultRetryPolicy(ctx, resp, err)
	switch {
	case retry:
		return &retryable{err: err, resp: resp}
	case err != nil:
		return &Error{URL: redact.URL(rawURL), Err: err}
	}
	return nil
}

// backoff is how long to wait before the attempt that follows failures
// failed ones in a row (1 for the first retry).
func (p policy) backoff(failures int, resp *http.Response) time.Duration {
	return min(retryablehttp.DefaultBackoff(p.waitMin, p.waitMax, failures-1, resp), maxRetryAfter)
}

// do runs attempt until it succeeds or fails for good under the policy.
// attempt reports whether it made progress (a download kept new bytes)
// along with its error. A cancelled ctx ends do with ctx's error.
func (c *Client) do(ctx context.Context, rawURL string, attempt func() (progress bool, err error)) error {
	failures := 0
	for {
		progress, err := attempt()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var r *retryable
		if !errors.As(err, &r) {
			return err
		}
		if progress {
			failures = 0
			c.opts.Log.Info("download interrupted; resuming", "url", redact.URL(rawURL), "err", err)
			continue
		}
		if failures++; failures > c.policy.retries {
			return r.giveUp(rawURL)
		}
		wait := c.policy.backoff(failures, r.resp)
		c.opts.Log.Info("retrying", "url", redact.URL(rawURL), "attempt", failures, "in", wait, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}
