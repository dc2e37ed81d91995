package actors

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/labelgate/labelgate/cfapi"
	"github.com/labelgate/labelgate/cfapi/cfsim"
	"github.com/labelgate/labelgate/config"
	"github.com/labelgate/labelgate/dockerwatch/dockertest"
	"github.com/labelgate/labelgate/web"
)

func TestAssignZonesOneCredentialPerZone(t *testing.T) {
	cfg := config.Defaults()
	cfg.Cloudflare.Credentials = map[string]config.Credential{
		"lab": {APIToken: "lab", Zones: []string{"example.com"}},
		"ops": {APIToken: "ops"},
	}
	r, err := cfg.CredentialRules()
	if err != nil {
		t.Fatal(err)
	}
	com := cfapi.Zone{ID: "z1", Name: "example.com", Status: "active"}
	org := cfapi.Zone{ID: "z2", Name: "example.org", Status: "active"}
	zones := map[string][]cfapi.Zone{"lab": {com, org}, "ops": {org, com}}
	owners, lost, notes := assignZones(zones, r.Zone)
	if len(owners) != 2 || len(lost) != 0 {
		t.Fatalf("owners %v lost %v", owners, lost)
	}
	if o := owners["z1"]; o.Credential != "lab" || !slices.Equal(o.Visible, []string{"lab", "ops"}) {
		t.Errorf("example.com: %+v, want lab (its zones pattern covers it)", o)
	}
	if o := owners["z2"]; o.Credential != "lab" {
		t.Errorf("example.org: %+v, want lab (no pattern covers it, no default: the first by name)", o)
	}
	if len(notes) != 2 || !strings.Contains(notes[0], "zone example.com is visible to credentials lab, ops") {
		t.Errorf("notes: %q", notes)
	}
	// The same answer whatever order the lists arrive in.
	again, _, _ := assignZones(map[string][]cfapi.Zone{"ops": {com, org}, "lab": {org, com}}, r.Zone)
	if again["z1"].Credential != "lab" || again["z2"].Credential != "lab" {
		t.Errorf("not deterministic: %+v", again)
	}

	// A record is placed with its credential's zones and written by the
	// zone's owner, whichever credential it named.
	o, problem := placeRecord("api.example.com", "ops", zones, owners, lost)
	if problem != "" || o.Zone.ID != "z1" || o.Credential != "lab" {
		t.Errorf("placeRecord = %+v %q", o, problem)
	}
	for _, tt := range []struct{ name, cred, want string }{
		{"api.example.com", "", "no credential"},
		{"api.example.com", "nope", `credential "nope" is not configured`},
		{"api.example.net", "lab", `no zone visible to credential "lab"`},
	} {
		if _, problem := placeRecord(tt.name, tt.cred, zones, owners, lost); !strings.Contains(problem, tt.want) {
			t.Errorf("placeRecord(%s, %q): problem %q, want %q", tt.name, tt.cred, problem, tt.want)
		}
	}

	// One domain under two ids (two accounts): the active one is kept, the
	// other is reported and records that land in it are refused.
	pending := cfapi.Zone{ID: "z0", Name: "example.com", Status: "pending"}
	zones = map[string][]cfapi.Zone{"lab": {com}, "ops": {pending}}
	owners, lost, _ = assignZones(zones, r.Zone)
	if _, ok := owners["z1"]; !ok || len(owners) != 1 || !strings.Contains(lost["z0"], "not reconciled") {
		t.Fatalf("owners %v lost %v", owners, lost)
	}
	if _, problem := placeRecord("api.example.com", "ops", zones, owners, lost); !strings.Contains(problem, "z0") {
		t.Errorf("a record in the lost zone: %q", problem)
	}
	if ChildZone(com, "lab") == ChildZone(pending, "lab") || ChildZone(com, "lab") == ChildZone(com, "ops") {
		t.Error("child names collide")
	}
}

