package bridge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/labelgate/labelgate/messages"
)

// TLSMode says how the peer of a connection was authenticated at the TLS
// layer. Callers log it at every connect.
type TLSMode string

// The four TLS modes.
const (
	// ModeVerified: the peer's certificate chain was verified (a dialer
	// against a CA file or the system roots; a listener against its client
	// CA, mTLS).
	ModeVerified TLSMode = "verified"
	// ModeTokenBound: the certificate was not verified (self-signed); the
	// peer is authenticated only by its token proof, bound to this TLS
	// session's keying material so a TLS-terminating man in the middle
	// cannot relay it.
	ModeTokenBound TLSMode = "token-bound"
	// ModeInsecure: a dialer skipped certificate verification because its
	// configuration said so.
	ModeInsecure TLSMode = "insecure"
	// ModePlaintext: no TLS on this side of the connection.
	ModePlaintext TLSMode = "plaintext"
)

// Peer describes the other end of an authenticated connection.
type Peer struct {
	// Name identifies the peer: on a listener, the name of the Key whose
	// token matched; on a dialer, the Name of the Key it dialed with.
	Name string
	// Role is the peer's role, always the opposite of this side's.
	Role Role
	// Mode is how TLS authenticated the peer, seen from this side.
	Mode TLSMode
	// ChannelBound is true when the handshake proofs were bound to the TLS
	// session (both ends saw the same TLS session).
	ChannelBound bool
	// RemoteAddr is the peer's network address as this side sees it.
	RemoteAddr string
}

// Errors returned by Send.
var (
	// ErrClosed: the connection has ended; Conn.Err says why.
	ErrClosed = errors.New("connection closed")
	// ErrFrameTooLarge: the frame exceeds MaxFrameBytes.
	ErrFrameTooLarge = errors.New("frame too large")
)

// Conn is one authenticated main↔agent connection. It owns two goroutines:
// a reader that decodes frames onto Recv, and the only writer of the socket,
// which sends queued frames, pings, pongs and the close frame.
//
// All methods are safe for concurrent use.
type Conn struct {
	ws    *websocket.Conn
	local Role
	peer  Peer
	opts  Options
	log   *slog.Logger

	// sendSeq is owned by the handshake, then by the writer goroutine;
	// recvSeq by the handshake, then by the reader goroutine.
	sendSeq uint64
	recvSeq uint64

	out        chan outgoing
	pongs      chan string
	closeReq   chan struct{}
	recv       chan Frame
	readerDone chan struct{} // closed when the reader has returned
	quit       chan struct{} // closed when the writer has closed the socket
	done       chan struct{} // closed when both goroutines have returned

	// closing is set when this side decided to close: the reader stops
	// delivering frames and waits for the peer's closing frame.
	closing atomic.Bool
	// started is set when the handshake is over. Before it, nothing the peer
	// sends (pings, pongs) renews a deadline: the handshake's is absolute.
	started atomic.Bool

	mu          sync.Mutex
	err         error       // why the connection ended; first cause wins
	closeFrame  *CloseError // close frame the writer sends on a local close
	readerClose *CloseError // close frame the reader asks the writer to send
}

type outgoing struct {
	t       Type
	payload []byte
}

func newConn(ws *websocket.Conn, local Role, o Options) *Conn {
	c := &Conn{
		ws:         ws,
		local:      local,
		opts:       o,
		log:        o.Logger,
		out:        make(chan outgoing, o.SendQueue),
		pongs:      make(chan string, 1),
		closeReq:   make(chan struct{}, 1),
		recv:       make(chan Frame, 1), // a peer's frames wait in the reader, not in a queue
		readerDone: make(chan struct{}),
		quit:       make(chan struct{}),
		done:       make(chan struct{}),
	}
	// Gorilla's default handlers answer pings and close frames by writing
	// from the reading goroutine; ours leave every write to the writer.
	ws.SetPingHandler(func(data string) error {
		if !c.started.Load() {
			return nil // no pongs, no renewal before the peer authenticated
		}
		c.extendReadDeadline()
		select {
		case c.pongs <- data:
		default: // a pong is already pending; one answer is enough
		}
		return nil
	})
	ws.SetPongHandler(func(string) error {
		if c.started.Load() {
			c.extendReadDeadline()
		}
		return nil
	})
	ws.SetCloseHandler(func(int, string) error { return nil })
	return c
}

