package actors

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/labelgate/labelgate/cfapi"
	"github.com/labelgate/labelgate/cfapi/cfsim"
	"github.com/labelgate/labelgate/config"
	"github.com/labelgate/labelgate/dockerwatch/dockertest"
)

// TestPipelineTwoNamedCredentialsNoDefault: main with two named
// credentials and no cloudflare.api_token (so no credential named
// "default"), both of which see the one zone. It publishes a tunnel route,
// a DNS record and an Access app, each with the credential the rules give
// it, and no actor ever fails (package surface reads them back:
// TestSurfaceReadsWithEachConsumersCredential).
func TestChildZoneNamesDoNotCollide(t *testing.T) {
	com := cfapi.Zone{ID: "z1", Name: "example.com", Status: "active"}
	pending := cfapi.Zone{ID: "z0", Name: "example.com", Status: "pending"}
	if ChildZone(com, "lab") == ChildZone(pending, "lab") || ChildZone(com, "lab") == ChildZone(com, "ops") {
		t.Error("child names collide")
	}
}

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

	// One zone actor for the zone both credentials see (its status reaches
	// the DNS actor when its first reconcile ends).
	p.reconciled(10 * time.Second)
	zonePlanners := 0
	for _, st := range p.main.PlannerStatuses(t.Context()) {
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
