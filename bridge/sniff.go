package bridge

import (
	"bufio"
	"crypto/tls"
	"net"
	"sync"
	"time"
)

// sniff serves TLS and plaintext on one port: it peeks at the first byte of
// each connection the gate admits and wraps those that open with a TLS
// handshake record (0x16) in a tls.Server with cfg. With requireTLS other
// connections get an HTTP 400 and are closed.
//
// This lets a listener without a configured certificate serve both
// `wss://host:8081` (with its generated certificate, authenticated by the
// channel-bound token proof) and `ws://host:8081`. A nil cfg serves
// plaintext only. Peeking happens on a goroutine per connection, so a client
// that connects and stays silent delays nobody else; the gate's deadline
// bounds its wait.
func sniff(g *gate, cfg *tls.Config, requireTLS bool) net.Listener {
	if cfg == nil {
		return g
	}
	s := &sniffListener{gate: g, cfg: cfg, require: requireTLS, conns: make(chan net.Conn), done: make(chan struct{})}
	go s.loop()
	return s
}

type sniffListener struct {
	gate    *gate
	cfg     *tls.Config
	require bool
	conns   chan net.Conn
	done    chan struct{}
	err     error // set before done is closed
	once    sync.Once
}

func (l *sniffListener) loop() {
	for {
		c, err := l.gate.Accept()
		if err != nil { // the gate returns errors only once it is closed
			l.err = err
			l.once.Do(func() { close(l.done) })
			return
		}
		go l.classify(c)
	}
}

func (l *sniffListener) classify(c net.Conn) {
	if pc := pendingOf(c); pc != nil {
		_ = c.SetReadDeadline(pc.deadline)
	}
	br := bufio.NewReaderSize(c, 1)
	first, err := br.Peek(1)
	_ = c.SetReadDeadline(time.Time{})
	if err != nil {
		_ = c.Close()
		return
	}
	var out net.Conn = &peekedConn{Conn: c, r: br}
	switch {
	case first[0] == 0x16:
		out = tls.Server(out, l.cfg)
	case l.require:
		_ = c.SetWriteDeadline(time.Now().Add(closeWait))
		_, _ = c.Write([]byte("HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: text/plain\r\n\r\nthis port requires TLS (wss://)\n"))
		_ = c.Close()
		return
	}
	select {
	case l.conns <- out:
	case <-l.done:
		_ = out.Close()
	}
}

// Accept returns the next classified connection.
func (l *sniffListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, l.err
	}
}

// Close stops accepting.
func (l *sniffListener) Close() error { return l.gate.Close() }

// Addr is the listening address.
func (l *sniffListener) Addr() net.Addr { return l.gate.Addr() }

// peekedConn is a connection whose first bytes were read ahead.
type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *peekedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// NetConn returns the connection underneath.
func (c *peekedConn) NetConn() net.Conn { return c.Conn }
