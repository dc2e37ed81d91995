package bridge

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// logBuffer collects a logger's lines for tests; safe for concurrent use.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) count(substr string) int {
	return strings.Count(b.String(), substr)
}

func (b *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// flakyListener fails Accept with "too many open files" while failing is
// set, as the kernel does when the process is out of descriptors.
type flakyListener struct {
	net.Listener
	failing atomic.Bool
	fails   atomic.Int64
}

func (l *flakyListener) Accept() (net.Conn, error) {
	if l.failing.Load() {
		l.fails.Add(1)
		time.Sleep(time.Millisecond) // the kernel's answer is not free either
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}

// TestAcceptSurvivesErrors: a listener whose accepts fail for a while (out of
// file descriptors) keeps accepting afterwards, says so at WARN, and Health
// reports the failure while it lasts. Before the gate, the first accept error
// ended the listener for good.
func TestAcceptSurvivesErrors(t *testing.T) {
	t.Parallel()
	for _, tlsOn := range []bool{false, true} {
		t.Run(map[bool]string{false: "ws", true: "ws and wss"}[tlsOn], func(t *testing.T) {
			t.Parallel()
			var logs logBuffer
			inner, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			ln := &flakyListener{Listener: inner}
			ln.failing.Store(true)
			cfg := ListenConfig{Role: RoleMain, Keys: Keys{agentKey}, Options: Options{Logger: logs.logger()}}
			if tlsOn {
				cfg.TLS = serverTLS(t, ServerTLS{})
			}
			l, tl := serveListener(t, cfg, ln)

			deadline := time.Now().Add(waitFor)
			for ln.fails.Load() < 20 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			if err := l.Health(); err == nil || !strings.Contains(err.Error(), "too many open files") {
				t.Errorf("Health() while accepts fail = %v, want the accept error", err)
			}
			if n := logs.count("level=WARN msg=\"accepting a connection failed"); n != 1 {
				t.Errorf("%d WARN lines for %d failed accepts, want 1 (then one per 10 s):\n%s", n, ln.fails.Load(), logs.String())
			}

			ln.failing.Store(false)
			url := "ws://" + inner.Addr().String()
			if tlsOn {
				url = "wss://" + inner.Addr().String()
			}
			mustDial(t, DialConfig{URL: url, Role: RoleAgent, Key: mainKey})
			tl.next(t)
			if err := l.Health(); err != nil {
				t.Errorf("Health() after recovery = %v, want nil", err)
			}
			if !strings.Contains(logs.String(), "accepting connections again") {
				t.Errorf("no recovery line in the log:\n%s", logs.String())
			}
		})
	}
}

// TestAcceptSurvivesDescriptorExhaustion reproduces the field report: a
// listener process with a low `ulimit -n` is flooded with idle connections
// until accept fails with EMFILE; once the flood is gone, an agent connects.
// The listener runs in a child process (this test binary) so the descriptor
// limit is its own.
func TestAcceptSurvivesDescriptorExhaustion(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts a child process")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperLowFDListener$")
	cmd.Env = append(os.Environ(), "BRIDGE_LOW_FD_LISTENER=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr logBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }) // Wait reports the kill
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	next := func(prefix string) string {
		t.Helper()
		timeout := time.After(2 * waitFor)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("the child ended before %q; its log:\n%s", prefix, stderr.String())
				}
				if strings.HasPrefix(l, prefix) {
					return strings.TrimPrefix(l, prefix)
				}
			case <-timeout:
				t.Fatalf("no %q line from the child; its log:\n%s", prefix, stderr.String())
			}
		}
	}
	addr := next("addr ")

	// Flood: far more idle connections than the child has descriptors.
	var flood []net.Conn
	for range 200 {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			break
		}
		flood = append(flood, c)
	}
	// The first lines may say "not serving" (Serve had not started yet).
	if got := next("unhealthy cannot accept"); !strings.Contains(got, "too many open files") {
		t.Errorf("the child's Health while flooded: %q, want too many open files", got)
	}
	for _, c := range flood {
		_ = c.Close()
	}

	// The flood is gone: an agent connects (the child accepts again once the
	// idle connections' handshake deadlines have closed them).
	ctx, cancel := context.WithTimeout(context.Background(), 3*waitFor)
	defer cancel()
	var conn *Conn
	for conn == nil {
		conn, err = Dial(ctx, DialConfig{URL: "ws://" + addr, Role: RoleAgent, Key: mainKey, Options: Options{HandshakeTimeout: time.Second}})
		if err != nil && ctx.Err() != nil {
			t.Fatalf("no agent could connect after the flood: %v; the child's log:\n%s", err, stderr.String())
		}
		if err != nil {
			time.Sleep(100 * time.Millisecond)
		}
	}
	closeAtEnd(t, conn)
	next("healthy")
	if !strings.Contains(stderr.String(), "accepting a connection failed") {
		t.Errorf("the child did not log the failing accepts at WARN:\n%s", stderr.String())
	}
}

