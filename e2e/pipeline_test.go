package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/labelgate/labelgate/actors"
	"github.com/labelgate/labelgate/cfapi"
	"github.com/labelgate/labelgate/cfapi/cfsim"
	"github.com/labelgate/labelgate/config"
	"github.com/labelgate/labelgate/publicip"
	"github.com/labelgate/labelgate/store"
)

// localMain is main running in the test process against the real Docker
// engine (watching only this run's containers) and an in-process cfsim.
type localMain struct {
	t      *testing.T
	env    *Env
	sim    *cfsim.Server
	cfg    config.Config
	m      *actors.Main
	db     *store.Store
	zoneID string
	tunnel string
}

func startLocalMain(t *testing.T, env *Env, grace time.Duration) *localMain {
	t.Helper()
	sim := cfsim.NewServer(t)
	zone := sim.AddZone(cfsim.Zone{Name: "example.com"})
	tun := sim.AddTunnel(cfsim.Tunnel{Name: "home"})
	cfg := config.Defaults()
	cfg.Cloudflare.APIToken = config.Secret(sim.Token)
	cfg.Cloudflare.AccountID = sim.AccountID
	cfg.Cloudflare.TunnelID = tun.ID
	cfg.Cloudflare.APIURL = sim.URL
	cfg.Docker.Endpoint = Endpoint
	cfg.Docker.FilterLabel = RunLabel + "=" + env.Run
	cfg.Docker.Debounce = 200 * time.Millisecond
	cfg.Sync.RemoveDelay = grace
	cfg.Sync.SettleTimeout = 5 * time.Second
	cfg.DataDir = t.TempDir()
	lm := &localMain{t: t, env: env, sim: sim, cfg: cfg, zoneID: zone.ID, tunnel: tun.ID}
	lm.start()
	t.Cleanup(lm.stop)
	return lm
}

func (lm *localMain) start() {
	lm.t.Helper()
	db, err := store.Open(context.Background(), lm.cfg.DBPath())
	if err != nil {
		lm.t.Fatal(err)
	}
	level := slog.LevelWarn
	if testing.Verbose() {
		level = slog.LevelInfo
	}
	m, err := actors.StartMain(lm.cfg, actors.MainDeps{
		DB: db, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})),
		PublicIP: &publicip.Discoverer{Sources: []string{"http://127.0.0.1:1/"}, Timeout: 100 * time.Millisecond},
	})
	if err != nil {
		lm.t.Fatal(err)
	}
	lm.m, lm.db = m, db
}

func (lm *localMain) stop() {
	if lm.m != nil {
		lm.m.Stop()
		if err := lm.db.Close(); err != nil {
			lm.t.Errorf("closing the store: %v", err)
		}
		lm.m = nil
	}
}

func (lm *localMain) rules() []string {
	c, ok := lm.sim.TunnelConfigOf(lm.tunnel)
	if !ok {
		return nil
	}
	var doc cfapi.TunnelConfig
	if err := doc.UnmarshalJSON(c.Config); err != nil {
		lm.t.Fatal(err)
	}
	var out []string
	for _, r := range doc.Ingress {
		out = append(out, strings.TrimSpace(r.Hostname+" "+r.Path)+">"+r.Service)
	}
	return out
}

func (lm *localMain) hasRule(r string) bool {
	for _, x := range lm.rules() {
		if x == r {
			return true
		}
	}
	return false
}

func (lm *localMain) record(typ, name string) (cfsim.Record, bool) {
	for _, r := range lm.sim.Records(lm.zoneID) {
		if r.Type == typ && r.Name == name {
			return r, true
		}
	}
	return cfsim.Record{}, false
}

// deletes lists the audit log's successful DELETEs, tunnel PUTs and DNS
// batches since mark: every way something could be removed.
func (lm *localMain) writesSince(mark int) []cfsim.AuditEntry {
	var out []cfsim.AuditEntry
	for _, e := range lm.sim.Audit()[mark:] {
		if e.IsWrite() && e.Status < 300 {
			out = append(out, e)
		}
	}
	return out
}

func workload(env *Env, name string, labels ...string) Container {
	l := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		l[labels[i]] = labels[i+1]
	}
	return Container{Name: name, Image: env.Image(), Cmd: []string{"hello"}, Labels: l}
}

