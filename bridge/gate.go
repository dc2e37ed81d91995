package bridge

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labelgate/labelgate/ratelog"
)

// Defaults for the caps on connections that have not authenticated yet.
const (
	DefaultMaxPending           = 256
	DefaultMaxPendingPerAddress = 32
)

// Accept retry pacing: the first retry after 5 ms, doubling to 1 s, as
// net/http paces its own.
const (
	acceptRetryMin = 5 * time.Millisecond
	acceptRetryMax = time.Second
	// acceptLogEvery spaces the WARN lines of an accept loop that keeps
	// failing.
	acceptLogEvery = 10 * time.Second
)

// gate is the front door of a Listener: it accepts TCP connections, keeps
// accepting after any error but a closed listener, and admits a connection
// only while the caps on unauthenticated connections (in all, and per remote
// address) allow. Every admitted connection has an absolute deadline,
// HandshakeTimeout after its accept, that nothing can extend: the gate
// closes it then unless the handshake authenticated it first.
type gate struct {
	ln                     net.Listener
	timeout                time.Duration
	maxPending, maxPerAddr int
	log                    *slog.Logger
	capLog                 *ratelog.Line

	closed    chan struct{}
	closeOnce sync.Once

	mu      sync.Mutex
	pending int
	perAddr map[netip.Prefix][]*pendingConn // oldest first
	failing error                           // the last accept error while accepts keep failing
	since   time.Time
}

func newGate(ln net.Listener, o Options, maxPending, maxPerAddr int) *gate {
	if maxPending <= 0 {
		maxPending = DefaultMaxPending
	}
	if maxPerAddr <= 0 {
		maxPerAddr = DefaultMaxPendingPerAddress
	}
	return &gate{
		ln: ln, timeout: o.HandshakeTimeout, maxPending: maxPending, maxPerAddr: maxPerAddr, log: o.Logger,
		capLog:  ratelog.New(o.Logger, slog.LevelWarn, "bridge connection refused: too many connections are still in their handshake", acceptLogEvery, 3),
		perAddr: map[netip.Prefix][]*pendingConn{}, closed: make(chan struct{}),
	}
}

// Accept returns the next admitted connection. It returns an error only when
// the listener is closed: every other accept error (too many open files, a
// connection aborted before it was accepted) is logged at WARN and retried
// with backoff, and Health reports it until an accept succeeds again.
func (g *gate) Accept() (net.Conn, error) {
	wait := time.Duration(0)
	var lastLog time.Time
	for {
		c, err := g.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil, err
			}
			wait = min(max(2*wait, acceptRetryMin), acceptRetryMax)
			g.mu.Lock()
			if g.failing == nil {
				g.since = time.Now()
			}
			g.failing = err
			since := g.since
			g.mu.Unlock()
			if time.Since(lastLog) >= acceptLogEvery {
				lastLog = time.Now()
				g.log.Warn("accepting a connection failed; retrying (nothing can connect while this lasts)",
					"err", err, "failing_since", since, "retry_in", wait)
			}
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-g.closed:
				t.Stop()
				return nil, net.ErrClosed
			}
			continue
		}
		if wait > 0 {
			g.mu.Lock()
			since := g.since
			g.failing = nil
			g.mu.Unlock()
			g.log.Info("accepting connections again", "failed_for", time.Since(since).Round(time.Millisecond))
			wait, lastLog = 0, time.Time{}
		}
		if pc, ok := g.admit(c); ok {
			return pc, nil
		}
	}
}

// health is nil while the gate accepts, else why it cannot.
func (g *gate) health() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.failing == nil {
		return nil
	}
	return fmt.Errorf("cannot accept connections since %s: %w", g.since.UTC().Format(time.RFC3339), g.failing)
}

// addrKey groups remote addresses: one per IPv4 address, one per IPv6 /64
// (one host's share of a network).
func addrKey(c net.Conn) netip.Prefix {
	ap, err := netip.ParseAddrPort(remoteAddr(c))
	if err != nil {
		return netip.Prefix{}
	}
	a := ap.Addr().Unmap()
	bits := 32
	if a.Is6() {
		bits = 64
	}
	p, _ := a.Prefix(bits)
	return p
}

