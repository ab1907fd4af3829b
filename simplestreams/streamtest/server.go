package streamtest

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// Server serves a stream directory over HTTP with http.FileServer (so
// Range requests get 206 answers), records every request and the body
// bytes written for it, and passes each request through a Hook first when
// one is set. It is safe for concurrent use.
type Server struct {
	URL string // the server's base URL, without a trailing slash

	files atomic.Pointer[tree]
	hook  atomic.Pointer[Hook]

	mu       sync.Mutex
	requests []*Request
}

// tree is a directory and its file server, swapped as one.
type tree struct {
	dir   string
	files http.Handler
}

// Request is what the server saw of one request.
type Request struct {
	Path  string // the URL path, without the query
	Range string // the Range header as it arrived, before any hook
	Bytes int64  // body bytes handed to the connection
}

// NewServer serves dir, through hooks when given (see Chain), until the
// test ends. At the end the contexts of requests still running are
// cancelled first, so that a hook waiting on one lets the server close.
func NewServer(t testing.TB, dir string, hooks ...Hook) *Server {
	s := &Server{}
	s.Serve(dir)
	if len(hooks) > 0 {
		s.SetHook(hooks...)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv := httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	srv.Config.BaseContext = func(net.Listener) context.Context { return ctx }
	srv.Start()
	s.URL = srv.URL
	t.Cleanup(func() {
		cancel()
		srv.Close()
	})
	return s
}

// Serve switches the server to dir. Each request is served whole from the
// directory that was current when it arrived.
func (s *Server) Serve(dir string) {
	s.files.Store(&tree{dir: dir, files: http.FileServer(http.Dir(dir))})
}

// Dir returns the directory being served.
func (s *Server) Dir() string { return s.files.Load().dir }

// SetHook makes every later request pass through the hooks, in order (see
// Chain); without hooks, requests go straight to the files.
func (s *Server) SetHook(hooks ...Hook) {
	if len(hooks) == 0 {
		s.hook.Store(nil)
		return
	}
	h := Chain(hooks...)
	s.hook.Store(&h)
}

// Requests returns the requests since the start or the last Reset, in
// the order they arrived.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests))
	for i, r := range s.requests {
		out[i] = *r
	}
	return out
}

// Reset forgets the requests seen so far.
func (s *Server) Reset() {
	s.mu.Lock()
	s.requests = nil
	s.mu.Unlock()
}

// IsPayload reports whether a URL path names a payload file rather than
// metadata (which lives under /streams/).
func IsPayload(path string) bool { return !strings.HasPrefix(path, "/streams/") }

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	req := &Request{Path: r.URL.Path, Range: r.Header.Get("Range")}
	s.mu.Lock()
	s.requests = append(s.requests, req)
	s.mu.Unlock()
	cw := &countingWriter{ResponseWriter: w, s: s, req: req}
	files := s.files.Load().files
	if h := s.hook.Load(); h != nil {
		(*h)(cw, r, files)
		return
	}
	files.ServeHTTP(cw, r)
}

func (s *Server) count(req *Request, n int64) {
	s.mu.Lock()
	req.Bytes += n
	s.mu.Unlock()
}

// countingWriter counts the body bytes of one request before it hands
// them on, so that a client that has read a body finds it counted. It
// keeps the ReadFrom of the writer it wraps, so that files still go out
// with sendfile, and its Flush, for hooks that trickle.
type countingWriter struct {
	http.ResponseWriter
	s   *Server
	req *Request
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.s.count(c.req, int64(len(p)))
	n, err := c.ResponseWriter.Write(p)
	c.s.count(c.req, int64(n-len(p)))
	return n, err
}

// ReadFrom counts a limited reader's limit ahead (the file server sends
// files so), anything else once copied.
func (c *countingWriter) ReadFrom(src io.Reader) (int64, error) {
	var ahead int64
	if lr, ok := src.(*io.LimitedReader); ok {
		ahead = lr.N
	}
	c.s.count(c.req, ahead)
	n, err := io.Copy(c.ResponseWriter, src)
	c.s.count(c.req, n-ahead)
	return n, err
}

func (c *countingWriter) Flush() { _ = http.NewResponseController(c.ResponseWriter).Flush() }

func (c *countingWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }
