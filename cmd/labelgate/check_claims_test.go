package main

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/labelgate/labelgate/claims"
	"github.com/labelgate/labelgate/config"
	"github.com/labelgate/labelgate/labels"
	"github.com/labelgate/labelgate/messages"
)

// checkMainConfig is main's configuration in the equivalence test: two
// tunnels, an agent scoped to *.lab.example.com and the tunnel edge (its
// default), and an agent scoped to the zone example.org.
const checkMainConfig = `
cloudflare:
  api_token: 0123456789abcdef0123456789abcdef
  account_id: acc
  tunnel_id: 11111111-1111-4111-8111-111111111111
  tunnels:
    edge: {tunnel_id: 22222222-2222-4222-8222-222222222222}
agent:
  enabled: true
  agents:
    lab: {token: 0123456789abcdef0123, default_tunnel: edge, allowed_hostnames: ["*.lab.example.com"], allowed_tunnels: [edge]}
    zoned: {token: abcdef0123456789abcd, allowed_zones: [example.org]}
`

// registryClaimConfig is what StartMain gives the registry for
// checkMainConfig (actors/main.go builds it inline).
func registryClaimConfig() claims.Config {
	return claims.Config{
		Labels: labels.Options{Prefix: "labelgate"},
		Tunnels: map[string]claims.TunnelRef{
			"default": {TunnelID: "11111111-1111-4111-8111-111111111111", AccountID: "acc", Credential: "default"},
			"edge":    {TunnelID: "22222222-2222-4222-8222-222222222222", AccountID: "acc", Credential: "default"},
		},
		DefaultTunnel: "default",
		AgentDefaults: map[string]string{"agent:lab": "edge"},
		Scopes: map[string]claims.Scope{
			"agent:lab":   {Hostnames: []string{"*.lab.example.com"}, Tunnels: []string{"edge"}},
			"agent:zoned": {Zones: []string{"example.org"}},
		},
	}
}

// notJudgedByCheck are the checks `labelgate check` cannot make, and why
// (docs/labels.md says the same). The test requires that check does not
// report them and prints a note instead.
var notJudgedByCheck = map[claims.Check]string{
	// Main's configuration is usually in the deployment, not where check
	// runs: without a tunnel in it, check cannot tell a main without
	// tunnels from a main configured elsewhere.
	claims.CheckNoTunnel: "tunnel names are not checked",
}

