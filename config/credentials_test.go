package config

import (
	"testing"
)

const testAccountID2 = "fedcba9876543210fedcba9876543210"

// TestAccessCredentialResolution: Access's account and credential are
// resolved at load time, with named credentials only too; a configuration
// where no credential can be told to manage the account fails to load,
// naming access.credential.
func TestAccessCredentialResolution(t *testing.T) {
	t.Parallel()
	const twoNamed = "{lab: {api_token: lab-token, zones: [lab.example.com]}, ops: {api_token: ops-token, zones: [example.com]}}"
	named := func(kv ...string) map[string]string {
		return with(map[string]string{"LABELGATE_CLOUDFLARE_CREDENTIALS": twoNamed}, kv...)
	}
	tests := []struct {
		name       string
		env        map[string]string
		file       string
		account    string // the wanted target; both empty = Access off
		credential string
		probKey    string // a problem instead
		fragments  []string
	}{
		{
			name: "named credentials only, no account: Access is off",
			env:  named(),
		},
		{
			name:    "named credentials only, a tunnel in the account names its credential",
			env:     named("LABELGATE_CLOUDFLARE_ACCOUNT_ID", testAccountID, "LABELGATE_DEFAULT_TUNNEL", "edge"),
			file:    "cloudflare:\n  tunnels:\n    edge: {tunnel_id: " + testTunnelID + ", credential: lab}\n",
			account: testAccountID, credential: "lab",
		},
		{
			name:    "named credentials only, no account_id: the default tunnel's account and credential",
			env:     named("LABELGATE_DEFAULT_TUNNEL", "edge"),
			file:    "cloudflare:\n  tunnels:\n    edge: {account_id: " + testAccountID2 + ", tunnel_id: " + testTunnelID + ", credential: ops}\n",
			account: testAccountID2, credential: "ops",
		},
		{
			name:    "named credentials only, account_id and no tunnel: ambiguous",
			env:     named("LABELGATE_CLOUDFLARE_ACCOUNT_ID", testAccountID),
			probKey: "access.credential",
			fragments: []string{testAccountID, "no default credential", "no tunnel in that account names one",
				"set access.credential", "configured: lab, ops"},
		},
		{
			name: "named credentials only, the account's tunnels use two credentials: ambiguous",
			env:  named("LABELGATE_CLOUDFLARE_ACCOUNT_ID", testAccountID, "LABELGATE_DEFAULT_TUNNEL", "far"),
			file: "cloudflare:\n  tunnels:\n" +
				"    far: {account_id: " + testAccountID2 + ", tunnel_id: " + testTunnelID + ", credential: lab}\n" +
				"    a: {tunnel_id: " + testTunnelID2 + ", credential: lab}\n" +
				"    b: {tunnel_id: 1c2a3e4f-5b6c-4d7e-8f90-a1b2c3d4e5f6, credential: ops}\n",
			probKey:   "access.credential",
			fragments: []string{"a uses lab, b uses ops", "set access.credential"},
		},
		{
			name: "the account's tunnels agree on one credential",
			env:  named("LABELGATE_CLOUDFLARE_ACCOUNT_ID", testAccountID, "LABELGATE_DEFAULT_TUNNEL", "far"),
			file: "cloudflare:\n  tunnels:\n" +
				"    far: {account_id: " + testAccountID2 + ", tunnel_id: " + testTunnelID + ", credential: lab}\n" +
				"    a: {tunnel_id: " + testTunnelID2 + ", credential: ops}\n",
			account: testAccountID, credential: "ops",
		},
		{
			name:    "one named credential, account_id: that credential",
			env:     with(nil, "LABELGATE_CLOUDFLARE_CREDENTIALS", "{lab: {api_token: lab-token}}", "LABELGATE_CLOUDFLARE_ACCOUNT_ID", testAccountID),
			account: testAccountID, credential: "lab",
		},
		{
			name:    "access.credential settles it",
			env:     named("LABELGATE_CLOUDFLARE_ACCOUNT_ID", testAccountID, "LABELGATE_ACCESS_CREDENTIAL", "ops"),
			account: testAccountID, credential: "ops",
		},
		{
			name:      "access.credential names an unknown credential",
			env:       named("LABELGATE_CLOUDFLARE_ACCOUNT_ID", testAccountID, "LABELGATE_ACCESS_CREDENTIAL", "nope"),
			probKey:   "access.credential",
			fragments: []string{`"nope"`, "configured: lab, ops"},
		},
		{
			name:      "access.credential without an account",
			env:       named("LABELGATE_ACCESS_CREDENTIAL", "ops"),
			probKey:   "access.credential",
			fragments: []string{"cloudflare.account_id"},
		},
		{
			name:    "api_token and account_id: the default credential, as before",
			env:     with(tunnelEnv(), "LABELGATE_CLOUDFLARE_CREDENTIALS", twoNamed),
			account: testAccountID, credential: "default",
		},
		{
			name:    "api_token, no account_id: the default tunnel's credential, as before",
			env:     with(mainEnv(), "LABELGATE_CLOUDFLARE_CREDENTIALS", twoNamed, "LABELGATE_DEFAULT_TUNNEL", "edge"),
			file:    "cloudflare:\n  tunnels:\n    edge: {account_id: " + testAccountID2 + ", tunnel_id: " + testTunnelID + ", credential: lab}\n",
			account: testAccountID2, credential: "lab",
		},
		{
			name:    "api_token and account_id, a tunnel of another credential: still default",
			env:     with(tunnelEnv(), "LABELGATE_CLOUDFLARE_CREDENTIALS", twoNamed),
			file:    "cloudflare:\n  tunnels:\n    lab: {tunnel_id: " + testTunnelID2 + ", credential: lab}\n",
			account: testAccountID, credential: "default",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := loadWith(t, tt.env, tt.file)
			if tt.probKey != "" {
				wantProblem(t, problemsOf(t, err), envFor(tt.probKey), tt.probKey, tt.fragments...)
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			rules, err := cfg.CredentialRules()
			if err != nil {
				t.Fatalf("CredentialRules after a successful Load: %v", err)
			}
			if got := rules.Access; got.AccountID != tt.account || got.Credential != tt.credential {
				t.Fatalf("Access = %+v, want account %q credential %q", got, tt.account, tt.credential)
			}
			if tt.account != "" && rules.Access.From == "" {
				t.Errorf("Access.From is empty")
			}
		})
	}
}

