package surface

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/swarm"

	"github.com/labelgate/labelgate/actors"
	"github.com/labelgate/labelgate/cfapi"
	"github.com/labelgate/labelgate/cfapi/cfsim"
	"github.com/labelgate/labelgate/config"
	"github.com/labelgate/labelgate/dockerwatch"
	"github.com/labelgate/labelgate/dockerwatch/dockertest"
	"github.com/labelgate/labelgate/messages"
	"github.com/labelgate/labelgate/publicip"
	"github.com/labelgate/labelgate/store"
	"github.com/labelgate/labelgate/web"
)

// pipeline is main's whole actor tree against cfsim and a fake Docker
// engine, with a real SQLite store in a temp dir, read through a Surface.
type pipeline struct {
	t      *testing.T
	sim    *cfsim.Server
	engine *dockertest.Engine
	cfg    config.Config
	main   *actors.Main
	zoneID string
	tunnel string
}

// baseConfig is a main configuration against sim, fast enough for tests.
func baseConfig(t *testing.T, sim *cfsim.Server) config.Config {
	cfg := config.Defaults()
	cfg.Cloudflare.AccountID = sim.AccountID
	cfg.Cloudflare.APIURL = sim.URL
	cfg.Cloudflare.RequestsPerSecond = 4
	cfg.Docker.Debounce = 50 * time.Millisecond
	cfg.Sync.RemoveDelay = time.Hour
	cfg.Sync.SettleTimeout = 5 * time.Second
	cfg.DataDir = t.TempDir()
	cfg.Sync.PublicIPSources = []string{"http://127.0.0.1:1/unreachable"}
	return cfg
}

// start runs main over p.cfg until the test ends.
func (p *pipeline) start() {
	p.t.Helper()
	db, err := store.Open(context.Background(), p.cfg.DBPath())
	if err != nil {
		p.t.Fatal(err)
	}
	out := io.Writer(io.Discard)
	if testing.Verbose() {
		out = os.Stderr
	}
	m, err := actors.StartMain(p.cfg, actors.MainDeps{
		DB: db, Logger: slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelInfo})),
		NewDocker: func(dockerwatch.Config) (dockerwatch.Client, error) { return p.engine, nil },
		PublicIP:  &publicip.Discoverer{Sources: p.cfg.Sync.PublicIPSources, Timeout: time.Second},
	})
	if err != nil {
		_ = db.Close()
		p.t.Fatal(err)
	}
	p.main = m
	p.t.Cleanup(func() { m.Stop(); _ = db.Close() })
}

// ingress returns the live rules as "host path>service", foreign ones too.
func (p *pipeline) ingress() []string {
	cfg, ok := p.sim.TunnelConfigOf(p.tunnel)
	if !ok {
		return nil
	}
	var doc cfapi.TunnelConfig
	if err := doc.UnmarshalJSON(cfg.Config); err != nil {
		p.t.Fatal(err)
	}
	var out []string
	for _, r := range doc.Ingress {
		out = append(out, strings.TrimSpace(r.Hostname+" "+r.Path)+">"+r.Service)
	}
	return out
}

func (p *pipeline) hasRule(rule string) bool { return slices.Contains(p.ingress(), rule) }

