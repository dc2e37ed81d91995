package bridge

import (
	"net"
	"testing"
	"time"
)

// redialer runs StartRedial against url as an agent with mainKey and
// reports what the loop hands out on channels; it stops at the end of the
// test unless the test stopped it.
type redialer struct {
	conns  chan *Conn
	failed chan failedAttempt
	ended  chan error
	stop   func()
}

type failedAttempt struct {
	err  error
	wait time.Duration
}

func startRedial(t *testing.T, url string, b BackoffConfig) *redialer {
	t.Helper()
	r := &redialer{conns: make(chan *Conn, 8), failed: make(chan failedAttempt, 64), ended: make(chan error, 8)}
	stop := StartRedial(RedialConfig{
		Dial:        DialConfig{URL: url, Role: RoleAgent, Key: mainKey},
		Backoff:     b,
		OnConnected: func(c *Conn) { r.conns <- c },
		OnFailed: func(err error, wait time.Duration) {
			select {
			case r.failed <- failedAttempt{err, wait}:
			default:
			}
		},
		OnEnded:    func(err error) { r.ended <- err },
		StopReason: "the test stops the loop",
	})
	stopped := make(chan struct{})
	r.stop = func() {
		select {
		case <-stopped:
		default:
			stop()
			close(stopped)
		}
	}
	t.Cleanup(r.stop)
	return r
}

func (r *redialer) conn(t *testing.T) *Conn {
	t.Helper()
	return receive(t, r.conns, "connection from the loop")
}

// TestRedialReconnectsAndStops: the loop hands out a connection, reports
// its end, dials again after the wait, and on stop closes the connection
// still open with CodeGoingAway and StopReason before it returns.
func TestRedialReconnectsAndStops(t *testing.T) {
	t.Parallel()
	tl := startListener(t, ListenConfig{Role: RoleMain, Keys: Keys{agentKey}}, nil)
	r := startRedial(t, tl.url, BackoffConfig{Min: 10 * time.Millisecond, Max: 20 * time.Millisecond})

	first := r.conn(t)
	if p := first.Peer(); p.Name != "main" || p.Role != RoleMain {
		t.Errorf("peer %+v, want main", p)
	}
	tl.next(t).Close(CodeGoingAway, "main restarts")
	if ce := wantCloseError(t, receive(t, r.ended, "end of the connection"), CodeGoingAway, true); ce.Reason != "main restarts" {
		t.Errorf("ended with reason %q", ce.Reason)
	}

	second := r.conn(t)
	mainEnd := tl.next(t)
	r.stop()
	select {
	case <-second.Done():
	default:
		t.Fatal("stop returned with the connection still open")
	}
	if ce := wantCloseError(t, waitDone(t, mainEnd), CodeGoingAway, true); ce.Reason != "the test stops the loop" {
		t.Errorf("main saw reason %q, want the StopReason", ce.Reason)
	}
	select {
	case err := <-r.ended:
		t.Errorf("a stop reported as an ended connection: %v", err)
	case c := <-r.conns:
		t.Errorf("the loop dialed after stop: %+v", c.Peer())
	case <-time.After(100 * time.Millisecond):
	}
	tl.none(t)
}

// TestRedialBacksOff: every failed attempt is reported with the wait that
// follows it, and the waits grow as the backoff says.
func TestRedialBacksOff(t *testing.T) {
	t.Parallel()
	// The listener knows another agent's token: every handshake is refused.
	tl := startListener(t, ListenConfig{Role: RoleMain, Keys: Keys{agent2Key}}, nil)
	r := startRedial(t, tl.url, BackoffConfig{Min: 10 * time.Millisecond, Max: 40 * time.Millisecond})
	for i, base := range []time.Duration{10, 20, 40, 40} {
		base *= time.Millisecond
		select {
		case f := <-r.failed:
			wantClose(t, f.err, CodeAuthFailed, true)
			if f.wait < base/2 || f.wait > base {
				t.Errorf("wait %d = %s, want within [%s, %s]", i+1, f.wait, base/2, base)
			}
		case c := <-r.conns:
			t.Fatalf("connected to %+v with the wrong token", c.Peer())
		case <-time.After(waitFor):
			t.Fatalf("attempt %d: no failure reported", i+1)
		}
	}
	tl.none(t)
}

// TestRedialStopCutsTheWait: stop does not wait out a long backoff.
func TestRedialStopCutsTheWait(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "ws://" + ln.Addr().String()
	_ = ln.Close() // nothing listens there now
	r := startRedial(t, url, BackoffConfig{Min: time.Hour})
	if f := receive(t, r.failed, "failure reported"); f.wait < 30*time.Minute {
		t.Errorf("wait %s, want at least 30m", f.wait)
	}
	start := time.Now()
	r.stop()
	if took := time.Since(start); took > time.Second {
		t.Errorf("stop took %s", took)
	}
}

// TestServePort: the port accepts and reports its health; Stop ends
// serving but leaves the connections already accepted to their owner; a bad
// configuration or a bound address is an error of ServePort itself.
func TestServePort(t *testing.T) {
	t.Parallel()
	accepted := make(chan *Conn, 1)
	port, err := ServePort("127.0.0.1:0", ListenConfig{Role: RoleMain, Keys: Keys{agentKey},
		Accept: func(c *Conn) error { closeAtEnd(t, c); accepted <- c; return nil }},
		func(err error) { t.Errorf("serving failed: %v", err) })
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			port.Stop()
		}
	})
	deadline := time.Now().Add(waitFor)
	for port.Health() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("Health() = %v, want nil once serving", port.Health())
		}
		time.Sleep(5 * time.Millisecond)
	}

	if _, err := ServePort(port.Addr().String(), ListenConfig{Role: RoleMain, Keys: Keys{agentKey}, Accept: func(*Conn) error { return nil }}, nil); err == nil {
		t.Error("a second ServePort on a bound address succeeded")
	}
	if _, err := ServePort("127.0.0.1:0", ListenConfig{Role: RoleMain, Keys: Keys{agentKey}}, nil); err == nil {
		t.Error("ServePort without an Accept callback succeeded")
	}

	url := "ws://" + port.Addr().String()
	agent := mustDial(t, DialConfig{URL: url, Role: RoleAgent, Key: mainKey})
	mainEnd := receive(t, accepted, "connection accepted")

	port.Stop()
	stopped = true
	if err := mainEnd.Send(t.Context(), Ack{Version: 7}); err != nil {
		t.Fatalf("send on an accepted connection after Stop: %v", err)
	}
	if got := recvFrame(t, agent).Body; got != (Ack{Version: 7}) {
		t.Errorf("agent got %#v, want ack 7", got)
	}
	if err := dialErr(t, DialConfig{URL: url, Role: RoleAgent, Key: mainKey}); err == nil { // nothing listens any more
		t.Error("a dial after Stop succeeded")
	}
}
