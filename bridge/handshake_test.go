package bridge

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gorilla/websocket"

	"github.com/labelgate/labelgate/messages"
)

// TestBothModes runs the outbound layout (main listens, the agent dials)
// and the inbound one (the agent listens, main dials) and exchanges every
// application frame in its direction.
func TestBothModes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		listener Role
		keys     Keys // the listener's
		dialKey  Key  // the dialer's
		path     string
	}{
		{"outbound/no path", RoleMain, Keys{agent2Key, agentKey}, mainKey, ""},
		{"outbound/ws path", RoleMain, Keys{agentKey}, mainKey, "/ws"},
		{"inbound", RoleAgent, Keys{mainKey}, agentKey, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tl := startListener(t, ListenConfig{Role: tt.listener, Keys: tt.keys}, nil)
			dialRole := RoleAgent
			if tt.listener == RoleAgent {
				dialRole = RoleMain
			}
			d := mustDial(t, DialConfig{URL: tl.url + tt.path, Role: dialRole, Key: tt.dialKey})
			l := tl.next(t)

			agent, main := d, l
			if dialRole == RoleMain {
				agent, main = l, d
			}
			wantPeer(t, "main's peer", main.Peer(), Peer{Name: "docker-host-1", Role: RoleAgent, Mode: ModePlaintext})
			wantPeer(t, "agent's peer", agent.Peer(), Peer{Name: "main", Role: RoleMain, Mode: ModePlaintext})

			ctx := context.Background()
			announce := Announce{Hostname: "docker-1", AgentVersion: "1.0.0", DefaultTunnel: "home", Docker: DockerStatus{Connected: true}}
			set := testSet(3, 5)
			for _, b := range []Body{announce, Snapshot{Set: set}} {
				if err := agent.Send(ctx, b); err != nil {
					t.Fatalf("agent Send %s: %v", b.FrameType(), err)
				}
			}
			if got := recvFrame(t, main).Body; !cmp.Equal(got, announce) {
				t.Errorf("main got %#v, want %#v", got, announce)
			}
			snap, ok := recvFrame(t, main).Body.(Snapshot)
			if !ok {
				t.Fatalf("main got no snapshot")
			}
			set.Source = messages.AgentSource("docker-host-1") // main binds the source to the key that matched
			if diff := cmp.Diff(set, snap.Set); diff != "" {
				t.Errorf("snapshot (-want +got):\n%s", diff)
			}
			for _, b := range []Body{Ack{Version: 3}, Resync{}} {
				if err := main.Send(ctx, b); err != nil {
					t.Fatalf("main Send %s: %v", b.FrameType(), err)
				}
			}
			if got := recvFrame(t, agent).Body; got != (Ack{Version: 3}) {
				t.Errorf("agent got %#v, want ack 3", got)
			}
			if got := recvFrame(t, agent).Type(); got != TypeResync {
				t.Errorf("agent got %s, want resync", got)
			}

			// Frames in the wrong direction are refused before they are queued.
			if err := main.Send(ctx, announce); err == nil {
				t.Error("main sent an announce")
			}
			if err := agent.Send(ctx, Resync{}); err == nil {
				t.Error("agent sent a resync")
			}

			// A normal close reaches the other side with its code and reason.
			d.Close(CodeNormal, "done here")
			wantClose(t, waitDone(t, d), CodeNormal, false)
			ce := wantCloseError(t, waitDone(t, l), CodeNormal, true)
			if ce.Reason != "done here" {
				t.Errorf("peer saw reason %q", ce.Reason)
			}
			if _, ok := <-l.Recv(); ok {
				t.Error("Recv still open after the end")
			}
			var after Body = Resync{}
			if dialRole == RoleAgent {
				after = announce
			}
			if err := d.Send(ctx, after); !errors.Is(err, ErrClosed) {
				t.Errorf("Send after Close: %v, want ErrClosed", err)
			}
		})
	}
}

func wantPeer(t *testing.T, what string, got, want Peer) {
	t.Helper()
	got.RemoteAddr = "" // random port
	if got != want {
		t.Errorf("%s = %+v, want %+v", what, got, want)
	}
}

