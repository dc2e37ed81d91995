package bridge

import (
	"fmt"
	"unicode/utf8"
)

// CloseCode is the status code of a WebSocket close frame. The 4000 range is
// this protocol's own; the 1000 range is RFC 6455's.
type CloseCode int

// The close codes this package sends. One table, so both ends and the logs
// agree on what a number means:
//
//	code  name               sent by    when
//	1000  normal             either     Close by the application
//	1001  going away         either     shutdown (listener stopping, process exiting)
//	1009  too big            receiver   a frame exceeds the receiver's MaxFrameBytes
//	4001  auth failed        listener   the dialer's proof matches no token
//	4002  protocol           either     malformed frame, unknown type, unsupported version,
//	                                    wrong role pair, out-of-order or out-of-phase frame
//	4003  listener proof     dialer     the listener's proof is wrong or not channel-bound
//	                                    where it must be: the listener is an impostor
//	4004  handshake timeout  either     the handshake did not finish in time
//	4005  heartbeat timeout  either     no frame or pong from the peer for 3 heartbeat intervals
//	4006  slow peer          sender     the send queue stayed full (the peer does not read)
//	4008  refused            listener   the Accept callback refused the connection
//	4009  busy               listener   another session holds the only slot ("another main is connected")
const (
	CodeNormal           CloseCode = 1000
	CodeGoingAway        CloseCode = 1001
	CodeTooBig           CloseCode = 1009
	CodeAuthFailed       CloseCode = 4001
	CodeProtocol         CloseCode = 4002
	CodeListenerProof    CloseCode = 4003
	CodeHandshakeTimeout CloseCode = 4004
	CodeHeartbeatTimeout CloseCode = 4005
	CodeSlowPeer         CloseCode = 4006
	CodeRefused          CloseCode = 4008
	CodeBusy             CloseCode = 4009
)

// codeNoStatus is RFC 6455's "no status code present" (1005): a close frame
// with an empty body. It is never sent.
const codeNoStatus CloseCode = 1005

var closeCodeNames = map[CloseCode]string{
	CodeNormal:           "normal closure",
	CodeGoingAway:        "going away",
	codeNoStatus:         "no status",
	CodeTooBig:           "message too big",
	CodeAuthFailed:       "authentication failed",
	CodeProtocol:         "protocol error",
	CodeListenerProof:    "listener proof failed",
	CodeHandshakeTimeout: "handshake timeout",
	CodeHeartbeatTimeout: "heartbeat timeout",
	CodeSlowPeer:         "slow peer",
	CodeRefused:          "refused",
	CodeBusy:             "busy",
}

func (c CloseCode) String() string {
	if name, ok := closeCodeNames[c]; ok {
		return fmt.Sprintf("%d %s", int(c), name)
	}
	return fmt.Sprintf("%d", int(c))
}

// CloseError is a connection ended by a close frame: one the peer sent
// (Remote) or one this side sent. It is what Conn.Err returns after a
// close handshake, what Dial wraps when the listener refuses, and what an
// Accept callback returns to refuse a connection with a specific code.
type CloseError struct {
	Code   CloseCode
	Reason string
	// Remote is true when the peer sent the close frame.
	Remote bool

	err error // the local condition behind the close, if any
}

// Unwrap returns the condition that made this side close, if any: for
// example ErrProtocol, ErrFrameTooLarge or ErrImpostor.
func (e *CloseError) Unwrap() error { return e.err }

func (e *CloseError) Error() string {
	who := "closed the connection"
	if e.Remote {
		who = "peer closed the connection"
	}
	if e.Reason == "" {
		return fmt.Sprintf("%s: %s", who, e.Code)
	}
	return fmt.Sprintf("%s: %s: %s", who, e.Code, e.Reason)
}

// maxCloseReason is the longest reason that fits a close frame (125-byte
// control payload minus the 2-byte code).
const maxCloseReason = 123

// truncateReason cuts s to fit a close frame without splitting a UTF-8
// sequence (gorilla refuses close frames with invalid UTF-8).
func truncateReason(s string) string {
	if len(s) <= maxCloseReason {
		return s
	}
	s = s[:maxCloseReason]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}
