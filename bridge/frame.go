package bridge

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/labelgate/labelgate/messages"
)

// ProtocolVersion is the envelope version ("v") this package speaks. A frame
// with any other version is refused with CodeProtocol.
const ProtocolVersion = 1

// HandshakeVersion is the handshake protocol ("proto" in hello) this package
// speaks. Version 2 puts the listener's binding into both proofs; a peer
// speaking version 1 is refused with a reason that says so, rather than with
// a proof that cannot match.
const HandshakeVersion = 2

// Type is a frame's "type" field.
type Type string

// Frame types. The first four are the handshake, in this order; the rest
// flow only after it.
const (
	TypeHello     Type = "hello"     // dialer → listener
	TypeChallenge Type = "challenge" // listener → dialer
	TypeAuth      Type = "auth"      // dialer → listener
	TypeWelcome   Type = "welcome"   // listener → dialer

	TypeAnnounce Type = "announce" // agent → main
	TypeSnapshot Type = "snapshot" // agent → main
	TypeAck      Type = "ack"      // main → agent
	TypeResync   Type = "resync"   // main → agent
)

// Role is what a side of the connection is, independent of who dialed.
type Role string

// The two roles. A connection always pairs one of each.
const (
	RoleAgent Role = "agent"
	RoleMain  Role = "main"
)

func (r Role) valid() bool { return r == RoleAgent || r == RoleMain }

// Binding says whether the listener's handshake proofs are bound to the TLS
// session it sees.
type Binding string

// The two bindings a listener can announce in its challenge.
const (
	// BindingTLSExporter: the listener terminates TLS itself and mixes the
	// session's exported keying material into both proofs.
	BindingTLSExporter Binding = "tls-exporter"
	// BindingNone: the listener sees plain WebSocket (ws://, or TLS ended by a
	// reverse proxy in front of it).
	BindingNone Binding = "none"
)

// ErrProtocol marks every protocol violation: malformed or unknown frames,
// unsupported versions, frames out of order or in the wrong direction.
// A connection that meets one closes with CodeProtocol.
var ErrProtocol = errors.New("protocol error")

type protocolError struct{ msg string }

func (e *protocolError) Error() string        { return "protocol error: " + e.msg }
func (e *protocolError) Is(target error) bool { return target == ErrProtocol }

func protoErrorf(format string, args ...any) error {
	return &protocolError{msg: fmt.Sprintf(format, args...)}
}

// closeReason is the text to put in a close frame for err.
func closeReason(err error) string {
	var pe *protocolError
	if errors.As(err, &pe) {
		return pe.msg
	}
	return err.Error()
}

// Body is the typed payload of a frame: one of Hello, Challenge, Auth,
// Welcome, Announce, Snapshot, Ack or Resync. The set is closed.
type Body interface {
	// FrameType is the envelope "type" that carries this body.
	FrameType() Type
	validate() error
}

// Frame is one decoded protocol message.
type Frame struct {
	// Seq numbers the sender's frames on one connection: 1, 2, 3, …
	// counting its handshake frames too. A gap or repeat is a protocol error.
	Seq  uint64
	Body Body
}

// Type is the frame's envelope type.
func (f Frame) Type() Type {
	if f.Body == nil {
		return ""
	}
	return f.Body.FrameType()
}

// nonceSize and proofSize are the handshake's fixed byte lengths.
const (
	nonceSize = 32
	proofSize = 32 // HMAC-SHA256
)

// Hello opens the handshake: the dialer's role and fresh nonce.
type Hello struct {
	Proto int    `json:"proto"`
	Role  Role   `json:"role"`
	Nonce []byte `json:"nonce_d"` // 32 random bytes
}

// Challenge is the listener's answer to Hello: its own fresh nonce, its role
// and whether its proofs are bound to the TLS session.
type Challenge struct {
	Nonce   []byte  `json:"nonce_l"` // 32 random bytes
	Role    Role    `json:"role"`
	Binding Binding `json:"binding"`
}

// Auth carries the dialer's proof of the token.
type Auth struct {
	Proof []byte `json:"proof_d"`
}

