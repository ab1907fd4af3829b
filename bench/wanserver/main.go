// Command wanserver serves a directory over HTTP (with Range, as a web
// server does) the way a far mirror behind a per-connection cap looks
// from a rack: every TCP connection is paced to -rate bytes per second,
// and every new connection and every request waits -rtt first, a round
// trip each. It prints the address it listens on.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"time"
)

func main() {
	dir := flag.String("dir", ".", "directory to serve")
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on")
	rate := flag.Float64("rate", 8e6, "bytes per second per connection")
	rtt := flag.Duration("rtt", 50*time.Millisecond, "round-trip time added to each new connection and each request")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ln.Addr())
	os.Stdout.Sync()
	files := http.FileServer(http.Dir(*dir))
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(*rtt)
		files.ServeHTTP(w, r)
	})}
	log.Fatal(srv.Serve(&listener{Listener: ln, rate: *rate, rtt: *rtt}))
}

// listener paces the connections it accepts.
type listener struct {
	net.Listener
	rate float64
	rtt  time.Duration
}

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &conn{Conn: c, rate: l.rate, handshake: l.rtt, last: time.Now()}, nil
}

// conn is one paced connection: a token bucket of burst bytes, filled at
// rate, that writes may overdraw by up to debt bytes before they wait
// (one sleep per debt bytes, not per write). Its writes come from one
// goroutine at a time (the server's).
type conn struct {
	net.Conn
	rate      float64
	handshake time.Duration // waited before the first read
	tokens    float64
	last      time.Time
}

const (
	burst = 64 << 10
	debt  = 64 << 10
)

func (c *conn) Read(p []byte) (int, error) {
	if c.handshake > 0 {
		time.Sleep(c.handshake)
		c.handshake = 0
	}
	return c.Conn.Read(p)
}

func (c *conn) Write(p []byte) (int, error) {
	c.refill()
	if c.tokens < -debt {
		time.Sleep(time.Duration(-c.tokens / c.rate * float64(time.Second)))
		c.refill()
	}
	n, err := c.Conn.Write(p)
	c.tokens -= float64(n)
	return n, err
}

// refill adds what the time since the last refill earned, up to the
// burst; a sleep that overslept leaves credit that way.
func (c *conn) refill() {
	now := time.Now()
	c.tokens = min(burst, c.tokens+now.Sub(c.last).Seconds()*c.rate)
	c.last = now
}
