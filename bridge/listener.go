package bridge

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/labelgate/labelgate/ratelog"
)

// ListenConfig configures a Listener.
type ListenConfig struct {
	// Role is this side's role: main listens for agents in outbound mode,
	// an agent listens for main in inbound mode.
	Role Role
	// Keys are the tokens accepted; the one that matched names the peer.
	Keys Keyring
	// Accept is called once for every dialer that proved its token, before
	// the listener proves its own. Return nil to take the connection: the
	// caller then owns it (reads Recv, watches Done, calls Close), and
	// frames it Sends go out right after the welcome. If the welcome cannot
	// be sent, the connection ends and Done tells. Return an error to refuse it: a *CloseError is sent as is
	// (e.g. CodeBusy, "another main is connected"), any other error closes
	// with CodeRefused and the error's text. Accept runs on the connection's
	// HTTP handler goroutine and should return promptly.
	Accept func(*Conn) error
	// CheckOrigin decides about requests that carry an Origin header. There
	// is no browser in this protocol, so nil refuses them all.
	CheckOrigin func(*http.Request) bool
	// TLS, when set, serves wss:// with this configuration (see
	// ServerTLSConfig) on the same port as ws://; RequireTLS refuses ws://
	// dialers (they get an HTTP 400). Nil serves ws:// only.
	TLS        *tls.Config
	RequireTLS bool
	// MaxPending caps the connections that have not finished their
	// handshake, in all (DefaultMaxPending) and per remote address, an IPv6
	// /64 counting as one (DefaultMaxPendingPerAddress). A connection over a
	// cap is closed at once. Serve enforces them; ServeHTTP alone cannot.
	MaxPending           int
	MaxPendingPerAddress int
	Options
}

// Listener accepts dialers on any path. Run it with Serve or ListenAndServe,
// which own the port: they keep accepting after temporary errors, cap the
// connections still in their handshake and give each an absolute deadline.
// It is also an http.Handler, for tests and for mounting behind a server
// that enforces such limits itself.
type Listener struct {
	cfg      ListenConfig
	opts     Options
	log      *slog.Logger
	upgrader websocket.Upgrader
	inflight sync.WaitGroup
	// refused holds back the log lines of failed handshakes: an anonymous
	// peer can fail thousands a second.
	refused *ratelog.Line
	gate    atomic.Pointer[gate] // the port being served, for Health
}

// refusedLogEvery and refusedLogBurst bound the WARN lines of failed
// handshakes.
const (
	refusedLogEvery = 10 * time.Second
	refusedLogBurst = 5
)

// NewListener checks cfg and returns a Listener.
func NewListener(cfg ListenConfig) (*Listener, error) {
	if !cfg.Role.valid() {
		return nil, fmt.Errorf("unknown role %q", cfg.Role)
	}
	if cfg.Keys == nil {
		return nil, errors.New("listener needs a keyring")
	}
	if cfg.Accept == nil {
		return nil, errors.New("listener needs an Accept callback")
	}
	o := cfg.Options.withDefaults()
	l := &Listener{cfg: cfg, opts: o, log: o.Logger,
		refused: ratelog.New(o.Logger, slog.LevelWarn, "bridge handshake refused", refusedLogEvery, refusedLogBurst)}
	l.upgrader = websocket.Upgrader{
		HandshakeTimeout: o.HandshakeTimeout,
		CheckOrigin: func(r *http.Request) bool {
			if r.Header.Get("Origin") == "" {
				return true
			}
			return cfg.CheckOrigin != nil && cfg.CheckOrigin(r)
		},
	}
	return l, nil
}

// ServeHTTP upgrades the request, runs the handshake and hands an
// authenticated connection to Accept.
func (l *Listener) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	l.inflight.Add(1)
	defer l.inflight.Done()
	ws, err := l.upgrader.Upgrade(w, r, nil)
	if err != nil {
		l.log.Debug("bridge websocket upgrade refused", "remote", r.RemoteAddr, "err", err)
		return // the upgrader has answered with an HTTP error
	}
	c := newConn(ws, l.cfg.Role, l.opts)
	// The handshake ends at the gate's deadline, counted from the TCP
	// accept; nothing the peer sends moves it.
	var notAfter time.Time
	pending := pendingOf(connFrom(r.Context()))
	if pending != nil {
		notAfter = pending.deadline
	}
	ekm, err := keyingMaterial(r.TLS)
	if err != nil {
		_ = c.refuse(CodeProtocol, "cannot export TLS keying material", err) // err is logged below
		_ = ws.NetConn().Close()
		l.refused.Log("remote", r.RemoteAddr, "err", err)
		return
	}
	var (
		key      Key
		peerRole Role
		welcome  Welcome
		deadline time.Time
	)
	err = c.handshake(r.Context(), notAfter, func(d time.Time) error {
		var err error
		deadline = d
		key, peerRole, welcome, err = c.listenerHandshake(l.cfg.Keys, ekm, d)
		return err
	})
	if err == nil && pending != nil && !pending.authenticated() {
		err = fmt.Errorf("handshake did not finish within %s", l.opts.HandshakeTimeout)
	}
	if err != nil {
		_ = ws.NetConn().Close()
		l.refused.Log("remote", r.RemoteAddr, "err", err)
		return
	}
	c.peer = Peer{
		Name:         key.Name,
		Role:         peerRole,
		Mode:         serverMode(r.TLS),
		ChannelBound: ekm != nil,
		RemoteAddr:   r.RemoteAddr,
	}
	if err := l.cfg.Accept(c); err != nil {
		ce := refusal(err)
		_ = c.refuse(ce.Code, ce.Reason, err) // the same refusal as ce, which is logged below
		c.abortUnstarted(ce)
		l.refused.Log("peer", key.Name, "remote", r.RemoteAddr, "err", ce)
		return
	}
	if err := c.writeBody(welcome, deadline); err != nil {
		c.abortUnstarted(fmt.Errorf("sending welcome to %s: %w", r.RemoteAddr, err))
		return
	}
	c.start()
}