// TestAccessProblemNotRepeated: a default tunnel whose credential is not
// configured is reported once, on the tunnel, not again on Access.
func TestAccessProblemNotRepeated(t *testing.T) {
	t.Parallel()
	_, err := loadWith(t, with(nil, "LABELGATE_CLOUDFLARE_ACCOUNT_ID", testAccountID, "LABELGATE_CLOUDFLARE_TUNNEL_ID", testTunnelID,
		"LABELGATE_CLOUDFLARE_CREDENTIALS", "{lab: {api_token: abc}}"), "")
	ps := problemsOf(t, err)
	wantProblem(t, ps, "LABELGATE_CLOUDFLARE_TUNNEL_ID", "cloudflare.tunnel_id")
	if len(ps) != 1 {
		t.Fatalf("want the tunnel's problem only, got:\n%s", render(ps))
	}
	// No credential at all: the token problem alone.
	_, err = loadWith(t, with(nil, "LABELGATE_CLOUDFLARE_ACCOUNT_ID", testAccountID), "")
	if ps := problemsOf(t, err); len(ps) != 1 || ps[0].Key != "cloudflare.api_token" {
		t.Fatalf("want the token problem only, got:\n%s", render(ps))
	}
}

func TestCredentialRulesRecordAndZone(t *testing.T) {
	t.Parallel()
	cfg := Defaults()
	cfg.Cloudflare.AccountID = testAccountID
	cfg.Cloudflare.Credentials = map[string]Credential{
		"lab":  {APIToken: "lab", Zones: []string{"lab.example.com"}},
		"apex": {APIToken: "apex", Zones: []string{"example.com"}},
		"edge": {APIToken: "edge"}, // no zones: only where it is named
	}
	cfg.Cloudflare.Tunnels = map[string]Tunnel{"t": {TunnelID: testTunnelID, Credential: "edge"}}
	cfg.DefaultTunnel = "t"
	r := cfg.credentialRules()

	records := []struct{ host, label, tunnel, want string }{
		{"a.lab.example.com", "", "", "lab"},
		{"www.example.com", "", "", "apex"},
		{"www.example.com", "edge", "", "edge"},       // the label wins
		{"www.example.org", "", "t", "edge"},          // no pattern, no default: the tunnel's
		{"www.example.com", "", "t", "apex"},          // a pattern before the tunnel
		{"www.example.org", "", "", ""},               // nothing applies
		{"www.example.org", "", "unknown-tunnel", ""}, // an unknown tunnel is no help
	}
	for _, tt := range records {
		if got := r.Record(tt.host, tt.label, tt.tunnel); got != tt.want {
			t.Errorf("Record(%q, %q, %q) = %q, want %q", tt.host, tt.label, tt.tunnel, got, tt.want)
		}
	}

	zones := []struct {
		zone    string
		visible []string
		want    string
	}{
		{"example.com", []string{"lab", "apex", "edge"}, "apex"},    // the pattern that covers the zone
		{"lab.example.com", []string{"edge", "apex", "lab"}, "lab"}, // the longest one
		{"example.com", []string{"lab", "edge"}, "lab"},             // no pattern covers it: one inside it
		{"example.org", []string{"lab", "edge"}, "edge"},            // nothing: the first by name
		{"example.org", []string{"lab"}, "lab"},
		{"example.org", nil, ""},
	}
	for _, tt := range zones {
		if got := r.Zone(tt.zone, tt.visible); got != tt.want {
			t.Errorf("Zone(%q, %v) = %q, want %q", tt.zone, tt.visible, got, tt.want)
		}
	}
	cfg.Cloudflare.APIToken = "main"
	r = cfg.credentialRules()
	if got := r.Zone("example.org", []string{"lab", "default", "edge"}); got != "default" {
		t.Errorf("a zone no pattern covers goes to default when it sees it, got %q", got)
	}
	if got := r.Record("www.example.org", "", "t"); got != "default" {
		t.Errorf("default comes before the tunnel's credential, got %q", got)
	}
	if got := r.Names(); len(got) != 4 || got[0] != "apex" || got[1] != "default" {
		t.Errorf("Names = %v", got)
	}
}