func TestWrongTokenRefused(t *testing.T) {
	t.Parallel()
	tl := startListener(t, ListenConfig{Role: RoleMain, Keys: Keys{agentKey, agent2Key}}, nil)
	err := dialErr(t, DialConfig{URL: tl.url, Role: RoleAgent, Key: Key{Name: "main", Token: wrongToken}})
	ce := wantCloseError(t, err, CodeAuthFailed, true)
	if ce.Reason != "authentication failed" {
		t.Errorf("reason %q", ce.Reason)
	}
	tl.none(t)

	// The same exchange by hand: after the refused auth only a close frame
	// arrives, never a welcome.
	ws, _, err := (&websocket.Dialer{}).Dial(tl.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ws.Close() }()
	c := newConn(ws, RoleAgent, Options{}.withDefaults())
	deadline := time.Now().Add(waitFor)
	if err := c.writeBody(Hello{Proto: HandshakeVersion, Role: RoleAgent, Nonce: newNonce()}, deadline); err != nil {
		t.Fatal(err)
	}
	if _, err := c.readHandshake(TypeChallenge); err != nil {
		t.Fatal(err)
	}
	if err := c.writeBody(Auth{Proof: make([]byte, 32)}, deadline); err != nil {
		t.Fatal(err)
	}
	wce, frames := readPeerClose(t, ws)
	if wce.Code != int(CodeAuthFailed) || len(frames) != 0 {
		t.Errorf("got close %v after frames %q, want 4001 and no frame", wce, frames)
	}
}

func TestTooShortTokenNeverMatches(t *testing.T) {
	t.Parallel()
	short := Key{Name: "short", Token: []byte("short")}
	tl := startListener(t, ListenConfig{Role: RoleMain, Keys: Keys{short}}, nil)
	// The dialer refuses to use it at all …
	if _, err := Dial(context.Background(), DialConfig{URL: tl.url, Role: RoleAgent, Key: short}); err == nil || !strings.Contains(err.Error(), "at least 16") {
		t.Errorf("Dial with a 5-byte token: %v", err)
	}
	// … and a listener never matches it.
	c := rawDialExpectRefusal(t, tl.url, short)
	if c.Code != int(CodeAuthFailed) {
		t.Errorf("got %v, want 4001", c)
	}
}

// rawDialExpectRefusal runs the dialer's handshake by hand with key and
// returns the listener's close frame.
func rawDialExpectRefusal(t *testing.T, url string, key Key) *websocket.CloseError {
	t.Helper()
	ws, _, err := (&websocket.Dialer{}).Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ws.Close() }()
	c := newConn(ws, RoleAgent, Options{}.withDefaults())
	deadline := time.Now().Add(waitFor)
	nonceD := newNonce()
	if err := c.writeBody(Hello{Proto: HandshakeVersion, Role: RoleAgent, Nonce: nonceD}, deadline); err != nil {
		t.Fatal(err)
	}
	body, err := c.readHandshake(TypeChallenge)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.writeBody(Auth{Proof: proof(key.Token, labelDialer, RoleAgent, nonceD, body.(Challenge).Nonce, BindingNone, nil)}, deadline); err != nil {
		t.Fatal(err)
	}
	ce, _ := readPeerClose(t, ws)
	return ce
}

func TestSharedTokenRefused(t *testing.T) {
	t.Parallel()
	twin := Key{Name: "twin", Token: agentKey.Token}
	tl := startListener(t, ListenConfig{Role: RoleMain, Keys: Keys{agentKey, twin}}, nil)
	err := dialErr(t, DialConfig{URL: tl.url, Role: RoleAgent, Key: mainKey})
	ce := wantCloseError(t, err, CodeAuthFailed, true)
	if !strings.Contains(ce.Reason, "not unique") {
		t.Errorf("reason %q", ce.Reason)
	}
}

func TestRolePairRefused(t *testing.T) {
	t.Parallel()
	for _, role := range []Role{RoleAgent, RoleMain} {
		t.Run(string(role), func(t *testing.T) {
			t.Parallel()
			tl := startListener(t, ListenConfig{Role: role, Keys: Keys{agentKey}}, nil)
			err := dialErr(t, DialConfig{URL: tl.url, Role: role, Key: agentKey})
			ce := wantCloseError(t, err, CodeProtocol, true)
			if !strings.Contains(ce.Reason, "both ends are "+string(role)) {
				t.Errorf("reason %q", ce.Reason)
			}
			tl.none(t)
		})
	}
}

