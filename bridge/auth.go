package bridge

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// MinTokenLength is the shortest token this package accepts. Shorter keys
// never match.
const MinTokenLength = 16

// Key is one shared secret and the name of whoever holds the other copy.
type Key struct {
	// Name is reported as Peer.Name: on main, the agent's name.
	Name  string
	Token []byte
}

// Keyring lists the keys a listener accepts. Main has one key per agent; an
// agent listening for main has one. It is asked once per handshake, so it
// may change between connections.
type Keyring interface {
	Candidates() []Key
}

// Keys is a fixed Keyring.
type Keys []Key

// Candidates implements Keyring.
func (k Keys) Candidates() []Key { return k }

// Handshake failures a dialer reports, both closing with CodeListenerProof.
var (
	// ErrImpostor: the listener's proof does not match the token, so it is
	// not the main (or agent) this side meant to reach.
	ErrImpostor = errors.New("listener failed to prove it holds the token")
	// ErrUnbound: the listener's certificate is not verified and its proof is
	// not bound to this TLS session, so nothing authenticates it.
	ErrUnbound = errors.New("listener proof is not bound to the TLS session")
	// errAuthFailed: the listener found no key matching the dialer's proof
	// (the listener closes with CodeAuthFailed).
	errAuthFailed = errors.New("authentication failed")
)

const (
	labelDialer   = "labelgate/2 dialer"
	labelListener = "labelgate/2 listener"
	ekmLabel      = "EXPORTER-labelgate-bridge"
	ekmSize       = 32
)

// proof is HMAC-SHA256(token, label ‖ role ‖ nonceD ‖ nonceL ‖ binding ‖
// ekm) where every field is prefixed by its 4-byte big-endian length, so no
// two different inputs share an encoding. role is always the dialer's;
// binding is what the listener announced in its challenge, so a relay that
// rewrites it makes the proofs differ; ekm is empty when the proof is not
// channel-bound.
func proof(token []byte, label string, role Role, nonceD, nonceL []byte, binding Binding, ekm []byte) []byte {
	m := hmac.New(sha256.New, token)
	for _, field := range [][]byte{[]byte(label), []byte(role), nonceD, nonceL, []byte(binding), ekm} {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(field)))
		m.Write(n[:])
		m.Write(field)
	}
	return m.Sum(nil)
}

func newNonce() []byte {
	b := make([]byte, nonceSize)
	rand.Read(b) // never fails (crypto/rand crashes the program instead)
	return b
}

// keyingMaterial exports the TLS session's keying material for the proofs,
// nil without TLS.
func keyingMaterial(cs *tls.ConnectionState) ([]byte, error) {
	if cs == nil {
		return nil, nil
	}
	ekm, err := cs.ExportKeyingMaterial(ekmLabel, nil, ekmSize)
	if err != nil {
		return nil, fmt.Errorf("exporting TLS keying material: %w", err)
	}
	return ekm, nil
}

// handshake runs fn with the socket's deadlines set to the handshake's and
// ctx able to abort it. The handshake is the only user of the socket until
// it returns, so it reads and writes directly.
//
// notAfter, when not zero, is an earlier end fixed before the call (a
// listener's deadline counted from the TCP accept). It bounds the socket's
// deadlines only, so the handshake still ends with its 4004 close frame.
func (c *Conn) handshake(ctx context.Context, notAfter time.Time, fn func(deadline time.Time) error) error {
	deadline := time.Now().Add(c.opts.HandshakeTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if !notAfter.IsZero() && notAfter.Before(deadline) {
		deadline = notAfter
	}
	// A deadline fails only on a closed socket, whose next read fails too.
	_ = c.ws.NetConn().SetReadDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = c.ws.NetConn().Close() })
	err := fn(deadline)
	if !stop() && err == nil {
		err = ctx.Err()
	}
	if err != nil && ctx.Err() != nil && !isCloseError(err) {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("handshake did not finish within %s: %w", c.opts.HandshakeTimeout, ctx.Err())
		}
		return fmt.Errorf("handshake: %w", ctx.Err())
	}
	return err
}

func isCloseError(err error) bool {
	var ce *CloseError
	return errors.As(err, &ce)
}

// refuse sends a close frame, waits briefly for the peer's answer (see
// readFailed for why) and returns the matching error. The caller closes the
// socket.
func (c *Conn) refuse(code CloseCode, reason string, cause error) error {
	if c.writeClose(code, reason) == nil {
		_ = c.ws.NetConn().SetReadDeadline(time.Now().Add(closeWait))
		for {
			// NextReader skips whatever is left of a refused frame; it fails
			// at the peer's close frame, a timeout or a dead socket.
			if _, _, err := c.ws.NextReader(); err != nil {
				break
			}
		}
	}
	return &CloseError{Code: code, Reason: reason, err: cause}
}

