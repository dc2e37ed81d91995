package bridge

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
)

func serverTLS(t *testing.T, s ServerTLS) *tls.Config {
	t.Helper()
	cfg, _, err := ServerTLSConfig(s)
	if err != nil {
		t.Fatalf("ServerTLSConfig: %v", err)
	}
	return cfg
}

func TestTLSModes(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t, "main")
	other := newTestPKI(t, "other")
	persisted := filepath.Join(t.TempDir(), "bridge-cert.pem")
	nameless := filepath.Join(t.TempDir(), "nameless-cert.pem")

	tests := []struct {
		name       string
		server     ServerTLS
		client     ClientTLS
		wantMode   TLSMode // dialer's view
		wantServer TLSMode // listener's view
	}{
		{"CA-signed certificate, CA file", ServerTLS{CertFile: pki.serverCert, KeyFile: pki.serverKey}, ClientTLS{CAFile: pki.caFile}, ModeVerified, ModeTokenBound},
		{"self-signed, no CA", ServerTLS{}, ClientTLS{}, ModeTokenBound, ModeTokenBound},
		{"CA-signed certificate unknown to the dialer", ServerTLS{CertFile: pki.serverCert, KeyFile: pki.serverKey}, ClientTLS{}, ModeTokenBound, ModeTokenBound},
		{"self-signed, insecure", ServerTLS{}, ClientTLS{Insecure: true}, ModeInsecure, ModeTokenBound},
		{"persisted self-signed pinned as CA", ServerTLS{SelfSignedFile: persisted, Hosts: []string{"127.0.0.1"}}, ClientTLS{CAFile: persisted}, ModeVerified, ModeTokenBound},
		// main generates its certificate without knowing the names agents
		// will use: pinning the exact certificate needs no name in it.
		{"persisted self-signed naming no host, pinned", ServerTLS{SelfSignedFile: nameless}, ClientTLS{CAFile: PublicCertFile(nameless)}, ModeVerified, ModeTokenBound},
		{"mTLS", ServerTLS{CertFile: pki.serverCert, KeyFile: pki.serverKey, ClientCAFile: pki.caFile},
			ClientTLS{CAFile: pki.caFile, CertFile: pki.clientCert, KeyFile: pki.clientKey}, ModeVerified, ModeVerified},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tl := startListener(t, ListenConfig{Role: RoleMain, Keys: Keys{agentKey}}, serverTLS(t, tt.server))
			d := mustDial(t, DialConfig{URL: tl.url, Role: RoleAgent, Key: mainKey, TLS: tt.client})
			l := tl.next(t)
			if p := d.Peer(); p.Mode != tt.wantMode || !p.ChannelBound {
				t.Errorf("dialer: mode %s bound %v, want %s bound", p.Mode, p.ChannelBound, tt.wantMode)
			}
			if p := l.Peer(); p.Mode != tt.wantServer || !p.ChannelBound || p.Name != agentKey.Name {
				t.Errorf("listener: peer %+v, want %s, bound, %s", p, tt.wantServer, agentKey.Name)
			}
		})
	}

	t.Run("CA file of another CA fails closed", func(t *testing.T) {
		tl := startListener(t, ListenConfig{Role: RoleMain, Keys: Keys{agentKey}}, serverTLS(t, ServerTLS{CertFile: pki.serverCert, KeyFile: pki.serverKey}))
		err := dialErr(t, DialConfig{URL: tl.url, Role: RoleAgent, Key: mainKey, TLS: ClientTLS{CAFile: other.caFile}})
		var uae x509.UnknownAuthorityError
		if !errors.As(err, &uae) {
			t.Errorf("Dial: %v, want an unknown-authority error", err)
		}
		tl.none(t)
	})

	t.Run("a pinned certificate that is not the listener's fails closed", func(t *testing.T) {
		pin := filepath.Join(t.TempDir(), "pin.pem")
		if _, _, err := ServerTLSConfig(ServerTLS{SelfSignedFile: pin}); err != nil {
			t.Fatal(err)
		}
		tl := startListener(t, ListenConfig{Role: RoleMain, Keys: Keys{agentKey}}, serverTLS(t, ServerTLS{}))
		err := dialErr(t, DialConfig{URL: tl.url, Role: RoleAgent, Key: mainKey, TLS: ClientTLS{CAFile: pin}})
		if !strings.Contains(err.Error(), "certificate") {
			t.Errorf("Dial: %v, want a certificate error", err)
		}
		tl.none(t)
	})

	t.Run("mTLS without a client certificate", func(t *testing.T) {
		tl := startListener(t, ListenConfig{Role: RoleMain, Keys: Keys{agentKey}},
			serverTLS(t, ServerTLS{CertFile: pki.serverCert, KeyFile: pki.serverKey, ClientCAFile: pki.caFile}))
		err := dialErr(t, DialConfig{URL: tl.url, Role: RoleAgent, Key: mainKey, TLS: ClientTLS{CAFile: pki.caFile}})
		if !strings.Contains(err.Error(), "certificate") {
			t.Errorf("Dial: %v, want a certificate error", err)
		}
		tl.none(t)
	})

	t.Run("mTLS with a client certificate of another CA", func(t *testing.T) {
		tl := startListener(t, ListenConfig{Role: RoleMain, Keys: Keys{agentKey}},
			serverTLS(t, ServerTLS{CertFile: pki.serverCert, KeyFile: pki.serverKey, ClientCAFile: pki.caFile}))
		_ = dialErr(t, DialConfig{URL: tl.url, Role: RoleAgent, Key: mainKey,
			TLS: ClientTLS{CAFile: pki.caFile, CertFile: other.clientCert, KeyFile: other.clientKey}})
		tl.none(t)
	})
}