// Peer describes the other end.
func (c *Conn) Peer() Peer { return c.peer }

// Recv delivers the peer's application frames in order. It is closed when
// the connection ends; Err then says why. Read it promptly: while it is
// full the reader stops reading, and a peer that seems silent for
// 3 × Heartbeat is declared dead.
func (c *Conn) Recv() <-chan Frame { return c.recv }

// Done is closed when the connection has ended and both of its goroutines
// have returned.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err returns nil until Done is closed, then why the connection ended: a
// *CloseError for a close handshake (Remote tells who closed; a peer's code
// and reason are kept), else a network error.
func (c *Conn) Err() error {
	select {
	case <-c.done:
	default:
		return nil
	}
	return c.cause()
}

func (c *Conn) cause() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// setErr records why the connection ends; the first cause wins.
func (c *Conn) setErr(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		c.err = err
	}
}

// Send queues body for the writer. It returns once the frame is queued, not
// delivered: a nil error is no proof that the peer received it (use Ack).
// When the queue is full Send waits up to SendTimeout; if the queue is still
// full the peer is too slow, and the connection is closed with CodeSlowPeer.
// Send never blocks past SendTimeout or ctx. Only application frames in this
// side's direction may be sent: announce and snapshot from an agent, ack and
// resync from main.
func (c *Conn) Send(ctx context.Context, body Body) error {
	if body == nil {
		return errors.New("sending frame: no body")
	}
	t := body.FrameType()
	if !mayFlow(c.local, t) {
		return fmt.Errorf("sending %s: a %s does not send %s frames", t, c.local, t)
	}
	payload, err := encodePayload(body)
	if err != nil {
		return err
	}
	if size := int64(len(envelopeBytes(0, t, nil))) + int64(len(payload)) + 20; size > c.opts.MaxFrameBytes {
		return fmt.Errorf("sending %s: %d bytes exceed the %d-byte frame limit: %w", t, size, c.opts.MaxFrameBytes, ErrFrameTooLarge)
	}
	if c.closing.Load() {
		return c.sendClosedErr(t)
	}
	timer := time.NewTimer(c.opts.SendTimeout)
	defer timer.Stop()
	select {
	case c.out <- outgoing{t: t, payload: payload}:
		return nil
	case <-c.quit:
		return c.sendClosedErr(t)
	case <-ctx.Done():
		return fmt.Errorf("sending %s: %w", t, ctx.Err())
	case <-timer.C:
		ce := &CloseError{Code: CodeSlowPeer, Reason: fmt.Sprintf("send queue full for %s: the peer does not read", c.opts.SendTimeout)}
		c.closeWith(ce, true)
		return fmt.Errorf("sending %s: %w", t, ce)
	}
}

func (c *Conn) sendClosedErr(t Type) error {
	if cause := c.cause(); cause != nil {
		return fmt.Errorf("sending %s: %w: %w", t, ErrClosed, cause)
	}
	return fmt.Errorf("sending %s: %w", t, ErrClosed)
}

// Close ends the connection with a close frame carrying code and reason
// (cut to the 123 bytes a close frame holds). A code WebSocket does not let
// an endpoint send (below 1000, 1004–1006, 1015, 1016–2999, 5000 and up) is
// sent as CodeNormal. Close does not wait: Done is closed once the peer has
// answered, or at the latest after about two seconds. Closing a closed
// connection does nothing.
func (c *Conn) Close(code CloseCode, reason string) {
	if !sendable(code) {
		code = CodeNormal
	}
	c.closeWith(&CloseError{Code: code, Reason: truncateReason(reason)}, false)
}

// closeWith starts a local close. hard skips the close frame: for a peer
// that does not read, the writer may be stuck in a write that will never
// finish, so the socket is closed at once.
func (c *Conn) closeWith(ce *CloseError, hard bool) {
	c.setErr(ce)
	c.closing.Store(true)
	c.mu.Lock()
	if c.closeFrame == nil {
		c.closeFrame = ce
	}
	c.mu.Unlock()
	if hard {
		_ = c.ws.NetConn().Close()
		return
	}
	select {
	case c.closeReq <- struct{}{}:
	default: // a close is already under way
	}
	// A writer blocked in a slow write cannot get to the close request;
	// after the write deadline it would, but do not wait that long.
	time.AfterFunc(2*closeWait, func() {
		select {
		case <-c.done:
		default:
			_ = c.ws.NetConn().Close()
		}
	})
}

// Setting a deadline fails only on a closed socket, whose next read or write
// reports it; the errors of SetReadDeadline and SetWriteDeadline are dropped
// for that reason here and below.
func (c *Conn) extendReadDeadline() {
	_ = c.ws.NetConn().SetReadDeadline(time.Now().Add(c.opts.deadAfter()))
}

// start runs the reader and the writer; the handshake is over.
func (c *Conn) start() {
	c.started.Store(true)
	_ = c.ws.NetConn().SetReadDeadline(time.Time{})
	_ = c.ws.SetWriteDeadline(time.Time{})
	go c.readLoop()
	go c.writeLoop()
	c.log.Debug("bridge connection established", "peer", c.peer.Name, "role", c.peer.Role,
		"tls_mode", c.peer.Mode, "channel_bound", c.peer.ChannelBound, "remote", c.peer.RemoteAddr)
}

// abortUnstarted ends a connection whose goroutines never ran.
func (c *Conn) abortUnstarted(err error) {
	c.setErr(err)
	_ = c.ws.NetConn().Close()
	close(c.recv)
	close(c.readerDone)
	close(c.quit)
	close(c.done)
}

func (c *Conn) readLoop() {
	defer close(c.readerDone)
	defer close(c.recv)
	for {
		c.extendReadDeadline()
		if c.closing.Load() {
			// Waiting for the peer's close frame: what it still sends is
			// read and dropped, never decoded.
			if err := c.discardFrame(); err != nil && !c.readFailed(err) {
				return
			}
			continue
		}
		f, err := c.readFrame(c.opts.MaxFrameBytes, c.extendReadDeadline)
		if err == nil {
			err = c.checkIncoming(f)
		}
		if err != nil {
			if c.readFailed(err) {
				continue
			}
			return
		}
		if c.closing.Load() {
			continue // drain until the peer's close frame
		}
		c.bindSource(&f)
		select {
		case c.recv <- f:
		case <-c.quit:
			return
		}
	}
}

// checkIncoming enforces phase and direction: after the handshake only
// application frames flowing from the peer's role are valid.
func (c *Conn) checkIncoming(f Frame) error {
	if !mayFlow(c.peer.Role, f.Type()) {
		return protoErrorf("unexpected %s frame from the %s after the handshake", f.Type(), c.peer.Role)
	}
	return nil
}

// mayFlow reports whether a side with role from sends frames of type t after
// the handshake.
func mayFlow(from Role, t Type) bool {
	switch t {
	case TypeAnnounce, TypeSnapshot:
		return from == RoleAgent
	case TypeAck, TypeResync:
		return from == RoleMain
	}
	return false
}

// bindSource ties a snapshot to the authenticated agent, whatever Source the
// agent wrote.
func (c *Conn) bindSource(f *Frame) {
	if c.local != RoleMain || c.peer.Name == "" {
		return
	}
	if s, ok := f.Body.(Snapshot); ok {
		s.Set.Source = messages.AgentSource(c.peer.Name)
		f.Body = s
	}
}