// refusal is the close frame for an Accept error.
func refusal(err error) *CloseError {
	var ce *CloseError
	if errors.As(err, &ce) && sendable(ce.Code) {
		return &CloseError{Code: ce.Code, Reason: truncateReason(ce.Reason), err: err}
	}
	return &CloseError{Code: CodeRefused, Reason: truncateReason(err.Error()), err: err}
}

// Serve accepts connections on ln until ctx ends. It then stops accepting,
// aborts the handshakes in flight and waits for their handlers before it
// returns nil. Connections already handed to Accept belong to their owner
// and stay open. It returns an error only if serving fails for good; an
// accept that fails (too many open files, say) is retried with backoff and
// reported by Health meanwhile.
func (l *Listener) Serve(ctx context.Context, ln net.Listener) error {
	g := newGate(ln, l.opts, l.cfg.MaxPending, l.cfg.MaxPendingPerAddress)
	l.gate.Store(g)
	// Every request on this port is a WebSocket upgrade, so no connection
	// is kept alive for another, and a request has the handshake's time
	// to arrive whole.
	srv := &http.Server{
		Handler:           l,
		ReadHeaderTimeout: l.opts.HandshakeTimeout, // also bounds the TLS handshake
		ReadTimeout:       l.opts.HandshakeTimeout,
		WriteTimeout:      l.opts.HandshakeTimeout,
		IdleTimeout:       l.opts.HandshakeTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ConnContext:       func(ctx context.Context, c net.Conn) context.Context { return context.WithValue(ctx, connKey{}, c) },
		ErrorLog:          slog.NewLogLogger(l.log.Handler(), slog.LevelDebug),
	}
	srv.SetKeepAlivesEnabled(false)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(sniff(g, l.cfg.TLS, l.cfg.RequireTLS)) }()
	select {
	case err := <-errc:
		l.inflight.Wait()
		return fmt.Errorf("serving bridge connections: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.opts.HandshakeTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		// The handshakes in flight outlived the timeout; the wait below
		// still waits for them.
		l.log.Debug("bridge listener shutdown timed out", "err", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		l.log.Debug("bridge listener stopped serving", "err", err)
	}
	l.inflight.Wait()
	return nil
}

// maxHeaderBytes caps an upgrade request's headers; a dialer sends a few
// hundred bytes.
const maxHeaderBytes = 8 << 10

// Health is nil while the listener accepts connections, else why it cannot
// (Serve not running, or accepts failing since some time).
func (l *Listener) Health() error {
	g := l.gate.Load()
	if g == nil {
		return errors.New("not serving")
	}
	return g.health()
}

// connKey carries a request's connection in its context.
type connKey struct{}

func connFrom(ctx context.Context) net.Conn {
	c, _ := ctx.Value(connKey{}).(net.Conn)
	return c
}

// ListenAndServe listens on addr (":8081") and calls Serve.
func (l *Listener) ListenAndServe(ctx context.Context, addr string) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("listening for bridge connections: %w", err)
	}
	return l.Serve(ctx, ln)
}

// Port is a Listener serving a TCP port in the background: main's agent
// port in outbound mode, an inbound agent's port for main. ServePort starts
// one.
type Port struct {
	l    *Listener
	addr net.Addr
	stop func()
}

// ServePort builds a Listener from cfg, listens on addr and serves in the
// background. A bad cfg or a port that cannot be bound is its error. A
// serving failure that is not a temporary accept error goes to onFail (once,
// from another goroutine); temporary ones are retried and reported by
// Health.
func ServePort(addr string, cfg ListenConfig, onFail func(error)) (*Port, error) {
	l, err := NewListener(cfg)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", addr, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := l.Serve(ctx, ln); err != nil && ctx.Err() == nil {
			onFail(err)
		}
	}()
	return &Port{l: l, addr: ln.Addr(), stop: func() { cancel(); <-done }}, nil
}

// Addr is the address bound (with the port chosen for ":0").
func (p *Port) Addr() net.Addr { return p.addr }

// Health is nil while the port accepts connections, else why it cannot
// (see Listener.Health).
func (p *Port) Health() error { return p.l.Health() }

// Stop ends serving and returns once Serve has returned. Connections already
// accepted stay open: they belong to whoever took them.
func (p *Port) Stop() { p.stop() }
