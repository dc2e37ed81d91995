package actors

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/labelgate/labelgate/labels"
	"github.com/labelgate/labelgate/messages"
	"github.com/labelgate/labelgate/store"
)

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

const grace = 10 * time.Minute

func testClaimConfig() ClaimConfig {
	return ClaimConfig{
		Tunnels: map[string]TunnelRef{
			"default": {TunnelID: "11111111-1111-4111-8111-111111111111", AccountID: "acc"},
			"edge":    {TunnelID: "22222222-2222-4222-8222-222222222222", AccountID: "acc"},
		},
		DefaultTunnel: "default",
	}
}

func ctr(name string, created time.Time, kv ...string) messages.Container {
	l := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		l[kv[i]] = kv[i+1]
	}
	return messages.Container{ID: "id-" + name, Name: name, Labels: l, State: "running", Created: created,
		Networks: []messages.Network{{Name: "zeta", IPv4: "172.20.0.9"}, {Name: "alpha", IPv4: "172.18.0.5"}}}
}

func route(host, svc string, extra ...string) []string {
	return append([]string{"labelgate.tunnel.web.hostname", host, "labelgate.tunnel.web.service", svc}, extra...)
}

type regHarness struct {
	t        *testing.T
	r        *registryState
	versions map[string]uint64
}

func newHarness(t *testing.T, sources ...string) *regHarness {
	t.Helper()
	r := newRegistryState(testClaimConfig(), grace, sources)
	return &regHarness{t: t, r: r, versions: map[string]uint64{}}
}

func (h *regHarness) set(source string, now time.Time, cs ...messages.Container) {
	h.t.Helper()
	h.versions[source]++
	if !h.r.applySet(messages.ContainerSet{Source: source, Version: h.versions[source], Containers: cs}, now) {
		h.t.Fatalf("set from %s was refused as stale", source)
	}
}

// rules returns the desired ingress of a tunnel as "host path -> service".
func (h *regHarness) rules(tunnel string) []string {
	var out []string
	for _, r := range h.r.desired().Tunnels[tunnel].Rules {
		out = append(out, strings.TrimSpace(r.Hostname+" "+r.Path)+" -> "+r.Service)
	}
	return out
}

func (h *regHarness) state(host string) messages.HostnameState {
	for _, s := range h.r.hostnameStates() {
		if s.Hostname == host {
			return s
		}
	}
	return messages.HostnameState{}
}

func eq(t *testing.T, what string, got, want any) {
	t.Helper()
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if string(g) != string(w) {
		t.Fatalf("%s:\n got %s\nwant %s", what, g, w)
	}
}

func TestRegistrySingleRouteAndCNAME(t *testing.T) {
	h := newHarness(t, "local")
	h.set("local", t0, ctr("web", t0, route("App.example.com", "http://web:80")...))
	eq(t, "rules", h.rules("default"), []string{"app.example.com -> http://web:80"})
	recs := h.r.desired().Records
	if len(recs) != 1 || recs[0].Type != "CNAME" || recs[0].Content != "11111111-1111-4111-8111-111111111111.cfargotunnel.com" || !recs[0].Proxied {
		t.Fatalf("want the tunnel's proxied CNAME, got %+v", recs)
	}
	writes, events := h.r.drain()
	if len(writes) != 2 || writes[0].putClaim == nil || writes[1].putHost == nil {
		t.Fatalf("want the claim and the hostname persisted, got %+v", writes)
	}
	if len(events) != 1 || events[0].Kind != "created" {
		t.Fatalf("want one created event, got %+v", events)
	}
}

func TestRegistryFirstRegistrationWinsAcrossSources(t *testing.T) {
	h := newHarness(t, "local", "agent:b")
	h.set("local", t0, ctr("a", t0, route("app.example.com", "http://a:80")...))
	h.set("agent:b", t0.Add(time.Second), ctr("b", t0.Add(-time.Hour), route("app.example.com", "http://b:80")...))
	eq(t, "winner keeps the route", h.rules("default"), []string{"app.example.com -> http://a:80"})
	st := h.state("app.example.com")
	eq(t, "queue", st.Queued, []messages.Owner{{Source: "agent:b", Container: "b"}})
	_, events := h.r.drain()
	if events[len(events)-1].Kind != "conflict" || events[len(events)-1].Source != "agent:b" {
		t.Fatalf("want a conflict event for the loser, got %+v", events)
	}
}

