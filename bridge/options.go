package bridge

import (
	"log/slog"
	"time"
)

// Defaults for Options fields left zero.
const (
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultHeartbeat        = 15 * time.Second
	DefaultMaxFrameBytes    = 8 << 20
	DefaultSendQueue        = 16
	DefaultSendTimeout      = 10 * time.Second
)

// handshakeFrameLimit caps frames before the peer is authenticated, so an
// anonymous client cannot make the listener buffer megabytes. Handshake
// frames are a few hundred bytes.
const handshakeFrameLimit = 4 << 10

// closeWait is how long a side that sent a close frame waits for the peer's
// answering close frame before dropping the TCP connection.
const closeWait = time.Second

// Options tune one connection. Both Dial and Listener take them; a zero field
// takes its default.
type Options struct {
	// HandshakeTimeout bounds the whole handshake: TCP, TLS, HTTP upgrade
	// and the four authentication frames.
	HandshakeTimeout time.Duration
	// Heartbeat is the ping interval. A peer from which nothing (frame or
	// pong) arrives for 3 × Heartbeat is dead and the connection is closed
	// with CodeHeartbeatTimeout; a write that makes no progress for
	// 3 × Heartbeat fails the connection too. Incoming bytes of a large
	// frame count as life, so a slow link is not a dead peer.
	Heartbeat time.Duration
	// MaxFrameBytes is the largest frame this side accepts (the peer gets
	// CodeTooBig) and sends (Send fails with ErrFrameTooLarge).
	MaxFrameBytes int64
	// SendQueue is how many frames Send may queue ahead of the writer.
	SendQueue int
	// SendTimeout is how long Send waits for room in a full queue. When it
	// runs out the peer is too slow: the connection is closed with
	// CodeSlowPeer.
	SendTimeout time.Duration
	// Logger receives the package's few log lines (refused handshakes on a
	// listener, connection ends). Nil discards them.
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.HandshakeTimeout <= 0 {
		o.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = DefaultHeartbeat
	}
	if o.MaxFrameBytes <= 0 {
		o.MaxFrameBytes = DefaultMaxFrameBytes
	}
	if o.SendQueue <= 0 {
		o.SendQueue = DefaultSendQueue
	}
	if o.SendTimeout <= 0 {
		o.SendTimeout = DefaultSendTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// deadAfter is the silence after which the peer counts as dead, and the
// longest a single write may take.
func (o Options) deadAfter() time.Duration { return 3 * o.Heartbeat }
