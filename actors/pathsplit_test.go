package actors

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/labelgate/labelgate/messages"
)

// newSplitHarness is a registry with main and two agents: "edge" may share
// hostnames (its allowed_hostnames covers example.com), "open" has no
// hostname scope.
func newSplitHarness(t *testing.T) *regHarness {
	t.Helper()
	cfg := testClaimConfig()
	cfg.Scopes = map[string]Scope{"agent:edge": {Hostnames: []string{"*.example.com"}}}
	r := newRegistryState(cfg, grace, []string{"local", "agent:edge", "agent:open"})
	h := &regHarness{t: t, r: r, versions: map[string]uint64{}}
	h.r.markSettled(t0)
	return h
}

func pathRoute(svc, host, service, path string, extra ...string) []string {
	p := "labelgate.tunnel." + svc + "."
	out := []string{p + "hostname", host, p + "service", service}
	if path != "" {
		out = append(out, p+"path", path)
	}
	for i := 0; i+1 < len(extra); i += 2 {
		out = append(out, p+extra[i], extra[i+1])
	}
	return out
}

func (h *regHarness) cnames() []string {
	var out []string
	for _, r := range h.r.desired().Records {
		if r.Type == "CNAME" {
			out = append(out, r.Name)
		}
	}
	return out
}

