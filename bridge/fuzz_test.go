package bridge

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/labelgate/labelgate/messages"
)

// The payload fuzzers below run the decoder DecodeFrame picks for a frame
// type (decoderFor) on a raw payload, the way a peer's frame reaches it, and
// check what every payload decoder promises:
//
//   - a refusal matches ErrProtocol, and the close frame made from it is a
//     valid one (at most 123 bytes of UTF-8);
//   - DecodeFrame gives the same answer for the payload inside an envelope;
//   - an accepted body is of the requested type, meets the protocol's rules
//     (restated here, not taken from validate), and re-encodes: decoding the
//     encoding gives the same body, and encoding that again the same bytes.

// FuzzHandshakePayload covers the four handshake bodies: hello and auth
// (read by a listener from anyone who connects) and challenge and welcome
// (read by a dialer from whatever answers at the URL). kind picks the type.
func FuzzHandshakePayload(f *testing.F) {
	handshake := []Type{TypeHello, TypeChallenge, TypeAuth, TypeWelcome}
	for _, b := range []Body{
		Hello{Proto: HandshakeVersion, Role: RoleAgent, Nonce: nonce32},
		Challenge{Nonce: nonce32, Role: RoleMain, Binding: BindingTLSExporter},
		Auth{Proof: nonce32},
		Welcome{Proof: nonce32},
	} {
		addPayloadSeed(f, handshake, b)
	}
	n := b64(nonce32)
	for _, s := range []struct {
		t       Type
		payload string
	}{
		{TypeHello, `{"proto":2,"role":"main","nonce_d":"` + n + `"}`},
		{TypeHello, `{"proto":1,"role":"agent","nonce_d":"` + n + `"}`},
		{TypeHello, `{"proto":2,"role":"root","nonce_d":"` + n + `"}`},
		{TypeHello, `{"proto":2,"role":"agent","nonce_d":"AAAA"}`},
		{TypeHello, `{"Proto":2,"ROLE":"agent","nonce_D":"` + n + `","proto":2}`},
		{TypeHello, `{"proto":2.0,"role":"agent","nonce_d":"` + n + `"}`},
		{TypeHello, `{"proto":2,"role":"agent","nonce_d":null}`},
		{TypeChallenge, `{"nonce_l":"` + n + `","role":"agent","binding":"none"}`},
		{TypeChallenge, `{"nonce_l":"` + n + `","role":"main","binding":"tls-unique"}`},
		{TypeAuth, `{"proof_d":"` + n[:len(n)-4] + `"}`},
		{TypeAuth, `{"proof_d":["` + n + `"]}`},
		{TypeWelcome, `{"proof_l":"` + strings.ToLower(n) + `"}`},
		{TypeWelcome, `null`},
		{TypeWelcome, ` {}`},
		{TypeAuth, `[]`},
		{TypeHello, ``},
	} {
		f.Add(kindOf(handshake, s.t), []byte(s.payload))
	}
	f.Fuzz(func(t *testing.T, kind uint8, payload []byte) {
		typ := handshake[int(kind)%len(handshake)]
		body, ok := checkPayload(t, typ, payload)
		if !ok {
			return
		}
		// The protocol's rules, restated (doc.go): proto 2, a known role, a
		// known binding, 32-byte nonces and 32-byte HMAC-SHA256 proofs.
		var bad string
		switch b := body.(type) {
		case Hello:
			if b.Proto != HandshakeVersion || (b.Role != RoleAgent && b.Role != RoleMain) || len(b.Nonce) != 32 {
				bad = "hello"
			}
		case Challenge:
			if (b.Role != RoleAgent && b.Role != RoleMain) || len(b.Nonce) != 32 ||
				(b.Binding != BindingNone && b.Binding != BindingTLSExporter) {
				bad = "challenge"
			}
		case Auth:
			if len(b.Proof) != 32 {
				bad = "auth"
			}
		case Welcome:
			if len(b.Proof) != 32 {
				bad = "welcome"
			}
		}
		if bad != "" {
			t.Fatalf("accepted a %s that breaks the protocol: %#v", bad, body)
		}
	})
}

