package streamtest

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Hook sees a request before the files do. It answers the request itself,
// or passes it on with next.ServeHTTP, perhaps with a changed request or a
// wrapped writer (as CutAfter, Stall and Drip do). Hooks run concurrently, one
// per request.
type Hook func(w http.ResponseWriter, r *http.Request, next http.Handler)

// Chain runs hooks in order: each one's next is the rest of the chain,
// and the last one's is the files.
func Chain(hooks ...Hook) Hook {
	return func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		if len(hooks) == 0 {
			next.ServeHTTP(w, r)
			return
		}
		hooks[0](w, r, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			Chain(hooks[1:]...)(w, r, next)
		}))
	}
}

// when applies h to the requests that match; the others go on.
func when(match func(r *http.Request) bool, h Hook) Hook {
	return func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		if match(r) {
			h(w, r, next)
			return
		}
		next.ServeHTTP(w, r)
	}
}

// Payloads applies h to requests for payload files only (see IsPayload).
func Payloads(h Hook) Hook {
	return when(func(r *http.Request) bool { return IsPayload(r.URL.Path) }, h)
}

// Suffix applies h to requests whose path ends in suffix.
func Suffix(suffix string, h Hook) Hook {
	return when(func(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, suffix) }, h)
}

// Once applies h to the first request for each path only.
func Once(h Hook) Hook {
	var mu sync.Mutex
	seen := map[string]bool{}
	return when(func(r *http.Request) bool {
		mu.Lock()
		defer mu.Unlock()
		first := !seen[r.URL.Path]
		seen[r.URL.Path] = true
		return first
	}, h)
}

// First applies h to the first n requests that reach it.
func First(n int, h Hook) Hook {
	var mu sync.Mutex
	return when(func(*http.Request) bool {
		mu.Lock()
		defer mu.Unlock()
		n--
		return n >= 0
	}, h)
}

// Status answers with the status code, an empty body and the given header
// fields, as name, value pairs.
func Status(code int, header ...string) Hook {
	return func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.WriteHeader(code)
	}
}

// IgnoreRange serves every request whole, as a server that does not do
// ranges would: a 200 with the whole file.
func IgnoreRange(w http.ResponseWriter, r *http.Request, next http.Handler) {
	r.Header.Del("Range")
	next.ServeHTTP(w, r)
}

// Delay waits d (or until the client goes away) before passing the
// request on.
func Delay(d time.Duration) Hook {
	return func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		select {
		case <-time.After(d):
			next.ServeHTTP(w, r)
		case <-r.Context().Done():
		}
	}
}

// Garbage answers 200 with n zero bytes, never the file, and stops early
// when the client goes away: for wrong, oversized and endless bodies.
func Garbage(n int64) Hook {
	return func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		w.WriteHeader(http.StatusOK)
		chunk := make([]byte, min(n, 1<<20))
		for left := n; left > 0; {
			k, err := w.Write(chunk[:min(left, int64(len(chunk)))])
			if err != nil {
				return
			}
			left -= int64(k)
		}
	}
}

// CutAfter serves the file's headers (its full Content-Length, or a 206
// for a Range) and its first n body bytes, then breaks the connection.
// With n = 0 the client gets no answer at all: the headers are never
// sent.
func CutAfter(n int64) Hook {
	return cut(func(int64) int64 { return n })
}

// CutAt is CutAfter for the given fraction of the body this answer
// declares.
func CutAt(fraction float64) Hook {
	return cut(func(size int64) int64 { return int64(float64(size) * fraction) })
}

func cut(keep func(size int64) int64) Hook {
	return func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		next.ServeHTTP(&cutWriter{ResponseWriter: w, keep: keep, left: -1}, r)
	}
}

type cutWriter struct {
	http.ResponseWriter
	keep func(size int64) int64
	left int64 // bytes still to send; -1 until the first write
	sent bool
}

func (c *cutWriter) Write(p []byte) (int, error) {
	if c.left < 0 {
		size, _ := strconv.ParseInt(c.Header().Get("Content-Length"), 10, 64)
		c.left = c.keep(size)
	}
	if int64(len(p)) <= c.left {
		c.left -= int64(len(p))
		c.sent = c.sent || len(p) > 0
		return c.ResponseWriter.Write(p)
	}
	if c.left > 0 {
		c.ResponseWriter.Write(p[:c.left])
		c.sent = true
	}
	if c.sent {
		// What was sent reaches the client before the connection breaks.
		_ = http.NewResponseController(c.ResponseWriter).Flush()
	}
	panic(http.ErrAbortHandler)
}

// Stall serves the file's headers and its first n body bytes, then sends
// nothing more until the client goes away.
func Stall(n int64) Hook {
	return trickle(func(w http.ResponseWriter, r *http.Request, p []byte, sent int64) (int, error) {
		if sent >= n {
			_ = http.NewResponseController(w).Flush()
			<-r.Context().Done()
			return 0, r.Context().Err()
		}
		p = p[:min(int64(len(p)), n-sent)]
		return w.Write(p)
	})
}

// Drip serves the file in pieces of size bytes, every apart, flushing
// each, until it is whole or the client goes away.
func Drip(size int, every time.Duration) Hook {
	return trickle(func(w http.ResponseWriter, r *http.Request, p []byte, sent int64) (int, error) {
		if sent > 0 {
			select {
			case <-time.After(every):
			case <-r.Context().Done():
				return 0, r.Context().Err()
			}
		}
		return w.Write(p[:min(len(p), size)])
	})
}

// trickle passes the request on with a writer that hands the body to
// write a piece at a time, flushing after each piece; write returns how
// much of p it sent, sent being the body bytes sent before.
func trickle(write func(w http.ResponseWriter, r *http.Request, p []byte, sent int64) (int, error)) Hook {
	return func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		next.ServeHTTP(&trickleWriter{ResponseWriter: w, r: r, write: write}, r)
	}
}

type trickleWriter struct {
	http.ResponseWriter
	r     *http.Request
	write func(w http.ResponseWriter, r *http.Request, p []byte, sent int64) (int, error)
	sent  int64
}

func (t *trickleWriter) Write(p []byte) (int, error) {
	total := 0
	for len(p) > 0 {
		n, err := t.write(t.ResponseWriter, t.r, p, t.sent)
		t.sent += int64(n)
		total += n
		p = p[n:]
		if err == nil && n == 0 {
			err = errors.New("streamtest: nothing written")
		}
		if err == nil {
			err = http.NewResponseController(t.ResponseWriter).Flush()
		}
		if err != nil {
			return total, err
		}
	}
	return total, nil
}