// A frontend on main and a static-asset service on an agent split one
// hostname by path: both routes are published, the path rule first, and
// the hostname has one CNAME.
func TestPathSplitAcrossSources(t *testing.T) {
	h := newSplitHarness(t)
	h.set("local", t0, ctr("front", t0, pathRoute("web", "www.example.com", "http://front:80", "")...))
	h.set("agent:edge", t0.Add(time.Second), ctr("static", t0, pathRoute("web", "www.example.com", "http://static:80", `\.(css|js)$`)...))
	if d := cmp.Diff([]string{"www.example.com -> http://front:80", `www.example.com \.(css|js)$ -> http://static:80`}, sortedRules(h.rules("default"))); d != "" {
		t.Errorf("rules (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"www.example.com"}, h.cnames()); d != "" {
		t.Errorf("one CNAME for the split hostname (-want +got):\n%s", d)
	}
	var paths []string
	for _, s := range h.r.hostnameStates() {
		if s.Hostname == "www.example.com" {
			paths = append(paths, s.Path+"="+s.Winner.Source)
		}
	}
	slices.Sort(paths)
	if d := cmp.Diff([]string{"=local", `\.(css|js)$=agent:edge`}, paths); d != "" {
		t.Errorf("states (-want +got):\n%s", d)
	}
}

func sortedRules(rules []string) []string { return slices.Sorted(slices.Values(rules)) }

// A path is owned like a hostname: the first registration of (hostname,
// path) wins, a second claimant queues and takes over after the grace.
func TestPathSplitQueueAndFailover(t *testing.T) {
	h := newSplitHarness(t)
	h.set("local", t0,
		ctr("front", t0, pathRoute("web", "www.example.com", "http://front:80", "")...),
		ctr("api1", t0, pathRoute("web", "www.example.com", "http://api1:80", "^/api/")...))
	h.set("agent:edge", t0.Add(time.Second), ctr("api2", t0, pathRoute("web", "www.example.com", "http://api2:80", "^/api/")...))
	if d := cmp.Diff([]string{"www.example.com -> http://front:80", "www.example.com ^/api/ -> http://api1:80"}, sortedRules(h.rules("default"))); d != "" {
		t.Fatalf("first registration wins the path (-want +got):\n%s", d)
	}
	// api1 goes: after the grace api2 takes the path over, in place; the
	// frontend and the CNAME never move.
	gone := t0.Add(time.Hour)
	h.set("local", gone, ctr("front", t0, pathRoute("web", "www.example.com", "http://front:80", "")...))
	h.r.tick(gone.Add(grace - time.Second))
	if got := sortedRules(h.rules("default")); !slices.Contains(got, "www.example.com ^/api/ -> http://api1:80") {
		t.Fatalf("before the grace ends the path stays: %v", got)
	}
	h.r.tick(gone.Add(grace))
	if d := cmp.Diff([]string{"www.example.com -> http://front:80", "www.example.com ^/api/ -> http://api2:80"}, sortedRules(h.rules("default"))); d != "" {
		t.Fatalf("failover of the path (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"www.example.com"}, h.cnames()); d != "" {
		t.Errorf("CNAME (-want +got):\n%s", d)
	}
}

// The CNAME of a split hostname stays while any of its routes stays: the
// path's route goes after the grace, the CNAME only with the last route.
func TestPathSplitCNAMEGoesWithTheLastRoute(t *testing.T) {
	h := newSplitHarness(t)
	h.set("local", t0, ctr("front", t0, pathRoute("web", "www.example.com", "http://front:80", "")...))
	h.set("agent:edge", t0, ctr("static", t0, pathRoute("web", "www.example.com", "http://static:80", "^/static/")...))
	later := t0.Add(time.Hour)
	h.set("agent:edge", later) // the agent's container is removed
	h.r.tick(later.Add(grace))
	if d := cmp.Diff([]string{"www.example.com -> http://front:80"}, h.rules("default")); d != "" {
		t.Fatalf("only the path goes (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"www.example.com"}, h.cnames()); d != "" {
		t.Fatalf("the CNAME stays with the frontend (-want +got):\n%s", d)
	}
	h.set("local", later.Add(grace))
	h.r.tick(later.Add(3 * grace))
	if got := h.cnames(); len(got) != 0 || len(h.rules("default")) != 0 {
		t.Fatalf("the last route takes the CNAME with it: rules %v, CNAMEs %v", h.rules("default"), got)
	}
}

// Slots of one hostname must agree: one tunnel (one CNAME), no DNS record
// beside routes, and another source's hostname is shared only with main or
// an agent allowed named hostnames. A refused path waits with a reason.
func TestPathSplitRefusals(t *testing.T) {
	for _, tc := range []struct {
		name   string
		source string
		labels []string
		reason string
	}{
		{"another tunnel", "local", pathRoute("web", "www.example.com", "http://x:80", "^/x/", "tunnel", "edge"), "one hostname's CNAME points at one tunnel"},
		{"an agent without a hostname scope", "agent:open", pathRoute("web", "www.example.com", "http://x:80", "^/x/"), "sources share a hostname by path only"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newSplitHarness(t)
			h.set("local", t0, ctr("front", t0, pathRoute("web", "www.example.com", "http://front:80", "")...))
			h.r.drain()
			h.set(tc.source, t0.Add(time.Second), ctr("late", t0, tc.labels...))
			if got := h.rules("default"); len(got) != 1 {
				t.Fatalf("the refused path must not be published: %v (edge: %v)", got, h.rules("edge"))
			}
			_, events := h.r.drain()
			found := false
			for _, e := range events {
				if e.Kind == "conflict" && e.Hostname == "www.example.com" && strings.Contains(e.Message, tc.reason) {
					found = true
				}
			}
			if !found {
				t.Errorf("no conflict event with %q: %+v", tc.reason, events)
			}
		})
	}
	// A DNS record beside a split hostname's routes waits too.
	h := newSplitHarness(t)
	h.set("local", t0, ctr("static", t0, pathRoute("web", "www.example.com", "http://static:80", "^/static/")...))
	h.set("local", t0.Add(time.Second),
		ctr("static", t0, pathRoute("web", "www.example.com", "http://static:80", "^/static/")...),
		ctr("rec", t0, "labelgate.dns.a.hostname", "www.example.com", "labelgate.dns.a.target", "203.0.113.9"))
	for _, r := range h.r.desired().Records {
		if r.Type == "A" {
			t.Fatalf("a DNS record beside a tunnel hostname's routes was published: %+v", r)
		}
	}
}

// A protected route with a plain-prefix path gets an Access application of
// its own on hostname + path; the hostname's app stays on the hostname.
func TestPathScopedAccessApps(t *testing.T) {
	h := newSplitHarness(t)
	team := []string{"labelgate.access.team.policy.include.emails_ending_in", "@example.com"}
	open := []string{"labelgate.access.hooks.policy.decision", "bypass", "labelgate.access.hooks.policy.include.everyone", ""}
	labels := slices.Concat(
		pathRoute("web", "n8n.example.com", "http://n8n:5678", "", "access", "team"),
		pathRoute("hook", "n8n.example.com", "http://n8n:5678", "^/webhook/", "access", "hooks"),
		team, open)
	h.set("local", t0, ctr("n8n", t0, labels...))
	var apps []string
	for _, a := range h.r.desired().Apps {
		apps = append(apps, a.Hostname+"="+a.Template+"/"+a.Policy.Decision)
	}
	slices.Sort(apps)
	if d := cmp.Diff([]string{"n8n.example.com/webhook=hooks/bypass", "n8n.example.com=team/allow"}, apps); d != "" {
		t.Errorf("apps (-want +got):\n%s", d)
	}
	var owners []messages.Owner
	for _, a := range h.r.desired().Apps {
		owners = append(owners, a.Owner)
	}
	if len(owners) != 2 {
		t.Fatalf("want two apps, got %v", owners)
	}
}