// TestCheckSeesEveryClaimError feeds every error main's claim building can
// report for one container through the registry's path (claims.Build, as
// buildClaims calls it) and through `labelgate check` (a compose file and
// standard input): both must report the same errors, naming the container
// and the label, and check must exit 1. Every claims.Check needs a case
// here, so a new check cannot be missed by `labelgate check`.
func TestCheckSeesEveryClaimError(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "labelgate.yaml")
	if err := os.WriteFile(cfgPath, []byte(checkMainConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	mainEnv := map[string]string{config.FileEnv: cfgPath}

	// check reads the configuration as main does.
	loaded, err := config.Load(config.Source{Env: mainEnv, DefaultFile: checkDefaultConfigFile})
	if err != nil {
		t.Fatalf("main's configuration of the test: %v", err)
	}
	if diff := cmp.Diff(registryClaimConfig(), claims.ConfigFrom(loaded), cmpopts.EquateEmpty()); diff != "" {
		t.Fatalf("claims.ConfigFrom differs from what main gives the registry (-main +check):\n%s", diff)
	}

	route := func(svc, host string, extra ...string) []string {
		p := "labelgate.tunnel." + svc + "."
		out := []string{p + "hostname", host, p + "service", "http://app:80"}
		for i := 0; i+1 < len(extra); i += 2 {
			out = append(out, p+extra[i], extra[i+1])
		}
		return out
	}
	rec := func(svc, host, typ, target string, extra ...string) []string {
		p := "labelgate.dns." + svc + "."
		out := []string{p + "hostname", host, p + "type", typ, p + "target", target}
		if typ == "A" || typ == "AAAA" || typ == "CNAME" {
			out = append(out, p+"proxied", "false")
		}
		for i := 0; i+1 < len(extra); i += 2 {
			out = append(out, p+extra[i], extra[i+1])
		}
		return out
	}
	cat := func(parts ...[]string) []string { return slices.Concat(parts...) }
	noTunnels := registryClaimConfig()
	noTunnels.Tunnels = nil

	cases := []struct {
		name   string
		check  claims.Check
		key    string // the label the error names
		agent  string // judged as this agent's container ("" = main's own)
		labels []string
		// main is the registry's configuration when it is not
		// registryClaimConfig, with check's environment to match.
		main     *claims.Config
		checkEnv map[string]string
	}{
		{name: "typo in a property", check: claims.CheckLabel, key: "labelgate.tunnel.web.hostnme",
			labels: []string{"labelgate.tunnel.web.hostnme", "web.example.com", "labelgate.tunnel.web.service", "http://web:80"}},
		{name: "bad value", check: claims.CheckLabel, key: "labelgate.dns.bad.ttl",
			labels: cat(rec("bad", "bad.example.com", "A", "203.0.113.1", "ttl", "5"))},
		{name: "no tunnel configured", check: claims.CheckNoTunnel, key: "labelgate.tunnel.web.tunnel",
			labels: route("web", "web.example.com"), main: &noTunnels, checkEnv: map[string]string{}},
		{name: "unknown tunnel label", check: claims.CheckUnknownTunnel, key: "labelgate.tunnel.web.tunnel",
			labels: route("web", "web.example.com", "tunnel", "nope")},
		{name: "route outside the agent's hostnames", check: claims.CheckScopeHostname, key: "labelgate.tunnel.web.hostname", agent: "lab",
			labels: route("web", "bank.example.com")},
		{name: "record outside the agent's hostnames", check: claims.CheckScopeHostname, key: "labelgate.dns.www.hostname", agent: "lab",
			labels: rec("www", "bank.example.com", "A", "203.0.113.1")},
		{name: "record outside the agent's zones", check: claims.CheckScopeZone, key: "labelgate.dns.www.hostname", agent: "zoned",
			labels: rec("www", "example.org.evil.com", "A", "203.0.113.1")},
		{name: "route outside the agent's tunnels", check: claims.CheckScopeTunnel, key: "labelgate.tunnel.web.tunnel", agent: "lab",
			labels: route("web", "web.lab.example.com", "tunnel", "default")},
		{name: "one hostname through two tunnels", check: claims.CheckOneTunnel, key: "labelgate.tunnel.b.tunnel",
			labels: cat(route("a", "app.example.com"), route("b", "app.example.com", "path", "^/b", "tunnel", "edge"))},
		{name: "two routes with one path", check: claims.CheckDuplicatePath, key: "labelgate.tunnel.b.path",
			labels: cat(route("a", "app.example.com"), route("b", "app.example.com"))},
		{name: "a protected route whose path is not a plain prefix", check: claims.CheckAccessPath, key: "labelgate.tunnel.b.path",
			labels: cat(route("a", "app.example.com", "access", "one"), route("b", "app.example.com", "path", "^/b", "access", "two"))},
		{name: "two access templates on a record's hostname", check: claims.CheckOneAccess, key: "labelgate.dns.b.access",
			labels: cat(rec("a", "app.example.com", "A", "203.0.113.1", "access", "one"), rec("b", "app.example.com", "TXT", "hello", "access", "two"))},
		{name: "dns record and tunnel route on one hostname (issue 12)", check: claims.CheckRecordOnTunnelHost, key: "labelgate.dns.www.hostname",
			labels: cat(route("web", "app.example.com"), rec("www", "app.example.com", "A", "203.0.113.1"))},
		{name: "cname beside another record", check: claims.CheckCNAMEAlone, key: "labelgate.dns.c.hostname",
			labels: cat(rec("a", "app.example.com", "A", "203.0.113.1"), rec("c", "app.example.com", "CNAME", "other.example.com"))},
		{name: "the same record twice", check: claims.CheckDuplicateRecord, key: "labelgate.dns.b.hostname",
			labels: cat(rec("a", "app.example.com", "A", "203.0.113.1"), rec("b", "app.example.com", "A", "203.0.113.1"))},
		{name: "the same auto record twice", check: claims.CheckDuplicateRecord, key: "labelgate.dns.b.hostname",
			labels: cat(rec("a", "app.example.com", "A", "auto"), rec("b", "app.example.com", "A", "auto"))},
	}

	covered := map[claims.Check]bool{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			lbls := map[string]string{}
			for i := 0; i+1 < len(tc.labels); i += 2 {
				lbls[tc.labels[i]] = tc.labels[i+1]
			}
			regCfg := registryClaimConfig()
			if tc.main != nil {
				regCfg = *tc.main
			}
			env := mainEnv
			if tc.checkEnv != nil {
				env = tc.checkEnv
			}
			source := messages.LocalSource
			args := []string{"check", "--json"}
			if tc.agent != "" {
				source = messages.AgentSource(tc.agent)
				args = append(args, "--agent", tc.agent)
			}

			for _, in := range []string{"compose", "stdin"} {
				name, stdin, input := "app", "", "-"
				if in == "stdin" {
					name = "stdin"
					for _, k := range slices.Sorted(maps.Keys(lbls)) {
						stdin += k + "=" + lbls[k] + "\n"
					}
				} else {
					var b strings.Builder
					b.WriteString("services:\n  app:\n    labels:\n")
					for k, v := range lbls {
						b.WriteString("      " + k + ": " + strconv.Quote(v) + "\n")
					}
					input = filepath.Join(t.TempDir(), "compose.yaml")
					if err := os.WriteFile(input, []byte(b.String()), 0o600); err != nil {
						t.Fatal(err)
					}
				}

				// Main's registry: the container as Docker reports it.
				ctr := messages.Container{ID: "id", Name: name, Labels: lbls, State: "running", Created: time.Unix(0, 0),
					Networks: []messages.Network{{Name: "app", IPv4: "172.18.0.5"}}}
				reg := claims.Build(source, ctr, regCfg, claims.PublicIPs{V4: "198.51.100.7"})
				var found *claims.Error
				for i, e := range reg.Errors {
					if e.Check == tc.check && e.Key == tc.key {
						found = &reg.Errors[i]
					}
				}
				if found == nil {
					t.Fatalf("%s: main reports %+v, want a %s error on %s", in, reg.Errors, tc.check, tc.key)
				}
				covered[tc.check] = true

				code, out, errOut := runCLI(t, stdin, env, append(slices.Clone(args), input)...)
				var rep checkReport
				if err := json.Unmarshal([]byte(out), &rep); err != nil {
					t.Fatalf("%s: check exit %d, not JSON: %v\n%s%s", in, code, err, out, errOut)
				}
				if len(rep.Sources) != 1 || len(rep.Sources[0].Services) != 1 || rep.Sources[0].Services[0].Name != name {
					t.Fatalf("%s: check reports %+v, want one container named %s", in, rep.Sources, name)
				}
				got := rep.Sources[0].Services[0].Errors
				if why, skipped := notJudgedByCheck[tc.check]; skipped {
					if slices.ContainsFunc(got, func(e labels.Error) bool { return e.Key == tc.key }) || !slices.ContainsFunc(rep.Notes, func(n string) bool { return strings.Contains(n, why) }) {
						t.Fatalf("%s: check cannot judge %s: want no error on %s and a note %q, got errors %+v, notes %q", in, tc.check, tc.key, why, got, rep.Notes)
					}
					continue
				}
				if diff := cmp.Diff(reg.LabelErrors(), got); diff != "" {
					t.Fatalf("%s: check's errors differ from main's (-main +check):\n%s", in, diff)
				}
				if code != 1 {
					t.Fatalf("%s: check exited %d, want 1", in, code)
				}
				// The text form names the container and the label as
				// main's label_error event does ("container app: key: msg").
				code, text, _ := runCLI(t, stdin, env, append(slices.DeleteFunc(slices.Clone(args), func(a string) bool { return a == "--json" }), input)...)
				if code != 1 || !strings.Contains(text, "service "+name+"\n") || !strings.Contains(text, "ERROR   "+found.Error.Error()+"\n") {
					t.Fatalf("%s: text output (exit %d) lacks service %s or %q:\n%s", in, code, name, found.Error.Error(), text)
				}
			}
		})
	}
	for _, c := range claims.Checks() {
		if !covered[c] {
			t.Errorf("claims check %s has no case here: add one, so that `labelgate check` is shown to see it", c)
		}
	}
}