// readFailed records why reading stopped and which close frame, if any, the
// writer should send. It returns true when the reader should go on reading:
// after a frame it refused, this side sends its close frame and keeps
// reading (and discarding) until the peer answers, because closing the
// socket with the peer's data unread would make the kernel reset the
// connection, and the peer could lose the close frame and its reason.
func (c *Conn) readFailed(err error) (keepReading bool) {
	var (
		remote *CloseError
		big    *tooLargeError
	)
	refused := errors.As(err, &big) || errors.Is(err, ErrProtocol)
	switch {
	case errors.As(err, &remote):
		c.setErr(remote)
		if !c.closing.Load() {
			// Echo the code, as RFC 6455 asks.
			c.mu.Lock()
			c.readerClose = &CloseError{Code: remote.Code}
			c.mu.Unlock()
		}
		return false
	case refused && c.closing.Load():
		return true // more of the same while draining
	case big != nil:
		c.closeWith(&CloseError{Code: CodeTooBig, Reason: big.reason(), err: err}, false)
		return true
	case refused:
		c.closeWith(&CloseError{Code: CodeProtocol, Reason: closeReason(err), err: err}, false)
		return true
	case c.closing.Load():
		// The socket went away or timed out while this side was closing;
		// the cause is already recorded.
		return false
	case isTimeout(err):
		// Gorilla cannot read after a timeout: send the close frame and go.
		ce := &CloseError{Code: CodeHeartbeatTimeout,
			Reason: fmt.Sprintf("nothing from the peer for %s (3 heartbeats)", c.opts.deadAfter())}
		c.setErr(ce)
		c.mu.Lock()
		c.readerClose = ce
		c.mu.Unlock()
		return false
	default:
		c.setErr(fmt.Errorf("reading from %s: %w", c.peer.RemoteAddr, err))
		return false
	}
}

func (c *Conn) writeLoop() {
	ping := time.NewTicker(c.opts.Heartbeat)
	defer ping.Stop()
	for {
		select {
		case m := <-c.out:
			if err := c.writeFrame(m.t, m.payload, time.Now().Add(c.opts.deadAfter())); err != nil {
				c.setErr(fmt.Errorf("writing %s frame to %s: %w", m.t, c.peer.RemoteAddr, err))
				c.terminate()
				return
			}
		case data := <-c.pongs:
			if err := c.ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(c.opts.deadAfter())); err != nil {
				c.setErr(fmt.Errorf("writing pong to %s: %w", c.peer.RemoteAddr, err))
				c.terminate()
				return
			}
		case <-ping.C:
			if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.opts.deadAfter())); err != nil {
				c.setErr(fmt.Errorf("writing ping to %s: %w", c.peer.RemoteAddr, err))
				c.terminate()
				return
			}
		case <-c.closeReq:
			c.mu.Lock()
			ce := c.closeFrame
			c.mu.Unlock()
			if c.writeClose(ce.Code, ce.Reason) == nil {
				wait := time.NewTimer(closeWait)
				select {
				case <-c.readerDone:
				case <-wait.C:
				}
				wait.Stop()
			}
			c.terminate()
			return
		case <-c.readerDone:
			c.mu.Lock()
			ce := c.readerClose
			c.mu.Unlock()
			if ce != nil {
				_ = c.writeClose(ce.Code, ce.Reason) // best effort: the socket closes next
			}
			c.terminate()
			return
		}
	}
}

// terminate closes the socket and waits for the reader.
func (c *Conn) terminate() {
	_ = c.ws.NetConn().Close()
	close(c.quit)
	<-c.readerDone
	close(c.done)
	c.log.Debug("bridge connection ended", "peer", c.peer.Name, "remote", c.peer.RemoteAddr, "err", c.cause())
}

// writeChunk is how much of a large frame is written under one write
// deadline; each chunk renews it, so a large frame to a slow but live peer
// is not cut off, while a peer that stops reading is.
const writeChunk = 64 << 10

// writeFrame sends one frame with the next sequence number. Only the
// handshake (before start) and the writer goroutine call it. deadline bounds
// a small frame; a large one gets 3 × Heartbeat per chunk.
func (c *Conn) writeFrame(t Type, payload []byte, deadline time.Time) error {
	c.sendSeq++
	data := envelopeBytes(c.sendSeq, t, payload)
	_ = c.ws.SetWriteDeadline(deadline)
	if len(data) <= writeChunk {
		return c.ws.WriteMessage(websocket.TextMessage, data)
	}
	w, err := c.ws.NextWriter(websocket.TextMessage)
	if err != nil {
		return err
	}
	for len(data) > 0 {
		n := min(writeChunk, len(data))
		_ = c.ws.SetWriteDeadline(time.Now().Add(c.opts.deadAfter()))
		if _, err := w.Write(data[:n]); err != nil {
			return err
		}
		data = data[n:]
	}
	return w.Close()
}

