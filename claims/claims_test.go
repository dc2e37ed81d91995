package claims

import (
	"slices"
	"strings"
	"testing"

	"github.com/labelgate/labelgate/labels"
	"github.com/labelgate/labelgate/messages"
)

func testConfig() Config {
	return Config{
		Tunnels: map[string]TunnelRef{
			"default": {TunnelID: "11111111-1111-4111-8111-111111111111", AccountID: "acc"},
			"edge":    {TunnelID: "22222222-2222-4222-8222-222222222222", AccountID: "acc"},
		},
		DefaultTunnel: "default",
	}
}

func kv(pairs ...string) map[string]string {
	l := map[string]string{}
	for i := 0; i+1 < len(pairs); i += 2 {
		l[pairs[i]] = pairs[i+1]
	}
	return l
}

func TestTunnelAssignment(t *testing.T) {
	cfg := testConfig()
	cfg.AgentDefaults = map[string]string{"agent:cfg": "edge"}
	cfg.AnnouncedDefaults = map[string]string{"agent:ann": "edge", "agent:cfg": "default", "agent:bad": "nope"}
	tests := []struct {
		source, label, want, err string
		check                    Check
	}{
		{source: "local", want: "default"},
		{source: "local", label: "edge", want: "edge"},
		{source: "agent:cfg", want: "edge"},
		{source: "agent:cfg", label: "default", want: "default"},
		{source: "agent:ann", want: "edge"},
		{source: "agent:bad", check: CheckUnknownTunnel, err: `tunnel "nope" (from the default tunnel the agent announced) is not configured`},
		{source: "local", label: "typo", check: CheckUnknownTunnel, err: `tunnel "typo" (from its tunnel label) is not configured; configured tunnels: default, edge`},
	}
	for _, tc := range tests {
		got, check, why := assignTunnel(tc.source, tc.label, cfg)
		if got != tc.want || check != tc.check || !strings.Contains(why, tc.err) || (tc.err == "") != (why == "") {
			t.Errorf("%s/%q: got %q, %v, %q; want %q, %v, %q", tc.source, tc.label, got, check, why, tc.want, tc.check, tc.err)
		}
	}
	if _, check, _ := assignTunnel("local", "", Config{DefaultTunnel: "default"}); check != CheckNoTunnel {
		t.Errorf("without tunnels: %v, want %v", check, CheckNoTunnel)
	}
}

// TestUnknownConfig: what the caller cannot know is not judged, and the
// rest still is.
func TestUnknownConfig(t *testing.T) {
	routes := kv("labelgate.tunnel.a.hostname", "x.example.com", "labelgate.tunnel.a.service", "http://x:80", "labelgate.tunnel.a.tunnel", "nope",
		"labelgate.tunnel.b.hostname", "y.example.com", "labelgate.tunnel.b.service", "http://x:80")
	cfg := Config{DefaultTunnel: "default", Unknown: Unknown{Tunnels: true}}
	if rep := Lint("local", "c", routes, cfg); len(rep.Errors) != 0 || len(rep.Hosts) != 2 {
		t.Fatalf("unknown tunnels: tunnel names must not be judged, got %+v", rep.Errors)
	}
	// One tunnel per hostname is still judged by name.
	two := kv("labelgate.tunnel.a.hostname", "x.example.com", "labelgate.tunnel.a.service", "http://x:80", "labelgate.tunnel.a.tunnel", "one",
		"labelgate.tunnel.b.hostname", "x.example.com", "labelgate.tunnel.b.service", "http://x:80", "labelgate.tunnel.b.path", "^/b", "labelgate.tunnel.b.tunnel", "two")
	if rep := Lint("local", "c", two, cfg); len(rep.Errors) != 1 || rep.Errors[0].Check != CheckOneTunnel {
		t.Fatalf("two tunnels for one hostname: %+v", rep.Errors)
	}

	// An agent whose announced default is unknown: an unlabelled route
	// is compared with nothing, a labelled one still is.
	cfg = testConfig()
	cfg.Scopes = map[string]Scope{"agent:lab": {Tunnels: []string{"edge"}}}
	cfg.Unknown.Announced = true
	mixed := kv("labelgate.tunnel.a.hostname", "x.example.com", "labelgate.tunnel.a.service", "http://x:80",
		"labelgate.tunnel.b.hostname", "x.example.com", "labelgate.tunnel.b.service", "http://x:80", "labelgate.tunnel.b.path", "^/b", "labelgate.tunnel.b.tunnel", "edge",
		"labelgate.tunnel.c.hostname", "z.example.com", "labelgate.tunnel.c.service", "http://x:80", "labelgate.tunnel.c.tunnel", "default",
		"labelgate.dns.d.hostname", "x.example.com", "labelgate.dns.d.target", "203.0.113.1")
	rep := Lint("agent:lab", "c", mixed, cfg)
	var got []string
	for _, e := range rep.Errors {
		got = append(got, e.Check.String()+" "+e.Key)
	}
	want := []string{"record-on-tunnel-hostname labelgate.dns.d.hostname", "scope-tunnel labelgate.tunnel.c.tunnel"}
	if !slices.Equal(got, want) {
		t.Fatalf("errors %q, want %q", got, want)
	}
}

