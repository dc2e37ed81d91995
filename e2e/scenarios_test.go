package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/labelgate/labelgate/cfapi/cfsim"
)

// The scenario suite: Labelgate deployed as containers (cfsim, main, an
// outbound and an inbound agent) on this machine's Docker engine, driven
// through the engine and checked against cfsim's state and audit log. Every
// scenario logs what it measured (calls, seconds); docs/benchmarks.md keeps
// the figures of the last run.

// scenarioGrace is LABELGATE_SYNC_REMOVE_DELAY in the scenarios: long enough
// for a stop/start, restart or recreate on a loaded engine (fuse-overlayfs
// here: several seconds each) to fit inside it, short enough to wait out.
const scenarioGrace = 15 * time.Second

// coldStart is the scenario-1 fleet: ten workloads per host, each with a
// tunnel route (cleanup=true except the last on main), plus a TXT record and
// an Access-protected route on main; and two containers with broken labels
// (scenario 8).
type coldStart struct {
	specs map[string]Container // by short name
	wants []Want
}

func newColdStart(c *Cluster, perHost int, broken bool) *coldStart {
	cs := &coldStart{specs: map[string]Container{}}
	add := func(host, name string, labels map[string]string) { cs.specs[name] = c.Workload(host, name, labels) }
	for _, h := range []struct{ host, prefix string }{{HostMain, "mw"}, {HostAgent1, "a1w"}, {HostAgent2, "a2w"}} {
		for i := 1; i <= perHost; i++ {
			name := fmt.Sprintf("%s%02d", h.prefix, i)
			labels := TunnelLabels(name, name+".example.com", !(h.host == HostMain && i == perHost))
			if h.host == HostMain && i == 2 {
				labels["labelgate.dns.txt.hostname"] = "mw02-txt.example.com"
				labels["labelgate.dns.txt.type"] = "TXT"
				labels["labelgate.dns.txt.target"] = "owned by mw02"
				labels["labelgate.dns.txt.cleanup"] = "true"
			}
			if h.host == HostMain && i == 3 {
				labels["labelgate.tunnel.web.access"] = "team"
				labels["labelgate.access.team.policy.include.emails_ending_in"] = "@example.com"
			}
			add(h.host, name, labels)
			cs.wants = append(cs.wants, Want{name + ".example.com", Service(name)})
		}
	}
	if broken {
		// A bad service next to a good one: the bad one is reported and
		// skipped, the good one is published.
		add(HostMain, "bad-main", map[string]string{
			"labelgate.tunnel.web.hostname": "good.example.com", "labelgate.tunnel.web.service": Service("bad-main"),
			"labelgate.tunnel.bad.hostname": "bad.example.com", "labelgate.tunnel.bad.service": "ftp://bad-main:21",
		})
		// A typo on an agent's container.
		add(HostAgent2, "bad-a2", map[string]string{
			"labelgate.tunnel.web.hostnme": "typo.example.com", "labelgate.tunnel.web.service": Service("bad-a2"),
			"labelgate.tunnel.ok.hostname": "ok-a2.example.com", "labelgate.tunnel.ok.service": "http://bad-a2:8081",
		})
		cs.wants = append(cs.wants, Want{"good.example.com", Service("bad-main")}, Want{"ok-a2.example.com", "http://bad-a2:8081"})
	}
	return cs
}

func (cs *coldStart) containers() []Container {
	var out []Container
	for _, name := range slices.Sorted(maps.Keys(cs.specs)) {
		out = append(out, cs.specs[name])
	}
	return out
}