func TestRegistryTieBreakIsStable(t *testing.T) {
	// Same registration time: the older container wins, then source, then name.
	for i := 0; i < 20; i++ {
		h := newHarness(t, "local")
		h.set("local", t0,
			ctr("young", t0, route("app.example.com", "http://young:80")...),
			ctr("old", t0.Add(-time.Hour), route("app.example.com", "http://old:80")...),
			ctr("b-twin", t0, route("twin.example.com", "http://b:80")...),
			ctr("a-twin", t0, route("twin.example.com", "http://a:80")...),
		)
		eq(t, "rules", h.rules("default"), []string{"app.example.com -> http://old:80", "twin.example.com -> http://a:80"})
	}
}

func TestRegistryGraceFailoverAndReturn(t *testing.T) {
	h := newHarness(t, "local", "agent:b")
	a := ctr("a", t0, route("app.example.com", "http://a:80")...)
	b := ctr("b", t0, route("app.example.com", "http://b:80")...)
	h.set("local", t0, a)
	h.set("agent:b", t0.Add(time.Second), b)
	h.r.markSettled(t0)

	// The winner stops: nothing changes during the grace.
	stop := t0.Add(time.Minute)
	h.set("local", stop)
	eq(t, "during grace", h.rules("default"), []string{"app.example.com -> http://a:80"})
	if st := h.state("app.example.com"); st.State != hostLeaving || !st.Due.Equal(stop.Add(grace)) {
		t.Fatalf("want leaving until %v, got %+v", stop.Add(grace), st)
	}

	// It comes back before the due time (a restart): still nothing changes.
	h.set("local", stop.Add(30*time.Second), a)
	eq(t, "after return", h.rules("default"), []string{"app.example.com -> http://a:80"})
	if st := h.state("app.example.com"); st.State != hostActive {
		t.Fatalf("want active after the return, got %s", st.State)
	}

	// It stops for good: at the due time the queued claimant takes over in place.
	gone := stop.Add(time.Hour)
	h.set("local", gone)
	h.r.tick(gone.Add(grace - time.Second))
	eq(t, "just before due", h.rules("default"), []string{"app.example.com -> http://a:80"})
	h.r.tick(gone.Add(grace))
	eq(t, "after due", h.rules("default"), []string{"app.example.com -> http://b:80"})
	if st := h.state("app.example.com"); st.Winner.Container != "b" || st.State != hostActive {
		t.Fatalf("want b active, got %+v", st)
	}
}

// A route's cleanup defaults to true (its CNAME and Access app go with it
// after the grace); a DNS record's to false. The WARN logged when a claim
// leaves says which is which.
func TestRegistryCleanupDeletesOrRetains(t *testing.T) {
	h := newHarness(t, "local")
	h.set("local", t0,
		ctr("gone", t0, append(route("gone.example.com", "http://g:80"),
			"labelgate.tunnel.web.access", "team", "labelgate.access.team.policy.include.emails", "a@example.com")...),
		ctr("kept", t0, route("kept.example.com", "http://k:80", "labelgate.tunnel.web.cleanup", "false")...),
		ctr("txt", t0, "labelgate.dns.t.hostname", "txt.example.com", "labelgate.dns.t.type", "TXT", "labelgate.dns.t.target", "hello"),
	)
	h.r.markSettled(t0)
	h.r.drain()
	h.set("local", t0.Add(time.Minute))
	_, events := h.r.drain()
	leaving := map[string]string{}
	for _, e := range events {
		if e.Kind == "leaving" {
			leaving[e.Hostname] = e.Message
		}
	}
	for host, want := range map[string]string{
		"gone.example.com": "then its route, CNAME to the tunnel, Access app are deleted (cleanup=true)",
		"kept.example.com": "then its route, CNAME to the tunnel are kept (cleanup=false)",
		"txt.example.com":  "then its TXT record is kept (cleanup=false)",
	} {
		if !strings.HasSuffix(leaving[host], want) {
			t.Errorf("leaving %s: %q, want it to end with %q", host, leaving[host], want)
		}
	}
	h.r.tick(t0.Add(time.Minute + grace))
	eq(t, "rules after grace", h.rules("default"), []string{"kept.example.com -> http://k:80"})
	for host, want := range map[string]messages.HostState{"kept.example.com": hostRetained, "txt.example.com": hostRetained} {
		if st := h.state(host); st.State != want {
			t.Fatalf("%s: cleanup=false must be retained, got %q", host, st.State)
		}
	}
	if st := h.state("gone.example.com"); st.Hostname != "" {
		t.Fatalf("a route with the default cleanup must be forgotten, got %+v", st)
	}
	for _, r := range h.r.desired().Records {
		if r.Name == "gone.example.com" {
			t.Fatalf("the CNAME of a deleted route must go too")
		}
	}
	for _, app := range h.r.desired().Apps {
		if app.Hostname == "gone.example.com" {
			t.Fatalf("the Access app of a deleted route must go too")
		}
	}
	// A new claimant of the retained hostname takes it at once.
	h.set("local", t0.Add(2*time.Hour), ctr("new", t0.Add(2*time.Hour), route("kept.example.com", "http://new:80")...))
	eq(t, "retained taken over", h.rules("default"), []string{"kept.example.com -> http://new:80"})
}

