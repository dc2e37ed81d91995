package bridge

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestBadApplicationFrames: after the handshake, a frame the listener cannot
// accept closes the connection with 4002 and a reason naming the problem.
func TestBadApplicationFrames(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, frame, want string
	}{
		{"unknown type", `{"type":"bogus","v":1,"seq":3,"payload":{}}`, `unknown frame type "bogus"`},
		{"unsupported version", `{"type":"announce","v":2,"seq":3,"payload":{}}`, "unsupported frame version 2"},
		{"wrong direction", `{"type":"ack","v":1,"seq":3,"payload":{"version":1}}`, "unexpected ack frame from the agent"},
		{"handshake frame again", `{"type":"auth","v":1,"seq":3,"payload":{"proof_d":"` + b64(nonce32) + `"}}`, "unexpected auth frame"},
		{"sequence gap", `{"type":"announce","v":1,"seq":9,"payload":{}}`, "has seq 9, want 3"},
		{"binary", "", "binary frame"},
	}
	tl := startListener(t, ListenConfig{Role: RoleMain, Keys: Keys{agentKey}}, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := rawDial(t, tl.url, RoleAgent, mainKey)
			l := tl.next(t) // subtests in turn: each takes the next accepted connection
			mt := websocket.TextMessage
			if tt.frame == "" {
				mt = websocket.BinaryMessage
			}
			if err := raw.ws.WriteMessage(mt, []byte(tt.frame)); err != nil {
				t.Fatal(err)
			}
			ce, _ := readPeerClose(t, raw.ws)
			if ce.Code != int(CodeProtocol) || !strings.Contains(ce.Text, tt.want) {
				t.Errorf("peer got close %d %q, want 4002 containing %q", ce.Code, ce.Text, tt.want)
			}
			err := waitDone(t, l)
			wantClose(t, err, CodeProtocol, false)
			if !errors.Is(err, ErrProtocol) {
				t.Errorf("listener Err %v does not match ErrProtocol", err)
			}
		})
	}
}

// TestOversizeFrame: a frame over the receiver's limit closes with 1009 and
// a reason; the sender's own limit refuses before sending.
func TestOversizeFrame(t *testing.T) {
	t.Parallel()
	const limit = 64 << 10
	tl := startListener(t, ListenConfig{Role: RoleMain, Keys: Keys{agentKey}, Options: Options{MaxFrameBytes: limit}}, nil)
	agent := mustDial(t, DialConfig{URL: tl.url, Role: RoleAgent, Key: mainKey})
	main := tl.next(t)

	small := Snapshot{Set: testSet(1, 10)}
	if err := agent.Send(context.Background(), small); err != nil {
		t.Fatal(err)
	}
	recvFrame(t, main)
	big := Snapshot{Set: testSet(2, 200)} // ~250 KB
	if err := agent.Send(context.Background(), big); err != nil {
		t.Fatal(err)
	}
	ce := wantCloseError(t, waitDone(t, agent), CodeTooBig, true)
	if !strings.Contains(ce.Reason, "exceeds the 65536-byte limit") {
		t.Errorf("reason %q", ce.Reason)
	}
	err := waitDone(t, main)
	wantClose(t, err, CodeTooBig, false)
	if !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("main's Err %v does not match ErrFrameTooLarge", err)
	}

	// The sender checks its own limit.
	tl2 := startListener(t, ListenConfig{Role: RoleMain, Keys: Keys{agentKey}}, nil)
	agent2 := mustDial(t, DialConfig{URL: tl2.url, Role: RoleAgent, Key: mainKey, Options: Options{MaxFrameBytes: limit}})
	if err := agent2.Send(context.Background(), big); !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("Send over the own limit: %v, want ErrFrameTooLarge", err)
	}
}