// TestImpostorListener: a listener that does not hold the token answers the
// handshake with a made-up proof. The dialer must refuse it with 4003 and
// send nothing else.
func TestImpostorListener(t *testing.T) {
	t.Parallel()
	closes := make(chan *websocket.CloseError, 1)
	frames := make(chan []string, 1)
	url := rawServer(t, RoleMain, func(c *Conn) {
		deadline := time.Now().Add(waitFor)
		body, err := c.readHandshake(TypeHello)
		if err != nil {
			t.Error(err)
			return
		}
		hello := body.(Hello)
		nonceL := newNonce()
		if err := c.writeBody(Challenge{Nonce: nonceL, Role: RoleMain, Binding: BindingNone}, deadline); err != nil {
			t.Error(err)
			return
		}
		if _, err := c.readHandshake(TypeAuth); err != nil {
			t.Error(err)
			return
		}
		if err := c.writeBody(Welcome{Proof: proof(wrongToken, labelListener, hello.Role, hello.Nonce, nonceL, BindingNone, nil)}, deadline); err != nil {
			t.Error(err)
			return
		}
		ce, fs := readPeerClose(t, c.ws)
		closes <- ce
		frames <- fs
	})
	err := dialErr(t, DialConfig{URL: url, Role: RoleAgent, Key: mainKey})
	wantClose(t, err, CodeListenerProof, false)
	if !errors.Is(err, ErrImpostor) {
		t.Errorf("error %v does not match ErrImpostor", err)
	}
	if !strings.Contains(err.Error(), "not the expected main") {
		t.Errorf("error %q does not say the listener is not the expected main", err)
	}
	if ce := <-closes; ce.Code != int(CodeListenerProof) {
		t.Errorf("impostor got close %v, want 4003", ce)
	}
	if fs := <-frames; len(fs) != 0 {
		t.Errorf("impostor received frames %q after its welcome", fs)
	}
}

// TestReplayedAuth: an auth frame recorded from one connection is worthless
// on the next, whose challenge nonce differs.
func TestReplayedAuth(t *testing.T) {
	t.Parallel()
	tl := startListener(t, ListenConfig{Role: RoleMain, Keys: Keys{agentKey}}, nil)

	// A genuine handshake, recorded.
	nonceD := newNonce()
	ws1, _, err := (&websocket.Dialer{}).Dial(tl.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ws1.Close() }()
	c1 := newConn(ws1, RoleAgent, Options{}.withDefaults())
	deadline := time.Now().Add(waitFor)
	if err := c1.writeBody(Hello{Proto: HandshakeVersion, Role: RoleAgent, Nonce: nonceD}, deadline); err != nil {
		t.Fatal(err)
	}
	body, err := c1.readHandshake(TypeChallenge)
	if err != nil {
		t.Fatal(err)
	}
	recorded := Auth{Proof: proof(mainKey.Token, labelDialer, RoleAgent, nonceD, body.(Challenge).Nonce, BindingNone, nil)}
	if err := c1.writeBody(recorded, deadline); err != nil {
		t.Fatal(err)
	}
	if _, err := c1.readHandshake(TypeWelcome); err != nil {
		t.Fatalf("genuine handshake: %v", err)
	}
	tl.next(t)

	// The replay: same hello, same auth, new connection.
	ws2, _, err := (&websocket.Dialer{}).Dial(tl.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ws2.Close() }()
	c2 := newConn(ws2, RoleAgent, Options{}.withDefaults())
	if err := c2.writeBody(Hello{Proto: HandshakeVersion, Role: RoleAgent, Nonce: nonceD}, deadline); err != nil {
		t.Fatal(err)
	}
	if _, err := c2.readHandshake(TypeChallenge); err != nil {
		t.Fatal(err)
	}
	if err := c2.writeBody(recorded, deadline); err != nil {
		t.Fatal(err)
	}
	if ce, frames := readPeerClose(t, ws2); ce.Code != int(CodeAuthFailed) || len(frames) != 0 {
		t.Errorf("replay got close %v after %q, want 4001 and no welcome", ce, frames)
	}
	tl.none(t)
}

