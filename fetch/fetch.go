// Package fetch downloads the files that simplestreams metadata describes
// into a cache.Dir, trusting the metadata rather than the server: each
// file streams into its .part while it is hashed, never beyond its
// declared size, resumes with Range after a broken or stalled body, and
// is renamed into the cache only when its size and checksums match. A
// large file is fetched as several ranges at once (segments.go). It
// reads the metadata itself too (index and products files, capped). One
// retry policy covers every request and every body (see Options.Retries).
package fetch

import (
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"maas-import-boot-images/internal/logs"
)

// Defaults of every HTTP client of the program, the region's and the
// streams' alike: attempts of at most 10 s each, three in all, with backoff
// between them, so that a dead server is reported within about 30 s
// (SPEC §2.2).
const (
	DefaultTimeout   = 10 * time.Second
	DefaultRetries   = 2
	DefaultUserAgent = "maas-import-boot-images"
)

// Options configure a Client. The zero value of each field is a usable
// default.
type Options struct {
	// Timeout bounds connecting, the TLS handshake and waiting for the
	// answer's header, and how long a body may send nothing before it
	// counts as stalled; a body that keeps coming is never cut. 0 →
	// DefaultTimeout.
	Timeout time.Duration
	// Retries is how many times in a row a failed attempt is tried again
	// (connection errors, 5xx, 429 and broken or stalled bodies; never
	// other 4xx), after a backoff that honours Retry-After up to a
	// minute. A download that kept new bytes before it broke resumes at
	// once with a fresh count: the server is answering. Negative → none.
	Retries int
	// UserAgent is sent with every request; "" → DefaultUserAgent.
	UserAgent string
	// Jobs is how many Gets the caller runs at once; 0 → 1. The Client
	// never has more than Jobs × Segments requests under way, nor more
	// connections to one host.
	Jobs int
	// Segments is how many ranges of one file larger than
	// SegmentThreshold are fetched at once; 1 → one stream per file, as
	// for smaller files (a download begun in segments still resumes in
	// them, one at a time); 0 → DefaultSegments.
	Segments int
	// SegmentThreshold is the size above which a file is fetched in
	// segments; 0 → DefaultSegmentThreshold.
	SegmentThreshold int64
	// Progress follows each Get; nil → none.
	Progress Progress
	// Log receives retries and mismatches; nil → discard.
	Log *slog.Logger
	// Limiter, when not nil, caps the rate at which every HTTP body is
	// read (metadata and files, all Gets at once), in bytes per second
	// (NewLimiter). Clients may share one. Files copied from a local
	// directory are not capped.
	Limiter *rate.Limiter
}

// Progress receives download progress. It must be safe for concurrent use.
type Progress interface {
	Start(name string, size int64) FileProgress
}

// FileProgress follows one download. Add may be called with a negative n
// when a download restarts, and from several goroutines at once when a
// file is fetched in segments.
type FileProgress interface {
	Add(n int)
	Done(err error)
}

// File is one file to download, as the metadata describes it.
type File struct {
	SHA256 string
	SHA512 string // checked too when not ""
	Size   int64
	URL    string // an http(s) URL, or a local path
	Name   string // for progress and logs
}

// Client fetches metadata and files over HTTP, or from the local file
// system. It is safe for concurrent use.
type Client struct {
	http     *http.Client
	opts     Options
	policy   policy
	received atomic.Int64  // payload bytes received, or copied from a local mirror
	conns    chan struct{} // one token per request under way: Jobs × Segments
	// saveEvery is how often a segmented download records its progress
	// (besides when a segment completes and when it stops).
	saveEvery time.Duration
}

// New returns a Client. It uses the standard proxy variables and never
// asks for transparent compression.
func New(opts Options) *Client {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	opts.Retries = max(opts.Retries, 0)
	opts.Jobs = max(opts.Jobs, 1)
	if opts.Segments <= 0 {
		opts.Segments = DefaultSegments
	}
	if opts.SegmentThreshold <= 0 {
		opts.SegmentThreshold = DefaultSegmentThreshold
	}
	conns := opts.Jobs * opts.Segments
	if opts.UserAgent == "" {
		opts.UserAgent = DefaultUserAgent
	}
	opts.Log = logs.OrDiscard(opts.Log)
	// Setting DialContext leaves HTTP/2 off: each segment has a TCP
	// connection of its own, which is the point of segments where one
	// connection is capped.
	transport := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: opts.Timeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   opts.Timeout,
		ResponseHeaderTimeout: opts.Timeout,
		DisableCompression:    true,
		MaxIdleConnsPerHost:   conns,
		MaxConnsPerHost:       conns,
		IdleConnTimeout:       90 * time.Second,
	}
	return &Client{
		http:      &http.Client{Transport: transport},
		opts:      opts,
		policy:    policy{retries: opts.Retries, waitMin: 500 * time.Millisecond, waitMax: 10 * time.Second},
		conns:     make(chan struct{}, conns),
		saveEvery: time.Second,
	}
}

// Received is how many payload bytes the Client's Gets have received so
// far (or copied from a local mirror), resumed downloads only for what
// was fetched this time; metadata does not count.
func (c *Client) Received() int64 { return c.received.Load() }

func isURL(s string) bool { return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://") }