// TestDeadPeerDetected: a peer that completed the handshake and then stops
// reading (so never answers a ping) is declared dead within 3 intervals.
func TestDeadPeerDetected(t *testing.T) {
	t.Parallel()
	const interval = 100 * time.Millisecond
	tl := startListener(t, ListenConfig{Role: RoleMain, Keys: Keys{agentKey}, Options: Options{Heartbeat: interval}}, nil)
	rawDial(t, tl.url, RoleAgent, mainKey) // then silence
	l := tl.next(t)
	start := time.Now()
	err := waitDone(t, l)
	took := time.Since(start)
	ce := wantCloseError(t, err, CodeHeartbeatTimeout, false)
	if !strings.Contains(ce.Reason, "3 heartbeats") {
		t.Errorf("reason %q", ce.Reason)
	}
	if took < 2*interval || took > 3*interval+500*time.Millisecond { // slack for a loaded -race run
		t.Errorf("dead peer detected after %s, want about %s", took, 3*interval)
	}
}

// TestLivePeersStayUp: idle but alive connections keep each other alive
// with pings and pongs well past 3 intervals.
func TestLivePeersStayUp(t *testing.T) {
	t.Parallel()
	const interval = 200 * time.Millisecond
	opts := Options{Heartbeat: interval}
	tl := startListener(t, ListenConfig{Role: RoleMain, Keys: Keys{agentKey}, Options: opts}, nil)
	d := mustDial(t, DialConfig{URL: tl.url, Role: RoleAgent, Key: mainKey, Options: opts})
	l := tl.next(t)
	select {
	case <-d.Done():
		t.Fatalf("dialer ended: %v", d.Err())
	case <-l.Done():
		t.Fatalf("listener ended: %v", l.Err())
	case <-time.After(8 * interval):
	}
	if err := d.Send(context.Background(), Announce{Hostname: "still-here"}); err != nil {
		t.Fatal(err)
	}
	if got := recvFrame(t, l).Body.(Announce).Hostname; got != "still-here" {
		t.Errorf("got %q", got)
	}
}

// TestSlowReader: a peer that does not read fills the sender's queue; Send
// gives up after SendTimeout, the connection closes, and Send never blocks
// for good.
func TestSlowReader(t *testing.T) {
	t.Parallel()
	stop := make(chan struct{})
	url := rawServer(t, RoleMain, func(c *Conn) {
		_, _, welcome, err := c.listenerHandshake(Keys{agentKey}, nil, time.Now().Add(waitFor))
		if err != nil {
			t.Error(err)
			return
		}
		if err := c.writeBody(welcome, time.Now().Add(waitFor)); err != nil {
			t.Error(err)
			return
		}
		<-stop // and never read again
	})
	defer close(stop)
	agent := mustDial(t, DialConfig{URL: url, Role: RoleAgent, Key: mainKey,
		Options: Options{SendQueue: 2, SendTimeout: 200 * time.Millisecond, Heartbeat: 10 * time.Second}})
	snap := Snapshot{Set: testSet(1, 500)} // ~600 KB
	var (
		err     error
		longest time.Duration
	)
	for i := 0; i < 1000 && err == nil; i++ {
		start := time.Now()
		err = agent.Send(context.Background(), snap)
		longest = max(longest, time.Since(start))
	}
	if err == nil {
		t.Fatal("Send never failed against a peer that does not read")
	}
	// Each Send encodes ~600 KB (slow under -race) and then waits at most
	// SendTimeout for room.
	if longest > 3*time.Second {
		t.Errorf("a Send took %s, want about the 200ms SendTimeout plus encoding", longest)
	}
	wantClose(t, err, CodeSlowPeer, false)
	wantClose(t, waitDone(t, agent), CodeSlowPeer, false)
	if err := agent.Send(context.Background(), snap); !errors.Is(err, ErrClosed) {
		t.Errorf("Send after the close: %v, want ErrClosed", err)
	}
}

