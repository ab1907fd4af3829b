package fetch

import (
	"net/http"
	"testing"
	"time"
)

func TestRetryAfterIsCapped(t *testing.T) {
	c := New(Options{Timeout: 2 * time.Second, Retries: 3})
	resp := &http.Response{StatusCode: 429, Header: http.Header{"Retry-After": []string{"86400"}}}
	// The SPEC caps Retry-After at 60 s: a mirror asking for a day gets
	// a minute, one asking for 2 s gets 2 s.
	if d := c.policy.backoff(1, resp); d != 60*time.Second {
		t.Errorf("Retry-After: 86400 waits %v, want 60s", d)
	}
	resp.Header.Set("Retry-After", "2")
	if d := c.policy.backoff(1, resp); d != 2*time.Second {
		t.Errorf("Retry-After: 2 waits %v, want 2s", d)
	}
}