// TestPipelineTwoNamedCredentialsNoDefault: main with two named
// credentials and no cloudflare.api_token (so no credential named
// "default"), both of which see the one zone. It publishes a tunnel route,
// a DNS record and an Access app, each with the credential the rules give
// it, reads them back through the Surface, and no actor ever fails.
func TestPipelineTwoNamedCredentialsNoDefault(t *testing.T) {
	const labToken, opsToken = "lab-token-0123456789abcdef", "ops-token-0123456789abcdef"
	sim := cfsim.NewServer(t)
	zone := sim.AddZone(cfsim.Zone{Name: "example.com"})
	tun := sim.AddTunnel(cfsim.Tunnel{Name: "edge"})
	sim.AddToken(labToken, "lab", false)
	sim.AddToken(opsToken, "ops", false)

	cfg := config.Defaults()
	cfg.Cloudflare.AccountID = sim.AccountID
	cfg.Cloudflare.APIURL = sim.URL
	cfg.Cloudflare.RequestsPerSecond = 4
	cfg.Cloudflare.Credentials = map[string]config.Credential{
		"lab": {APIToken: labToken, Zones: []string{"example.com"}}, // reconciles the zone
		"ops": {APIToken: opsToken},                                 // only where named: the tunnel, hence Access
	}
	cfg.Cloudflare.Tunnels = map[string]config.Tunnel{"edge": {TunnelID: tun.ID, Credential: "ops"}}
	cfg.DefaultTunnel = "edge"
	cfg.Docker.Debounce = 50 * time.Millisecond
	cfg.Sync.RemoveDelay = time.Hour
	cfg.Sync.SettleTimeout = 5 * time.Second
	cfg.DataDir = t.TempDir()
	cfg.Sync.PublicIPSources = []string{"http://127.0.0.1:1/unreachable"}
	var logs syncBuffer
	p := &pipeline{t: t, sim: sim, engine: dockertest.New(), cfg: cfg, zoneID: zone.ID, tunnel: tun.ID, logs: &logs}
	p.start()

	p.engine.Start("web", labelsOf(
		"labelgate.tunnel.web.hostname", "app.example.com",
		"labelgate.tunnel.web.service", "http://web:80",
		"labelgate.tunnel.web.access", "team",
		"labelgate.access.team.policy.include.emails", "boss@example.com",
		"labelgate.dns.www.hostname", "www.example.com",
		"labelgate.dns.www.target", "198.51.100.7",
		"labelgate.dns.www.proxied", "false",
	))
	eventually(t, 15*time.Second, "the route, both records and the Access app", func() bool {
		recs := p.records()
		_, cname := recs["CNAME app.example.com"]
		_, a := recs["A www.example.com"]
		app := slices.ContainsFunc(p.sim.AccessApps(), func(x cfsim.AccessApp) bool { return x.Domain == "app.example.com" })
		return p.hasRule("app.example.com>http://web:80") && cname && a && app
	})

	// Each write went out with the credential the rules give its consumer.
	for _, e := range p.sim.Audit() {
		if e.Token != "lab" && e.Token != "ops" {
			t.Errorf("a call with token %q: %s %s", e.Token, e.Method, e.Path)
		}
		if !e.IsWrite() {
			continue
		}
		switch {
		case strings.Contains(e.Path, "/dns_records"):
			if e.Token != "lab" {
				t.Errorf("DNS write with %q, want lab (the zone's credential): %s %s", e.Token, e.Method, e.Path)
			}
		case strings.Contains(e.Path, "/cfd_tunnel/"), strings.Contains(e.Path, "/access/"):
			if e.Token != "ops" {
				t.Errorf("write with %q, want ops (the tunnel's, and Access's): %s %s", e.Token, e.Method, e.Path)
			}
		}
	}

	s := NewSurface(p.main, p.cfg, "test")
	ctx := context.Background()
	var tv []web.TunnelView
	eventually(t, 5*time.Second, "the owned rule on the tunnels page", func() bool {
		s.Resync(ctx) // also drops the surface's cache
		var err error
		tv, err = s.Tunnels(ctx)
		return err == nil && len(tv) == 1 && len(tv[0].Rules) > 0 && tv[0].Rules[0].Owned
	})
	if tv[0].Name != "edge" || tv[0].Credential != "ops" || tv[0].Error != "" {
		t.Errorf("tunnel: %+v", tv[0])
	}
	recs, err := s.DNSRecords(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range recs {
		got = append(got, r.Type+" "+r.Name+" "+r.Credential)
		if !r.Owned {
			t.Errorf("record not owned: %+v", r)
		}
	}
	slices.Sort(got)
	if want := []string{"A www.example.com lab", "CNAME app.example.com lab"}; !slices.Equal(got, want) {
		t.Errorf("DNS page: %q, want %q", got, want)
	}
	var av web.AccessView
	eventually(t, 5*time.Second, "the owned app on the Access page", func() bool {
		s.Resync(ctx)
		av, err = s.Access(ctx)
		return err == nil && len(av.Apps) == 1 && av.Apps[0].Owned
	})
	if av.Error != "" || av.Credential != "ops" || av.AccountID != sim.AccountID || av.Apps[0].Domain != "app.example.com" {
		t.Errorf("Access page: %+v", av)
	}
	plan, err := s.Plan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	creds := map[string]string{}
	for _, pp := range plan.Planner {
		creds[pp.Planner] = pp.Credential
		if len(pp.Creates)+len(pp.Updates)+len(pp.Deletes) != 0 || pp.Error != "" {
			t.Errorf("a converged main must plan nothing: %+v", pp)
		}
	}
	if want := map[string]string{"tunnel:edge": "ops", "zone:example.com": "lab", "access": "ops"}; !maps.Equal(creds, want) {
		t.Errorf("plan preview credentials: %v, want %v", creds, want)
	}
	if h := s.Health(ctx); !h.TokenVerified || h.TokenError != "" {
		t.Errorf("both tokens verify: %+v", h)
	}

	// One zone actor for the zone both credentials see.
	zonePlanners := 0
	for _, st := range s.plannerStatuses(ctx) {
		if strings.HasPrefix(st.Planner, "zone:") {
			zonePlanners++
		}
	}
	if zonePlanners != 1 {
		t.Errorf("%d zone planners, want 1", zonePlanners)
	}
	// No crash loop, no panic, no failed spawn: nothing at WARN or above.
	for _, bad := range []string{"actor failed", "actor panicked", "starting a zone actor failed", "level=ERROR"} {
		if strings.Contains(logs.String(), bad) {
			t.Errorf("main logged %q:\n%s", bad, logs.String())
		}
	}
}

// TestStartMainRefusesAnUnresolvedCredential: a configuration built by hand
// (config.Load would have refused it) never starts an actor without its
// cloudflare PID: StartMain fails first.
func TestStartMainRefusesAnUnresolvedCredential(t *testing.T) {
	cfg := config.Defaults()
	cfg.Cloudflare.AccountID = "0123456789abcdef0123456789abcdef"
	cfg.Cloudflare.Credentials = map[string]config.Credential{"lab": {APIToken: "lab"}, "ops": {APIToken: "ops"}}
	if _, err := StartMain(cfg, MainDeps{}); err == nil || !strings.Contains(err.Error(), "access.credential") {
		t.Fatalf("Access without a credential: %v", err)
	}
	cfg.Access.Credential = "ops"
	cfg.Cloudflare.Tunnels = map[string]config.Tunnel{"edge": {TunnelID: "6ff42ae2-765d-4adf-8112-31c55c1551ef", Credential: "nope"}}
	cfg.DefaultTunnel = "edge"
	if _, err := StartMain(cfg, MainDeps{}); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("a tunnel without its credential: %v", err)
	}
}
