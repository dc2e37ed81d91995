package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// Issue 13's scenario: a frontend on main's host and a static-asset service
// on an agent split www.example.com by path, with an Access application on
// the agent's path. The agent's container leaves: after the grace only its
// path goes; the CNAME and the frontend stay.
const (
	AgentEdge   = "edge"
	HostEdge    = "edgehost"
	edgeToken   = "lge2e-agent-edge-token-012345678"
	splitHost   = "www.example.com"
	splitGrace  = 5 * time.Second
	staticPath  = "^/static/"
	staticProbe = "/static/logo.png"
)

func TestPathSplitScenario(t *testing.T) {
	env := Setup(t)
	t.Parallel()
	c := NewCluster(t, env, splitGrace)
	// The agent may share www.example.com with main: its scope names it.
	c.ExtraAgents = map[string]string{
		AgentEdge: fmt.Sprintf(`{token: %s, allowed_hostnames: ["%s"]}`, edgeToken, splitHost),
	}
	c.StartMain()
	c.StartOutboundAgent(HostEdge, c.LAN1, edgeToken)
	Eventually(t, time.Minute, "the edge agent connected", func() bool { return c.Agent(AgentEdge).Connected })

	env.Start(c.Workload(HostMain, "front", map[string]string{
		"labelgate.tunnel.web.hostname":                         splitHost,
		"labelgate.tunnel.web.service":                          Service("front"),
		"labelgate.tunnel.web.access":                           "team",
		"labelgate.access.team.policy.include.emails_ending_in": "@example.com",
	}))
	static := env.Start(c.Workload(HostEdge, "static", map[string]string{
		"labelgate.tunnel.web.hostname":                   splitHost,
		"labelgate.tunnel.web.service":                    Service("static"),
		"labelgate.tunnel.web.path":                       staticPath,
		"labelgate.tunnel.web.access":                     "public",
		"labelgate.access.public.policy.decision":         "bypass",
		"labelgate.access.public.policy.include.everyone": "true",
	}))

	probe := func(path string) (service, app string) {
		return c.Sim.RouteFor(c.TunnelID, splitHost, path), c.Sim.GoverningApp(splitHost, path)
	}
	start := time.Now()
	Eventually(t, 90*time.Second, "both paths routed and protected", func() bool {
		s1, a1 := probe("/")
		s2, a2 := probe(staticProbe)
		return s1 == Service("front") && a1 == splitHost && s2 == Service("static") && a2 == splitHost+"/static"
	})
	t.Logf("www.example.com split in %.1fs: / → front (app %s), %s → static (app %s/static)", time.Since(start).Seconds(), splitHost, staticProbe, splitHost)
	sn := c.Snapshot()
	if n := len(sn.Records["CNAME "+splitHost]); n != 1 {
		t.Fatalf("want one CNAME for the split hostname, got %d", n)
	}

	// The agent's container leaves: only its path goes, after the grace.
	removed := time.Now()
	env.Remove(static)
	Eventually(t, 60*time.Second, "the static path to go", func() bool {
		s, _ := probe(staticProbe)
		return s == Service("front")
	})
	took := time.Since(removed)
	if took < splitGrace {
		t.Errorf("the path went after %.1fs, before the grace of %v", took.Seconds(), splitGrace)
	}
	sn = c.Snapshot()
	if n := len(sn.Records["CNAME "+splitHost]); n != 1 {
		t.Errorf("the CNAME must stay while the frontend routes the hostname, got %d", n)
	}
	if s, a := probe("/"); s != Service("front") || a != splitHost {
		t.Errorf("the frontend must stay: / → %s under %q", s, a)
	}
	if _, a := probe(staticProbe); a != splitHost {
		t.Errorf("the path's Access application must go with its route: %s is under %q", staticProbe, a)
	}
	t.Logf("the static container removed: its path and Access application went after %.1fs (grace %v); the CNAME and the frontend stayed", took.Seconds(), splitGrace)

	// The tunnel loses its connector in cfsim: main reads it (once a
	// minute) and the dashboard and /metrics show it.
	c.Sim.SetConnectors(c.TunnelID, `{"connectors": []}`)
	lost := time.Now()
	var lastMetrics, lastPage string
	deadline := time.Now().Add(90 * time.Second)
	for {
		metrics, err1 := c.Text("/metrics")
		page, err2 := c.Page("/tunnels")
		lastMetrics, lastPage = grepLines(metrics, "labelgate_tunnel_"), page
		if err1 == nil && err2 == nil &&
			strings.Contains(metrics, `labelgate_tunnel_connections{tunnel="default"} 0`) &&
			strings.Contains(metrics, `labelgate_tunnel_status{status="down",tunnel="default"} 1`) &&
			strings.Contains(page, "No connector") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 90s /metrics and the Tunnels page do not show the tunnel without a connector:\n%s\nerrors: %v %v; page has \"No connector\": %t",
				lastMetrics, err1, err2, strings.Contains(lastPage, "No connector"))
		}
		time.Sleep(time.Second)
	}
	t.Logf("the tunnel's connector taken away in cfsim: /metrics and the Tunnels page showed it %.1fs later (main reads connectors once a minute)", time.Since(lost).Seconds())
}

// grepLines keeps the lines of text that contain sub.
func grepLines(text, sub string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