func TestRegistryNoDecisionsBeforeSettle(t *testing.T) {
	h := newHarness(t, "local")
	h.set("local", t0, ctr("a", t0, route("a.example.com", "http://a:80", "labelgate.tunnel.web.cleanup", "true")...))
	h.set("local", t0.Add(time.Minute))
	h.r.tick(t0.Add(2 * grace))
	eq(t, "unsettled keeps everything", h.rules("default"), []string{"a.example.com -> http://a:80"})
	if h.r.desired().Settled {
		t.Fatal("desired state must say it is not settled")
	}
	h.r.markSettled(t0.Add(2 * grace))
	eq(t, "settled deletes", h.rules("default"), []string(nil))
}

func TestRegistryFrozenAndGoneAgents(t *testing.T) {
	h := newHarness(t, "agent:x")
	h.set("agent:x", t0, ctr("a", t0, route("a.example.com", "http://a:80")...))
	h.r.markSettled(t0)
	h.r.setSourceStatus("agent:x", sourceFrozen, t0.Add(time.Minute))
	h.r.tick(t0.Add(10 * grace))
	eq(t, "frozen keeps", h.rules("default"), []string{"a.example.com -> http://a:80"})
	if st := h.state("a.example.com"); st.State != messages.HostFrozen {
		t.Fatalf("want frozen, got %s", st.State)
	}
	h.r.setSourceStatus("agent:x", sourceGone, t0.Add(11*grace))
	if st := h.state("a.example.com"); st.State != hostLeaving || !st.Due.Equal(t0.Add(12*grace)) {
		t.Fatalf("gone agent: want leaving with a fresh grace, got %+v", st)
	}
}

func TestRegistryRestartRestoresDesiredState(t *testing.T) {
	h := newHarness(t, "local")
	h.set("local", t0, ctr("a", t0, route("a.example.com", "http://a:80")...), ctr("b", t0, route("a.example.com", "http://b:80")...))
	before := h.r.desired()
	writes, _ := h.r.drain()

	// Replay the writes as the store would keep them.
	claims, hosts := map[string]store.Claim{}, map[string]store.HostnameState{}
	for _, w := range writes {
		switch {
		case w.putClaim != nil:
			claims[w.putClaim.Hostname+w.putClaim.Container] = *w.putClaim
		case w.putHost != nil:
			hosts[w.putHost.Hostname] = *w.putHost
		}
	}
	var cl []store.Claim
	for _, c := range claims {
		cl = append(cl, c)
	}
	var hs []store.HostnameState
	for _, x := range hosts {
		hs = append(hs, x)
	}
	r2 := newRegistryState(testClaimConfig(), grace, []string{"local"})
	if err := r2.load(cl, hs); err != nil {
		t.Fatal(err)
	}
	after := r2.desired()
	eq(t, "desired after restart, before any report", after.Tunnels, before.Tunnels)

	// The source reports the loser only: the winner is leaving, not replaced.
	h2 := &regHarness{t: t, r: r2, versions: map[string]uint64{}}
	h2.set("local", t0.Add(time.Hour), ctr("b", t0, route("a.example.com", "http://b:80")...))
	eq(t, "winner kept during grace", h2.rules("default"), []string{"a.example.com -> http://a:80"})
}