// Welcome carries the listener's proof of the token; after it, application
// frames flow.
type Welcome struct {
	Proof []byte `json:"proof_l"`
}

// Announce tells main who the agent is and how its Docker engine is doing.
// An agent sends it first after the handshake and again when something in
// it changes.
type Announce struct {
	Hostname      string       `json:"hostname"`
	AgentVersion  string       `json:"agent_version"`
	DefaultTunnel string       `json:"default_tunnel,omitempty"`
	Docker        DockerStatus `json:"docker"`
}

// DockerStatus is the agent's view of its Docker engine.
type DockerStatus struct {
	Connected bool   `json:"connected"`
	LastError string `json:"last_error,omitempty"`
}

// Snapshot is an agent's full, current labelled-container set. On a
// connection whose local role is main, Conn rewrites Set.Source to
// messages.AgentSource(peer name): an agent cannot speak for another source.
type Snapshot struct {
	Set messages.ContainerSet `json:"set"`
}

// Ack tells the agent main has received the snapshot with this version.
type Ack struct {
	Version uint64 `json:"version"`
}

// Resync asks the agent to send its full set now.
type Resync struct{}

// FrameType implements Body.
func (Hello) FrameType() Type { return TypeHello }

// FrameType implements Body.
func (Challenge) FrameType() Type { return TypeChallenge }

// FrameType implements Body.
func (Auth) FrameType() Type { return TypeAuth }

// FrameType implements Body.
func (Welcome) FrameType() Type { return TypeWelcome }

// FrameType implements Body.
func (Announce) FrameType() Type { return TypeAnnounce }

// FrameType implements Body.
func (Snapshot) FrameType() Type { return TypeSnapshot }

// FrameType implements Body.
func (Ack) FrameType() Type { return TypeAck }

// FrameType implements Body.
func (Resync) FrameType() Type { return TypeResync }

func (h Hello) validate() error {
	if h.Proto != HandshakeVersion {
		return protoErrorf("unsupported handshake protocol %d (this side speaks %d: upgrade the older of main and the agent)", h.Proto, HandshakeVersion)
	}
	if !h.Role.valid() {
		return protoErrorf("hello has unknown role %q", h.Role)
	}
	if len(h.Nonce) != nonceSize {
		return protoErrorf("hello nonce is %d bytes, want %d", len(h.Nonce), nonceSize)
	}
	return nil
}

func (c Challenge) validate() error {
	if len(c.Nonce) != nonceSize {
		return protoErrorf("challenge nonce is %d bytes, want %d", len(c.Nonce), nonceSize)
	}
	if !c.Role.valid() {
		return protoErrorf("challenge has unknown role %q", c.Role)
	}
	if c.Binding != BindingTLSExporter && c.Binding != BindingNone {
		return protoErrorf("challenge has unknown binding %q", c.Binding)
	}
	return nil
}

func (a Auth) validate() error {
	if len(a.Proof) != proofSize {
		return protoErrorf("auth proof is %d bytes, want %d", len(a.Proof), proofSize)
	}
	return nil
}

func (w Welcome) validate() error {
	if len(w.Proof) != proofSize {
		return protoErrorf("welcome proof is %d bytes, want %d", len(w.Proof), proofSize)
	}
	return nil
}

// Caps on announce fields: an agent's announce is shown in main's logs, API
// and dashboard, so its size is bounded like everything else a peer sends.
const (
	MaxAnnounceHostname = 253  // a DNS name
	MaxAnnounceVersion  = 64   // a version string
	MaxAnnounceTunnel   = 128  // a configured tunnel name
	MaxAnnounceError    = 1024 // the agent's last Docker error
)

func (a Announce) validate() error {
	for _, f := range []struct {
		name, value string
		max         int
	}{
		{"hostname", a.Hostname, MaxAnnounceHostname},
		{"agent_version", a.AgentVersion, MaxAnnounceVersion},
		{"default_tunnel", a.DefaultTunnel, MaxAnnounceTunnel},
		{"docker.last_error", a.Docker.LastError, MaxAnnounceError},
	} {
		if len(f.value) > f.max {
			return protoErrorf("announce %s is %d bytes, more than %d", f.name, len(f.value), f.max)
		}
		if !utf8.ValidString(f.value) {
			return protoErrorf("announce %s is not valid UTF-8", f.name)
		}
	}
	return nil
}