func TestSelfSignedPersisted(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "cert.pem")
	_, self, err := ServerTLSConfig(ServerTLS{SelfSignedFile: file})
	if err != nil || !self {
		t.Fatalf("first start: self-signed %v, err %v", self, err)
	}
	a := serverTLS(t, ServerTLS{SelfSignedFile: file})
	b := serverTLS(t, ServerTLS{SelfSignedFile: file})
	if string(a.Certificates[0].Certificate[0]) != string(b.Certificates[0].Certificate[0]) {
		t.Error("the persisted certificate was not reused")
	}
	c := serverTLS(t, ServerTLS{})
	if string(a.Certificates[0].Certificate[0]) == string(c.Certificates[0].Certificate[0]) {
		t.Error("an in-memory certificate equals the persisted one")
	}
	// The public certificate beside it holds the certificate and no key.
	pub, err := os.ReadFile(PublicCertFile(file))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(pub), "PRIVATE KEY") || !strings.Contains(string(pub), "CERTIFICATE") {
		t.Errorf("%s must hold only the certificate:\n%s", PublicCertFile(file), pub)
	}
	if fi, err := os.Stat(PublicCertFile(file)); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("public certificate mode: %v %v", fi, err)
	}
}

// mitm is a TLS-terminating man in the middle: it presents its own
// certificate to the dialer, opens its own connection to the upstream
// listener and relays every WebSocket message both ways.
func mitm(t *testing.T, upstream string, cert ServerTLS) string {
	t.Helper()
	up := websocket.Upgrader{}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		down, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer func() { _ = down.Close() }()
		d := &websocket.Dialer{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
		upc, _, err := d.Dial(upstream, nil)
		if err != nil {
			return
		}
		defer func() { _ = upc.Close() }()
		relay := func(from, to *websocket.Conn) {
			for {
				mt, data, err := from.ReadMessage()
				if err != nil {
					var ce *websocket.CloseError
					if errors.As(err, &ce) {
						_ = to.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(ce.Code, ce.Text))
					}
					_ = to.Close()
					return
				}
				_ = to.WriteMessage(mt, data) // a relay: the far end's reader sees a failure
			}
		}
		go relay(upc, down)
		relay(down, upc)
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(tls.NewListener(ln, serverTLS(t, cert))) }() // ErrServerClosed once the test ends
	t.Cleanup(func() { _ = srv.Close() })
	return "wss://" + ln.Addr().String()
}