func TestBuildClaimsChecks(t *testing.T) {
	cfg := testClaimConfig()
	cfg.Scopes = map[string]Scope{
		"agent:lab":  {Hostnames: []string{"*.lab.example.com"}, Tunnels: []string{"edge"}},
		"agent:zone": {Zones: []string{"example.org", "Lab.Example.COM."}},
	}
	tests := []struct {
		name   string
		source string
		labels []string
		hosts  []string
		errs   []string // label keys at fault
	}{
		{name: "tunnel and dns on one hostname", source: "local",
			labels: []string{"labelgate.tunnel.t.hostname", "x.example.com", "labelgate.tunnel.t.service", "http://x:80",
				"labelgate.dns.d.hostname", "x.example.com", "labelgate.dns.d.target", "203.0.113.1"},
			hosts: []string{"x.example.com"}, errs: []string{"labelgate.dns.d.hostname"}},
		{name: "cname beside another record", source: "local",
			labels: []string{"labelgate.dns.a.hostname", "x.example.com", "labelgate.dns.a.target", "203.0.113.1",
				"labelgate.dns.c.hostname", "x.example.com", "labelgate.dns.c.type", "CNAME", "labelgate.dns.c.target", "y.example.com"},
			hosts: []string{"x.example.com"}, errs: []string{"labelgate.dns.c.hostname"}},
		{name: "two tunnels for one hostname", source: "local",
			labels: []string{"labelgate.tunnel.a.hostname", "x.example.com", "labelgate.tunnel.a.service", "http://x:80",
				"labelgate.tunnel.b.hostname", "x.example.com", "labelgate.tunnel.b.service", "http://x:81", "labelgate.tunnel.b.path", "^/b", "labelgate.tunnel.b.tunnel", "edge"},
			hosts: []string{"x.example.com"}, errs: []string{"labelgate.tunnel.b.tunnel"}},
		{name: "paths on one hostname", source: "local",
			labels: []string{"labelgate.tunnel.a.hostname", "x.example.com", "labelgate.tunnel.a.service", "http://x:80",
				"labelgate.tunnel.b.hostname", "x.example.com", "labelgate.tunnel.b.service", "http://x:81", "labelgate.tunnel.b.path", "^/api"},
			hosts: []string{"x.example.com", "x.example.com ^/api"}},
		{name: "unknown tunnel", source: "local",
			labels: []string{"labelgate.tunnel.a.hostname", "x.example.com", "labelgate.tunnel.a.service", "http://x:80", "labelgate.tunnel.a.tunnel", "nope"},
			errs:   []string{"labelgate.tunnel.a.tunnel"}},
		{name: "scope refuses a hostname", source: "agent:lab",
			labels: []string{"labelgate.tunnel.a.hostname", "bank.example.com", "labelgate.tunnel.a.service", "http://x:80", "labelgate.tunnel.a.tunnel", "edge",
				"labelgate.tunnel.b.hostname", "ok.lab.example.com", "labelgate.tunnel.b.service", "http://x:80", "labelgate.tunnel.b.tunnel", "edge"},
			hosts: []string{"ok.lab.example.com"}, errs: []string{"labelgate.tunnel.a.hostname"}},
		{name: "zone scope", source: "agent:zone",
			labels: []string{"labelgate.tunnel.a.hostname", "x.example.org", "labelgate.tunnel.a.service", "http://x:80",
				"labelgate.tunnel.b.hostname", "example.org.evil.com", "labelgate.tunnel.b.service", "http://x:80",
				"labelgate.dns.c.hostname", "a.lab.example.com", "labelgate.dns.c.target", "203.0.113.1",
				"labelgate.dns.d.hostname", "notexample.org", "labelgate.dns.d.target", "203.0.113.1",
				"labelgate.dns.e.hostname", "example.org", "labelgate.dns.e.type", "TXT", "labelgate.dns.e.target", "v=spf1"},
			hosts: []string{"a.lab.example.com", "example.org", "x.example.org"}, errs: []string{"labelgate.dns.d.hostname", "labelgate.tunnel.b.hostname"}},
		{name: "scope refuses a tunnel", source: "agent:lab",
			labels: []string{"labelgate.tunnel.a.hostname", "a.lab.example.com", "labelgate.tunnel.a.service", "http://x:80"},
			errs:   []string{"labelgate.tunnel.a.tunnel"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep := buildClaims(tc.source, ctr("c", t0, tc.labels...), cfg, PublicIPs{V4: "198.51.100.7"})
			var hosts, errs []string
			for h := range rep.Hosts {
				hosts = append(hosts, h)
			}
			slices.Sort(hosts)
			for _, e := range rep.Errors {
				errs = append(errs, e.Key)
			}
			eq(t, "hosts", hosts, tc.hosts)
			eq(t, "errors", errs, tc.errs)
		})
	}
}