// FuzzAnnouncePayload covers the announce an agent sends main after the
// handshake (and again on every change).
func FuzzAnnouncePayload(f *testing.F) {
	only := []Type{TypeAnnounce}
	addPayloadSeed(f, only, Announce{Hostname: "docker-1", AgentVersion: "1.2.3", DefaultTunnel: "home",
		Docker: DockerStatus{Connected: false, LastError: "dial unix /var/run/docker.sock: connect: permission denied"}})
	addPayloadSeed(f, only, Announce{Hostname: "h", Docker: DockerStatus{Connected: true}})
	for _, s := range []string{
		`{"hostname":"a","agent_version":"v","docker":{"connected":"yes"}}`,
		`{"hostname":"\u00e9\ud800","agent_version":"\u0000","default_tunnel":"","docker":null}`,
		`{"hostname":"` + strings.Repeat("h", 300) + `","docker":{"connected":true,"last_error":"` + strings.Repeat("e", 300) + `"}}`,
		`{"hostname":"a","hostname":"b","Docker":{"Connected":true}}`,
		`{"unknown":{"deep":[1,2,{"x":null}]}}`,
		"{\"hostname\":\"\xff\xfe\"}",
		`null`,
		`"announce"`,
	} {
		f.Add(uint8(0), []byte(s))
	}
	f.Fuzz(func(t *testing.T, _ uint8, payload []byte) {
		body, ok := checkPayload(t, TypeAnnounce, payload)
		if !ok {
			return
		}
		a := body.(Announce)
		// Every string main logs and shows of an agent is valid UTF-8, whatever
		// bytes the agent sent.
		for _, s := range []string{a.Hostname, a.AgentVersion, a.DefaultTunnel, a.Docker.LastError} {
			if !utf8.ValidString(s) {
				t.Fatalf("accepted announce field %q is not valid UTF-8", s)
			}
		}
		// And within the caps main shows and logs (issue 11: a 100 KB
		// hostname was logged and served).
		if len(a.Hostname) > MaxAnnounceHostname || len(a.AgentVersion) > MaxAnnounceVersion ||
			len(a.DefaultTunnel) > MaxAnnounceTunnel || len(a.Docker.LastError) > MaxAnnounceError {
			t.Fatalf("accepted announce over the caps: %d/%d/%d/%d bytes", len(a.Hostname), len(a.AgentVersion), len(a.DefaultTunnel), len(a.Docker.LastError))
		}
	})
}

// FuzzSnapshotPayload covers the snapshot an agent sends main: its whole
// container set, which main hands to the registry.
func FuzzSnapshotPayload(f *testing.F) {
	only := []Type{TypeSnapshot}
	addPayloadSeed(f, only, Snapshot{Set: testSet(1, 1)})
	addPayloadSeed(f, only, Snapshot{Set: testSet(1<<63, 2)})
	addPayloadSeed(f, only, Snapshot{Set: messages.ContainerSet{Source: "agent:x", Version: 3}})
	for _, s := range []string{
		`{"set":{"version":0}}`,
		`{"set":{"version":-1}}`,
		`{"set":{"version":18446744073709551615,"containers":null}}`,
		`{"set":{"version":18446744073709551616}}`,
		`{"set":{"version":1e3}}`,
		`{"set":{"version":2,"containers":[{"name":"a","labels":{"k":"v","k":"w"},"networks":[]}]}}`,
		`{"set":{"version":2,"containers":[{"name":"","labels":null},{"name":""}]}}`,
		`{"set":{"version":2,"containers":[{"created":"2026-13-01T00:00:00Z"}]}}`,
		`{"set":{"version":2,"containers":[{"created":"0000-01-01T00:00:00+01:00","started":"9999-12-31T23:59:59-23:59"}]}}`,
		`{"set":{"version":2,"observedAt":"2026-03-02T08:00:00.123456789Z","containers":[{"labels":{"labelgate.tunnel.x.hostname":"a.example.com"}}]}}`,
		`{"set":{"version":2,"containers":[{"labels":{"k":1}}]}}`,
		`{"SET":{"Version":5,"Source":"local"}}`,
		`{"set":null}`,
		`{}`,
	} {
		f.Add(uint8(0), []byte(s))
	}
	f.Fuzz(func(t *testing.T, _ uint8, payload []byte) {
		body, ok := checkPayload(t, TypeSnapshot, payload)
		if !ok {
			return
		}
		// Versions start at 1: a receiver compares versions to drop stale
		// sets, and 0 is "nothing applied yet".
		set := body.(Snapshot).Set
		if set.Version < 1 {
			t.Fatalf("accepted a snapshot with version %d", set.Version)
		}
		// Within the caps, whatever the frame held.
		labels := 0
		for _, c := range set.Containers {
			labels += len(c.Labels)
			if len(c.Labels) > MaxContainerLabels || len(c.Networks) > MaxContainerNetworks || len(c.Name) > MaxContainerField {
				t.Fatalf("accepted container %q over the caps", c.Name)
			}
		}
		if len(set.Containers) > MaxSnapshotContainers || labels > MaxSnapshotLabels {
			t.Fatalf("accepted %d containers and %d labels", len(set.Containers), labels)
		}
	})
}

