package bridge

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/labelgate/labelgate/messages"
)

// fuzzHandshakeTimeout keeps the fuzzer's iterations short; fuzzCloseBound
// is how long after it opened a connection the listener may still hold it:
// the handshake timeout, the wait for the dialer's answering close frame,
// and a second of scheduling slack.
const (
	fuzzHandshakeTimeout = 100 * time.Millisecond
	fuzzCloseBound       = fuzzHandshakeTimeout + closeWait + time.Second
)

// Placeholders a fuzzed frame may carry. The dialer replaces them, once it
// has the listener's challenge, by the base64 proof_d of this connection
// made from a token: the two the listener holds, one it does not, and one
// too short to count.
var fuzzProofKeys = []struct {
	placeholder string
	key         Key
}{
	{"{{proof}}", agentKey},
	{"{{proof2}}", agent2Key},
	{"{{wrong}}", Key{Name: "nobody", Token: wrongToken}},
	{"{{short}}", shortKey},
}

var shortKey = Key{Name: "short", Token: []byte("short")}

// How the dialer sends each of its three messages: two bits per message in
// ops, and two flags.
const (
	opText   = 0 // a text data frame, as the protocol uses
	opBinary = 1 // a binary data frame
	opPing   = 2 // a ping control frame with the bytes as its payload
	opPong   = 3 // an unsolicited pong control frame

	flagRefuse = 1 << 6 // Accept refuses the connection (CodeBusy)
	flagAbrupt = 1 << 7 // the dialer drops its TCP connection after the last message
)

type fuzzHandled struct {
	remote string
	took   time.Duration
}

type fuzzAccepted struct {
	remote string
	peer   Peer
	conn   *Conn // nil when Accept refused it
}