// readHandshake reads the next handshake frame, which must be of type want.
func (c *Conn) readHandshake(want Type) (Body, error) {
	f, err := c.readFrame(handshakeFrameLimit, nil)
	if err != nil {
		var (
			remote *CloseError
			big    *tooLargeError
		)
		switch {
		case errors.As(err, &remote):
			_ = c.writeClose(remote.Code, "") // the echo is a courtesy; the peer is leaving
			return nil, remote
		case errors.As(err, &big):
			return nil, c.refuse(CodeTooBig, "handshake "+big.reason(), err)
		case errors.Is(err, ErrProtocol):
			return nil, c.refuse(CodeProtocol, closeReason(err), err)
		case isTimeout(err):
			return nil, c.refuse(CodeHandshakeTimeout,
				fmt.Sprintf("handshake did not finish within %s", c.opts.HandshakeTimeout), err)
		}
		return nil, fmt.Errorf("reading %s: %w", want, err)
	}
	if f.Type() != want {
		err := protoErrorf("expected %s, got %s", want, f.Type())
		return nil, c.refuse(CodeProtocol, closeReason(err), err)
	}
	return f.Body, nil
}

// dialerHandshake authenticates both ends from the dialing side. ekm is the
// TLS keying material (nil on ws://); requireBinding refuses a listener that
// does not bind its proof to the TLS session, which is what authenticates a
// listener whose certificate was not verified (token-bound and insecure
// modes: without it, a relay that ends this side's TLS could forward the
// handshake in clear and read or change everything after it). It reports
// whether the proofs were channel-bound.
func (c *Conn) dialerHandshake(key Key, ekm []byte, requireBinding bool, deadline time.Time) (bool, error) {
	nonceD := newNonce()
	if err := c.writeBody(Hello{Proto: HandshakeVersion, Role: c.local, Nonce: nonceD}, deadline); err != nil {
		return false, fmt.Errorf("sending hello: %w", err)
	}
	body, err := c.readHandshake(TypeChallenge)
	if err != nil {
		return false, err
	}
	ch := body.(Challenge)
	if ch.Role == c.local {
		err := protoErrorf("both ends are %ss", c.local)
		return false, c.refuse(CodeProtocol, closeReason(err), err)
	}
	peer := ch.Role
	switch {
	case ch.Binding == BindingTLSExporter && ekm == nil:
		return false, c.refuse(CodeListenerProof,
			fmt.Sprintf("the %s binds its proof to a TLS session this side is not part of (a TLS proxy in between?)", peer),
			ErrUnbound)
	case ch.Binding == BindingNone && ekm != nil && requireBinding:
		return false, c.refuse(CodeListenerProof,
			fmt.Sprintf("cannot authenticate the %s: certificate not verified and proof not bound to this TLS session (a TLS-terminating relay in between?)", peer),
			ErrUnbound)
	case ch.Binding == BindingNone:
		ekm = nil // TLS ends before the listener (a reverse proxy); the certificate vouches for it
	}
	proofD := proof(key.Token, labelDialer, c.local, nonceD, ch.Nonce, ch.Binding, ekm)
	if err := c.writeBody(Auth{Proof: proofD}, deadline); err != nil {
		return false, fmt.Errorf("sending auth: %w", err)
	}
	body, err = c.readHandshake(TypeWelcome)
	if err != nil {
		return false, err
	}
	want := proof(key.Token, labelListener, c.local, nonceD, ch.Nonce, ch.Binding, ekm)
	if !hmac.Equal(body.(Welcome).Proof, want) {
		return false, c.refuse(CodeListenerProof,
			fmt.Sprintf("the listener is not the expected %s: its proof does not match the token (an impostor?)", peer),
			ErrImpostor)
	}
	return ekm != nil, nil
}

// listenerHandshake authenticates the dialer and prepares this side's proof.
// It stops before the welcome so the caller can still refuse the connection.
func (c *Conn) listenerHandshake(keys Keyring, ekm []byte, deadline time.Time) (Key, Role, Welcome, error) {
	body, err := c.readHandshake(TypeHello)
	if err != nil {
		return Key{}, "", Welcome{}, err
	}
	hello := body.(Hello)
	if hello.Role == c.local {
		err := protoErrorf("both ends are %ss", c.local)
		return Key{}, "", Welcome{}, c.refuse(CodeProtocol, closeReason(err), err)
	}
	nonceL := newNonce()
	binding := BindingNone
	if ekm != nil {
		binding = BindingTLSExporter
	}
	if err := c.writeBody(Challenge{Nonce: nonceL, Role: c.local, Binding: binding}, deadline); err != nil {
		return Key{}, "", Welcome{}, fmt.Errorf("sending challenge: %w", err)
	}
	body, err = c.readHandshake(TypeAuth)
	if err != nil {
		return Key{}, "", Welcome{}, err
	}
	got := body.(Auth).Proof
	var (
		match   Key
		matches int
	)
	// Every key is tried, whether or not an earlier one matched, so the time
	// taken says nothing about which key it was.
	for _, k := range keys.Candidates() {
		if len(k.Token) < MinTokenLength {
			continue
		}
		if hmac.Equal(got, proof(k.Token, labelDialer, hello.Role, hello.Nonce, nonceL, binding, ekm)) {
			if matches == 0 {
				match = k
			}
			matches++
		}
	}
	switch {
	case matches == 0:
		return Key{}, "", Welcome{}, c.refuse(CodeAuthFailed, "authentication failed", errAuthFailed)
	case matches > 1:
		// A token shared by two names gives no identity.
		return Key{}, "", Welcome{}, c.refuse(CodeAuthFailed, "authentication failed: the token is not unique",
			fmt.Errorf("%w: the token matches %d keys", errAuthFailed, matches))
	}
	welcome := Welcome{Proof: proof(match.Token, labelListener, hello.Role, hello.Nonce, nonceL, binding, ekm)}
	return match, hello.Role, welcome, nil
}