func TestManInTheMiddle(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t, "proxy")

	t.Run("TLS to TLS, token-bound: the proofs cannot be relayed", func(t *testing.T) {
		t.Parallel()
		tl := startListener(t, ListenConfig{Role: RoleMain, Keys: Keys{agentKey}}, serverTLS(t, ServerTLS{}))
		proxy := mitm(t, tl.url, ServerTLS{})
		err := dialErr(t, DialConfig{URL: proxy, Role: RoleAgent, Key: mainKey})
		wantClose(t, err, CodeAuthFailed, true)
		tl.none(t)
	})

	t.Run("TLS to TLS, inbound: main's proof cannot be relayed to the agent", func(t *testing.T) {
		t.Parallel()
		tl := startListener(t, ListenConfig{Role: RoleAgent, Keys: Keys{mainKey}}, serverTLS(t, ServerTLS{}))
		proxy := mitm(t, tl.url, ServerTLS{})
		err := dialErr(t, DialConfig{URL: proxy, Role: RoleMain, Key: agentKey})
		wantClose(t, err, CodeAuthFailed, true)
		tl.none(t)
	})

	t.Run("TLS to plain, token-bound: an unbound listener is refused", func(t *testing.T) {
		t.Parallel()
		tl := startListener(t, ListenConfig{Role: RoleMain, Keys: Keys{agentKey}}, nil)
		proxy := mitm(t, tl.url, ServerTLS{})
		err := dialErr(t, DialConfig{URL: proxy, Role: RoleAgent, Key: mainKey})
		wantClose(t, err, CodeListenerProof, false)
		if !errors.Is(err, ErrUnbound) {
			t.Errorf("Dial: %v, want ErrUnbound", err)
		}
		tl.none(t)
	})

	// Issue 11: with verification switched off, a relay that ends the
	// agent's TLS and forwards in clear used to be accepted (main logged
	// tls=plaintext) and could read and change every frame after the
	// handshake. The insecure mode now requires the proof bound to the TLS
	// session as the token-bound mode does.
	t.Run("TLS to plain, insecure: a relay is refused", func(t *testing.T) {
		t.Parallel()
		tl := startListener(t, ListenConfig{Role: RoleMain, Keys: Keys{agentKey}}, nil)
		proxy := mitm(t, tl.url, ServerTLS{})
		err := dialErr(t, DialConfig{URL: proxy, Role: RoleAgent, Key: mainKey, TLS: ClientTLS{Insecure: true}})
		wantClose(t, err, CodeListenerProof, false)
		if !errors.Is(err, ErrUnbound) {
			t.Errorf("Dial: %v, want ErrUnbound", err)
		}
		tl.none(t)
	})

	t.Run("TLS to TLS, insecure: the proofs cannot be relayed", func(t *testing.T) {
		t.Parallel()
		tl := startListener(t, ListenConfig{Role: RoleMain, Keys: Keys{agentKey}}, serverTLS(t, ServerTLS{}))
		proxy := mitm(t, tl.url, ServerTLS{})
		err := dialErr(t, DialConfig{URL: proxy, Role: RoleAgent, Key: mainKey, TLS: ClientTLS{Insecure: true}})
		wantClose(t, err, CodeAuthFailed, true)
		tl.none(t)
	})

	t.Run("insecure without a relay: bound to the session", func(t *testing.T) {
		t.Parallel()
		tl := startListener(t, ListenConfig{Role: RoleMain, Keys: Keys{agentKey}}, serverTLS(t, ServerTLS{}))
		d := mustDial(t, DialConfig{URL: tl.url, Role: RoleAgent, Key: mainKey, TLS: ClientTLS{Insecure: true}})
		if p := d.Peer(); p.Mode != ModeInsecure || !p.ChannelBound {
			t.Errorf("peer %+v, want insecure and channel-bound", p)
		}
		tl.next(t)
	})

	t.Run("TLS to plain, verified: a trusted reverse proxy is fine", func(t *testing.T) {
		t.Parallel()
		tl := startListener(t, ListenConfig{Role: RoleMain, Keys: Keys{agentKey}}, nil)
		proxy := mitm(t, tl.url, ServerTLS{CertFile: pki.serverCert, KeyFile: pki.serverKey})
		d := mustDial(t, DialConfig{URL: proxy, Role: RoleAgent, Key: mainKey, TLS: ClientTLS{CAFile: pki.caFile}})
		if p := d.Peer(); p.Mode != ModeVerified || p.ChannelBound {
			t.Errorf("peer %+v, want verified and not channel-bound", p)
		}
		if p := tl.next(t).Peer(); p.Mode != ModePlaintext || p.ChannelBound {
			t.Errorf("listener's peer %+v, want plaintext", p)
		}
	})
}

func TestSniffTLS(t *testing.T) {
	t.Parallel()
	for _, require := range []bool{false, true} {
		t.Run(map[bool]string{false: "both", true: "TLS required"}[require], func(t *testing.T) {
			t.Parallel()
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			tl := serveOn(t, ListenConfig{Role: RoleMain, Keys: Keys{agentKey}, TLS: serverTLS(t, ServerTLS{}), RequireTLS: require}, ln)
			addr := ln.Addr().String()

			// A client that connects and says nothing delays no one.
			idle, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = idle.Close() }()

			d := mustDial(t, DialConfig{URL: "wss://" + addr, Role: RoleAgent, Key: mainKey})
			if p := d.Peer(); p.Mode != ModeTokenBound || !p.ChannelBound {
				t.Errorf("wss:// peer %+v, want token-bound and channel-bound", p)
			}
			if p := tl.next(t).Peer(); p.Mode != ModeTokenBound || !p.ChannelBound {
				t.Errorf("listener's peer over TLS %+v", p)
			}

			if require {
				err := dialErr(t, DialConfig{URL: "ws://" + addr, Role: RoleAgent, Key: mainKey})
				if !strings.Contains(err.Error(), "400") {
					t.Errorf("ws:// to a TLS-only port: %v, want HTTP 400", err)
				}
				tl.none(t)
				return
			}
			p := mustDial(t, DialConfig{URL: "ws://" + addr, Role: RoleAgent, Key: mainKey})
			if p.Peer().Mode != ModePlaintext {
				t.Errorf("ws:// peer %+v, want plaintext", p.Peer())
			}
			if lp := tl.next(t).Peer(); lp.Mode != ModePlaintext || lp.ChannelBound {
				t.Errorf("listener's plaintext peer %+v", lp)
			}
		})
	}
}