// FuzzListenerHandshake dials a real Listener (role main, the keys of two
// agents and a too-short one) over a real WebSocket connection and sends the
// fuzzer's bytes as the dialer's first three messages. Properties:
//
//   - the listener calls Accept only for a connection whose auth carried the
//     proof of a key it holds, made for this connection's nonces — and then
//     always, naming that key, unless the handshake timed out;
//   - a welcome reaches the dialer only from a listener whose Accept took
//     the connection, and its proof is made from the same token;
//   - a connection Accept did not take is closed, and its handler has
//     returned, within the handshake timeout plus the close handshake;
//   - on a connection Accept took, the frames delivered are an agent's
//     (announce, snapshot), and every snapshot's source is the agent whose
//     key matched;
//   - nothing panics (the listener runs in this process).
//
// The bytes are sent as they are, except for the proof placeholders above.
// ops picks the WebSocket frame kind of each message and two flags.
func FuzzListenerHandshake(f *testing.F) {
	hello := `{"type":"hello","v":1,"seq":1,"payload":{"proto":2,"role":"agent","nonce_d":"` + b64(nonce32) + `"}}`
	auth := func(p string) string {
		return `{"type":"auth","v":1,"seq":2,"payload":{"proof_d":"` + p + `"}}`
	}
	snapshot := `{"type":"snapshot","v":1,"seq":3,"payload":{"set":{"source":"agent:someone-else","version":4,"containers":[{"name":"web","labels":{"labelgate.tunnel.web.hostname":"bank.example.com"}}]}}}`
	announce := `{"type":"announce","v":1,"seq":3,"payload":{"hostname":"docker-2","agent_version":"1.0.0","docker":{"connected":true}}}`
	seeds := []struct {
		hello, auth, extra string
		ops                uint8
	}{
		{hello, auth("{{proof}}"), snapshot, 0},                          // genuine; the snapshot's source is rebound
		{hello, auth("{{proof2}}"), announce, 0},                         // the other agent
		{hello, auth("{{proof}}"), announce, flagRefuse},                 // genuine, Accept refuses
		{hello, auth("{{proof}}"), snapshot, flagAbrupt},                 // genuine, then the dialer vanishes
		{hello, auth("{{proof}}"), `{"type":"resync","v":1,"seq":3}`, 0}, // a main's frame from an agent
		{hello, auth("{{proof}}"), strings.Replace(snapshot, `"seq":3`, `"seq":7`, 1), 0},
		{hello, auth("{{wrong}}"), "", 0},
		{hello, auth("{{short}}"), "", 0},
		{hello, auth(b64(make([]byte, 32))), "", 0},
		{hello, auth("{{proof}}{{proof}}"), "", 0},
		{hello, strings.Replace(auth("{{proof}}"), `"seq":2`, `"seq":1`, 1), "", 0},
		{hello, hello, "", 0},
		{strings.Replace(hello, `"agent"`, `"main"`, 1), auth("{{proof}}"), "", 0},
		{auth("{{proof}}"), hello, "", 0},
		{hello, "", "", 0}, // then silence: the handshake times out
		{hello, "", "", flagAbrupt},
		{"", "", "", 0},
		{hello, auth("{{proof}}"), "", opBinary << 2},
		{hello, auth("{{proof}}"), "", opBinary},
		{hello, `{"type":"hello","v":1,"seq":2,"payload":{"pad":"` + strings.Repeat("x", 5000) + `"}}`, "", 0},
		{"not json", "", "", 0},
		{hello, auth("{{proof}}"), "ping", opPing << 4}, // a ping after the handshake is fine
	}
	for _, s := range seeds {
		f.Add([]byte(s.hello), []byte(s.auth), []byte(s.extra), s.ops)
	}

	handled := make(chan fuzzHandled, 64)
	accepted := make(chan fuzzAccepted, 64)
	var refuse atomic.Bool // iterations run one at a time in a fuzzing process
	l, err := NewListener(ListenConfig{
		Role: RoleMain,
		Keys: Keys{agentKey, agent2Key, shortKey},
		Accept: func(c *Conn) error {
			a := fuzzAccepted{remote: c.Peer().RemoteAddr, peer: c.Peer()}
			if refuse.Load() {
				accepted <- a
				return &CloseError{Code: CodeBusy, Reason: "fuzz says no"}
			}
			a.conn = c
			accepted <- a
			return nil
		},
		Options: Options{HandshakeTimeout: fuzzHandshakeTimeout},
	})
	if err != nil {
		f.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		l.ServeHTTP(w, r)
		select {
		case handled <- fuzzHandled{remote: r.RemoteAddr, took: time.Since(start)}:
		default:
		}
	}))
	f.Cleanup(srv.Close)
	url := "ws" + strings.TrimPrefix(srv.URL, "http")

	f.Fuzz(func(t *testing.T, m1, m2, m3 []byte, ops uint8) {
		refuse.Store(ops&flagRefuse != 0)
		d := &fuzzDialer{t: t, msgs: [][]byte{m1, m2, m3}, ops: ops}
		d.run(url)

		// The listener's side of this connection: its handler's end, and
		// what Accept saw.
		var (
			acc      *fuzzAccepted
			took     time.Duration
			finished bool
		)
		timeout := time.After(fuzzCloseBound)
		for !finished {
			select {
			case a := <-accepted:
				if a.remote == d.local {
					acc = &a
				}
			case h := <-handled:
				if h.remote == d.local {
					took, finished = h.took, true
				}
			case <-timeout:
				t.Fatalf("the listener still holds the connection %s after it opened (handshake timeout %s); the dialer sent %s",
					fuzzCloseBound, fuzzHandshakeTimeout, d.describe())
			}
		}
		select { // Accept runs before the handler returns
		case a := <-accepted:
			if a.remote == d.local {
				acc = &a
			}
		default:
		}

		switch {
		case acc != nil && d.genuine == nil:
			t.Fatalf("Accept called for %+v, but the dialer sent no proof made from a token the listener holds: %s", acc.peer, d.describe())
		case acc != nil && acc.peer.Name != d.genuine.Name:
			t.Fatalf("Accept called for %q, want %q (the key whose proof was sent)", acc.peer.Name, d.genuine.Name)
		case acc == nil && d.genuine != nil && d.closeCode != CodeHandshakeTimeout:
			t.Fatalf("a genuine handshake was not accepted (listener closed with %d %q): %s", d.closeCode, d.closeText, d.describe())
		case d.welcome != nil && (acc == nil || acc.conn == nil):
			t.Fatalf("the dialer got a welcome, but Accept did not take the connection: %s", d.describe())
		case d.welcome != nil && !bytes.Equal(d.welcome.Proof, proof(d.genuine.Token, labelListener, d.hello.Role, d.hello.Nonce, d.challenge.Nonce, d.challenge.Binding, nil)):
			t.Fatalf("the welcome's proof is not made from the token of %q", d.genuine.Name)
		}

		if acc == nil || acc.conn == nil {
			if took > fuzzCloseBound {
				t.Fatalf("the listener's handler returned %s after the connection opened, over %s: %s", took, fuzzCloseBound, d.describe())
			}
			return
		}
		c := acc.conn
		if p := c.Peer(); p.Role != RoleAgent || p.Mode != ModePlaintext || p.ChannelBound {
			t.Fatalf("accepted peer %+v, want an agent over plaintext", p)
		}
		select {
		case <-c.Done():
		case <-time.After(waitFor):
			c.Close(CodeGoingAway, "fuzz iteration over")
			t.Fatalf("the accepted connection did not end after the dialer closed it: %s", d.describe())
		}
		for fr := range c.Recv() {
			switch b := fr.Body.(type) {
			case Announce:
			case Snapshot:
				if want := messages.AgentSource(c.Peer().Name); b.Set.Source != want {
					t.Fatalf("snapshot delivered with source %q, want %q", b.Set.Source, want)
				}
			default:
				t.Fatalf("a %s frame from an agent was delivered", fr.Type())
			}
		}
	})
}

// fuzzDialer plays the dialer's side with the fuzzer's messages and records
// what the listener did.
type fuzzDialer struct {
	t    *testing.T
	msgs [][]byte
	ops  uint8

	local     string // this side's address, the listener's RemoteAddr
	sent      []string
	hello     *Hello     // the first data message, if it is a valid hello
	challenge *Challenge // the listener's challenge, once read
	genuine   *Key       // the listener's key whose proof the second data message carried
	welcome   *Welcome
	closeCode CloseCode
	closeText string
}