func TestRegistryPublicIPChangeUpdatesRecords(t *testing.T) {
	h := newHarness(t, "local")
	h.set("local", t0, ctr("a", t0, "labelgate.dns.home.hostname", "home.example.com"))
	recs := h.r.desired().Records
	if len(recs) != 1 || recs[0].Unresolved == "" {
		t.Fatalf("without a public IP the record must be unresolved, got %+v", recs)
	}
	h.r.setPublicIPs("", PublicIPs{V4: "203.0.113.10"}, t0.Add(time.Minute))
	if recs := h.r.desired().Records; recs[0].Content != "203.0.113.10" || recs[0].Unresolved != "" {
		t.Fatalf("want the discovered IP, got %+v", recs)
	}
	h.r.setPublicIPs("", PublicIPs{V4: "203.0.113.11"}, t0.Add(2*time.Minute))
	if recs := h.r.desired().Records; recs[0].Content != "203.0.113.11" {
		t.Fatalf("want the new IP (dynamic DNS), got %+v", recs)
	}
}

func TestRegistryAccessTemplates(t *testing.T) {
	h := newHarness(t, "local", "agent:b")
	protected := ctr("app", t0, route("app.example.com", "http://app:80", "labelgate.tunnel.web.access", "team")...)
	h.set("local", t0, protected)
	if len(h.r.desired().Tunnels["default"].Rules) != 0 {
		t.Fatal("a route bound to an undefined template must be withheld, never published unprotected")
	}
	if st := h.state("app.example.com"); !strings.Contains(st.Error, "access template team is defined neither") {
		t.Fatalf("want the withheld reason, got %+v", st)
	}
	// Another source's template does not protect this source's hostnames.
	tpl := func(name string) messages.Container {
		return ctr(name, t0, "labelgate.access.team.policy.include.emails", "a@example.com")
	}
	h.set("agent:b", t0.Add(time.Second), tpl("policy"))
	if ds := h.r.desired(); len(ds.Tunnels["default"].Rules) != 0 || len(ds.Apps) != 0 {
		t.Fatalf("a template of another source must not publish this source's route, got %+v", ds)
	}
	if st := h.state("app.example.com"); !strings.Contains(st.Error, "agent:b defines one") {
		t.Fatalf("want the reason to name the other definition, got %+v", st)
	}
	// The same source defines it: published, protected.
	h.set("local", t0.Add(2*time.Second), protected, tpl("policy"))
	ds := h.r.desired()
	if len(ds.Tunnels["default"].Rules) != 1 || len(ds.Apps) != 1 || ds.Apps[0].Hostname != "app.example.com" || ds.Apps[0].Policy.Include[0].Value != "a@example.com" {
		t.Fatalf("want the route and its app, got %+v", ds)
	}
	if got := ds.Apps[0].Policy.Name; got != "labelgate:team" {
		t.Errorf("local template's policy is named %q, want labelgate:team", got)
	}
	// The template's container goes away: the app keeps its last content.
	h.set("local", t0.Add(3*time.Minute), protected)
	if ds := h.r.desired(); len(ds.Apps) != 1 || len(ds.Tunnels["default"].Rules) != 1 {
		t.Fatalf("the app must stay while the route stays, got %+v", ds)
	}
}