// TestDockerPipeline runs main against the real engine: labelled containers
// converge, `docker restart` deletes nothing, a main restart writes nothing,
// a stop removes cleanup=true objects after the grace and retains the rest,
// and someone else's record and rule survive all of it.
func TestDockerPipeline(t *testing.T) {
	env := Setup(t)
	env.Image()
	const grace = 3 * time.Second
	lm := startLocalMain(t, env, grace)
	if _, err := lm.sim.AddRecord(lm.zoneID, cfsim.Record{Name: "foreign.example.com", Type: "A", Content: "198.51.100.1", Foreign: true}); err != nil {
		t.Fatal(err)
	}
	if err := lm.sim.SetTunnelConfig(lm.tunnel, []byte(`{"ingress":[{"hostname":"manual.example.com","service":"http://manual:80"},{"service":"http_status:404"}]}`)); err != nil {
		t.Fatal(err)
	}

	a := env.Start(workload(env, "a", "labelgate.tunnel.web.hostname", "a.example.com", "labelgate.tunnel.web.service", "http://a:8080", "labelgate.tunnel.web.cleanup", "true"))
	b := env.Start(workload(env, "b", "labelgate.dns.txt.hostname", "b.example.com", "labelgate.dns.txt.type", "TXT", "labelgate.dns.txt.target", "owned-by-b", "labelgate.dns.txt.cleanup", "true"))
	c := env.Start(workload(env, "c", "labelgate.tunnel.web.hostname", "c.example.com", "labelgate.tunnel.web.service", "http://c:8080", "labelgate.tunnel.web.cleanup", "false"))
	Eventually(t, 30*time.Second, "three containers converged", func() bool {
		_, txt := lm.record("TXT", "b.example.com")
		_, cn := lm.record("CNAME", "c.example.com")
		return lm.hasRule("a.example.com>http://a:8080") && lm.hasRule("c.example.com>http://c:8080") && txt && cn
	})
	t.Logf("converged in %d Cloudflare calls", len(lm.sim.Audit()))

	// docker restart: the container is briefly gone; nothing is deleted.
	mark := len(lm.sim.Audit())
	env.Restart(a)
	time.Sleep(2 * grace)
	if w := lm.writesSince(mark); len(w) != 0 || !lm.hasRule("a.example.com>http://a:8080") {
		t.Fatalf("docker restart caused writes %+v (rules %v)", w, lm.rules())
	}

	// A restart of main with nothing changed writes nothing.
	mark = len(lm.sim.Audit())
	lm.stop()
	lm.start()
	time.Sleep(grace)
	if w := lm.writesSince(mark); len(w) != 0 {
		t.Fatalf("a main restart wrote: %+v", w)
	}

	// Stopped for good: cleanup=true objects go after the grace, the
	// cleanup=false route stays.
	env.Stop(a)
	env.Stop(b)
	env.Stop(c)
	Eventually(t, 30*time.Second, "cleanup=true objects removed", func() bool {
		_, txt := lm.record("TXT", "b.example.com")
		_, cn := lm.record("CNAME", "a.example.com")
		return !lm.hasRule("a.example.com>http://a:8080") && !txt && !cn
	})
	time.Sleep(grace)
	if _, cn := lm.record("CNAME", "c.example.com"); !cn || !lm.hasRule("c.example.com>http://c:8080") {
		t.Fatalf("cleanup=false objects must be retained: %v", lm.rules())
	}
	if _, ok := lm.record("A", "foreign.example.com"); !ok || !lm.hasRule("manual.example.com>http://manual:80") {
		t.Fatalf("foreign objects must survive: rules %v", lm.rules())
	}
	if fw := lm.sim.ForeignWrites(); len(fw) != 0 {
		t.Fatalf("writes touched foreign objects: %+v", fw)
	}
}

// TestDockerPipelineUnderFaults converges through a 429 storm and 20 % 5xx
// with no duplicate objects.
func TestDockerPipelineUnderFaults(t *testing.T) {
	env := Setup(t)
	env.Image()
	lm := startLocalMain(t, env, 3*time.Second)
	lm.sim.SetFaults(cfsim.Faults{Storm429Next: 3, StormRetryAfter: 2 * time.Second, FailNext: 4, ErrorRate: 0.2})
	const n = 6
	for i := range n {
		env.Start(workload(env, fmt.Sprintf("w%d", i),
			"labelgate.tunnel.web.hostname", fmt.Sprintf("w%d.example.com", i), "labelgate.tunnel.web.service", fmt.Sprintf("http://w%d:8080", i),
			"labelgate.dns.txt.hostname", fmt.Sprintf("t%d.example.com", i), "labelgate.dns.txt.type", "TXT", "labelgate.dns.txt.target", "x"))
	}
	Eventually(t, 90*time.Second, "convergence despite faults", func() bool {
		return len(lm.rules()) == n+1 && len(lm.sim.Records(lm.zoneID)) == 2*n
	})
	seen := map[string]int{}
	for _, r := range lm.sim.Records(lm.zoneID) {
		seen[r.Type+" "+r.Name]++
	}
	for k, v := range seen {
		if v != 1 {
			t.Fatalf("%s exists %d times", k, v)
		}
	}
	var storm, fivexx int
	for _, e := range lm.sim.Audit() {
		switch e.Fault {
		case "429-storm":
			storm++
		case "5xx":
			fivexx++
		}
	}
	t.Logf("converged through %d forced 429s and %d injected 5xx in %d calls", storm, fivexx, len(lm.sim.Audit()))
	if storm == 0 || fivexx == 0 {
		t.Fatal("the injected faults never happened; the test proves nothing")
	}
}