func (p *pipeline) records() map[string]cfsim.Record {
	out := map[string]cfsim.Record{}
	for _, r := range p.sim.Records(p.zoneID) {
		out[r.Type+" "+r.Name] = r
	}
	return out
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func labelsOf(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// newPipeline is main with the default credential, one zone and one tunnel.
func newPipeline(t *testing.T, tweak func(*config.Config)) *pipeline {
	t.Helper()
	sim := cfsim.NewServer(t)
	zone := sim.AddZone(cfsim.Zone{Name: "example.com"})
	tun := sim.AddTunnel(cfsim.Tunnel{Name: "home"})
	cfg := baseConfig(t, sim)
	cfg.Cloudflare.APIToken = config.Secret(sim.Token)
	cfg.Cloudflare.TunnelID = tun.ID
	cfg.Sync.RemoveDelay = 2 * time.Second
	if tweak != nil {
		tweak(&cfg)
	}
	p := &pipeline{t: t, sim: sim, engine: dockertest.New(), cfg: cfg, zoneID: zone.ID, tunnel: tun.ID}
	p.start()
	return p
}

func TestSurfaceAnswersFromTheRunningTree(t *testing.T) {
	p := newPipeline(t, func(c *config.Config) { c.Sync.RemoveDelay = time.Hour })
	if err := p.sim.SetTunnelConfig(p.tunnel, []byte(`{"ingress":[{"hostname":"manual.example.com","service":"http://manual:80"},{"service":"http_status:404"}]}`)); err != nil {
		t.Fatal(err)
	}
	id := p.engine.Start("web", labelsOf(
		"labelgate.tunnel.web.hostname", "app.example.com", "labelgate.tunnel.web.service", "http://web:80",
		"labelgate.tunnel.bad.hostname", "bad.example.com", "labelgate.tunnel.bad.service", "http://web:80/x",
	))
	eventually(t, 10*time.Second, "converged", func() bool {
		_, ok := p.records()["CNAME app.example.com"]
		return ok && p.hasRule("app.example.com>http://web:80")
	})
	s := New(p.main, p.cfg, "test")
	ctx := context.Background()

	hs, err := s.Hostnames(ctx)
	if err != nil || len(hs) != 1 || hs[0].Hostname != "app.example.com" || hs[0].State != messages.HostActive {
		t.Fatalf("hostnames: %+v %v", hs, err)
	}
	var tv []web.TunnelView
	eventually(t, 5*time.Second, "the owned rule recorded", func() bool {
		if err := s.Resync(ctx); err != nil { // also drops the surface's cache
			t.Fatal(err)
		}
		tv, err = s.Tunnels(ctx)
		return err == nil && len(tv) == 1 && len(tv[0].Rules) == 3 && tv[0].Rules[0].Owned
	})
	for _, r := range tv[0].Rules {
		if want := r.Hostname == "app.example.com"; r.Owned != want {
			t.Fatalf("rule %s owned=%v", r.Hostname, r.Owned)
		}
	}
	recs, err := s.DNSRecords(ctx)
	if err != nil || len(recs) != 1 || !recs[0].Owned || recs[0].Type != "CNAME" {
		t.Fatalf("records: %+v %v", recs, err)
	}
	les, err := s.LabelErrors(ctx)
	if err != nil || len(les) != 1 || les[0].Key != "labelgate.tunnel.bad.service" {
		t.Fatalf("label errors: %+v %v", les, err)
	}
	plan, err := s.Plan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, pp := range plan.Planner {
		if len(pp.Creates)+len(pp.Updates)+len(pp.Deletes) != 0 || pp.Error != "" {
			t.Fatalf("a converged main must plan nothing: %+v", pp)
		}
	}
	if h := s.Health(ctx); !h.Ready() {
		t.Fatalf("health: %+v", h)
	}
	evs, err := s.Events(ctx, store.EventQuery{Hostname: "app.example.com"})
	if err != nil || len(evs) == 0 {
		t.Fatalf("events: %v %v", evs, err)
	}

	// The container stops: the hostname waits out its (hour-long) grace;
	// the operator cancels the delete.
	p.engine.Stop(id)
	eventually(t, 10*time.Second, "pending delete", func() bool {
		pd, _ := s.PendingDeletes(ctx)
		return len(pd) == 1
	})
	if err := s.CancelDelete(ctx, "app.example.com"); err != nil {
		t.Fatal(err)
	}
	if err := s.CancelDelete(ctx, "app.example.com"); !errors.Is(err, web.ErrNotFound) {
		t.Fatalf("a second cancel must be not found, got %v", err)
	}
	if pd, _ := s.PendingDeletes(ctx); len(pd) != 0 {
		t.Fatalf("still pending: %+v", pd)
	}
	if err := s.Decommission(ctx, "nope"); !errors.Is(err, web.ErrNotFound) {
		t.Fatalf("decommissioning an unknown agent: %v", err)
	}
	if err := s.EnableAgent(ctx, "nope"); !errors.Is(err, web.ErrNotFound) {
		t.Fatalf("enabling an unknown agent: %v", err)
	}
	calls := len(p.sim.Audit())
	if err := s.Resync(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "a resync to read Cloudflare", func() bool { return len(p.sim.Audit()) > calls })
}

// The tunnel's connector health through the Surface: the Tunnels view, the
// Overview's count and the metrics, before and after cfsim's cloudflared
// goes away.
func TestSurfaceTunnelConnectors(t *testing.T) {
	p := newPipeline(t, nil)
	p.engine.Start("web", labelsOf("labelgate.tunnel.web.hostname", "app.example.com", "labelgate.tunnel.web.service", "http://web:80"))
	eventually(t, 10*time.Second, "the route", func() bool { return p.hasRule("app.example.com>http://web:80") })
	s := New(p.main, p.cfg, "test")
	h := web.New(web.Config{Backend: s})
	ctx := context.Background()
	scrape := func() string {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		return w.Body.String()
	}

	var tv []web.TunnelView
	eventually(t, 15*time.Second, "the first connector read", func() bool {
		var err error
		tv, err = s.Tunnels(ctx)
		return err == nil && len(tv) == 1 && !tv[0].ConnectorsReadAt.IsZero()
	})
	if v := tv[0]; v.Status != cfapi.TunnelHealthy || v.ActiveConnections != 2 || len(v.Connections) != 2 || v.Routes != 1 ||
		v.Connections[0].OriginIP != "192.0.2.10" || v.Connections[0].ClientVersion != cfsim.DefaultConnectorVersion || v.Connections[0].Colo != "sim01" || v.Health().NoConnector() {
		t.Fatalf("tunnel view: %+v", v)
	}
	ov, err := s.Overview(ctx)
	if err != nil || ov.TunnelsWithoutConnector != 0 || len(ov.Tunnels) != 1 || ov.Tunnels[0].Name != "default" || ov.Tunnels[0].Routes != 1 {
		t.Fatalf("overview: %+v %v", ov.Tunnels, err)
	}
	m := scrape()
	mustContain(t, m, `labelgate_tunnel_connections{tunnel="default"} 2`,
		`labelgate_tunnel_status{status="healthy",tunnel="default"} 1`, `labelgate_tunnel_status{status="down",tunnel="default"} 0`)

	if err := p.sim.SetTunnelConnectors(p.tunnel, "", nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Resync(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the Overview to count the tunnel", func() bool {
		ov, err = s.Overview(ctx)
		return err == nil && ov.TunnelsWithoutConnector == 1
	})
	if tv, err = s.Tunnels(ctx); err != nil || tv[0].Status != cfapi.TunnelDown || len(tv[0].Connections) != 0 || !tv[0].Health().NoConnector() {
		t.Fatalf("tunnel view after the connector left: %+v %v", tv, err)
	}
	m = scrape()
	mustContain(t, m, `labelgate_tunnel_connections{tunnel="default"} 0`,
		`labelgate_tunnel_status{status="down",tunnel="default"} 1`, `labelgate_tunnel_status{status="healthy",tunnel="default"} 0`)
}

// An agent's routes through the running tree: the Agents view names the
// tunnel they use and whether it has a connector.
func TestSurfaceAgentTunnels(t *testing.T) {
	const token = "token-for-agent-alpha-0123456789"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	listen := ln.Addr().String()
	_ = ln.Close() // only a free port was wanted
	p := newPipeline(t, func(c *config.Config) {
		c.Agent.Enabled = true
		c.Agent.Listen = listen
		c.Agent.Agents = map[string]config.AgentEntry{"alpha": {Token: token, DefaultTunnel: "default"}}
	})
	acfg := config.Defaults()
	acfg.Mode = config.ModeAgent
	acfg.Docker.Debounce = 50 * time.Millisecond
	acfg.Connect.Endpoint = "ws://" + listen
	acfg.Connect.Token = token
	engine := dockertest.New()
	agent, err := actors.StartAgent(acfg, actors.AgentDeps{Logger: slog.New(slog.DiscardHandler), Version: "test",
		NewDocker: func(dockerwatch.Config) (dockerwatch.Client, error) { return engine, nil }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(agent.Stop)
	engine.Start("web", labelsOf("labelgate.tunnel.web.hostname", "alpha.example.com", "labelgate.tunnel.web.service", "http://web:80",
		"labelgate.tunnel.api.hostname", "api.alpha.example.com", "labelgate.tunnel.api.service", "http://api:80"))
	eventually(t, 10*time.Second, "alpha's routes", func() bool {
		return p.hasRule("alpha.example.com>http://web:80") && p.hasRule("api.alpha.example.com>http://api:80")
	})
	s := New(p.main, p.cfg, "test")
	ctx := context.Background()
	alpha := func() web.AgentView {
		ags, err := s.Agents(ctx)
		if err != nil || len(ags) != 1 {
			t.Fatalf("agents %+v %v", ags, err)
		}
		return ags[0]
	}
	eventually(t, 15*time.Second, "alpha's tunnel read", func() bool {
		a := alpha()
		return len(a.Tunnels) == 1 && a.Tunnels[0].Read()
	})
	if tt := alpha().Tunnels[0]; tt.Name != "default" || tt.Routes != 2 || tt.Status != cfapi.TunnelHealthy || !tt.HasConnector() {
		t.Fatalf("alpha's tunnel: %+v", tt)
	}
	if err := p.sim.SetTunnelConnectors(p.tunnel, "", nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Resync(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "alpha's tunnel without a connector", func() bool {
		tt := alpha().Tunnels[0]
		return tt.Status == cfapi.TunnelDown && tt.NoConnector()
	})
}

// An agent's tunnels: the ones its routes use, by name, each with its
// connector health (unknown until read).
func TestAgentTunnels(t *testing.T) {
	read := time.Now()
	got := agentTunnels(map[string]int{"edge": 2, "home": 1, "new": 1}, map[string]actors.TunnelConnectors{
		"edge": {Status: cfapi.TunnelDown, ReadAt: read},
		"home": {Status: cfapi.TunnelHealthy, ReadAt: read, Connectors: []cfapi.TunnelConnector{{Connections: []cfapi.TunnelConnection{{Colo: "ams01"}, {Colo: "fra01", PendingReconnect: true}}}}},
	})
	want := []web.TunnelHealth{
		{Name: "edge", Status: cfapi.TunnelDown, Routes: 2, ReadAt: read},
		{Name: "home", Status: cfapi.TunnelHealthy, ActiveConnections: 1, Routes: 1, ReadAt: read},
		{Name: "new", Routes: 1},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("agent tunnels %+v, want %+v", got, want)
	}
	if !got[0].NoConnector() || got[1].NoConnector() || got[2].NoConnector() || got[2].Read() {
		t.Errorf("connector verdicts: %+v", got)
	}
}

// TestSurfaceReadsWithEachConsumersCredential: main with two named
// credentials and no default, both of which see the one zone. The pages and
// the plan preview read each object with the credential its actor uses.
func TestSurfaceReadsWithEachConsumersCredential(t *testing.T) {
	const labToken, opsToken = "lab-token-0123456789abcdef", "ops-token-0123456789abcdef"
	sim := cfsim.NewServer(t)
	zone := sim.AddZone(cfsim.Zone{Name: "example.com"})
	tun := sim.AddTunnel(cfsim.Tunnel{Name: "edge"})
	sim.AddToken(labToken, "lab", false)
	sim.AddToken(opsToken, "ops", false)
	cfg := baseConfig(t, sim)
	cfg.Cloudflare.Credentials = map[string]config.Credential{
		"lab": {APIToken: labToken, Zones: []string{"example.com"}}, // reconciles the zone
		"ops": {APIToken: opsToken},                                 // only where named: the tunnel, hence Access
	}
	cfg.Cloudflare.Tunnels = map[string]config.Tunnel{"edge": {TunnelID: tun.ID, Credential: "ops"}}
	cfg.DefaultTunnel = "edge"
	p := &pipeline{t: t, sim: sim, engine: dockertest.New(), cfg: cfg, zoneID: zone.ID, tunnel: tun.ID}
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

	s := New(p.main, p.cfg, "test")
	ctx := context.Background()
	var tv []web.TunnelView
	eventually(t, 5*time.Second, "the owned rule on the tunnels page", func() bool {
		if err := s.Resync(ctx); err != nil { // also drops the surface's cache
			t.Fatal(err)
		}
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
		if err := s.Resync(ctx); err != nil {
			t.Fatal(err)
		}
		av, err = s.Access(ctx)
		return err == nil && len(av.Apps) == 1 && av.Apps[0].Owned
	})
	if av.Error != "" || av.Credential != "ops" || av.AccountID != p.sim.AccountID || av.Apps[0].Domain != "app.example.com" {
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

}

// mustContain fails for each want that body lacks.
func mustContain(t *testing.T, body string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(body, w) {
			t.Errorf("missing %q in:\n%s", w, body)
		}
	}
}

// docker.swarm=true on an engine that is not a Swarm manager: /readyz's
// Docker check fails with the error that names the fix, and recovers once
// the engine is a manager.
func TestSurfaceHealthSwarmRequired(t *testing.T) {
	p := newPipeline(t, func(c *config.Config) { c.Docker.Swarm = "true" })
	s := New(p.main, p.cfg, "test")
	ctx := context.Background()
	eventually(t, 10*time.Second, "the Docker check to fail naming docker.swarm", func() bool {
		h := s.Health(ctx)
		return !h.DockerConnected && strings.Contains(h.DockerError, "docker.swarm is true, but the Docker engine is not part of a swarm")
	})
	if h := s.Health(ctx); h.Ready() {
		t.Fatalf("ready with docker.swarm=true on an engine in no swarm: %+v", h)
	}
	p.engine.SetSwarm(swarm.LocalNodeStateActive, true)
	eventually(t, 15*time.Second, "the Docker check to pass on a manager", func() bool { return s.Health(ctx).DockerConnected })
	if h := s.Health(ctx); h.DockerSwarm != "Swarm services followed: the engine is an active Swarm manager" {
		t.Errorf("DockerSwarm = %q", h.DockerSwarm)
	}

	// A service's label error is served with its kind.
	p.engine.CreateService("stack_bad", labelsOf("labelgate.tunnel.web.hostname", "bad.example.com", "labelgate.tunnel.web.service", "ftp://x"))
	eventually(t, 10*time.Second, "the service's label error", func() bool {
		les, err := s.LabelErrors(ctx)
		return err == nil && len(les) == 1 && les[0].Container == "stack_bad" && les[0].Kind == messages.KindService &&
			les[0].Key == "labelgate.tunnel.web.service"
	})
}