// TestTemplateCannotWeakenAnotherSource is issue 11's second finding: an
// agent restricted to *.att.example.com defined the template protecting
// another agent's admin.example.com as bypass/everyone, and the admin app
// became open. Whatever the order, each source's hostnames keep their own
// source's definition, the two become two Cloudflare policies, and the
// attacker's disconnect (its claims freeze) changes nothing either. The
// attacker's source sorts first, as in the report (the first source in
// order used to win).
func TestTemplateCannotWeakenAnotherSource(t *testing.T) {
	victim := ctr("admin", t0,
		"labelgate.tunnel.web.hostname", "admin.example.com", "labelgate.tunnel.web.service", "http://admin:80", "labelgate.tunnel.web.access", "team",
		"labelgate.access.team.policy.include.emails", "boss@example.com")
	attacker := ctr("evil", t0,
		"labelgate.access.team.policy.decision", "bypass", "labelgate.access.team.policy.include.everyone", "",
		"labelgate.tunnel.web.hostname", "x.att.example.com", "labelgate.tunnel.web.service", "http://evil:80", "labelgate.tunnel.web.access", "team")
	templateOnly := ctr("evil2", t0, "labelgate.access.team.policy.decision", "bypass", "labelgate.access.team.policy.include.everyone", "")

	check := func(t *testing.T, h *regHarness) {
		t.Helper()
		byPolicy := map[string]messages.DesiredPolicy{}
		apps := map[string]messages.DesiredApp{}
		for _, a := range h.r.desired().Apps {
			apps[a.Hostname] = a
			if prev, ok := byPolicy[a.Policy.Name]; ok {
				pa, _ := json.Marshal(prev)
				pb, _ := json.Marshal(a.Policy)
				if string(pa) != string(pb) {
					t.Fatalf("two definitions share the policy name %q: %s and %s", a.Policy.Name, pa, pb)
				}
			}
			byPolicy[a.Policy.Name] = a.Policy
		}
		admin, ok := apps["admin.example.com"]
		if !ok {
			t.Fatalf("admin.example.com has no app: %+v", h.r.desired().Apps)
		}
		want := messages.DesiredPolicy{Name: "labelgate:team (agent web)", Decision: "allow",
			Include: []messages.AccessRule{{Selector: "emails", Value: "boss@example.com"}}, Require: []messages.AccessRule{}, Exclude: []messages.AccessRule{}}
		pa, _ := json.Marshal(admin.Policy)
		pw, _ := json.Marshal(want)
		if string(pa) != string(pw) {
			t.Fatalf("admin.example.com is protected by %s, want %s", pa, pw)
		}
		if evil, ok := apps["x.att.example.com"]; ok && (evil.Policy.Name != "labelgate:team (agent att)" || evil.Policy.Decision != "bypass") {
			t.Fatalf("the attacker's own hostname: %+v", evil.Policy)
		}
	}
	newH := func(t *testing.T) *regHarness {
		h := newHarness(t, "agent:web", "agent:att")
		h.r.cfg.Scopes = map[string]Scope{"agent:att": {Hostnames: []string{"*.att.example.com"}}}
		return h
	}
	t.Run("attacker first", func(t *testing.T) {
		h := newH(t)
		h.set("agent:att", t0, attacker, templateOnly)
		h.set("agent:web", t0.Add(time.Minute), victim)
		check(t, h)
		h.r.setSourceStatus("agent:att", sourceFrozen, t0.Add(2*time.Minute))
		check(t, h)
	})
	t.Run("attacker after", func(t *testing.T) {
		h := newH(t)
		h.set("agent:web", t0, victim)
		check(t, h)
		h.set("agent:att", t0.Add(time.Minute), attacker, templateOnly)
		check(t, h)
		h.r.setSourceStatus("agent:att", sourceFrozen, t0.Add(2*time.Minute))
		check(t, h)
		h.r.setSourceStatus("agent:att", sourceGone, t0.Add(3*time.Minute))
		check(t, h)
	})
}

// TestPinnedTemplates: a template in main's configuration protects every
// source's hostnames; a label definition of the same name that differs is a
// conflict, reported once and ignored.
func TestPinnedTemplates(t *testing.T) {
	pinned := labels.Parse(map[string]string{"labelgate.access.team.policy.include.emails_ending_in": "@example.com"}, labels.Options{})
	if len(pinned.Errors) > 0 || len(pinned.Access) != 1 {
		t.Fatalf("pinned template: %+v", pinned)
	}
	h := newHarness(t, "local", "agent:b")
	h.r.cfg.Pinned = map[string]labels.AccessTemplate{"team": pinned.Access[0]}
	h.set("local", t0, ctr("app", t0, route("app.example.com", "http://app:80", "labelgate.tunnel.web.access", "team")...))
	h.set("agent:b", t0, ctr("b", t0, append(route("b.example.com", "http://b:80", "labelgate.tunnel.web.access", "team"),
		"labelgate.access.team.policy.decision", "bypass", "labelgate.access.team.policy.include.everyone", "")...))
	ds := h.r.desired()
	if len(ds.Apps) != 2 {
		t.Fatalf("want both hostnames protected by the pinned template, got %+v", ds.Apps)
	}
	for _, a := range ds.Apps {
		if a.Policy.Name != "labelgate:team" || a.Policy.Decision != "allow" || a.Policy.Include[0].Value != "example.com" {
			t.Errorf("%s is protected by %+v, want the pinned template", a.Hostname, a.Policy)
		}
	}
	_, events := h.r.drain()
	n := 0
	for _, e := range events {
		if e.Kind == "conflict" && strings.Contains(e.Message, "pinned in main's configuration") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d conflict events about the pinned template, want 1: %+v", n, events)
	}
	h.set("agent:b", t0.Add(time.Second), ctr("b", t0, append(route("b.example.com", "http://b:80", "labelgate.tunnel.web.access", "team"),
		"labelgate.access.team.policy.decision", "bypass", "labelgate.access.team.policy.include.everyone", "")...))
	if _, events := h.r.drain(); len(events) != 0 {
		t.Errorf("the same conflict was reported again: %+v", events)
	}
}