// TestSendHonoursContext: a full queue and a short context: Send returns
// the context's error and the connection stays up.
func TestSendHonoursContext(t *testing.T) {
	t.Parallel()
	stop := make(chan struct{})
	url := rawServer(t, RoleMain, func(c *Conn) {
		_, _, welcome, _ := c.listenerHandshake(Keys{agentKey}, nil, time.Now().Add(waitFor))
		if err := c.writeBody(welcome, time.Now().Add(waitFor)); err != nil {
			t.Error(err)
			return
		}
		<-stop
	})
	defer close(stop)
	agent := mustDial(t, DialConfig{URL: url, Role: RoleAgent, Key: mainKey,
		Options: Options{SendQueue: 1, SendTimeout: time.Minute, Heartbeat: 10 * time.Second}})
	snap := Snapshot{Set: testSet(1, 500)}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var err error
	for err == nil {
		err = agent.Send(ctx, snap)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Send: %v, want context.DeadlineExceeded", err)
	}
	select {
	case <-agent.Done():
		t.Errorf("connection ended: %v", agent.Err())
	default:
	}
}

// TestKilledMidSnapshot: the agent's TCP connection dies halfway through a
// snapshot; main's Recv closes and Err says what happened.
func TestKilledMidSnapshot(t *testing.T) {
	t.Parallel()
	tl := startListener(t, ListenConfig{Role: RoleMain, Keys: Keys{agentKey}}, nil)
	raw := rawDial(t, tl.url, RoleAgent, mainKey)
	l := tl.next(t)
	data, err := EncodeFrame(Frame{Seq: 3, Body: Snapshot{Set: testSet(1, 200)}})
	if err != nil {
		t.Fatal(err)
	}
	w, err := raw.ws.NextWriter(websocket.TextMessage)
	if err != nil {
		t.Fatal(err)
	}
	// Flushed as non-final fragments.
	if _, err := w.Write(data[:len(data)/2]); err != nil {
		t.Fatal(err)
	}
	_ = raw.ws.NetConn().Close() // the cut is the test

	select {
	case f, ok := <-l.Recv():
		if ok {
			t.Fatalf("got frame %s from a cut connection", f.Type())
		}
	case <-time.After(waitFor):
		t.Fatal("Recv not closed")
	}
	err = waitDone(t, l)
	if !errors.Is(err, io.ErrUnexpectedEOF) || !strings.Contains(err.Error(), "bytes of a frame") {
		t.Errorf("Err = %v, want a lost connection in the middle of a frame", err)
	}
}

func TestCloseIsIdempotentAndBounded(t *testing.T) {
	t.Parallel()
	tl := startListener(t, ListenConfig{Role: RoleMain, Keys: Keys{agentKey}}, nil)
	d := mustDial(t, DialConfig{URL: tl.url, Role: RoleAgent, Key: mainKey})
	l := tl.next(t)
	if d.Err() != nil {
		t.Errorf("Err before the end: %v", d.Err())
	}
	start := time.Now()
	l.Close(CodeGoingAway, "main shutting down")
	l.Close(CodeNormal, "second close is ignored")
	wantClose(t, waitDone(t, l), CodeGoingAway, false)
	ce := wantCloseError(t, waitDone(t, d), CodeGoingAway, true)
	if ce.Reason != "main shutting down" {
		t.Errorf("reason %q", ce.Reason)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("close handshake took %s", took)
	}
}

func TestCloseReasonTruncated(t *testing.T) {
	t.Parallel()
	tl := startListener(t, ListenConfig{Role: RoleMain, Keys: Keys{agentKey}}, nil)
	d := mustDial(t, DialConfig{URL: tl.url, Role: RoleAgent, Key: mainKey})
	l := tl.next(t)
	l.Close(CodeNormal, strings.Repeat("é", 100)) // 200 bytes
	ce := wantCloseError(t, waitDone(t, d), CodeNormal, true)
	if len(ce.Reason) > maxCloseReason || !strings.HasPrefix(strings.Repeat("é", 100), ce.Reason) {
		t.Errorf("reason %q (%d bytes)", ce.Reason, len(ce.Reason))
	}
}

func TestCloseWithUnsendableCode(t *testing.T) {
	t.Parallel()
	tl := startListener(t, ListenConfig{Role: RoleMain, Keys: Keys{agentKey}}, nil)
	d := mustDial(t, DialConfig{URL: tl.url, Role: RoleAgent, Key: mainKey})
	l := tl.next(t)
	l.Close(1006, "not a code one may send")
	wantClose(t, waitDone(t, l), CodeNormal, false)
	wantClose(t, waitDone(t, d), CodeNormal, true)
}