// TruncateAnnounce cuts an agent's own announce fields to the caps main
// enforces, so an honest agent with a long Docker error is never refused.
func TruncateAnnounce(a Announce) Announce {
	cut := func(s string, n int) string {
		s = strings.ToValidUTF8(s, "\uFFFD")
		for len(s) > n {
			s = s[:n]
			s = strings.ToValidUTF8(s, "")
		}
		return s
	}
	a.Hostname = cut(a.Hostname, MaxAnnounceHostname)
	a.AgentVersion = cut(a.AgentVersion, MaxAnnounceVersion)
	a.DefaultTunnel = cut(a.DefaultTunnel, MaxAnnounceTunnel)
	a.Docker.LastError = cut(a.Docker.LastError, MaxAnnounceError)
	return a
}

// Caps on a snapshot. The frame size bounds the bytes, not what they decode
// to: 8 MiB of tiny containers or labels is half a million objects. A real
// host's set is far below these (2,000 compose containers of 16 labels are
// 32,000 labels, 2.5 MB).
const (
	MaxSnapshotContainers = 10_000
	MaxSnapshotLabels     = 100_000 // in all the containers of a snapshot
	MaxContainerLabels    = 1_000
	MaxContainerNetworks  = 64
	MaxLabelKey           = 1 << 10
	MaxLabelValue         = 64 << 10
	MaxContainerField     = 256 // name, ID, state, health, network name and addresses
)

func (s Snapshot) validate() error {
	if s.Set.Version == 0 {
		return protoErrorf("snapshot has version 0 (versions start at 1)")
	}
	if n := len(s.Set.Containers); n > MaxSnapshotContainers {
		return protoErrorf("snapshot has %d containers, more than %d", n, MaxSnapshotContainers)
	}
	labels := 0
	for i, c := range s.Set.Containers {
		if c.Kind != "" && c.Kind != messages.KindService {
			return protoErrorf("snapshot container %d has kind %q; want none or %q", i, truncateReason(c.Kind), messages.KindService)
		}
		for _, f := range []string{c.Name, c.ID, c.State, c.Health} {
			if len(f) > MaxContainerField {
				return protoErrorf("snapshot container %d has a field of %d bytes, more than %d", i, len(f), MaxContainerField)
			}
		}
		if len(c.Labels) > MaxContainerLabels {
			return protoErrorf("snapshot container %q has %d labels, more than %d", truncateReason(c.Name), len(c.Labels), MaxContainerLabels)
		}
		if labels += len(c.Labels); labels > MaxSnapshotLabels {
			return protoErrorf("snapshot has more than %d labels", MaxSnapshotLabels)
		}
		for k, v := range c.Labels {
			if len(k) > MaxLabelKey || len(v) > MaxLabelValue {
				return protoErrorf("snapshot container %q has a label of %d+%d bytes, more than %d+%d", truncateReason(c.Name), len(k), len(v), MaxLabelKey, MaxLabelValue)
			}
		}
		if len(c.Networks) > MaxContainerNetworks {
			return protoErrorf("snapshot container %q has %d networks, more than %d", truncateReason(c.Name), len(c.Networks), MaxContainerNetworks)
		}
		for _, n := range c.Networks {
			if len(n.Name) > MaxContainerField || len(n.IPv4) > MaxContainerField || len(n.IPv6) > MaxContainerField {
				return protoErrorf("snapshot container %q has a network field over %d bytes", truncateReason(c.Name), MaxContainerField)
			}
		}
	}
	return nil
}

func (a Ack) validate() error {
	if a.Version == 0 {
		return protoErrorf("ack has version 0 (versions start at 1)")
	}
	return nil
}

func (Resync) validate() error { return nil }

