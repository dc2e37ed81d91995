package actors

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labelgate/labelgate/cfapi/cfsim"
	"github.com/labelgate/labelgate/config"
	"github.com/labelgate/labelgate/plan"
	"github.com/labelgate/labelgate/store"
)

// writeFront stands in front of cfsim: armed with an action, it runs it
// just before the next write that match selects is served — after the
// planner listed, before it writes — so that write meets Cloudflare's
// write-time answer instead of the planner's list-time check. It keeps the
// answers to the matching writes it served.
type writeFront struct {
	ready chan struct{} // closed once sim is set
	sim   *cfsim.Server
	match func(*http.Request) bool

	mu      sync.Mutex
	armed   func()
	answers []clashAnswer
}

type clashAnswer struct {
	status int
	codes  []int
}

func newWriteFront(match func(*http.Request) bool) *writeFront {
	return &writeFront{ready: make(chan struct{}), match: match}
}

func (f *writeFront) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	select {
	case <-f.ready:
	case <-r.Context().Done():
		return
	}
	write := f.match(r)
	if write {
		f.mu.Lock()
		act := f.armed
		f.armed = nil
		f.mu.Unlock()
		if act != nil {
			act()
		}
	}
	rw := httptest.NewRecorder()
	f.sim.ServeHTTP(rw, r)
	for k, v := range rw.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rw.Code)
	_, _ = w.Write(rw.Body.Bytes())
	if write {
		var env struct {
			Errors []struct {
				Code int `json:"code"`
			} `json:"errors"`
		}
		_ = json.Unmarshal(rw.Body.Bytes(), &env)
		a := clashAnswer{status: rw.Code}
		for _, e := range env.Errors {
			a.codes = append(a.codes, e.Code)
		}
		f.mu.Lock()
		f.answers = append(f.answers, a)
		f.mu.Unlock()
	}
}

// arm makes act run before the next matching write.
func (f *writeFront) arm(act func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.armed = act
}

func (f *writeFront) served() []clashAnswer {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]clashAnswer(nil), f.answers...)
}

// zoneConflict reports whether the zone planner lists a conflict on host.
func (p *pipeline) zoneConflict(host string) bool {
	for _, st := range p.main.PlannerStatuses(p.t.Context()) {
		if !strings.HasPrefix(st.Planner, "zone") {
			continue
		}
		for _, c := range st.Conflicts {
			if c.Kind == plan.Foreign && c.Hostname == host {
				return true
			}
		}
	}
	return false
}

// TestPipelineWriteTimeClashIsAConflict: a record created outside Labelgate
// between the zone's list and Labelgate's batch makes Cloudflare refuse the
// batch — 81053 for Labelgate's tunnel CNAME where an A now is, 81054 for
// Labelgate's A where a CNAME now is. That answer is only a backstop (the
// planners list first and never plan a write onto someone else's record),
// and it must end as a reported conflict, not as a loop of writes: the
// failed reconcile lists again, the planner sees the record, reports the
// conflict, and writes nothing more over the following intervals.
func TestPipelineWriteTimeClashIsAConflict(t *testing.T) {
	front := newWriteFront(func(r *http.Request) bool {
		return r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/dns_records/batch")
	})
	srv := httptest.NewServer(front)
	t.Cleanup(srv.Close)
	var once sync.Once
	open := func() { once.Do(func() { close(front.ready) }) }
	t.Cleanup(open)
	const interval = 2 * time.Second
	p := newPipeline(t, func(c *config.Config) {
		c.Cloudflare.APIURL = srv.URL
		c.Sync.Interval = interval
	})
	front.sim = p.sim
	defer func() {
		if t.Failed() {
			for _, e := range p.sim.Audit() {
				t.Logf("%s %s %s %d", e.Time.Format("05.000"), e.Method, e.Path, e.Status)
			}
		}
	}()

	steps := []struct {
		name   string
		clash  cfsim.Record
		labels map[string]string
		host   string
		code   int
	}{
		{"tunnel CNAME where an A appeared", cfsim.Record{Name: "app.example.com", Type: "A", Content: "198.51.100.7"},
			labelsOf("labelgate.tunnel.web.hostname", "app.example.com", "labelgate.tunnel.web.service", "http://web:80"),
			"app.example.com", 81053},
		{"A record where a CNAME appeared", cfsim.Record{Name: "home.example.com", Type: "CNAME", Content: "elsewhere.example.net"},
			labelsOf("labelgate.dns.home.hostname", "home.example.com", "labelgate.dns.home.target", "203.0.113.9"),
			"home.example.com", 81054},
	}
	for i, st := range steps {
		clash := st.clash
		clash.Foreign = true // someone else's
		front.arm(func() {
			if _, err := p.sim.AddRecord(p.zoneID, clash); err != nil {
				t.Errorf("adding the clashing record: %v", err)
			}
		})
		if i == 0 {
			open()
		}
		p.engine.Start(strings.Fields(st.name)[0]+st.host, st.labels)
		eventually(t, 15*time.Second, st.name+": the conflict reported", func() bool { return p.zoneConflict(st.host) })
		got := front.served()
		if len(got) != i+1 {
			t.Fatalf("%s: batches %+v, want exactly one more (the refused one)", st.name, got)
		}
		if a := got[i]; a.status != http.StatusBadRequest || len(a.codes) != 1 || a.codes[0] != st.code {
			t.Fatalf("%s: the batch was answered %+v, want 400 with %d", st.name, a, st.code)
		}
		// Two more periodic reconciles: they read, see the conflict, and
		// write nothing (no second batch, no retry loop).
		p.resync()
		time.Sleep(2*interval + 500*time.Millisecond)
		if got := front.served(); len(got) != i+1 {
			t.Fatalf("%s: batches after the conflict %+v, want none", st.name, got[i+1:])
		}
		if !p.zoneConflict(st.host) {
			t.Fatalf("%s: the conflict is no longer reported", st.name)
		}
		events, err := p.db.Events(t.Context(), store.EventQuery{Hostname: st.host})
		if err != nil {
			t.Fatal(err)
		}
		conflicts := 0
		for _, e := range events {
			if e.Kind == "conflict" {
				conflicts++
			}
		}
		if conflicts != 1 {
			t.Fatalf("%s: %d conflict events, want one: %+v", st.name, conflicts, events)
		}
	}
	if r, ok := p.records()["A app.example.com"]; !ok || r.Content != "198.51.100.7" {
		t.Fatalf("the foreign A record changed: %+v", p.records())
	}
	if _, ok := p.records()["CNAME app.example.com"]; ok {
		t.Fatal("Labelgate's CNAME was written beside the foreign A")
	}
	if fw := p.sim.ForeignWrites(); len(fw) != 0 {
		t.Fatalf("writes touched foreign objects: %+v", fw)
	}
}