func (c *Conn) writeBody(b Body, deadline time.Time) error {
	payload, err := encodePayload(b)
	if err != nil {
		return err
	}
	return c.writeFrame(b.FrameType(), payload, deadline)
}

// writeClose sends a close frame, waiting at most closeWait.
func (c *Conn) writeClose(code CloseCode, reason string) error {
	var payload []byte
	switch {
	case code == codeNoStatus:
		payload = []byte{} // an empty close frame, the answer to one
	case !sendable(code):
		code = CodeNormal
		fallthrough
	default:
		payload = websocket.FormatCloseMessage(int(code), truncateReason(reason))
	}
	return c.ws.WriteControl(websocket.CloseMessage, payload, time.Now().Add(closeWait))
}

// sendable reports whether RFC 6455 lets an endpoint put code in a close
// frame.
func sendable(code CloseCode) bool {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1014:
		return true
	case code >= 3000 && code <= 4999:
		return true
	}
	return false
}

// tooLargeError is a frame over the reader's limit.
type tooLargeError struct{ limit int64 }

func (e *tooLargeError) Error() string {
	return fmt.Sprintf("frame exceeds the %d-byte limit", e.limit)
}
func (e *tooLargeError) Is(target error) bool { return target == ErrFrameTooLarge }
func (e *tooLargeError) reason() string       { return e.Error() }

// readFrame reads and decodes the next frame and checks its sequence number.
// It enforces limit itself instead of using gorilla's SetReadLimit, which
// answers an oversize frame by writing a close frame with no reason from the
// reading goroutine; this way the single writer sends 1009 with a reason.
// Bytes beyond the limit are never buffered. progress, if not nil, runs on
// every chunk read, so a large frame arriving slowly is not mistaken for a
// dead peer.
func (c *Conn) readFrame(limit int64, progress func()) (Frame, error) {
	mt, r, err := c.ws.NextReader()
	if err != nil {
		return Frame{}, peerError(err)
	}
	if mt != websocket.TextMessage {
		return Frame{}, protoErrorf("binary frame (the protocol uses JSON text frames)")
	}
	if progress != nil {
		r = progressReader{r: r, progress: progress}
	}
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return Frame{}, fmt.Errorf("connection lost after %d bytes of a frame: %w", len(data), peerError(err))
	}
	if int64(len(data)) > limit {
		return Frame{}, &tooLargeError{limit: limit}
	}
	f, err := DecodeFrame(data)
	if err != nil {
		return Frame{}, err
	}
	if f.Seq != c.recvSeq+1 {
		return Frame{}, protoErrorf("%s frame has seq %d, want %d", f.Type(), f.Seq, c.recvSeq+1)
	}
	c.recvSeq = f.Seq
	return f, nil
}

// discardFrame reads the next message and drops it unread (at most the
// frame limit of it).
func (c *Conn) discardFrame() error {
	_, r, err := c.ws.NextReader()
	if err != nil {
		return peerError(err)
	}
	if _, err := io.Copy(io.Discard, io.LimitReader(r, c.opts.MaxFrameBytes+1)); err != nil {
		return peerError(err)
	}
	return nil
}

// peerError turns gorilla's close errors into ours. Gorilla reports a TCP
// connection that ended without a close frame as close code 1006; that is a
// lost connection, not a close handshake.
func peerError(err error) error {
	var ce *websocket.CloseError
	if !errors.As(err, &ce) {
		return err
	}
	if ce.Code == websocket.CloseAbnormalClosure {
		return fmt.Errorf("connection lost without a close frame: %w", io.ErrUnexpectedEOF)
	}
	return &CloseError{Code: CloseCode(ce.Code), Reason: ce.Text, Remote: true}
}

// isTimeout reports a read or write deadline that passed. Gorilla hides
// the net package's timeout error behind its own type, which keeps only the
// Timeout method.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

type progressReader struct {
	r        io.Reader
	progress func()
}

func (p progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.progress()
	}
	return n, err
}

// remoteAddr is a connection's peer address for logs and Peer.
func remoteAddr(conn net.Conn) string {
	if a := conn.RemoteAddr(); a != nil {
		return a.String()
	}
	return ""
}