// TestLintTargets: Lint compares `auto` and `container` targets as
// written.
func TestLintTargets(t *testing.T) {
	rec := func(svc, typ, target string) []string {
		p := "labelgate.dns." + svc + "."
		return []string{p + "hostname", "x.example.com", p + "type", typ, p + "target", target, p + "proxied", "false"}
	}
	tests := []struct {
		name string
		l    []string
		dup  bool
	}{
		{"auto twice", append(rec("a", "A", "auto"), rec("b", "A", "auto")...), true},
		{"container twice", append(rec("a", "A", "container"), rec("b", "A", "container")...), true},
		{"container on two networks", append(rec("a", "A", "container:one"), rec("b", "A", "container:two")...), false},
		{"auto v4 and v6", append(rec("a", "A", "auto"), rec("b", "AAAA", "auto")...), false},
		{"auto and an address", append(rec("a", "A", "auto"), rec("b", "A", "203.0.113.1")...), false},
	}
	for _, tc := range tests {
		rep := Lint("local", "c", kv(tc.l...), testConfig())
		dup := len(rep.Errors) == 1 && rep.Errors[0].Check == CheckDuplicateRecord
		if dup != tc.dup || (!tc.dup && len(rep.Errors) > 0) {
			t.Errorf("%s: errors %+v, want a duplicate: %v", tc.name, rep.Errors, tc.dup)
		}
	}
}

func TestRecordTargets(t *testing.T) {
	c := messages.Container{Name: "c", Networks: []messages.Network{{Name: "zeta", IPv4: "172.20.0.9", IPv6: "fd00::9"}, {Name: "alpha", IPv4: "172.18.0.5"}}}
	tests := []struct {
		target, typ, want, unresolved string
	}{
		{target: "auto", typ: "A", want: "198.51.100.7"},
		{target: "auto", typ: "AAAA", unresolved: "public IPv6 address of local is not known"},
		{target: "container", typ: "A", want: "172.18.0.5"},
		{target: "container:zeta", typ: "A", want: "172.20.0.9"},
		{target: "container", typ: "AAAA", want: "fd00::9"},
		{target: "container:nope", typ: "A", unresolved: "no IPv4 address on network nope"},
	}
	for _, tc := range tests {
		d := labels.DNSService{Hostname: "x.example.com", Type: tc.typ}
		switch tc.target {
		case "auto":
			d.Target = labels.Target{Kind: labels.TargetAuto}
		default:
			_, network, _ := strings.Cut(tc.target, ":")
			d.Target = labels.Target{Kind: labels.TargetContainer, Network: network}
		}
		got := record(d, func(d labels.DNSService) (string, string) {
			return address(d, c, "local", PublicIPs{V4: "198.51.100.7"})
		})
		if got.Content != tc.want || !strings.Contains(got.Unresolved, tc.unresolved) {
			t.Errorf("%s/%s: got %q (%q), want %q (%q)", tc.target, tc.typ, got.Content, got.Unresolved, tc.want, tc.unresolved)
		}
	}
}

func TestCheckNames(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range Checks() {
		name := c.String()
		if strings.HasPrefix(name, "Check(") || seen[name] {
			t.Errorf("check %d has no name of its own: %q", int(c), name)
		}
		seen[name] = true
	}
	if len(Checks()) != int(numChecks)-1 {
		t.Fatalf("Checks lists %d of %d", len(Checks()), int(numChecks)-1)
	}
}