// TestPipelineWriteTimeAccessClashIsAConflict: someone else's Access
// application for the same domain appears between the Access planner's list
// and its create. Cloudflare answers 409 11010; the failed reconcile lists
// again, the planner reports the foreign application as a conflict, and no
// further create is sent over the following intervals. The route is held
// back (its own Access application does not exist), and the foreign app is
// untouched.
func TestPipelineWriteTimeAccessClashIsAConflict(t *testing.T) {
	front := newWriteFront(func(r *http.Request) bool {
		return r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/access/apps")
	})
	srv := httptest.NewServer(front)
	t.Cleanup(srv.Close)
	const interval = 2 * time.Second
	p := newPipeline(t, func(c *config.Config) {
		c.Cloudflare.APIURL = srv.URL
		c.Sync.Interval = interval
	})
	const host = "team.example.com"
	front.sim = p.sim
	front.arm(func() { // someone else's application for the same domain
		if _, err := p.sim.AddAccessApp(map[string]any{"name": "theirs", "domain": host, "type": "self_hosted"}, true); err != nil {
			t.Errorf("adding the clashing application: %v", err)
		}
	})
	close(front.ready)
	p.engine.Start("team", labelsOf(
		"labelgate.tunnel.web.hostname", host, "labelgate.tunnel.web.service", "http://team:80",
		"labelgate.tunnel.web.access", "staff", "labelgate.access.staff.policy.include.emails_ending_in", "@example.com"))

	accessConflict := func() bool {
		for _, st := range p.main.PlannerStatuses(t.Context()) {
			if st.Planner != "access" {
				continue
			}
			for _, c := range st.Conflicts {
				if c.Kind == plan.Foreign && c.Hostname == host {
					return true
				}
			}
		}
		return false
	}
	eventually(t, 15*time.Second, "the Access conflict reported", accessConflict)
	got := front.served()
	if len(got) != 1 || got[0].status != http.StatusConflict || len(got[0].codes) != 1 || got[0].codes[0] != 11010 {
		t.Fatalf("application creates answered %+v, want exactly one, 409 with 11010", got)
	}
	p.resync()
	time.Sleep(2*interval + 500*time.Millisecond)
	if n := len(front.served()); n != 1 {
		t.Fatalf("%d application creates after the conflict, want none more", n-1)
	}
	if !accessConflict() {
		t.Fatal("the conflict is no longer reported")
	}
	apps := p.sim.AccessApps()
	if len(apps) != 1 || !apps[0].Foreign || apps[0].Name != "theirs" {
		t.Fatalf("Access applications %+v, want only the foreign one, untouched", apps)
	}
	if fw := p.sim.ForeignWrites(); len(fw) != 0 {
		t.Fatalf("writes touched foreign objects: %+v", fw)
	}
	// The route meant to be protected by Labelgate's app is held back: it
	// is not published under someone else's application.
	for _, r := range p.ingress() {
		if strings.HasPrefix(r, host) {
			t.Fatalf("the route was published without its Access application: %v", p.ingress())
		}
	}
}