func TestHandshakeRefusesBadFrames(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		frame string
		code  CloseCode
		want  string
	}{
		{"hello of version 2", `{"type":"hello","v":2,"seq":1,"payload":{}}`, CodeProtocol, "unsupported frame version 2"},
		{"auth first", `{"type":"auth","v":1,"seq":1,"payload":{"proof_d":"` + b64(nonce32) + `"}}`, CodeProtocol, "expected hello, got auth"},
		{"application frame first", `{"type":"snapshot","v":1,"seq":1,"payload":{"set":{"version":1}}}`, CodeProtocol, "expected hello, got snapshot"},
		{"unknown type", `{"type":"hi","v":1,"seq":1}`, CodeProtocol, `unknown frame type "hi"`},
		{"oversize", `{"type":"hello","v":1,"seq":1,"payload":{"pad":"` + strings.Repeat("x", 5000) + `"}}`, CodeTooBig, "exceeds the 4096-byte limit"},
	}
	tl := startListener(t, ListenConfig{Role: RoleMain, Keys: Keys{agentKey}}, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ws, _, err := (&websocket.Dialer{}).Dial(tl.url, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = ws.Close() }()
			if err := ws.WriteMessage(websocket.TextMessage, []byte(tt.frame)); err != nil {
				t.Fatal(err)
			}
			ce, _ := readPeerClose(t, ws)
			if ce.Code != int(tt.code) || !strings.Contains(ce.Text, tt.want) {
				t.Errorf("got close %d %q, want %d containing %q", ce.Code, ce.Text, tt.code, tt.want)
			}
		})
	}
}

func TestHandshakeTimeout(t *testing.T) {
	t.Parallel()
	tl := startListener(t, ListenConfig{Role: RoleMain, Keys: Keys{agentKey}, Options: Options{HandshakeTimeout: 200 * time.Millisecond}}, nil)
	ws, _, err := (&websocket.Dialer{}).Dial(tl.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ws.Close() }()
	start := time.Now()
	ce, _ := readPeerClose(t, ws) // say nothing
	if ce.Code != int(CodeHandshakeTimeout) {
		t.Errorf("got close %v, want 4004", ce)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("handshake timeout took %s", d)
	}

	// A listener that never answers: Dial gives up after its own timeout.
	silent := rawServer(t, RoleMain, neverAnswers)
	start = time.Now()
	err = dialErr(t, DialConfig{URL: silent, Role: RoleAgent, Key: mainKey, Options: Options{HandshakeTimeout: 200 * time.Millisecond}})
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Dial took %s to time out", d)
	}
	if !strings.Contains(err.Error(), "did not finish within 200ms") {
		t.Errorf("error %q does not explain the timeout", err)
	}
}

// neverAnswers is a rawServer handler that reads what the dialer sends (its
// hello and whatever follows) and answers nothing.
func neverAnswers(c *Conn) {
	_ = c.ws.SetReadDeadline(time.Now().Add(waitFor))
	for range 2 {
		if _, _, err := c.ws.ReadMessage(); err != nil {
			return
		}
	}
}

func TestDialCanceled(t *testing.T) {
	t.Parallel()
	silent := rawServer(t, RoleMain, neverAnswers)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	_, err := Dial(ctx, DialConfig{URL: silent, Role: RoleAgent, Key: mainKey})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Dial: %v, want context.Canceled", err)
	}
}

func TestOriginRefused(t *testing.T) {
	t.Parallel()
	tl := startListener(t, ListenConfig{Role: RoleMain, Keys: Keys{agentKey}}, nil)
	h := http.Header{"Origin": {"https://evil.example"}}
	_, resp, err := (&websocket.Dialer{}).Dial(tl.url, h)
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("upgrade with an Origin: err %v, resp %v; want 403", err, resp)
	}

	allow := startListener(t, ListenConfig{Role: RoleMain, Keys: Keys{agentKey},
		CheckOrigin: func(r *http.Request) bool { return r.Header.Get("Origin") == "https://ok.example" }}, nil)
	ws, _, err := (&websocket.Dialer{}).Dial(allow.url, http.Header{"Origin": {"https://ok.example"}})
	if err != nil {
		t.Fatalf("allowed origin refused: %v", err)
	}
	_ = ws.Close()
}