// quiet waits until the audit log has not grown for d (at most within) and
// returns it: the calls a convergence made, including its tail.
func quiet(c *Cluster, d, within time.Duration) []cfsim.AuditEntry {
	c.t.Helper()
	deadline := time.Now().Add(within)
	last, since := -1, time.Now()
	for {
		a := c.Sim.Audit()
		if Mark(a) != last {
			last, since = Mark(a), time.Now()
		}
		if time.Since(since) >= d || time.Now().After(deadline) {
			return a
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// endpointCounts summarises calls by method and path shape.
func endpointCounts(audit []cfsim.AuditEntry, mark int) string {
	counts := map[string]int{}
	for _, e := range audit {
		if e.Seq <= mark {
			continue
		}
		p := e.Path
		for _, id := range e.IDs {
			p = strings.ReplaceAll(p, id, "{id}")
		}
		parts := strings.Split(p, "/")
		for i, s := range parts {
			if len(s) >= 32 {
				parts[i] = "{id}"
			}
		}
		counts[e.Method+" "+strings.Join(parts, "/")]++
	}
	var out []string
	for _, k := range slices.Sorted(maps.Keys(counts)) {
		out = append(out, fmt.Sprintf("%s ×%d", k, counts[k]))
	}
	return strings.Join(out, ", ")
}

// TestScenarios runs scenarios 1, 8, 2, 5, 3, 4 and 6 on one cluster, in
// that order, sharing the cold start. Each later scenario relies on the
// ones before leaving nothing pending (no grace running), so that "no
// writes" windows mean what they say.
func TestScenarios(t *testing.T) {
	env := Setup(t)
	t.Parallel()
	c := NewCluster(t, env, scenarioGrace)
	watch := c.Sim.Watch(c.TunnelID, 50*time.Millisecond)
	cs := newColdStart(c, 10, true)
	ids := map[string]string{}

	// live is every hostname that must never disappear from the cold start
	// on: filled after scenario 1, narrowed by the scenarios that remove
	// something on purpose, checked at the end across every snapshot.
	var live []Live
	var liveSince time.Time
	dropLive := func(hosts ...string) {
		live = slices.DeleteFunc(live, func(l Live) bool { return slices.Contains(hosts, l.Host) })
	}
	wants := slices.Clone(cs.wants)

	ok := t.Run("1-cold-start", func(t *testing.T) {
		t0 := time.Now()
		started := env.StartAll(cs.containers())
		for i, ct := range cs.containers() {
			ids[ct.Name] = started[i]
		}
		t1 := time.Now()
		c.StartMain()
		c.StartAgents()
		t2 := time.Now()
		sn, _ := c.WaitConverged(2*time.Minute, "cold start", wants)
		started0 := c.MainStartedAt()
		routes := time.Since(started0)
		Eventually(t, 30*time.Second, "the TXT record and the Access app", func() bool {
			s := c.Snapshot()
			_, txt := s.Record("TXT", "mw02-txt.example.com")
			return txt && slices.ContainsFunc(s.Apps, func(a cfsim.AccessApp) bool { return a.Domain == "mw03.example.com" && !a.Foreign })
		})
		total := time.Since(started0)
		audit := quiet(c, 3*time.Second, 30*time.Second)
		n, _ := Calls(audit, 0)
		writes := Writes(audit, 0)
		t.Logf("cold start: %d workload containers (3 hosts) created in %.1fs; main and the agents' containers in %.1fs; %d tunnel routes+CNAMEs converged %.1fs after main's process started, the TXT record and Access app too after %.1fs; %d Cloudflare calls, %d writes: %s",
			len(cs.specs), t1.Sub(t0).Seconds(), t2.Sub(t1).Seconds(), len(wants), routes.Seconds(), total.Seconds(), n, len(writes), endpointCounts(audit, 0))
		if d := sn.Duplicates(); len(d) > 0 {
			t.Fatalf("duplicates after the cold start: %v", d)
		}
		for _, a := range []string{Agent1, Agent2} {
			st := c.Agent(a)
			if !st.Connected || st.TLSMode != "token-bound" {
				t.Errorf("agent %s: %+v; want connected over wss:// with the token proof bound to the TLS session", a, st)
			}
		}
		// Steady state: nothing to write.
		mark := Mark(audit)
		time.Sleep(3 * time.Second)
		if w := Writes(c.Sim.Audit(), mark); len(w) > 0 {
			t.Errorf("a converged cluster keeps writing: %s", Describe(w))
		}
		sn = c.Snapshot()
		liveSince = time.Now()
		for _, w := range wants {
			id, _ := sn.Record("CNAME", w.Host)
			live = append(live, Live{Host: w.Host, Service: w.Service, RecordID: id, Since: liveSince})
		}
	})
	if !ok {
		t.Fatal("the cold start failed; the other scenarios depend on it")
	}

	t.Run("8-bad-input", func(t *testing.T) {
		var res struct {
			LabelErrors []LabelError `json:"label_errors"`
		}
		// The typo is reported twice: the unknown property, and the
		// hostname the service then lacks.
		want := []string{
			"agent:" + Agent2 + "/" + env.Name("bad-a2") + "/labelgate.tunnel.web.hostname",
			"agent:" + Agent2 + "/" + env.Name("bad-a2") + "/labelgate.tunnel.web.hostnme",
			"local/" + env.Name("bad-main") + "/labelgate.tunnel.bad.service",
		}
		var got []string
		deadline := time.Now().Add(20 * time.Second)
		for {
			got = nil
			if err := c.API("/api/v1/label-errors", &res); err == nil {
				for _, e := range res.LabelErrors {
					got = append(got, e.Source+"/"+e.Container+"/"+e.Key)
				}
			}
			sort.Strings(got)
			if slices.Equal(got, want) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("label errors:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
			}
			time.Sleep(200 * time.Millisecond)
		}
		sn := c.Snapshot()
		for _, h := range []string{"bad.example.com", "typo.example.com"} {
			if sn.RuleCount(h) > 0 {
				t.Errorf("%s comes from a broken label and must not be published", h)
			}
		}
		for _, e := range res.LabelErrors {
			t.Logf("reported: %s %s %s: %s", e.Source, e.Container, e.Key, e.Message)
		}
		t.Logf("bad input: 2 containers with broken labels reported by name and key; their valid neighbours (good.example.com, ok-a2.example.com) and the other %d hostnames published", len(wants)-2)
	})

	t.Run("2-lifecycle", func(t *testing.T) {
		targets := []string{"mw01", "a1w01", "a2w01"}
		var targetLive []Live
		for _, l := range live {
			if slices.Contains(targets, strings.TrimSuffix(l.Host, ".example.com")) {
				targetLive = append(targetLive, l)
			}
		}
		mark := Mark(c.Sim.Audit())
		from := time.Now()
		// Each container is away from its stop until it runs again for as
		// long as the engine takes (seconds on a loaded machine); the grace
		// must cover that, or a delete is the right answer.
		var longest time.Duration
		var longestWhat string
		away := func(what, n string, f func()) {
			start := time.Now()
			f()
			if d := time.Since(start); d > longest {
				longest, longestWhat = d, what+" "+n
			}
		}
		for _, n := range targets {
			away("stop+start", n, func() { env.Stop(ids[n]); env.StartAgain(ids[n]) })
		}
		time.Sleep(2 * time.Second)
		for _, n := range targets {
			away("restart", n, func() { env.Restart(ids[n]) })
		}
		time.Sleep(2 * time.Second)
		// Recreate, as `docker compose up` does for a new version: the old
		// container goes, a new one with the same name and labels comes.
		for _, n := range targets {
			away("recreate", n, func() { env.Remove(ids[n]); ids[n] = env.Start(cs.specs[n]) })
		}
		if longest > c.Grace-time.Second {
			t.Fatalf("the engine took %v for %s, more than the grace of %v allows; raise scenarioGrace for this machine", longest, longestWhat, c.Grace)
		}
		time.Sleep(c.Grace + 2*time.Second) // any delete wrongly scheduled would have run
		audit := c.Sim.Audit()
		if w := Writes(audit, mark); len(w) > 0 {
			t.Errorf("stop/start, restart and recreate caused writes:%s", Describe(w))
		}
		if bad := watch.NeverGone(from, targetLive); len(bad) > 0 {
			t.Errorf("a live hostname was removed: %v", bad)
		}
		n, _ := Calls(audit, mark)
		t.Logf("stop+start, restart and recreate of 3 containers (main, outbound agent, inbound agent; each away up to %.1fs, grace %v): %d calls, %d writes, hostnames never absent",
			longest.Seconds(), c.Grace, n, len(Writes(audit, mark)))

		// Gone for good: cleanup=true objects leave after the grace; the
		// cleanup=false route stays.
		sn := c.Snapshot()
		removedCNAMEs := map[string]bool{}
		for _, n := range targets {
			id, _ := sn.Record("CNAME", n+".example.com")
			removedCNAMEs[id] = true
		}
		mark = Mark(c.Sim.Audit())
		stopped := time.Now()
		for _, n := range append(slices.Clone(targets), "mw10") {
			env.Remove(ids[n])
		}
		var took time.Duration
		Eventually(t, c.Grace+45*time.Second, "cleanup=true routes and CNAMEs removed", func() bool {
			s := c.Snapshot()
			for _, n := range targets {
				if s.RuleCount(n+".example.com") > 0 || len(s.Records["CNAME "+n+".example.com"]) > 0 {
					return false
				}
			}
			took = time.Since(stopped)
			return true
		})
		if took < c.Grace-time.Second {
			t.Errorf("removed %.1fs after the stop, before the grace of %v", took.Seconds(), c.Grace)
		}
		// mw10's grace ended with the others': retained, not deleted.
		Eventually(t, 10*time.Second, "mw10.example.com retained", func() bool {
			hs, err := c.Hostnames("retained")
			return err == nil && slices.ContainsFunc(hs, func(h Hostname) bool { return h.Hostname == "mw10.example.com" })
		})
		audit = quiet(c, 2*time.Second, 20*time.Second)
		sn = c.Snapshot()
		if _, ok := sn.Rule("mw10.example.com"); !ok {
			t.Errorf("mw10 has cleanup=false: its route must be retained")
		}
		var unexpected []string
		for _, id := range DeletedIDs(audit, mark, sn, c.TunnelID) {
			if !removedCNAMEs[id] {
				unexpected = append(unexpected, id)
			}
		}
		if len(unexpected) > 0 {
			t.Errorf("objects deleted that nobody removed: %v%s", unexpected, Describe(Writes(audit, mark)))
		}
		n, _ = Calls(audit, mark)
		t.Logf("removal: 3 cleanup=true hostnames gone %.1fs after their containers (grace %v), 1 cleanup=false retained; %d calls, %d writes",
			took.Seconds(), c.Grace, n, len(Writes(audit, mark)))
		dropLive("mw01.example.com", "a1w01.example.com", "a2w01.example.com")
		wants = slices.DeleteFunc(wants, func(w Want) bool {
			return slices.Contains([]string{"mw01.example.com", "a1w01.example.com", "a2w01.example.com"}, w.Host)
		})
	})

	t.Run("health", func(t *testing.T) {
		// The image's own HEALTHCHECK (30 s interval) on long-running
		// containers: main's /healthz and the agents' health port.
		for name, id := range map[string]string{"main": c.MainID, "agent1": c.Agent1ID, "agent2": c.Agent2ID} {
			Eventually(t, 45*time.Second, name+" healthy", func() bool { return env.HealthStatus(id) == "healthy" })
		}
		t.Logf("main, agent1 and agent2 report healthy through the image's HEALTHCHECK (labelgate healthcheck)")
	})

	t.Run("5-failover", func(t *testing.T) {
		const host = "failover.example.com"
		x1 := env.Start(c.Workload(HostAgent1, "x1", TunnelLabels("x1", host, true)))
		sn, _ := c.WaitConverged(30*time.Second, "the first claimant's route", []Want{{host, Service("x1")}})
		cname, _ := sn.Record("CNAME", host)
		env.Start(c.Workload(HostAgent2, "x2", TunnelLabels("x2", host, true)))
		var conflict Conflict
		Eventually(t, 30*time.Second, "the conflict reported with agent1 winning", func() bool {
			var res struct {
				Conflicts []Conflict `json:"conflicts"`
			}
			if c.API("/api/v1/conflicts", &res) != nil {
				return false
			}
			for _, cf := range res.Conflicts {
				if cf.Hostname == host && cf.Kind == "claim" && cf.Winner.Source == "agent:"+Agent1 &&
					slices.ContainsFunc(cf.Queued, func(q Claimant) bool { return q.Source == "agent:"+Agent2 }) {
					conflict = cf
					return true
				}
			}
			return false
		})
		t.Logf("conflict: %s", conflict.Message)
		if r, _ := c.Snapshot().Rule(host); r.Service != Service("x1") {
			t.Fatalf("the first registration must keep the hostname: rule %+v", r)
		}
		mark := Mark(c.Sim.Audit())
		stopped := time.Now()
		env.Stop(x1)
		c.WaitConverged(c.Grace+45*time.Second, "takeover by the queued claimant", []Want{{host, Service("x2")}})
		took := time.Since(stopped)
		audit := quiet(c, 2*time.Second, 20*time.Second)
		if took < c.Grace-time.Second {
			t.Errorf("taken over %.1fs after the stop, before the grace of %v", took.Seconds(), c.Grace)
		}
		if bad := watch.NeverGone(stopped, []Live{{Host: host, RecordID: cname}}); len(bad) > 0 {
			t.Errorf("the hostname was not kept through the takeover: %v", bad)
		}
		if d := DeletedIDs(audit, mark, c.Snapshot(), c.TunnelID); len(d) > 0 || len(Deletes(audit, mark)) > 0 {
			t.Errorf("the takeover deleted something:%s", Describe(Writes(audit, mark)))
		}
		n, _ := Calls(audit, mark)
		t.Logf("failover: agent2's container took %s over %.1fs after agent1's stopped (grace %v), rule updated in place, same CNAME; %d calls, %d writes: %s",
			host, took.Seconds(), c.Grace, n, len(Writes(audit, mark)), endpointCounts(audit, mark))
		live = append(live, Live{Host: host, Service: Service("x2"), RecordID: cname, Since: time.Now()})
		wants = append(wants, Want{host, Service("x2")})
	})

	t.Run("3-partition", func(t *testing.T) {
		hostsOf := func(prefix string) []string {
			var out []string
			for _, w := range wants {
				if strings.HasPrefix(w.Host, prefix) {
					out = append(out, w.Host)
				}
			}
			return out
		}
		// sample records main's view of an agent every 100 ms until stop.
		sample := func(agent string, stop <-chan struct{}) <-chan bool {
			everDown := make(chan bool, 1)
			go func() {
				down := false
				for {
					select {
					case <-stop:
						everDown <- down
						return
					case <-time.After(100 * time.Millisecond):
						if st := c.Agent(agent); st.Name != "" && !st.Connected {
							down = true
						}
					}
				}
			}()
			return everDown
		}

		// Shorter than the heartbeat timeout (1 s pings, 3 s timeout).
		mark := Mark(c.Sim.Audit())
		stop := make(chan struct{})
		down := sample(Agent1, stop)
		env.Disconnect(c.Agent1ID, c.LAN1)
		time.Sleep(1500 * time.Millisecond)
		env.Connect(c.Agent1ID, c.LAN1, HostAgent1)
		time.Sleep(4 * time.Second)
		close(stop)
		Eventually(t, 30*time.Second, "agent1 connected after a short partition", func() bool { return c.Agent(Agent1).Connected })
		wasDown := <-down
		if w := Writes(c.Sim.Audit(), mark); len(w) > 0 {
			t.Errorf("a 1.5 s partition caused writes:%s", Describe(w))
		}
		t.Logf("short partition (1.5s < 3s heartbeat timeout) of the outbound agent: session dropped=%v, 0 writes", wasDown)

		// Longer than the timeout, nothing changes meanwhile.
		for _, p := range []struct {
			agent, host, net, alias string
			id                      string
			change                  bool
		}{
			{Agent1, "a1w", c.LAN1, HostAgent1, c.Agent1ID, false},
			{Agent2, "a2w", c.LAN2, HostAgent2, c.Agent2ID, true},
		} {
			mark := Mark(c.Sim.Audit())
			cut := time.Now()
			env.Disconnect(p.id, p.net)
			Eventually(t, 15*time.Second, p.agent+" seen disconnected", func() bool { return !c.Agent(p.agent).Connected })
			detected := time.Since(cut)
			var frozen []string
			Eventually(t, 10*time.Second, p.agent+"'s hostnames frozen", func() bool {
				hs, err := c.Hostnames("frozen")
				if err != nil {
					return false
				}
				frozen = nil
				for _, h := range hs {
					if h.Winner.Source == "agent:"+p.agent {
						frozen = append(frozen, h.Hostname)
					}
				}
				return len(frozen) >= len(hostsOf(p.host))
			})
			newHost := ""
			if p.change {
				// A container started on the cut-off host: main hears of it
				// only after the partition heals.
				newHost = "a2new.example.com"
				env.Start(c.Workload(HostAgent2, "a2new", TunnelLabels("a2new", newHost, true)))
			}
			time.Sleep(time.Until(cut.Add(8 * time.Second)))
			if w := Writes(c.Sim.Audit(), mark); len(w) > 0 {
				t.Errorf("writes while %s was partitioned:%s", p.agent, Describe(w))
			}
			healed := time.Now()
			env.Connect(p.id, p.net, p.alias)
			Eventually(t, 60*time.Second, p.agent+" reconnected", func() bool { return c.Agent(p.agent).Connected })
			back := time.Since(healed)
			if p.change {
				_, took := c.WaitConverged(30*time.Second, "the container started during the partition", []Want{{newHost, Service("a2new")}})
				back += took
			}
			audit := quiet(c, 3*time.Second, 30*time.Second)
			writes := Writes(audit, mark)
			if !p.change && len(writes) > 0 {
				t.Errorf("%s reconnected with nothing changed, yet Labelgate wrote:%s", p.agent, Describe(writes))
			}
			if d := DeletedIDs(audit, mark, c.Snapshot(), c.TunnelID); len(d) > 0 || len(Deletes(audit, mark)) > 0 {
				t.Errorf("the partition of %s deleted something:%s", p.agent, Describe(writes))
			}
			Eventually(t, 10*time.Second, p.agent+"'s hostnames active again", func() bool {
				hs, err := c.Hostnames("frozen")
				return err == nil && !slices.ContainsFunc(hs, func(h Hostname) bool { return h.Winner.Source == "agent:"+p.agent })
			})
			n, _ := Calls(audit, mark)
			what := "nothing changed"
			if p.change {
				what = "1 container started meanwhile"
				id, _ := c.Snapshot().Record("CNAME", newHost)
				live = append(live, Live{Host: newHost, Service: Service("a2new"), RecordID: id, Since: time.Now()})
				wants = append(wants, Want{newHost, Service("a2new")})
			}
			t.Logf("partition of %s (%s) for 8s: detected after %.1fs, %d hostnames frozen, 0 writes while cut off; converged %.1fs after healing (%s): %d calls, %d writes",
				p.agent, c.Agent(p.agent).Mode, detected.Seconds(), len(frozen), back.Seconds(), what, n, len(writes))
		}
	})

	t.Run("4-main-killed", func(t *testing.T) {
		var batch []Container
		var newWants []Want
		for i, host := range []string{HostMain, HostMain, HostMain, HostMain, HostAgent1, HostAgent1, HostAgent2, HostAgent2} {
			name := fmt.Sprintf("k%02d", i+1)
			batch = append(batch, c.Workload(host, name, TunnelLabels(name, name+".example.com", true)))
			newWants = append(newWants, Want{name + ".example.com", Service(name)})
		}
		mark := Mark(c.Sim.Audit())
		wait := env.StartAllAsync(batch)
		var first cfsim.AuditEntry
		Eventually(t, 30*time.Second, "the first write of the batch", func() bool {
			w := Writes(c.Sim.Audit(), mark)
			if len(w) == 0 {
				return false
			}
			first = w[0]
			return true
		})
		killedAt := time.Now()
		env.Kill(c.MainID)
		wait()
		sn := c.Snapshot()
		published := len(newWants) - len(c.Missing(sn, newWants))
		killMark := Mark(c.Sim.Audit())
		time.Sleep(time.Second)
		c.RestartMain()
		_, took := c.WaitConverged(2*time.Minute, "convergence after main's restart", append(slices.Clone(wants), newWants...))
		Eventually(t, 60*time.Second, "both agents back", c.AgentsConnected)
		audit := quiet(c, 3*time.Second, 30*time.Second)
		sn = c.Snapshot()
		if d := sn.Duplicates(); len(d) > 0 {
			t.Errorf("duplicates after the restart: %v", d)
		}
		if d := DeletedIDs(audit, mark, sn, c.TunnelID); len(d) > 0 || len(Deletes(audit, mark)) > 0 {
			t.Errorf("the kill and restart deleted something:%s", Describe(Writes(audit, mark)))
		}
		n, _ := Calls(audit, killMark)
		t.Logf("main killed (docker kill issued) %s after the batch's first write (%s %s; %d of 8 new hostnames published), restarted with its volume: converged %.1fs after the restart; %d calls and %d writes after the restart; no deletes, no duplicates",
			killedAt.Sub(first.Time).Round(time.Millisecond), first.Method, first.Path, published, took.Seconds(), n, len(Writes(audit, killMark)))
		for _, w := range newWants {
			id, _ := sn.Record("CNAME", w.Host)
			live = append(live, Live{Host: w.Host, Service: w.Service, RecordID: id, Since: time.Now()})
		}
		wants = append(wants, newWants...)
	})

	t.Run("6-foreign-survives", func(t *testing.T) {
		audit := c.Sim.Audit()
		if foreign := foreignWrites(audit); len(foreign) > 0 {
			t.Errorf("writes touched someone else's objects:%s", Describe(foreign))
		}
		sn := c.Snapshot()
		st := c.Sim.MustState()
		var records []string
		for _, z := range st.Zones {
			for _, r := range z.Records {
				if slices.Contains(z.ForeignIDs, r.ID) {
					records = append(records, fmt.Sprintf("%s %s %s %q", r.Type, r.Name, r.Content, r.Comment))
				}
			}
		}
		slices.Sort(records)
		wantRecords := []string{`A legacy.example.com 198.51.100.7 "managed by hand"`, `MX example.com mx.example.net ""`}
		if !slices.Equal(records, wantRecords) {
			t.Errorf("foreign records %q, want %q", records, wantRecords)
		}
		if !slices.ContainsFunc(st.Apps, func(a cfsim.AccessApp) bool { return a.Foreign && a.Domain == "wiki.example.com" && a.Name == "wiki" }) ||
			!slices.ContainsFunc(st.Policies, func(p cfsim.AccessPolicy) bool { return p.Foreign && p.Name == "staff" }) {
			t.Errorf("the foreign Access app or policy changed or went away")
		}
		var foreignRule, catchAll = -1, -1
		want := compactJSON(t, ForeignRule)
		for i, raw := range sn.RawRules {
			switch compactJSON(t, string(raw)) {
			case want:
				foreignRule = i
			case `{"service":"http_status:404"}`:
				catchAll = i
			}
		}
		if foreignRule < 0 || catchAll != len(sn.RawRules)-1 {
			t.Errorf("the foreign rule (at %d) must stay verbatim and the catch-all last (at %d of %d):\n%s", foreignRule, catchAll, len(sn.RawRules), sn.Config)
		}
		var top struct {
			OriginRequest json.RawMessage `json:"originRequest"`
		}
		if err := json.Unmarshal(sn.Config, &top); err != nil || compactJSON(t, string(top.OriginRequest)) != `{"noTLSVerify":false}` {
			t.Errorf("the global originRequest must be kept verbatim: %s", sn.Config)
		}
		if bad := watch.NeverGone(liveSince, live); len(bad) > 0 {
			t.Errorf("hostnames that were live all along went missing at some point: %v", bad)
		}
		gaps, errs := watch.Gaps()
		n, faults := Calls(audit, 0)
		t.Logf("foreign DNS records, ingress rule (verbatim, catch-all last) and Access app+policy intact after every scenario; %d live hostnames never absent over %d snapshots (%d unobserved config versions, %d failed polls); whole run: %d calls, 0 foreign writes, faults %v",
			len(live), len(watch.Since(liveSince)), gaps, errs, n, faults)
	})
}

func compactJSON(t *testing.T, s string) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		return s
	}
	return b.String()
}

// TestScenarioFaults is scenario 7: the cold start of scenario 1 (30
// containers, 3 hosts) against a cfsim that answers every call with 429
// for the first 20 s and 20 % of the calls with 500 after that, under a
// tight rate limit a retry storm would exceed. It must converge with no
// duplicates and never trigger the lockout.
func TestScenarioFaults(t *testing.T) {
	env := Setup(t)
	t.Parallel()
	c := NewCluster(t, env, scenarioGrace)
	cs := newColdStart(c, 10, false)
	env.StartAll(cs.containers())

	// Main's own budget is 3/s with a burst of 10: at most 70 calls in any
	// 20 s. Retries that ignored it (or Retry-After) would pass 100.
	const limit, window = 100, 20 * time.Second
	c.Sim.SetRateLimit(limit, window, time.Minute)
	// The storm starts now, before main does, and outlasts main's start-up
	// (container creation takes seconds on a loaded engine). After it, the
	// next two calls fail with 500 and then one in five.
	const storm, retryAfter = 20 * time.Second, 2 * time.Second
	c.Sim.SetFaults(SimFaults{Storm429For: storm.String(), StormRetryAfter: retryAfter.String(), FailNext: 2, ErrorRate: 0.2, Seed: 7})
	c.StartMain()
	c.StartAgents()
	c.WaitConverged(3*time.Minute, "cold start under faults", cs.wants)
	took := time.Since(c.MainStartedAt())
	Eventually(t, time.Minute, "the TXT record and the Access app", func() bool {
		s := c.Snapshot()
		_, txt := s.Record("TXT", "mw02-txt.example.com")
		return txt && slices.ContainsFunc(s.Apps, func(a cfsim.AccessApp) bool { return a.Domain == "mw03.example.com" && !a.Foreign })
	})
	audit := quiet(c, 3*time.Second, 30*time.Second)
	c.Sim.SetFaults(SimFaults{})
	n, faults := Calls(audit, 0)
	if d := c.Snapshot().Duplicates(); len(d) > 0 {
		t.Errorf("duplicates after converging under faults: %v", d)
	}
	if faults["429-storm"] == 0 || faults["5xx"] == 0 {
		t.Fatalf("the injected faults never happened (%v); the test proves nothing", faults)
	}
	if faults["rate-limit"] > 0 {
		t.Errorf("retries exceeded the rate limit of %d per %v and locked the token out (%d locked-out calls)", limit, window, faults["rate-limit"])
	}
	// Every 429 of the storm pauses every call for Retry-After: at most
	// one round of in-flight calls (4) per pause.
	if maxStorm := 4 * (int(storm/retryAfter) + 1); faults["429-storm"] > maxStorm {
		t.Errorf("%d calls hit the %v 429 storm; honouring Retry-After %v allows about %d", faults["429-storm"], storm, retryAfter, maxStorm)
	}
	var peak int
	for i, e := range audit {
		j := i
		for j < len(audit) && audit[j].Time.Sub(e.Time) < window {
			j++
		}
		peak = max(peak, j-i)
	}
	t.Logf("cold start under a %v 429 storm (Retry-After %v), then 20%% 5xx: %d hostnames converged %.1fs after main's process started; %d calls (%d answered 429, %d answered 5xx, %d locked out); busiest %v window %d calls (limit %d)",
		storm, retryAfter, len(cs.wants), took.Seconds(), n, faults["429-storm"], faults["5xx"], faults["rate-limit"], window, peak, limit)
}