// TestHelperLowFDListener is the child of TestAcceptSurvivesDescriptorExhaustion.
func TestHelperLowFDListener(t *testing.T) {
	if os.Getenv("BRIDGE_LOW_FD_LISTENER") != "1" {
		t.Skip("runs only as a child process")
	}
	lim := syscall.Rlimit{Cur: 48, Max: 48}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatalf("setrlimit: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	l, err := NewListener(ListenConfig{Role: RoleMain, Keys: Keys{agentKey}, MaxPendingPerAddress: 1000, MaxPending: 1000,
		Options: Options{HandshakeTimeout: 500 * time.Millisecond, Logger: logger},
		Accept:  func(c *Conn) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("addr %s\n", ln.Addr())
	go func() {
		last := ""
		for {
			state := "healthy"
			if err := l.Health(); err != nil {
				state = "unhealthy " + err.Error()
			}
			if state != last {
				fmt.Println(state)
				last = state
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := l.Serve(ctx, ln); err != nil {
		t.Error(err)
	}
}

// TestPendingCaps: connections still in their handshake are capped per
// remote address and in all; over a cap a connection is closed at once, and
// an agent from another address still gets in while one address is at its
// cap.
func TestPendingCaps(t *testing.T) {
	t.Parallel()
	var logs logBuffer
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l, tl := serveListener(t, ListenConfig{Role: RoleMain, Keys: Keys{agentKey}, MaxPending: 3, MaxPendingPerAddress: 2,
		Options: Options{Logger: logs.logger()}}, ln)
	addr := ln.Addr().String()
	from := func(ip string) net.Conn {
		t.Helper()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: time.Second}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial from %s: %v", ip, err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	closedAtOnce := func(c net.Conn) bool {
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		_, err := c.Read(make([]byte, 1))
		return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)
	}
	// pending is -1 until Serve (on its own goroutine) has made its gate.
	pending := func() int {
		if g := l.gate.Load(); g != nil {
			return g.inHandshake()
		}
		return -1
	}
	waitPending := func(n int) {
		t.Helper()
		deadline := time.Now().Add(waitFor)
		for pending() != n {
			if time.Now().After(deadline) {
				t.Fatalf("%d connections in their handshake, want %d", pending(), n)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	a1 := from("127.0.0.2")
	from("127.0.0.2")
	waitPending(2)
	if !closedAtOnce(from("127.0.0.2")) {
		t.Error("a third idle connection from one address was not closed at once")
	}

	// An honest agent from another address gets in although one address
	// holds its cap.
	mustDial(t, DialConfig{URL: "ws://" + addr, Role: RoleAgent, Key: mainKey})
	tl.next(t)

	b1 := from("127.0.0.3")
	waitPending(3)
	// At the global cap, a newcomer takes the slot of the oldest connection
	// of the address that holds the most: a few addresses filling every slot
	// cannot lock the others out.
	c1 := from("127.0.0.4")
	if !closedAtOnce(a1) {
		t.Error("at the global cap, the oldest connection of the busiest address was not shed")
	}
	waitPending(3)
	// Every address now holds one: a second one from any of them is over
	// the cap and closed at once.
	if !closedAtOnce(from("127.0.0.4")) {
		t.Error("a connection over the global cap was not closed at once")
	}
	if n := logs.count("too many connections are still in their handshake"); n == 0 || n > 3 {
		t.Errorf("%d log lines for the refused connections, want 1 to 3 (rate-limited)", n)
	}

	// A slot frees when its connection goes.
	_ = b1.Close()
	_ = c1.Close()
	waitPending(1)
	from("127.0.0.5")
	waitPending(2)
}

// TestHandshakeDeadlineIsAbsolute: nothing an unauthenticated peer does
// keeps its connection open past the handshake deadline, counted from the
// TCP accept: not pings after the upgrade, not a request trickled in, not a
// keep-alive after a plain GET.
func TestHandshakeDeadlineIsAbsolute(t *testing.T) {
	t.Parallel()
	const timeout = 300 * time.Millisecond
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l, _ := serveListener(t, ListenConfig{Role: RoleMain, Keys: Keys{agentKey}, Options: Options{HandshakeTimeout: timeout}}, ln)
	addr := ln.Addr().String()
	// Everything below must end within the deadline plus the backstop.
	limit := timeout + closeWait + 500*time.Millisecond

	t.Run("pings after the upgrade", func(t *testing.T) {
		ws, _, err := (&websocket.Dialer{}).Dial("ws://"+addr, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = ws.Close() }()
		start := time.Now()
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			for {
				select {
				case <-stop:
					return
				case <-time.After(50 * time.Millisecond):
					_ = ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(time.Second))
				}
			}
		}()
		_ = ws.SetReadDeadline(time.Now().Add(3 * limit))
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				break
			}
		}
		if d := time.Since(start); d > limit {
			t.Errorf("a pinging client was dropped after %s, want within %s", d, limit)
		}
	})

	t.Run("a request trickled in", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = c.Close() }()
		start := time.Now()
		req := "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
		done := make(chan time.Duration, 1)
		go func() {
			_ = c.SetReadDeadline(time.Now().Add(3 * limit))
			_, _ = io.Copy(io.Discard, c) // until the server drops the connection
			done <- time.Since(start)
		}()
		for i := 0; i < 100; i++ {
			if _, err := c.Write([]byte{req[i%len(req)]}); err != nil {
				break
			}
			select {
			case d := <-done:
				if d > limit {
					t.Errorf("a trickling client was dropped after %s, want within %s", d, limit)
				}
				return
			case <-time.After(40 * time.Millisecond):
			}
		}
		t.Error("a trickling client was never dropped")
	})

	t.Run("a plain GET is not kept alive", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = c.Close() }()
		start := time.Now()
		if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(3 * limit))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body) // ends when the server closes
		if d := time.Since(start); d > limit {
			t.Errorf("a plain GET's connection stayed open %s, want it closed within %s", d, limit)
		}
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("a plain GET got %s, want 400", resp.Status)
		}
	})

	deadline := time.Now().Add(waitFor)
	for l.gate.Load().inHandshake() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections still counted as in their handshake", l.gate.Load().inHandshake())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRefusedHandshakesLogRateLimited: a flood of failed handshakes writes a
// handful of WARN lines, not one per attempt.
func TestRefusedHandshakesLogRateLimited(t *testing.T) {
	t.Parallel()
	var logs logBuffer
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveListener(t, ListenConfig{Role: RoleMain, Keys: Keys{agentKey}, Options: Options{Logger: logs.logger()}}, ln)
	for range 50 {
		_ = dialErr(t, DialConfig{URL: "ws://" + ln.Addr().String(), Role: RoleAgent, Key: Key{Name: "x", Token: wrongToken}})
	}
	if n := logs.count("bridge handshake refused"); n == 0 || n > refusedLogBurst {
		t.Errorf("%d log lines for 50 failed handshakes, want 1 to %d", n, refusedLogBurst)
	}
}
