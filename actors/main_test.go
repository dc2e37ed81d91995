package actors

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labelgate/labelgate/cfapi"
	"github.com/labelgate/labelgate/cfapi/cfsim"
	"github.com/labelgate/labelgate/config"
	"github.com/labelgate/labelgate/dockerwatch"
	"github.com/labelgate/labelgate/dockerwatch/dockertest"
	"github.com/labelgate/labelgate/messages"
	"github.com/labelgate/labelgate/plan"
	"github.com/labelgate/labelgate/publicip"
	"github.com/labelgate/labelgate/store"
)

// pipeline is main's whole actor tree against cfsim and a fake Docker
// engine, with a real SQLite store in a temp dir.
type pipeline struct {
	t      *testing.T
	sim    *cfsim.Server
	engine *dockertest.Engine
	cfg    config.Config
	main   *Main
	db     *store.Store
	zoneID string
	tunnel string
	// logs, when set, also receives main's log (WARN and above).
	logs io.Writer
}

func newPipeline(t *testing.T, tweak func(*config.Config)) *pipeline {
	t.Helper()
	return newPipelineLogged(t, tweak, nil)
}

// newPipelineLogged is newPipeline with main's log copied to logs.
func newPipelineLogged(t *testing.T, tweak func(*config.Config), logs io.Writer) *pipeline {
	t.Helper()
	sim := cfsim.NewServer(t)
	zone := sim.AddZone(cfsim.Zone{Name: "example.com"})
	tun := sim.AddTunnel(cfsim.Tunnel{Name: "home"})
	cfg := config.Defaults()
	cfg.Cloudflare.APIToken = config.Secret(sim.Token)
	cfg.Cloudflare.AccountID = sim.AccountID
	cfg.Cloudflare.TunnelID = tun.ID
	cfg.Cloudflare.APIURL = sim.URL
	cfg.Cloudflare.RequestsPerSecond = 4
	cfg.Docker.Debounce = 50 * time.Millisecond
	cfg.Sync.RemoveDelay = 2 * time.Second
	cfg.Sync.SettleTimeout = 5 * time.Second
	cfg.DataDir = t.TempDir()
	cfg.Sync.PublicIPSources = []string{"http://127.0.0.1:1/unreachable"}
	if tweak != nil {
		tweak(&cfg)
	}
	p := &pipeline{t: t, sim: sim, engine: dockertest.New(), cfg: cfg, zoneID: zone.ID, tunnel: tun.ID, logs: logs}
	p.start()
	return p
}