func TestRegistryStaleSetIgnored(t *testing.T) {
	h := newHarness(t, "local")
	h.set("local", t0, ctr("a", t0, route("a.example.com", "http://a:80")...))
	if h.r.applySet(messages.ContainerSet{Source: "local", Version: 1}, t0.Add(time.Second)) {
		t.Fatal("a set with an old version must be ignored")
	}
	eq(t, "rules", h.rules("default"), []string{"a.example.com -> http://a:80"})
}

func TestRegistryLabelChangeUpdatesInPlace(t *testing.T) {
	h := newHarness(t, "local")
	h.set("local", t0, ctr("a", t0, route("a.example.com", "http://a:80")...))
	h.set("local", t0.Add(time.Minute), ctr("a", t0, route("a.example.com", "http://a:8080")...))
	eq(t, "rules", h.rules("default"), []string{"a.example.com -> http://a:8080"})
	_, events := h.r.drain()
	if events[len(events)-1].Kind != "updated" {
		t.Fatalf("want an updated event, got %+v", events)
	}
}

func TestRegistryLabelErrorsAreData(t *testing.T) {
	h := newHarness(t, "local")
	h.set("local", t0, ctr("a", t0, "labelgate.tunnel.web.hostname", "a.example.com", "labelgate.tunnel.web.service", "http://a:80/x"))
	errs := h.r.labelErrors()
	if len(errs) != 1 || errs[0].Container != "a" || errs[0].Errors[0].Key != "labelgate.tunnel.web.service" {
		t.Fatalf("want the error kept as data, got %+v", errs)
	}
	_, events := h.r.drain()
	if len(events) != 1 || events[0].Kind != "label_error" || !strings.Contains(events[0].Message, "container a") {
		t.Fatalf("want one label_error event naming the container, got %+v", events)
	}
	// The same error again is not re-announced.
	h.set("local", t0.Add(time.Second), ctr("a", t0, "labelgate.tunnel.web.hostname", "a.example.com", "labelgate.tunnel.web.service", "http://a:80/x"))
	if _, events := h.r.drain(); len(events) != 0 {
		t.Fatalf("repeat error announced again: %+v", events)
	}
}