// FuzzMainPayload covers what an agent reads from main after the
// handshake: ack and resync.
func FuzzMainPayload(f *testing.F) {
	types := []Type{TypeAck, TypeResync}
	addPayloadSeed(f, types, Ack{Version: 7})
	addPayloadSeed(f, types, Resync{})
	for _, s := range []string{`{"version":0}`, `{"version":-3}`, `{"version":"7"}`, `{"version":18446744073709551615}`, `{"x":1}`, `null`, ``, `1`} {
		f.Add(uint8(0), []byte(s))
		f.Add(uint8(1), []byte(s))
	}
	f.Fuzz(func(t *testing.T, kind uint8, payload []byte) {
		typ := types[int(kind)%len(types)]
		body, ok := checkPayload(t, typ, payload)
		if !ok {
			return
		}
		if a, isAck := body.(Ack); isAck && a.Version < 1 {
			t.Fatalf("accepted an ack of version %d", a.Version)
		}
	})
}

// addPayloadSeed adds b's encoded payload, with the kind that selects b's
// type among types.
func addPayloadSeed(f *testing.F, types []Type, b Body) {
	f.Helper()
	payload, err := encodePayload(b)
	if err != nil {
		f.Fatalf("seed %#v: %v", b, err)
	}
	f.Add(kindOf(types, b.FrameType()), payload)
}

func kindOf(types []Type, t Type) uint8 {
	for i, x := range types {
		if x == t {
			return uint8(i)
		}
	}
	panic(fmt.Sprintf("type %s is not among %v", t, types))
}

// payloadDiff compares bodies as the protocol sees them: an empty list and
// an absent one are the same on the wire.
var payloadDiff = []cmp.Option{cmpopts.EquateEmpty()}

// checkPayload decodes payload as a frame of type typ and checks the
// properties every payload decoder shares (see above). It returns the body
// and true when the payload was accepted.
func checkPayload(t *testing.T, typ Type, payload []byte) (Body, bool) {
	t.Helper()
	decode := decoderFor(typ)
	if decode == nil {
		t.Fatalf("no decoder for frame type %q", typ)
	}
	body, err := decode(payload)

	// A payload that is one JSON value reaches the decoder inside an
	// envelope; DecodeFrame must then agree with it. (The envelope's parser
	// drops the whitespace around the value.)
	if json.Valid(payload) {
		f, ferr := DecodeFrame(envelopeBytes(9, typ, payload))
		want, werr := decode(bytes.Trim(payload, " \t\r\n"))
		switch {
		case (ferr == nil) != (werr == nil):
			t.Fatalf("DecodeFrame and the %s decoder disagree on %q: %v vs %v", typ, payload, ferr, werr)
		case ferr == nil && f.Seq != 9:
			t.Fatalf("DecodeFrame lost the sequence number: %+v", f)
		case ferr == nil:
			if diff := cmp.Diff(want, f.Body); diff != "" {
				t.Fatalf("DecodeFrame and the %s decoder decode %q differently (-decoder +DecodeFrame):\n%s", typ, payload, diff)
			}
		}
	}

	if err != nil {
		if !errors.Is(err, ErrProtocol) {
			t.Fatalf("%s payload %q: error %v does not match ErrProtocol", typ, payload, err)
		}
		if body != nil {
			t.Fatalf("%s payload %q: error %v comes with a body %#v", typ, payload, err, body)
		}
		// The refusal becomes the reason of the close frame.
		if r := truncateReason(closeReason(err)); len(r) > maxCloseReason || !utf8.ValidString(r) {
			t.Fatalf("%s payload %q: close reason %q is not a valid close frame reason", typ, payload, r)
		}
		return nil, false
	}

	if body == nil || body.FrameType() != typ {
		t.Fatalf("%s payload %q decoded to %#v", typ, payload, body)
	}
	if err := body.validate(); err != nil {
		t.Fatalf("%s payload %q: accepted body does not validate: %v", typ, payload, err)
	}
	once, err := encodePayload(body)
	if err != nil {
		t.Fatalf("accepted %s %#v does not encode: %v", typ, body, err)
	}
	again, err := decode(once)
	if err != nil {
		t.Fatalf("re-encoded %s %s does not decode: %v", typ, once, err)
	}
	if diff := cmp.Diff(body, again, payloadDiff...); diff != "" {
		t.Fatalf("%s changed in a round trip through %s (-decoded +round trip):\n%s", typ, once, diff)
	}
	twice, err := encodePayload(again)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(once, twice) {
		t.Fatalf("%s encoding is not stable:\n%s\n%s", typ, once, twice)
	}
	return body, true
}