// decoderFor returns the payload decoder of a known frame type, nil for an
// unknown one.
func decoderFor(t Type) func(json.RawMessage) (Body, error) {
	switch t {
	case TypeHello:
		return decodeBody[Hello]
	case TypeChallenge:
		return decodeBody[Challenge]
	case TypeAuth:
		return decodeBody[Auth]
	case TypeWelcome:
		return decodeBody[Welcome]
	case TypeAnnounce:
		return decodeBody[Announce]
	case TypeSnapshot:
		return decodeBody[Snapshot]
	case TypeAck:
		return decodeBody[Ack]
	case TypeResync:
		return decodeBody[Resync]
	}
	return nil
}

func decodeBody[T Body](payload json.RawMessage) (Body, error) {
	var body T
	if len(payload) > 0 && !bytes.Equal(payload, []byte("null")) {
		if payload[0] != '{' {
			return nil, protoErrorf("%s payload is not a JSON object", body.FrameType())
		}
		if err := json.Unmarshal(payload, &body); err != nil {
			return nil, protoErrorf("decoding %s payload: %v", body.FrameType(), err)
		}
	}
	if err := body.validate(); err != nil {
		return nil, err
	}
	return body, nil
}

// envelope is the wire form of every frame.
type envelope struct {
	Type    *Type           `json:"type"`
	V       *int            `json:"v"`
	Seq     *uint64         `json:"seq"`
	Payload json.RawMessage `json:"payload"`
}

// DecodeFrame parses and validates one frame. It is pure: it knows nothing of
// connection state (phase, direction, sequence), which Conn checks. Every
// error it returns matches ErrProtocol. The version is checked before the
// type, so a newer peer learns it speaks an unsupported version rather than
// an unknown type.
func DecodeFrame(data []byte) (Frame, error) {
	var env envelope
	if err := json.Unmarshal(data, &env); err != nil {
		return Frame{}, protoErrorf("frame is not a JSON envelope: %v", err)
	}
	if env.V == nil {
		return Frame{}, protoErrorf("frame has no version")
	}
	if *env.V != ProtocolVersion {
		return Frame{}, protoErrorf("unsupported frame version %d (this side speaks %d)", *env.V, ProtocolVersion)
	}
	if env.Type == nil {
		return Frame{}, protoErrorf("frame has no type")
	}
	decode := decoderFor(*env.Type)
	if decode == nil {
		return Frame{}, protoErrorf("unknown frame type %q", truncateReason(string(*env.Type)))
	}
	if env.Seq == nil || *env.Seq == 0 {
		return Frame{}, protoErrorf("%s frame has no sequence number", *env.Type)
	}
	body, err := decode(env.Payload)
	if err != nil {
		return Frame{}, err
	}
	return Frame{Seq: *env.Seq, Body: body}, nil
}

// EncodeFrame is DecodeFrame's inverse: it validates f.Body and returns the
// envelope's JSON.
func EncodeFrame(f Frame) ([]byte, error) {
	payload, err := encodePayload(f.Body)
	if err != nil {
		return nil, err
	}
	return envelopeBytes(f.Seq, f.Body.FrameType(), payload), nil
}

func encodePayload(b Body) ([]byte, error) {
	if b == nil {
		return nil, errors.New("encoding frame: no body")
	}
	if err := b.validate(); err != nil {
		return nil, fmt.Errorf("encoding %s frame: %w", b.FrameType(), err)
	}
	payload, err := json.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("encoding %s frame: %w", b.FrameType(), err)
	}
	return payload, nil
}

// envelopeBytes wraps an encoded payload. It writes the envelope by hand so
// a multi-megabyte snapshot is not re-encoded (json.Marshal would compact a
// RawMessage again); the type is one of our constants and needs no escaping.
func envelopeBytes(seq uint64, t Type, payload []byte) []byte {
	b := make([]byte, 0, len(payload)+64)
	b = append(b, `{"type":"`...)
	b = append(b, t...)
	b = append(b, `","v":`...)
	b = strconv.AppendInt(b, ProtocolVersion, 10)
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, `,"payload":`...)
	b = append(b, payload...)
	b = append(b, '}')
	return b
}