// A new Access-protected route is published only once its Access
// application exists: sampled continuously, cfsim never holds the rule
// without the app. A plain route beside it is not held.
func TestPipelineProtectedRouteWaitsForItsApp(t *testing.T) {
	// Access application creates take 500 ms here (a slow or queued
	// Cloudflare), so a route that did not wait would be seen without it.
	var sim *cfsim.Server
	ready := make(chan struct{}) // closed once sim is set
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-ready:
		case <-r.Context().Done():
			return
		}
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/access/apps") {
			time.Sleep(500 * time.Millisecond)
		}
		sim.ServeHTTP(w, r)
	}))
	t.Cleanup(slow.Close)
	p := newPipeline(t, func(c *config.Config) { c.Cloudflare.APIURL = slow.URL })
	sim = p.sim
	close(ready)
	const host = "admin.example.com"
	stop := make(chan struct{})
	done := make(chan struct{})
	var samples, exposed int
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			rule := p.hasRule(host + ">http://admin:80")
			app := slices.ContainsFunc(p.sim.AccessApps(), func(a cfsim.AccessApp) bool { return a.Domain == host })
			samples++
			if rule && !app {
				exposed++
			}
			time.Sleep(time.Millisecond)
		}
	}()
	p.engine.Start("admin", labelsOf(
		"labelgate.tunnel.web.hostname", host, "labelgate.tunnel.web.service", "http://admin:80",
		"labelgate.tunnel.web.access", "staff", "labelgate.access.staff.policy.include.emails_ending_in", "@example.com"))
	p.engine.Start("plain", labelsOf("labelgate.tunnel.web.hostname", "plain.example.com", "labelgate.tunnel.web.service", "http://plain:80"))
	eventually(t, 15*time.Second, "the protected route published", func() bool { return p.hasRule(host + ">http://admin:80") })
	close(stop)
	<-done
	if exposed > 0 || samples < 5 {
		t.Fatalf("the route was live without its Access application in %d of %d samples", exposed, samples)
	}
	t.Logf("%d samples of cfsim while the route was created: never without its app", samples)
	if !p.hasRule("plain.example.com>http://plain:80") {
		t.Fatalf("the plain route: %v", p.ingress())
	}
}

// A token that may not touch Access: the protected route is held back (and
// says why in the Access planner's error), the plain route and every CNAME
// are published.
func TestPipelineProtectedRouteHeldWithoutAccessPermission(t *testing.T) {
	p := newPipeline(t, nil)
	p.sim.AddTokenWithout("no-access-token-0123456789", "no access", "access")
	p.cfg.Cloudflare.APIToken = config.Secret("no-access-token-0123456789")
	p.restart()
	p.engine.Start("admin", labelsOf(
		"labelgate.tunnel.web.hostname", "admin.example.com", "labelgate.tunnel.web.service", "http://admin:80",
		"labelgate.tunnel.web.access", "staff", "labelgate.access.staff.policy.include.emails_ending_in", "@example.com"))
	p.engine.Start("plain", labelsOf("labelgate.tunnel.web.hostname", "plain.example.com", "labelgate.tunnel.web.service", "http://plain:80"))
	eventually(t, 15*time.Second, "the plain route and both CNAMEs", func() bool {
		recs := p.records()
		_, a := recs["CNAME admin.example.com"]
		_, b := recs["CNAME plain.example.com"]
		return p.hasRule("plain.example.com>http://plain:80") && a && b
	})
	eventually(t, 15*time.Second, "the Access planner's error", func() bool {
		for _, st := range p.main.PlannerStatuses(t.Context()) {
			if st.Planner == "access" && strings.Contains(st.LastError, "Authentication error") {
				return true
			}
		}
		return false
	})
	// The tunnel planner has reconciled the latest desired state (the
	// Access planner never will: its token may not).
	eventually(t, 10*time.Second, "the tunnel planner reconciled", func() bool {
		rep, err := p.report()
		return err == nil && p.tunnelStatus().Reconciled == rep.Desired.Version
	})
	for _, r := range p.ingress() {
		if strings.HasPrefix(r, "admin.example.com") {
			t.Fatalf("the protected route was published without an Access application: %v", p.ingress())
		}
	}
	// The hostname's state says why its route is not there.
	for _, h := range p.hostnameStates() {
		if h.Hostname == "admin.example.com" && !strings.Contains(h.Error, "Access application admin.example.com does not exist") {
			t.Errorf("admin.example.com's state %+v does not say its route waits for its Access application", h)
		}
	}
}