func (d *fuzzDialer) describe() string {
	return fmt.Sprintf("ops %08b, messages %q", d.ops, d.sent)
}

func (d *fuzzDialer) run(url string) {
	t := d.t
	dialer := websocket.Dialer{HandshakeTimeout: waitFor}
	ws, _, err := dialer.Dial(url, nil)
	if err != nil {
		t.Fatalf("websocket dial: %v", err)
	}
	defer func() { _ = ws.Close() }()
	d.local = ws.LocalAddr().String()
	deadline := time.Now().Add(fuzzCloseBound)
	_ = ws.SetReadDeadline(deadline)

	var data [][]byte // the data messages, in the order the listener reads them
send:
	for i, m := range d.msgs {
		op := (d.ops >> (2 * i)) & 3
		if len(m) == 0 && op == opText {
			continue // nothing: silence
		}
		m = d.fillProofs(m)
		var err error
		switch op {
		case opText:
			err = ws.WriteMessage(websocket.TextMessage, m)
		case opBinary:
			err = ws.WriteMessage(websocket.BinaryMessage, m)
		case opPing:
			err = ws.WriteControl(websocket.PingMessage, m, deadline)
		case opPong:
			err = ws.WriteControl(websocket.PongMessage, m, deadline)
		}
		if err != nil {
			if errors.Is(err, websocket.ErrCloseSent) || len(m) > 125 && op >= opPing {
				continue // too big for a control frame, or the listener has closed
			}
			break send // the listener has gone
		}
		d.sent = append(d.sent, fmt.Sprintf("%d:%s", op, m))
		if op == opPing || op == opPong {
			continue
		}
		data = append(data, m)
		switch len(data) {
		case 1:
			d.hello = validFrame[Hello](op, m, 1)
			d.readChallenge(ws)
		case 2:
			if d.hello == nil || d.challenge == nil || d.hello.Role != RoleAgent {
				break
			}
			auth := validFrame[Auth](op, m, 2)
			if auth == nil {
				break
			}
			for _, k := range []Key{agentKey, agent2Key} {
				if bytes.Equal(auth.Proof, proof(k.Token, labelDialer, d.hello.Role, d.hello.Nonce, d.challenge.Nonce, d.challenge.Binding, nil)) {
					d.genuine = &k
				}
			}
		}
	}

	if d.ops&flagAbrupt != 0 {
		_ = ws.NetConn().Close() // the abrupt end is the case under test
		return
	}
	// Read until the listener closes; a welcome means the listener took the
	// connection, which this side then ends.
	for {
		_, msg, err := ws.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			switch {
			case errors.As(err, &ce):
				d.closeCode, d.closeText = CloseCode(ce.Code), ce.Text
			case isTimeout(err):
				t.Fatalf("the listener kept the connection open for %s (handshake timeout %s): %s",
					fuzzCloseBound, fuzzHandshakeTimeout, d.describe())
			}
			return
		}
		if w := validFrame[Welcome](opText, msg, 2); w != nil && d.welcome == nil {
			d.welcome = w
			_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(int(CodeNormal), "fuzz done"), time.Now().Add(time.Second))
		}
	}
}

// readChallenge reads the listener's answer to the first data message: a
// challenge if that was a valid hello, else a close frame.
func (d *fuzzDialer) readChallenge(ws *websocket.Conn) {
	_, msg, err := ws.ReadMessage()
	if err != nil {
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			d.closeCode, d.closeText = CloseCode(ce.Code), ce.Text
		}
		return // a timeout shows again in the final read
	}
	d.challenge = validFrame[Challenge](opText, msg, 1)
	if d.challenge == nil {
		d.t.Fatalf("the listener answered with %q, not a challenge", msg)
	}
	if d.hello == nil {
		d.t.Fatalf("the listener sent a challenge after %s, which is not a valid hello", d.describe())
	}
}

// fillProofs replaces the proof placeholders, once the challenge is known.
func (d *fuzzDialer) fillProofs(m []byte) []byte {
	if d.challenge == nil || d.hello == nil {
		return m
	}
	for _, p := range fuzzProofKeys {
		pr := proof(p.key.Token, labelDialer, d.hello.Role, d.hello.Nonce, d.challenge.Nonce, d.challenge.Binding, nil)
		m = bytes.ReplaceAll(m, []byte(p.placeholder), []byte(base64.StdEncoding.EncodeToString(pr)))
	}
	return m
}

// validFrame decodes a data message as the listener does (size cap, text,
// DecodeFrame, sequence number) and returns its body if it is a T.
func validFrame[T Body](op uint8, m []byte, seq uint64) *T {
	if op != opText || len(m) > handshakeFrameLimit {
		return nil
	}
	f, err := DecodeFrame(m)
	if err != nil || f.Seq != seq {
		return nil
	}
	b, ok := f.Body.(T)
	if !ok {
		return nil
	}
	return &b
}