// admit counts a fresh connection against the caps and arms its deadline,
// or closes it when a cap is reached. At the global cap the newcomer takes
// the slot of the oldest connection of the address that holds the most, if
// that address holds more than the newcomer's (as OpenSSH's MaxStartups
// sheds load): a few addresses filling every slot cannot lock others out.
func (g *gate) admit(c net.Conn) (*pendingConn, bool) {
	key := addrKey(c)
	pc := &pendingConn{Conn: c, gate: g, key: key}
	g.mu.Lock()
	over, victim := "", (*pendingConn)(nil)
	switch {
	case len(g.perAddr[key]) >= g.maxPerAddr:
		over = fmt.Sprintf("%d from one address", g.maxPerAddr)
	case g.pending >= g.maxPending:
		if victim = g.heaviest(key); victim == nil {
			over = fmt.Sprintf("%d in all", g.maxPending)
		}
	}
	if over == "" {
		if victim != nil {
			g.drop(victim) // its slot is the newcomer's; closed below
		}
		g.pending++
		g.perAddr[key] = append(g.perAddr[key], pc)
		// The handshake itself ends at deadline and then sends its close
		// frame (4004); the gate's timer is the backstop that closes the
		// socket whatever state the connection is in, closeWait later.
		pc.deadline = time.Now().Add(g.timeout)
		pc.timer = time.AfterFunc(g.timeout+closeWait, pc.expire)
	}
	g.mu.Unlock()
	if victim != nil {
		_ = victim.Conn.Close()
		g.capLog.Log("remote", remoteAddr(victim.Conn), "cap", fmt.Sprintf("%d in all; the oldest of the address with the most made room", g.maxPending))
	}
	if over != "" {
		_ = c.Close()
		g.capLog.Log("remote", remoteAddr(c), "cap", over)
		return nil, false
	}
	return pc, true
}

// heaviest returns the oldest connection of the address holding the most
// slots, if it holds more than key does; nil otherwise. g.mu is held.
func (g *gate) heaviest(key netip.Prefix) *pendingConn {
	var top []*pendingConn
	for _, cs := range g.perAddr {
		if len(cs) > len(top) {
			top = cs
		}
	}
	if len(top) <= len(g.perAddr[key]) {
		return nil
	}
	return top[0]
}

// drop frees c's slot now (the caller closes it); its own release is then a
// no-op. g.mu is held.
func (g *gate) drop(c *pendingConn) {
	if c.done.CompareAndSwap(false, true) {
		c.timer.Stop()
		g.remove(c)
	}
}

func (g *gate) release(c *pendingConn) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.remove(c)
}

// remove takes c out of the counts. g.mu is held.
func (g *gate) remove(c *pendingConn) {
	g.pending--
	cs := g.perAddr[c.key]
	for i, x := range cs {
		if x == c {
			cs = append(cs[:i:i], cs[i+1:]...)
			break
		}
	}
	if len(cs) == 0 {
		delete(g.perAddr, c.key)
	} else {
		g.perAddr[c.key] = cs
	}
}

// inHandshake reports how many connections are in their handshake.
func (g *gate) inHandshake() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.pending
}

// Close stops accepting; an Accept waiting to retry returns at once.
func (g *gate) Close() error {
	g.closeOnce.Do(func() { close(g.closed) })
	return g.ln.Close()
}

func (g *gate) Addr() net.Addr { return g.ln.Addr() }

// pendingConn is a connection that has not authenticated yet. It holds a slot
// of the gate until it authenticates, closes, expires or is evicted,
// whichever comes first (done says one of them did), and is closed at its
// deadline unless it authenticated. done is claimed with a compare-and-swap,
// never a lock, so the gate can evict a connection while holding its own
// mutex.
type pendingConn struct {
	net.Conn
	gate     *gate
	key      netip.Prefix
	deadline time.Time
	timer    *time.Timer
	done     atomic.Bool
}

// authenticated frees the connection's slot and disarms its deadline. It
// reports false when the deadline passed or the gate evicted it first (the
// connection is then closed).
func (c *pendingConn) authenticated() bool {
	if !c.done.CompareAndSwap(false, true) {
		return false
	}
	stopped := c.timer.Stop()
	c.gate.release(c)
	return stopped
}

// expire closes a connection whose handshake did not finish in time.
func (c *pendingConn) expire() {
	if c.done.CompareAndSwap(false, true) {
		c.gate.release(c)
	}
	_ = c.Conn.Close()
}

// Close frees the slot of a connection that never authenticated.
func (c *pendingConn) Close() error {
	if c.done.CompareAndSwap(false, true) {
		c.timer.Stop()
		c.gate.release(c)
	}
	return c.Conn.Close()
}

// NetConn returns the TCP connection.
func (c *pendingConn) NetConn() net.Conn { return c.Conn }

// pendingOf finds the gate's wrapper under conn (a *tls.Conn or the TLS
// sniffer's wrapper over it), nil when conn did not come through a gate.
func pendingOf(conn net.Conn) *pendingConn {
	for conn != nil {
		if pc, ok := conn.(*pendingConn); ok {
			return pc
		}
		u, ok := conn.(interface{ NetConn() net.Conn })
		if !ok {
			return nil
		}
		conn = u.NetConn()
	}
	return nil
}