func TestRegistryCancelDelete(t *testing.T) {
	h := newHarness(t, "local")
	h.set("local", t0, ctr("a", t0, route("a.example.com", "http://a:80", "labelgate.tunnel.web.cleanup", "true")...))
	h.r.markSettled(t0)
	if err := h.r.cancelDelete("a.example.com", t0); err == nil {
		t.Fatal("an active hostname has no delete to cancel")
	}
	h.set("local", t0.Add(time.Minute))
	if err := h.r.cancelDelete("a.example.com", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	h.r.tick(t0.Add(time.Hour))
	eq(t, "kept after the grace", h.rules("default"), []string{"a.example.com -> http://a:80"})
	if st := h.state("a.example.com"); st.State != hostRetained {
		t.Fatalf("want retained, got %s", st.State)
	}
}

// TestRegistryDuplicateContainerNames: a set that repeats a container name
// (only a broken or hostile agent does) uses the first container of the
// name and says so.
func TestRegistryDuplicateContainerNames(t *testing.T) {
	h := newHarness(t, "agent:x")
	h.set("agent:x", t0, ctr("web", t0, route("a.example.com", "http://a:80")...), ctr("web", t0, route("b.example.com", "http://b:80")...))
	eq(t, "rules", h.rules("default"), []string{"a.example.com -> http://a:80"})
	_, events := h.r.drain()
	found := false
	for _, e := range events {
		if e.Kind == "label_error" && e.Container == "web" && strings.HasPrefix(e.Message, "container web: the set holds 1 more containers or Swarm services of this name") {
			found = true
		}
	}
	if !found {
		t.Errorf("no event about the repeated name: %+v", events)
	}
}

// TestRegistryServiceShadowsContainerOfItsName: a container and a Swarm
// service of one source may share a name; the watcher sorts the service
// first and the registry uses it, naming the clash in a label error.
func TestRegistryServiceShadowsContainerOfItsName(t *testing.T) {
	h := newHarness(t, "local")
	svc := ctr("web", t0, route("svc.example.com", "http://web:80")...)
	svc.Kind, svc.ID, svc.Networks = messages.KindService, "svc-web", nil
	h.set("local", t0, svc, ctr("web", t0, route("ctr.example.com", "http://web-ctr:80")...))
	eq(t, "rules", h.rules("default"), []string{"svc.example.com -> http://web:80"})
	_, events := h.r.drain()
	found := false
	for _, e := range events {
		if e.Kind == "label_error" && e.Container == "web" &&
			strings.HasPrefix(e.Message, "Swarm service web: a container and a Swarm service of this source share the name; only the service's labels are used") {
			found = true
		}
	}
	if !found {
		t.Errorf("no event naming the shared name: %+v", events)
	}
}

// TestRegistryRevokedSource: a revoked (decommissioned) source's sets are
// refused until it is enabled again; its claims leave as a gone source's do.
func TestRegistryRevokedSource(t *testing.T) {
	h := newHarness(t, "agent:x")
	h.set("agent:x", t0, ctr("a", t0, route("a.example.com", "http://a:80", "labelgate.tunnel.web.cleanup", "true")...))
	h.r.setSourceStatus("agent:x", sourceRevoked, t0.Add(time.Second))
	if h.r.applySet(messages.ContainerSet{Source: "agent:x", Version: 99, Containers: []messages.Container{ctr("a", t0, route("a.example.com", "http://a:80")...)}}, t0.Add(2*time.Second)) {
		t.Fatal("a revoked source's set was applied")
	}
	h.r.setSourceStatus("agent:x", sourceGone, t0.Add(3*time.Second))
	h.r.setSourceStatus("agent:x", sourceFrozen, t0.Add(3*time.Second))
	if got := h.r.sources["agent:x"].status; got != sourceRevoked {
		t.Fatalf("status %s after gone/frozen, want it still revoked", got)
	}
	h.r.markSettled(t0.Add(grace + 2*time.Second))
	h.r.tick(t0.Add(grace + 2*time.Second))
	if st := h.state("a.example.com"); st.Hostname != "" {
		t.Fatalf("the revoked source's hostname stayed: %+v", st)
	}
	h.r.enableSource("agent:x", t0.Add(grace+3*time.Second))
	if !h.r.applySet(messages.ContainerSet{Source: "agent:x", Version: 100, Containers: []messages.Container{ctr("a", t0, route("a.example.com", "http://a:80")...)}}, t0.Add(grace+4*time.Second)) {
		t.Fatal("an enabled source's set was refused")
	}
	eq(t, "rules", h.rules("default"), []string{"a.example.com -> http://a:80"})
}

// TestRegistryAgentEventsBudgeted: an agent's decisions become events (and
// log lines) up to a budget, then one summary; main's own are not budgeted.
// Label errors quote values clipped.
func TestRegistryAgentEventsBudgeted(t *testing.T) {
	many := func(n int, svc string) []messages.Container {
		var cs []messages.Container
		for i := range n {
			cs = append(cs, ctr(fmt.Sprintf("c%04d", i), t0, route(fmt.Sprintf("h%04d.example.com", i), "http://"+svc+":80")...))
		}
		return cs
	}
	count := func(events []Event, kind string) int {
		n := 0
		for _, e := range events {
			if e.Kind == kind {
				n++
			}
		}
		return n
	}
	h := newHarness(t, "agent:x", "local")
	h.set("agent:x", t0, many(1000, "a")...)
	_, events := h.r.drain()
	if n := count(events, "created"); n != decisionEventBurst {
		t.Errorf("%d created events for 1,000 hostnames of an agent, want the budget's %d", n, decisionEventBurst)
	}
	h.r.tick(t0.Add(time.Second))
	_, events = h.r.drain()
	if n := count(events, "summary"); n != 1 || !strings.Contains(events[len(events)-1].Message, "500 more decisions") {
		t.Errorf("want one summary of the 500 held back, got %+v", events)
	}

	local := newHarness(t, "local")
	local.set("local", t0, many(1000, "l")...)
	if _, events := local.r.drain(); count(events, "created") != 1000 {
		t.Errorf("main's own decisions are budgeted: %d created events", count(events, "created"))
	}

	big := newHarness(t, "agent:x")
	big.set("agent:x", t0, ctr("big", t0, "labelgate.tunnel.web.hostname", strings.Repeat("x", 100<<10)+".example.com", "labelgate.tunnel.web.service", "http://x:80"))
	for _, rep := range big.r.labelErrors() {
		for _, e := range rep.Errors {
			if len(e.Message) > maxErrorMessage+len("…") || len(e.Key) > maxErrorKey+len("…") {
				t.Errorf("a label error of %d+%d bytes is kept", len(e.Key), len(e.Message))
			}
		}
	}
}
