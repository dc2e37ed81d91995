package bridge

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/gorilla/websocket"
)

// DialConfig configures Dial.
type DialConfig struct {
	// URL is the listener's ws:// or wss:// URL. Any path is accepted, and
	// none: the listener serves every path.
	URL string
	// Role is this side's role: an agent dials main in outbound mode, main
	// dials an agent in inbound mode.
	Role Role
	// Key is the token shared with the listener; its Name becomes Peer.Name.
	Key Key
	// TLS applies to wss:// URLs; setting any of it for a ws:// URL is an
	// error rather than a silent no-op.
	TLS ClientTLS
	Options
}

// Dial connects to a listener and runs the handshake: it returns only once
// both ends have proved they hold the token. The whole of it, TCP to
// welcome, is bounded by HandshakeTimeout and ctx. An error from a listener
// that refused wraps a *CloseError with Remote set (CodeAuthFailed,
// CodeBusy, …); a listener this side refused wraps ErrImpostor or
// ErrUnbound.
func Dial(ctx context.Context, cfg DialConfig) (*Conn, error) {
	c, err := dial(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", cfg.URL, err)
	}
	return c, nil
}

func dial(ctx context.Context, cfg DialConfig) (*Conn, error) {
	u, err := parseURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	if !cfg.Role.valid() {
		return nil, fmt.Errorf("unknown role %q", cfg.Role)
	}
	if len(cfg.Key.Token) < MinTokenLength {
		return nil, fmt.Errorf("token is %d bytes, want at least %d", len(cfg.Key.Token), MinTokenLength)
	}
	o := cfg.Options.withDefaults()

	d := &websocket.Dialer{
		Proxy:            http.ProxyFromEnvironment,
		HandshakeTimeout: o.HandshakeTimeout,
	}
	var verifier *clientVerifier
	switch u.Scheme {
	case "wss":
		d.TLSClientConfig, verifier, err = cfg.TLS.config(u.Hostname())
		if err != nil {
			return nil, err
		}
	case "ws":
		if !cfg.TLS.isZero() {
			return nil, errors.New("TLS settings are given but the URL is ws:// (use wss://)")
		}
	}

	hctx, cancel := context.WithTimeout(ctx, o.HandshakeTimeout)
	defer cancel()
	ws, resp, err := d.DialContext(hctx, u.String(), nil)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("websocket upgrade refused with HTTP %s: %w", resp.Status, err)
		}
		if hctx.Err() != nil && ctx.Err() == nil {
			return nil, fmt.Errorf("handshake did not finish within %s: %w", o.HandshakeTimeout, err)
		}
		return nil, err
	}

	mode := ModePlaintext
	var ekm []byte
	if tc, ok := ws.NetConn().(*tls.Conn); ok {
		cs := tc.ConnectionState()
		if ekm, err = keyingMaterial(&cs); err != nil {
			_ = ws.NetConn().Close()
			return nil, err
		}
		if mode = verifier.get(); mode == "" {
			_ = ws.NetConn().Close()
			return nil, errors.New("TLS certificate verification did not run") // fail closed
		}
	}
	c := newConn(ws, cfg.Role, o)
	var bound bool
	err = c.handshake(hctx, time.Time{}, func(deadline time.Time) error {
		var err error
		// Only a verified certificate vouches for the listener on its own
		// (a trusted reverse proxy may end TLS before it); otherwise the
		// proof must be bound to this TLS session, insecure mode included.
		bound, err = c.dialerHandshake(cfg.Key, ekm, mode != ModeVerified, deadline)
		return err
	})
	if err != nil {
		_ = ws.NetConn().Close()
		return nil, err
	}
	peerRole := RoleMain
	if cfg.Role == RoleMain {
		peerRole = RoleAgent
	}
	c.peer = Peer{
		Name:         cfg.Key.Name,
		Role:         peerRole,
		Mode:         mode,
		ChannelBound: bound,
		RemoteAddr:   remoteAddr(ws.NetConn()),
	}
	c.start()
	return c, nil
}

func parseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("parsing URL: %w", err)
	}
	if u.Scheme != "ws" && u.Scheme != "wss" {
		return nil, fmt.Errorf("URL %q: scheme must be ws or wss", u.Redacted())
	}
	if u.Host == "" {
		return nil, fmt.Errorf("URL %q has no host", u.Redacted())
	}
	if u.User != nil {
		return nil, fmt.Errorf("URL %q: credentials in the URL are not supported (the token is configured separately)", u.Redacted())
	}
	if u.Path == "" {
		u.Path = "/"
	}
	return u, nil
}
