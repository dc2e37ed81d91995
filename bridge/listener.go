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
	"time"

	"github.com/gorilla/websocket"
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
	Options
}

// Listener accepts dialers on any path; it is an http.Handler, so it can be
// mounted in any server, or run with Serve / ListenAndServe.
type Listener struct {
	cfg      ListenConfig
	opts     Options
	log      *slog.Logger
	upgrader websocket.Upgrader
	inflight sync.WaitGroup
}

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
	l := &Listener{cfg: cfg, opts: o, log: o.Logger}
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
	ekm, err := keyingMaterial(r.TLS)
	if err != nil {
		c.refuse(CodeProtocol, "cannot export TLS keying material", err)
		ws.NetConn().Close()
		l.log.Warn("bridge handshake refused", "remote", r.RemoteAddr, "err", err)
		return
	}
	var (
		key      Key
		peerRole Role
		welcome  Welcome
		deadline time.Time
	)
	err = c.handshake(r.Context(), func(d time.Time) error {
		var err error
		deadline = d
		key, peerRole, welcome, err = c.listenerHandshake(l.cfg.Keys, ekm, d)
		return err
	})
	if err != nil {
		ws.NetConn().Close()
		l.log.Warn("bridge handshake refused", "remote", r.RemoteAddr, "err", err)
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
		c.refuse(ce.Code, ce.Reason, err)
		c.abortUnstarted(ce)
		l.log.Info("bridge connection refused", "peer", key.Name, "remote", r.RemoteAddr, "err", ce)
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

// Serve accepts connections on ln (wrapped in TLS when tlsCfg is not nil;
// see ServerTLSConfig) until ctx ends. It then stops accepting, aborts the
// handshakes in flight and waits for their handlers before it returns nil.
// Connections already handed to Accept belong to their owner and stay open.
func (l *Listener) Serve(ctx context.Context, ln net.Listener, tlsCfg *tls.Config) error {
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
	}
	srv := &http.Server{
		Handler:           l,
		ReadHeaderTimeout: l.opts.HandshakeTimeout, // also bounds the TLS handshake
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ErrorLog:          slog.NewLogLogger(l.log.Handler(), slog.LevelDebug),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		l.inflight.Wait()
		return fmt.Errorf("serving bridge connections: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.opts.HandshakeTimeout)
	defer cancel()
	srv.Shutdown(sctx)
	<-errc
	l.inflight.Wait()
	return nil
}

// ListenAndServe listens on addr (":8081") and calls Serve.
func (l *Listener) ListenAndServe(ctx context.Context, addr string, tlsCfg *tls.Config) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("listening for bridge connections: %w", err)
	}
	return l.Serve(ctx, ln, tlsCfg)
}
