package bridge

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/labelgate/labelgate/messages"
)

var nonce32 = bytes.Repeat([]byte{7}, 32)

func TestFrameRoundTrip(t *testing.T) {
	t.Parallel()
	bodies := []Body{
		Hello{Proto: HandshakeVersion, Role: RoleAgent, Nonce: nonce32},
		Challenge{Nonce: nonce32, Role: RoleMain, Binding: BindingTLSExporter},
		Auth{Proof: nonce32},
		Welcome{Proof: nonce32},
		Announce{Hostname: "docker-1", AgentVersion: "1.2.3", DefaultTunnel: "home", Docker: DockerStatus{Connected: false, LastError: "dial unix: no such file"}},
		Snapshot{Set: testSet(7, 3)},
		Ack{Version: 7},
		Resync{},
	}
	for i, b := range bodies {
		t.Run(string(b.FrameType()), func(t *testing.T) {
			t.Parallel()
			in := Frame{Seq: uint64(i + 1), Body: b}
			data, err := EncodeFrame(in)
			if err != nil {
				t.Fatalf("EncodeFrame: %v", err)
			}
			out, err := DecodeFrame(data)
			if err != nil {
				t.Fatalf("DecodeFrame(%s): %v", data, err)
			}
			if diff := cmp.Diff(in, out); diff != "" {
				t.Errorf("round trip (-in +out):\n%s", diff)
			}
		})
	}
}

func TestDecodeFrameRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, frame, want string
	}{
		{"not JSON", `hello`, "not a JSON envelope"},
		{"array", `[1,2]`, "not a JSON envelope"},
		{"no version", `{"type":"resync","seq":1}`, "no version"},
		{"version 2", `{"type":"resync","v":2,"seq":1}`, "unsupported frame version 2"},
		{"version 2 unknown type", `{"type":"future","v":2,"seq":1}`, "unsupported frame version 2"},
		{"no type", `{"v":1,"seq":1}`, "no type"},
		{"unknown type", `{"type":"bogus","v":1,"seq":1,"payload":{}}`, `unknown frame type "bogus"`},
		{"no seq", `{"type":"resync","v":1}`, "no sequence number"},
		{"seq zero", `{"type":"resync","v":1,"seq":0}`, "no sequence number"},
		{"payload not object", `{"type":"ack","v":1,"seq":1,"payload":"x"}`, "not a JSON object"},
		{"payload bad field", `{"type":"ack","v":1,"seq":1,"payload":{"version":"x"}}`, "decoding ack payload"},
		{"ack version 0", `{"type":"ack","v":1,"seq":1,"payload":{}}`, "ack has version 0"},
		{"snapshot version 0", `{"type":"snapshot","v":1,"seq":1,"payload":{"set":{"version":0}}}`, "snapshot has version 0"},
		{"hello proto 1", `{"type":"hello","v":1,"seq":1,"payload":{"proto":1,"role":"agent","nonce_d":"` + b64(nonce32) + `"}}`, "unsupported handshake protocol 1"},
		{"hello bad role", `{"type":"hello","v":1,"seq":1,"payload":{"proto":2,"role":"root","nonce_d":"` + b64(nonce32) + `"}}`, `unknown role "root"`},
		{"hello short nonce", `{"type":"hello","v":1,"seq":1,"payload":{"proto":2,"role":"main","nonce_d":"AAAA"}}`, "nonce is 3 bytes"},
		{"challenge bad binding", `{"type":"challenge","v":1,"seq":1,"payload":{"nonce_l":"` + b64(nonce32) + `","role":"main","binding":"x"}}`, "unknown binding"},
		{"auth no proof", `{"type":"auth","v":1,"seq":2,"payload":{}}`, "auth proof is 0 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := DecodeFrame([]byte(tt.frame))
			if err == nil {
				t.Fatalf("DecodeFrame(%s) succeeded, want an error", tt.frame)
			}
			if !errors.Is(err, ErrProtocol) {
				t.Errorf("error %v does not match ErrProtocol", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestResyncWithoutPayload(t *testing.T) {
	t.Parallel()
	f, err := DecodeFrame([]byte(`{"type":"resync","v":1,"seq":4}`))
	if err != nil {
		t.Fatal(err)
	}
	if f.Type() != TypeResync || f.Seq != 4 {
		t.Errorf("got %+v", f)
	}
}

// TestSnapshotSize2000 measures a realistic 2,000-container snapshot against
// the default frame limit.
func TestSnapshotSize2000(t *testing.T) {
	t.Parallel()
	data, err := EncodeFrame(Frame{Seq: 1, Body: Snapshot{Set: testSet(1, 2000)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("2,000 containers: %d bytes (%.1f%% of the %d-byte default limit)",
		len(data), 100*float64(len(data))/DefaultMaxFrameBytes, DefaultMaxFrameBytes)
	if len(data) > DefaultMaxFrameBytes/2 {
		t.Errorf("a 2,000-container snapshot is %d bytes: under half of the default limit (%d) leaves too little headroom", len(data), DefaultMaxFrameBytes)
	}
}

func FuzzDecodeFrame(f *testing.F) {
	seeds := []Body{
		Hello{Proto: HandshakeVersion, Role: RoleAgent, Nonce: nonce32},
		Challenge{Nonce: nonce32, Role: RoleMain, Binding: BindingNone},
		Auth{Proof: nonce32},
		Welcome{Proof: nonce32},
		Announce{Hostname: "h", Docker: DockerStatus{Connected: true}},
		Snapshot{Set: testSet(1, 1)},
		Ack{Version: 1},
		Resync{},
	}
	for i, b := range seeds {
		data, err := EncodeFrame(Frame{Seq: uint64(i + 1), Body: b})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"type":"bogus","v":1,"seq":1}`))
	f.Add([]byte(`{"type":"ack","v":2,"seq":1,"payload":{"version":1}}`))
	f.Add([]byte(`{"type":"snapshot","v":1,"seq":1,"payload":null}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, data []byte) {
		fr, err := DecodeFrame(data)
		if err != nil {
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("error %v does not match ErrProtocol", err)
			}
			return
		}
		// A frame that decodes re-encodes, and the re-encoding is stable.
		once, err := EncodeFrame(fr)
		if err != nil {
			t.Fatalf("decoded frame %+v does not encode: %v", fr, err)
		}
		again, err := DecodeFrame(once)
		if err != nil {
			t.Fatalf("re-encoded frame %s does not decode: %v", once, err)
		}
		twice, err := EncodeFrame(again)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(once, twice) {
			t.Fatalf("encoding is not stable:\n%s\n%s", once, twice)
		}
	})
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// TestAnnounceCaps: announce fields have length caps (issue 11: a 100 KB
// hostname was logged and served by the API); an agent's own announce is cut
// to fit, never refused.
func TestAnnounceCaps(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("h", 100<<10)
	for name, a := range map[string]Announce{
		"hostname":       {Hostname: long},
		"agent_version":  {AgentVersion: long},
		"default_tunnel": {DefaultTunnel: long},
		"docker error":   {Docker: DockerStatus{LastError: long}},
	} {
		payload, _ := json.Marshal(a)
		data := []byte(`{"type":"announce","v":1,"seq":3,"payload":` + string(payload) + `}`)
		if _, err := DecodeFrame(data); !errors.Is(err, ErrProtocol) {
			t.Errorf("%s: DecodeFrame = %v, want a protocol error", name, err)
		}
		cut := TruncateAnnounce(a)
		if err := cut.validate(); err != nil {
			t.Errorf("%s: the truncated announce does not validate: %v", name, err)
		}
	}
	if err := TruncateAnnounce(Announce{Hostname: "a\xffb"}).validate(); err != nil {
		t.Errorf("an invalid UTF-8 hostname is not repaired: %v", err)
	}
	ok := Announce{Hostname: "docker-host-1", AgentVersion: "v1.2.3", DefaultTunnel: "default", Docker: DockerStatus{LastError: "é" + strings.Repeat("x", 2000)}}
	cut := TruncateAnnounce(ok)
	if cut.Hostname != ok.Hostname || cut.AgentVersion != ok.AgentVersion || len(cut.Docker.LastError) > MaxAnnounceError || !utf8.ValidString(cut.Docker.LastError) {
		t.Errorf("TruncateAnnounce(%+v) = %+v", ok, cut)
	}
}

// TestSnapshotCaps: the frame size bounds bytes, not objects; a snapshot's
// containers, labels and fields have caps of their own, and a realistic
// 2,000-container set is well inside them.
func TestSnapshotCaps(t *testing.T) {
	t.Parallel()
	if err := (Snapshot{Set: testSet(1, 2000)}).validate(); err != nil {
		t.Fatalf("a realistic 2,000-container set is refused: %v", err)
	}
	many := make([]messages.Container, MaxSnapshotContainers+1)
	for i := range many {
		many[i] = messages.Container{Name: fmt.Sprint(i)}
	}
	wide := map[string]string{}
	for i := range MaxContainerLabels + 1 {
		wide[fmt.Sprint(i)] = ""
	}
	tests := map[string]messages.ContainerSet{
		"too many containers": {Version: 1, Containers: many},
		"too many labels":     {Version: 1, Containers: []messages.Container{{Name: "c", Labels: wide}}},
		"a long key":          {Version: 1, Containers: []messages.Container{{Name: "c", Labels: map[string]string{strings.Repeat("k", MaxLabelKey+1): ""}}}},
		"a long value":        {Version: 1, Containers: []messages.Container{{Name: "c", Labels: map[string]string{"k": strings.Repeat("v", MaxLabelValue+1)}}}},
		"a long name":         {Version: 1, Containers: []messages.Container{{Name: strings.Repeat("n", MaxContainerField+1)}}},
		"many networks":       {Version: 1, Containers: []messages.Container{{Name: "c", Networks: make([]messages.Network, MaxContainerNetworks+1)}}},
		"an unknown kind":     {Version: 1, Containers: []messages.Container{{Name: "c", Kind: "volume"}}},
	}
	if err := (Snapshot{Set: messages.ContainerSet{Version: 1, Containers: []messages.Container{{Name: "s", Kind: messages.KindService}}}}).validate(); err != nil {
		t.Errorf("a Swarm service member is refused: %v", err)
	}
	for name, set := range tests {
		if err := (Snapshot{Set: set}).validate(); !errors.Is(err, ErrProtocol) {
			t.Errorf("%s: validate = %v, want a protocol error", name, err)
		}
	}
	// Many labels spread over containers: the total counts.
	var spread []messages.Container
	for i := 0; i <= MaxSnapshotLabels/MaxContainerLabels; i++ {
		l := map[string]string{}
		for j := range MaxContainerLabels {
			l[fmt.Sprint(j)] = ""
		}
		spread = append(spread, messages.Container{Name: fmt.Sprint(i), Labels: l})
	}
	if err := (Snapshot{Set: messages.ContainerSet{Version: 1, Containers: spread}}).validate(); !errors.Is(err, ErrProtocol) {
		t.Errorf("%d labels in all: validate = %v, want a protocol error", len(spread)*MaxContainerLabels, err)
	}
}