func (p *pipeline) start() {
	p.t.Helper()
	db, err := store.Open(context.Background(), p.cfg.DBPath())
	if err != nil {
		p.t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	if p.logs != nil {
		logger = slog.New(slog.NewTextHandler(io.MultiWriter(os.Stderr, p.logs), &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	m, err := StartMain(p.cfg, MainDeps{
		DB: db, Logger: logger,
		NewDocker: func(dockerwatch.Config) (dockerwatch.Client, error) { return p.engine, nil },
		PublicIP:  &publicip.Discoverer{Sources: p.cfg.Sync.PublicIPSources, Timeout: time.Second},
	})
	if err != nil {
		p.t.Fatal(err)
	}
	p.main, p.db = m, db
	p.t.Cleanup(p.stop)
}

func (p *pipeline) stop() {
	if p.main != nil {
		p.main.Stop()
		p.main = nil
		if err := p.db.Close(); err != nil {
			p.t.Errorf("closing the store: %v", err)
		}
	}
}

func (p *pipeline) restart() {
	p.t.Helper()
	p.stop()
	p.start()
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

func (p *pipeline) records() map[string]cfsim.Record {
	out := map[string]cfsim.Record{}
	for _, r := range p.sim.Records(p.zoneID) {
		out[r.Type+" "+r.Name] = r
	}
	return out
}

// reconciled waits until every planner reports a successful reconcile of
// the registry's current desired state, past the settle point: Cloudflare
// then matches what main wants, so a count of writes taken afterwards is
// not vacuous (it fails if main never reconciled).
func (p *pipeline) reconciled(within time.Duration) {
	p.t.Helper()
	var last string
	deadline := time.Now().Add(within)
	for {
		rep, err := p.report()
		ok := err == nil && rep.Settled
		if ok {
			planners := map[string]bool{}
			for _, st := range p.main.PlannerStatuses(p.t.Context()) {
				if st.Planner == "dns" {
					continue // unplaced records only
				}
				planners[strings.SplitN(st.Planner, ":", 2)[0]] = true
				if st.Reconciled != rep.Desired.Version || !st.ReconciledSettled {
					ok = false
					last = fmt.Sprintf("%s reconciled version %d (settled %t), desired is %d", st.Planner, st.Reconciled, st.ReconciledSettled, rep.Desired.Version)
				}
			}
			if !planners["tunnel"] || !planners["access"] || (len(rep.Desired.Records) > 0 && !planners["zone"]) {
				ok, last = false, fmt.Sprintf("planners reporting: %v", planners)
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("timed out after %v waiting for every planner to reconcile the desired state: %s", within, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitState waits until the registry shows hostname in state and returns it.
func (p *pipeline) waitState(hostname string, state messages.HostState) messages.HostnameState {
	p.t.Helper()
	var got messages.HostnameState
	eventually(p.t, 10*time.Second, hostname+" "+string(state), func() bool {
		rep, err := p.report()
		if err != nil {
			return false
		}
		for _, h := range rep.Hostnames {
			if h.Hostname == hostname {
				got = h
				return h.State == state
			}
		}
		return false
	})
	return got
}

// resync asks every planner for a full reconcile (reads included) and
// waits until each has finished one that started after the request.
func (p *pipeline) resync() {
	p.t.Helper()
	before := map[string]time.Time{}
	for _, st := range p.main.PlannerStatuses(p.t.Context()) {
		before[st.Planner] = st.LastSync
	}
	p.main.Resync()
	eventually(p.t, 10*time.Second, "a full reconcile of every planner", func() bool {
		for _, st := range p.main.PlannerStatuses(p.t.Context()) {
			if st.Planner != "dns" && !st.LastSync.After(before[st.Planner]) {
				return false
			}
		}
		return true
	})
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

func (p *pipeline) hasRule(rule string) bool {
	for _, r := range p.ingress() {
		if r == rule {
			return true
		}
	}
	return false
}

func labelsOf(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// writes counts the audit log's successful writes, and deletes among them.
func (p *pipeline) writes() (writes, deletes int) {
	for _, e := range p.sim.Audit() {
		if e.IsWrite() && e.Status < 300 {
			writes++
			if e.Method == "DELETE" {
				deletes++
			}
		}
	}
	return
}

func TestPipelineRouteLifecycle(t *testing.T) {
	p := newPipeline(t, nil)
	// Someone else's objects, which must survive everything below.
	if _, err := p.sim.AddRecord(p.zoneID, cfsim.Record{Name: "foreign.example.com", Type: "A", Content: "198.51.100.1", Foreign: true}); err != nil {
		t.Fatal(err)
	}
	if err := p.sim.SetTunnelConfig(p.tunnel, []byte(`{"ingress":[{"hostname":"manual.example.com","service":"http://manual:80","originRequest":{"bastionMode":false}},{"service":"http_status:418"}],"originRequest":{"connectTimeout":5}}`)); err != nil {
		t.Fatal(err)
	}

	web := p.engine.Start("web", labelsOf(
		"labelgate.tunnel.web.hostname", "app.example.com",
		"labelgate.tunnel.web.service", "http://web:80",
		"labelgate.tunnel.web.cleanup", "true",
	))
	eventually(t, 10*time.Second, "the route and its CNAME", func() bool {
		r, ok := p.records()["CNAME app.example.com"]
		return p.hasRule("app.example.com>http://web:80") && ok && r.Proxied && r.Content == p.tunnel+".cfargotunnel.com"
	})
	if got := p.ingress(); strings.Join(got, ",") != "app.example.com>http://web:80,manual.example.com>http://manual:80,>http_status:418" {
		t.Fatalf("foreign rule and catch-all must stay in place: %v", got)
	}
	cfg, _ := p.sim.TunnelConfigOf(p.tunnel)
	if !strings.Contains(string(cfg.Config), `"bastionMode":false`) || !strings.Contains(string(cfg.Config), `"connectTimeout":5`) {
		t.Fatalf("unmodelled keys of foreign rules and the global originRequest must survive: %s", cfg.Config)
	}
	if !plan.HasMarker(p.records()["CNAME app.example.com"].Comment) {
		t.Fatal("the CNAME must carry the ownership marker")
	}

	// Steady state: a full reconcile (asked for) reads and writes nothing.
	p.reconciled(10 * time.Second)
	w0, _ := p.writes()
	p.resync()
	if w, _ := p.writes(); w != w0 {
		t.Fatalf("steady state wrote %d times", w-w0)
	}

	// A restart (stop + start within the grace) deletes nothing, also once
	// the grace the stop started has ended.
	p.engine.Stop(web)
	due := p.waitState("app.example.com", messages.HostLeaving).Due
	web = p.engine.Start("web", labelsOf(
		"labelgate.tunnel.web.hostname", "app.example.com",
		"labelgate.tunnel.web.service", "http://web:80",
		"labelgate.tunnel.web.cleanup", "true",
	))
	p.waitState("app.example.com", messages.HostActive)
	time.Sleep(time.Until(due) + 100*time.Millisecond) // the deadline the stop set, observed above
	p.reconciled(10 * time.Second)
	if _, dels := p.writes(); dels != 0 || !p.hasRule("app.example.com>http://web:80") {
		t.Fatalf("a restart within the grace must delete nothing (deletes %d, rules %v)", dels, p.ingress())
	}

	// Stopped for good: removed after the grace, foreign objects untouched.
	p.engine.Stop(web)
	eventually(t, 10*time.Second, "the route and CNAME to be removed", func() bool {
		_, ok := p.records()["CNAME app.example.com"]
		return !p.hasRule("app.example.com>http://web:80") && !ok
	})
	if got := p.ingress(); strings.Join(got, ",") != "manual.example.com>http://manual:80,>http_status:418" {
		t.Fatalf("after removal: %v", got)
	}
	if _, ok := p.records()["A foreign.example.com"]; !ok {
		t.Fatal("the foreign record disappeared")
	}
	if fw := p.sim.ForeignWrites(); len(fw) != 0 {
		t.Fatalf("writes touched foreign objects: %+v", fw)
	}
}

// tunnelStatus is the tunnel planner's status.
func (p *pipeline) tunnelStatus() PlannerStatus {
	p.t.Helper()
	for _, st := range p.main.PlannerStatuses(p.t.Context()) {
		if strings.HasPrefix(st.Planner, "tunnel:") {
			return st
		}
	}
	p.t.Fatal("no tunnel planner answered")
	return PlannerStatus{}
}

// Connector health end to end: cfsim's tunnel loses its cloudflared → the
// tunnel planner's status says down with no connection, a WARN event and
// log line; a connector comes back → healthy, an INFO event.
func TestPipelineTunnelConnectorHealth(t *testing.T) {
	var logs syncBuffer
	p := newPipelineLogged(t, nil, &logs)
	p.engine.Start("web", labelsOf("labelgate.tunnel.web.hostname", "app.example.com", "labelgate.tunnel.web.service", "http://web:80"))
	eventually(t, 10*time.Second, "the route", func() bool { return p.hasRule("app.example.com>http://web:80") })
	// The first read, a few seconds after start: cfsim's default connector.
	eventually(t, 15*time.Second, "the first connector read", func() bool { return p.tunnelStatus().Connectors.Read() })
	st := p.tunnelStatus()
	if c := st.Connectors; c.Status != cfapi.TunnelHealthy || c.Active() != 2 || len(c.Connectors) != 1 || c.Connectors[0].Connections[0].OriginIP != "192.0.2.10" {
		t.Fatalf("first read: %+v", c)
	}
	if st.Desired != 1 {
		t.Fatalf("the tunnel carries %d routes, want 1", st.Desired)
	}

	// cloudflared stops; a resync reads the connectors at once.
	if err := p.sim.SetTunnelConnectors(p.tunnel, "", nil); err != nil {
		t.Fatal(err)
	}
	p.main.Resync()
	eventually(t, 10*time.Second, "the tunnel down", func() bool {
		c := p.tunnelStatus().Connectors
		return c.Status == cfapi.TunnelDown && c.Active() == 0
	})
	connectorEvents := func() []string {
		var out []string
		for _, e := range p.events(t, store.EventQuery{Limit: 1000}) {
			if strings.HasPrefix(e.Kind, "tunnel_connector") {
				out = append(out, e.Level+" "+e.Kind+": "+e.Message)
			}
		}
		slices.Reverse(out) // oldest first
		return out
	}
	eventually(t, 5*time.Second, "the lost event", func() bool { return len(connectorEvents()) == 1 })
	if ev := connectorEvents()[0]; !strings.HasPrefix(ev, "warn tunnel_connector_lost: tunnel default lost its last connector (status down): its 1 route(s)") {
		t.Fatalf("event %q", ev)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "lost its last connector") {
		t.Fatalf("no WARN line for the loss:\n%s", logs.String())
	}

	// A connector is back.
	if err := p.sim.SetTunnelConnectors(p.tunnel, "", []cfsim.TunnelConnector{cfsim.SimConnector("198.51.100.20", "lhr01")}); err != nil {
		t.Fatal(err)
	}
	p.main.Resync()
	eventually(t, 10*time.Second, "the tunnel healthy again", func() bool {
		c := p.tunnelStatus().Connectors
		return c.Status == cfapi.TunnelHealthy && c.Active() == 1
	})
	eventually(t, 5*time.Second, "the restored event", func() bool { return len(connectorEvents()) == 2 })
	if ev := connectorEvents()[1]; !strings.HasPrefix(ev, "info tunnel_connector_restored: tunnel default has a connector again (status healthy, 1 connection(s) via lhr01)") {
		t.Fatalf("event %q", ev)
	}
}

func TestPipelineConvergesWithFewCalls(t *testing.T) {
	p := newPipeline(t, nil)
	const n = 40
	for i := range n {
		p.engine.Start(fmt.Sprintf("svc%02d", i), labelsOf(
			"labelgate.tunnel.web.hostname", fmt.Sprintf("svc%02d.example.com", i),
			"labelgate.tunnel.web.service", fmt.Sprintf("http://svc%02d:80", i),
		))
	}
	eventually(t, 15*time.Second, "all routes and CNAMEs", func() bool {
		return len(p.ingress()) == n+1 && len(p.records()) == n
	})
	p.reconciled(10 * time.Second)
	calls := len(p.sim.Audit())
	// zones list + token-free; tunnel GET+PUT; DNS list + ⌈n/200⌉ batch; Access lists.
	if calls > 12 {
		for _, e := range p.sim.Audit() {
			t.Logf("%s %s %d", e.Method, e.Path, e.Status)
		}
		t.Fatalf("converging %d hostnames took %d calls", n, calls)
	}
	t.Logf("converged %d hostnames in %d Cloudflare calls", n, calls)
}

// Containers already running when main starts: one round of reads, not a
// first one for the empty desired state main starts with.
func TestPipelineColdStartReadsOnce(t *testing.T) {
	p := newPipeline(t, nil)
	p.stop()
	const n = 100
	for i := range n {
		p.engine.Start(fmt.Sprintf("svc%03d", i), labelsOf(
			"labelgate.tunnel.web.hostname", fmt.Sprintf("svc%03d.example.com", i),
			"labelgate.tunnel.web.service", fmt.Sprintf("http://svc%03d:80", i),
		))
	}
	n0 := len(p.sim.Audit())
	p.start()
	eventually(t, 15*time.Second, "all routes and CNAMEs", func() bool {
		return len(p.ingress()) == n+1 && len(p.records()) == n
	})
	p.reconciled(10 * time.Second)
	count := map[string]int{}
	for _, e := range p.sim.Audit()[n0:] {
		path := e.Path
		switch {
		case strings.HasSuffix(path, "/configurations"):
			path = "tunnel config"
		case strings.HasSuffix(path, "/access/apps"):
			path = "access apps"
		case strings.HasSuffix(path, "/access/policies"):
			path = "access policies"
		}
		count[e.Method+" "+path]++
	}
	for _, k := range []string{"GET tunnel config", "GET access apps", "GET access policies", "PUT tunnel config"} {
		if count[k] != 1 {
			t.Errorf("%s: %d calls, want 1 (all calls: %v)", k, count[k], count)
		}
	}
}

func TestPipelineRestartOfMainWritesNothing(t *testing.T) {
	p := newPipeline(t, nil)
	p.engine.Start("web", labelsOf(
		"labelgate.tunnel.web.hostname", "app.example.com",
		"labelgate.tunnel.web.service", "http://web:80",
		"labelgate.dns.txt.hostname", "txt.example.com",
		"labelgate.dns.txt.type", "TXT",
		"labelgate.dns.txt.target", "hello",
	))
	eventually(t, 10*time.Second, "converged", func() bool {
		_, txt := p.records()["TXT txt.example.com"]
		return p.hasRule("app.example.com>http://web:80") && txt
	})
	p.reconciled(10 * time.Second)
	w0, _ := p.writes()
	p.restart()
	p.reconciled(15 * time.Second)
	if w, _ := p.writes(); w != w0 {
		for _, e := range p.sim.Audit()[w0:] {
			t.Logf("%s %s %d", e.Method, e.Path, e.Status)
		}
		t.Fatalf("a restart with nothing changed wrote %d times", w-w0)
	}
}

func TestPipelineDatabaseLossAdoptsMarkedRecords(t *testing.T) {
	p := newPipeline(t, nil)
	p.engine.Start("web", labelsOf("labelgate.dns.a.hostname", "a.example.com", "labelgate.dns.a.target", "203.0.113.5"))
	eventually(t, 10*time.Second, "record", func() bool { _, ok := p.records()["A a.example.com"]; return ok })
	p.stop()
	if err := os.Remove(p.cfg.DBPath()); err != nil {
		t.Fatal(err)
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		_ = os.Remove(p.cfg.DBPath() + suffix)
	}
	w0, _ := p.writes()
	p.start()
	p.reconciled(15 * time.Second)
	if len(p.records()) != 1 {
		t.Fatalf("want one record (adopted, not duplicated), got %v", p.records())
	}
	if w, _ := p.writes(); w != w0 {
		t.Fatalf("adoption must not write, wrote %d", w-w0)
	}
	objs, err := p.db.Owned(context.Background(), store.KindDNSRecord, "")
	if err != nil || len(objs) != 1 {
		t.Fatalf("the adopted record must be in the new store: %v %v", objs, err)
	}
}

func TestPipelineSurvivesFaultsWithoutDuplicates(t *testing.T) {
	p := newPipeline(t, func(c *config.Config) { c.Cloudflare.RequestsPerSecond = 4 })
	p.sim.SetFaults(cfsim.Faults{ErrorRate: 0.2})
	for i := range 10 {
		p.engine.Start(fmt.Sprintf("svc%d", i), labelsOf(
			"labelgate.dns.a.hostname", fmt.Sprintf("h%d.example.com", i),
			"labelgate.dns.a.target", "203.0.113.9",
			"labelgate.dns.a.proxied", "false",
		))
	}
	eventually(t, 60*time.Second, "all records despite 20% 5xx", func() bool { return len(p.records()) == 10 })
	names := map[string]int{}
	for _, r := range p.sim.Records(p.zoneID) {
		names[r.Name]++
	}
	for n, c := range names {
		if c != 1 {
			t.Fatalf("%s exists %d times", n, c)
		}
	}
}

func TestPipelineDynamicDNS(t *testing.T) {
	var answer atomic.Value
	answer.Store("203.0.113.10")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, answer.Load())
	}))
	t.Cleanup(srv.Close)
	p := newPipeline(t, func(c *config.Config) {
		c.Sync.PublicIPInterval = 200 * time.Millisecond
		c.Sync.PublicIPSources = []string{srv.URL}
	})
	p.engine.Start("home", labelsOf("labelgate.dns.home.hostname", "home.example.com"))
	eventually(t, 10*time.Second, "A record with the public IP", func() bool {
		return p.records()["A home.example.com"].Content == "203.0.113.10"
	})
	answer.Store("203.0.113.11")
	eventually(t, 10*time.Second, "A record updated to the new IP", func() bool {
		return p.records()["A home.example.com"].Content == "203.0.113.11"
	})
	if _, dels := p.writes(); dels != 0 {
		t.Fatal("an IP change must update in place, not delete")
	}
}

// TestPipelineRepairsDrift: owned objects edited or deleted by hand are put
// back by the periodic full reconcile (sync.interval); foreign ones are not
// touched.
func TestPipelineRepairsDrift(t *testing.T) {
	// Every planner reads Cloudflare once per interval (tunnel 1 call,
	// Access 2, zone list 1, record list 1); the interval keeps that below
	// the test's budget of 4 calls/s, or the lowest priority (DNS) gets
	// through only by aging and the repair takes several intervals.
	p := newPipeline(t, func(c *config.Config) { c.Sync.Interval = 2 * time.Second })
	p.engine.Start("web", labelsOf(
		"labelgate.tunnel.web.hostname", "app.example.com", "labelgate.tunnel.web.service", "http://web:80",
		"labelgate.dns.txt.hostname", "txt.example.com", "labelgate.dns.txt.type", "TXT", "labelgate.dns.txt.target", "ours",
	))
	eventually(t, 10*time.Second, "converged", func() bool {
		_, ok := p.records()["TXT txt.example.com"]
		return ok && p.hasRule("app.example.com>http://web:80")
	})
	api, err := cfapi.New(cfapi.Config{BaseURL: p.sim.URL, Token: p.sim.Token, AccountID: p.sim.AccountID})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// By hand: delete our TXT record, and rewrite the tunnel config with our
	// route pointing elsewhere plus a foreign rule.
	if err := api.DeleteRecord(ctx, p.zoneID, p.records()["TXT txt.example.com"].ID); err != nil {
		t.Fatal(err)
	}
	if err := p.sim.SetTunnelConfig(p.tunnel, []byte(`{"ingress":[{"hostname":"app.example.com","service":"http://hijacked:80"},{"hostname":"manual.example.com","service":"http://manual:80"},{"service":"http_status:404"}]}`)); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if t.Failed() {
			for _, e := range p.sim.Audit() {
				t.Logf("%s %s %s %d", e.Time.Format("05.000"), e.Method, e.Path, e.Status)
			}
		}
	}()
	eventually(t, 15*time.Second, "drift repaired", func() bool {
		r, ok := p.records()["TXT txt.example.com"]
		return ok && r.Content == "ours" && p.hasRule("app.example.com>http://web:80") && p.hasRule("manual.example.com>http://manual:80")
	})
}

// Removed containers with default labels lose their routes and CNAMEs after
// the grace (cleanup defaults to true for routes), while a DNS record with
// default labels stays (cleanup defaults to false for records).
func TestPipelineRemovedContainersRoutesGoByDefault(t *testing.T) {
	p := newPipeline(t, nil)
	const n = 5
	var ids []string
	for i := range n {
		ids = append(ids, p.engine.Start(fmt.Sprintf("web%d", i), labelsOf(
			"labelgate.tunnel.web.hostname", fmt.Sprintf("web%d.example.com", i),
			"labelgate.tunnel.web.service", fmt.Sprintf("http://web%d:80", i),
		)))
	}
	txt := p.engine.Start("txt", labelsOf("labelgate.dns.t.hostname", "txt.example.com", "labelgate.dns.t.type", "TXT", "labelgate.dns.t.target", "hello"))
	eventually(t, 15*time.Second, "routes, CNAMEs and the TXT record", func() bool {
		_, ok := p.records()["TXT txt.example.com"]
		return len(p.ingress()) == n+1 && len(p.records()) == n+1 && ok
	})
	for _, id := range ids {
		p.engine.Remove(id)
	}
	p.engine.Remove(txt)
	eventually(t, 15*time.Second, "the routes and CNAMEs to go after the grace", func() bool {
		return len(p.ingress()) == 1 && len(p.records()) == 1
	})
	p.reconciled(10 * time.Second)
	if _, ok := p.records()["TXT txt.example.com"]; !ok {
		t.Fatalf("a DNS record with the default cleanup=false must stay: %v", p.records())
	}
	if got := p.waitState("txt.example.com", "retained"); got.Hostname == "" {
		t.Fatal("the TXT record's hostname must be retained")
	}
}

// One hostname split by path across containers, through cfsim and the real
// SDK: each probe URL reaches the service the labels meant (cloudflared's
// first match), a path-scoped Access application governs its path, and a
// container that leaves takes only its path with it.
func TestPipelinePathSplit(t *testing.T) {
	p := newPipeline(t, nil)
	p.engine.Start("front", labelsOf(
		"labelgate.tunnel.web.hostname", "www.example.com", "labelgate.tunnel.web.service", "http://front:80",
		"labelgate.tunnel.web.access", "team", "labelgate.access.team.policy.include.emails_ending_in", "@example.com"))
	assets := p.engine.Start("assets", labelsOf(
		"labelgate.tunnel.web.hostname", "www.example.com", "labelgate.tunnel.web.service", "http://assets:80",
		"labelgate.tunnel.web.path", `\.(jpg|png|css|js)$`))
	p.engine.Start("hooks", labelsOf(
		"labelgate.tunnel.web.hostname", "www.example.com", "labelgate.tunnel.web.service", "http://hooks:80",
		"labelgate.tunnel.web.path", "^/webhook/", "labelgate.tunnel.web.access", "public",
		"labelgate.access.public.policy.decision", "bypass", "labelgate.access.public.policy.include.everyone", ""))
	eventually(t, 15*time.Second, "three routes, one CNAME, two apps", func() bool {
		return len(p.ingress()) == 4 && len(p.records()) == 1 && len(p.sim.AccessApps()) == 2
	})
	p.reconciled(10 * time.Second)
	probe := func(path string) (service, app string) {
		service, _ = p.sim.RouteFor(p.tunnel, "www.example.com", path)
		if a, ok := p.sim.GoverningApp("www.example.com", path); ok {
			app = a.Domain
		}
		return service, app
	}
	for _, tc := range []struct{ path, service, app string }{
		{"/", "http://front:80", "www.example.com"},
		{"/about", "http://front:80", "www.example.com"},
		{"/site.css", "http://assets:80", "www.example.com"},
		{"/webhook/github", "http://hooks:80", "www.example.com/webhook"},
		{"/webhook/logo.png", "http://assets:80", "www.example.com/webhook"}, // overlapping paths: the first rule in order wins
		{"/webhooks", "http://front:80", "www.example.com"},
	} {
		if service, app := probe(tc.path); service != tc.service || app != tc.app {
			t.Errorf("www.example.com%s reaches %s under %q, want %s under %q", tc.path, service, app, tc.service, tc.app)
		}
	}

	// The assets container leaves: after the grace only its path goes.
	p.engine.Remove(assets)
	eventually(t, 15*time.Second, "the assets path to go", func() bool { return len(p.ingress()) == 3 })
	p.reconciled(10 * time.Second)
	if _, ok := p.records()["CNAME www.example.com"]; !ok {
		t.Fatal("the CNAME of the split hostname must stay while routes remain")
	}
	if service, _ := probe("/site.css"); service != "http://front:80" {
		t.Errorf("after the assets left, /site.css reaches %s, want the frontend", service)
	}
	if _, dels := p.writes(); dels != 0 {
		t.Errorf("removing a path deleted %d objects through DELETE calls (the tunnel config is a PUT)", dels)
	}
}