// TestBusy: an agent serves one main at a time; a second gets 4009 and
// nothing queues.
func TestBusy(t *testing.T) {
	t.Parallel()
	var active atomic.Int32
	accepted := make(chan *Conn, 4)
	tl := startListener(t, ListenConfig{Role: RoleAgent, Keys: Keys{mainKey}, Accept: func(c *Conn) error {
		if !active.CompareAndSwap(0, 1) {
			return &CloseError{Code: CodeBusy, Reason: "another main is connected"}
		}
		go func() {
			<-c.Done()
			active.Store(0)
		}()
		closeAtEnd(t, c)
		accepted <- c
		return nil
	}}, nil)
	cfg := DialConfig{URL: tl.url, Role: RoleMain, Key: agentKey}
	first := mustDial(t, cfg)
	<-accepted

	err := dialErr(t, cfg)
	ce := wantCloseError(t, err, CodeBusy, true)
	if ce.Reason != "another main is connected" {
		t.Errorf("reason %q", ce.Reason)
	}

	// Once the first session is gone the slot is free again.
	first.Close(CodeNormal, "")
	_ = waitDone(t, first) // how it ended is not the point here
	deadline := time.Now().Add(waitFor)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		c, err := Dial(ctx, cfg)
		cancel()
		if err == nil {
			closeAtEnd(t, c)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("slot not freed: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestAcceptRefusesWithPlainError(t *testing.T) {
	t.Parallel()
	tl := startListener(t, ListenConfig{Role: RoleMain, Keys: Keys{agentKey}, Accept: func(c *Conn) error {
		return errors.New("agent decommissioned")
	}}, nil)
	err := dialErr(t, DialConfig{URL: tl.url, Role: RoleAgent, Key: mainKey})
	if ce := wantCloseError(t, err, CodeRefused, true); ce.Reason != "agent decommissioned" {
		t.Errorf("reason %q", ce.Reason)
	}
}

func TestDialConfigErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  DialConfig
		want string
	}{
		{"http scheme", DialConfig{URL: "http://main:8081", Role: RoleAgent, Key: mainKey}, "scheme must be ws or wss"},
		{"no host", DialConfig{URL: "wss://", Role: RoleAgent, Key: mainKey}, "no host"},
		{"bad role", DialConfig{URL: "ws://main:8081", Role: "boss", Key: mainKey}, `unknown role "boss"`},
		{"tls on ws", DialConfig{URL: "ws://main:8081", Role: RoleAgent, Key: mainKey, TLS: ClientTLS{Insecure: true}}, "URL is ws://"},
		{"ca and insecure", DialConfig{URL: "wss://main:8081", Role: RoleAgent, Key: mainKey, TLS: ClientTLS{CAFile: "ca.pem", Insecure: true}}, "exclude each other"},
		{"cert without key", DialConfig{URL: "wss://main:8081", Role: RoleAgent, Key: mainKey, TLS: ClientTLS{CertFile: "c.pem"}}, "both a certificate and a key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Dial(context.Background(), tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Dial: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// TestProofCoversBinding: the binding the listener announced is part of both
// proofs, so a relay that rewrote it would make them differ; the dialer's
// role and both nonces are too.
func TestProofCoversBinding(t *testing.T) {
	t.Parallel()
	tok, nd, nl := agentKey.Token, newNonce(), newNonce()
	base := proof(tok, labelDialer, RoleAgent, nd, nl, BindingNone, nil)
	for name, other := range map[string][]byte{
		"binding": proof(tok, labelDialer, RoleAgent, nd, nl, BindingTLSExporter, nil),
		"role":    proof(tok, labelDialer, RoleMain, nd, nl, BindingNone, nil),
		"nonces":  proof(tok, labelDialer, RoleAgent, nl, nd, BindingNone, nil),
		"label":   proof(tok, labelListener, RoleAgent, nd, nl, BindingNone, nil),
		"ekm":     proof(tok, labelDialer, RoleAgent, nd, nl, BindingNone, make([]byte, ekmSize)),
		"token":   proof(wrongToken, labelDialer, RoleAgent, nd, nl, BindingNone, nil),
	} {
		if bytes.Equal(base, other) {
			t.Errorf("changing the %s leaves the proof unchanged", name)
		}
	}
}

// TestOldHandshakeRefused: a peer speaking handshake protocol 1 (whose
// proofs do not cover the binding) is told so, instead of failing on a proof.
func TestOldHandshakeRefused(t *testing.T) {
	t.Parallel()
	tl := startListener(t, ListenConfig{Role: RoleMain, Keys: Keys{agentKey}}, nil)
	ws, _, err := (&websocket.Dialer{}).Dial(tl.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ws.Close() }()
	if err := ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"hello","v":1,"seq":1,"payload":{"proto":1,"role":"agent","nonce_d":"`+b64(nonce32)+`"}}`)); err != nil {
		t.Fatal(err)
	}
	ce, _ := readPeerClose(t, ws)
	if ce.Code != int(CodeProtocol) || !strings.Contains(ce.Text, "unsupported handshake protocol 1") {
		t.Errorf("got close %d %q, want 4002 naming the protocol", ce.Code, ce.Text)
	}
	tl.none(t)
}
