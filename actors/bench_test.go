package actors

// Micro-benchmarks of the registry's decisions and the tunnel planner at
// fleet size (issue 8; figures in docs/benchmarks.md, "Micro-benchmarks").
// They run with `make bench` (go test -bench, -benchmem) and never fail on
// timing. Run one with a profile:
//
//	go test ./actors -run '^$' -bench 'Registry' -benchmem -cpuprofile /tmp/registry.pprof

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/labelgate/labelgate/cfapi"
	"github.com/labelgate/labelgate/messages"
	"github.com/labelgate/labelgate/plan"
)

// Fleet shape of the benchmarks: 1,000 sources × 20 containers, one tunnel
// hostname each = 20,000 claims.
const (
	benchSources    = 1000
	benchContainers = 20
)

var benchT0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func benchSourceName(i int) string { return messages.AgentSource(fmt.Sprintf("agent%04d", i)) }

// benchSet is source i's container set: n containers with one tunnel route
// each (hostnames unique across the fleet); salt changes every service URL.
func benchSet(i, n int, version uint64, salt string) messages.ContainerSet {
	set := messages.ContainerSet{Source: benchSourceName(i), Version: version, ObservedAt: benchT0}
	for c := range n {
		name := fmt.Sprintf("svc%02d", c)
		set.Containers = append(set.Containers, messages.Container{
			ID: fmt.Sprintf("%04d%02d", i, c), Name: name, State: "running", Created: benchT0,
			Labels: map[string]string{
				"labelgate.tunnel.web.hostname": fmt.Sprintf("%s-a%04d.example.com", name, i),
				"labelgate.tunnel.web.service":  fmt.Sprintf("http://%s%s:80", name, salt),
			},
		})
	}
	return set
}

// benchRegistry is a settled registry holding sources × containers claims.
// It is built the way applySet builds it, but decides once at the end
// instead of after every set (which is what BenchmarkRegistryFleetFill
// measures), so the setup of the 20,000-claim benchmarks stays short.
func benchRegistry(tb testing.TB, sources, containers int) *registryState {
	tb.Helper()
	names := make([]string, sources)
	for i := range sources {
		names[i] = benchSourceName(i)
	}
	r := newRegistryState(testClaimConfig(), time.Hour, names)
	for i := range sources {
		set := benchSet(i, containers, 1, "")
		src := r.source(set.Source)
		src.status, src.version, src.since = sourceReported, set.Version, benchT0
		r.lastSets[set.Source] = set
		r.rebuild(set.Source, benchT0)
		r.rebuildTemplates(set.Source, benchT0)
	}
	r.decideAll(benchT0)
	r.markSettled(benchT0)
	r.drain()
	if got := len(r.hosts); got != sources*containers {
		tb.Fatalf("want %d hostnames, got %d", sources*containers, got)
	}
	return r
}

// benchFleet is the benchmarks' fleet: 1,000 × 20, or 50 × 20 under
// -short (the smoke run checks that they work, not what they cost).
func benchFleet() (sources, containers int) {
	if testing.Short() {
		return 50, benchContainers
	}
	return benchSources, benchContainers
}

// BenchmarkRegistryApplySet is the registry's work for one agent snapshot
// with a changed label in a 20,000-claim state: rebuild that source's claims,
// then decide the hostnames it claims or claimed.
func BenchmarkRegistryApplySet(b *testing.B) {
	sources, containers := benchFleet()
	r := benchRegistry(b, sources, containers)
	v := uint64(1)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		v++
		if !r.applySet(benchSet(i%sources, containers, v, fmt.Sprint(v%2)), benchT0) {
			b.Fatal("set refused")
		}
		r.drain()
	}
}

// BenchmarkRegistryDecideAll revisits 20,000 hostnames with nothing changed
// (what a grace tick does).
func BenchmarkRegistryDecideAll(b *testing.B) {
	sources, containers := benchFleet()
	r := benchRegistry(b, sources, containers)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		r.decideAll(benchT0)
		r.drain()
	}
	b.StopTimer()
	// What decideAll leaves for the store with nothing changed (rows are
	// written only when they change, so 0).
	r.decideAll(benchT0)
	w, _ := r.drain()
	b.ReportMetric(float64(len(w)), "store-writes/op")
}

// BenchmarkRegistryDesired assembles the 20,000-hostname desired state.
func BenchmarkRegistryDesired(b *testing.B) {
	sources, containers := benchFleet()
	r := benchRegistry(b, sources, containers)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		ds := r.desired()
		if len(ds.Records) != len(r.hosts) {
			b.Fatalf("records: %d", len(ds.Records))
		}
	}
}

// BenchmarkRegistryFlush is one emission of the desired state: assemble it
// and encode it to see whether it changed (the registry does this at most
// once per emission window, see emitWindow).
func BenchmarkRegistryFlush(b *testing.B) {
	sources, containers := benchFleet()
	r := benchRegistry(b, sources, containers)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		ds := r.desired()
		canon, err := json.Marshal(ds)
		if err != nil {
			b.Fatal(err)
		}
		_ = sha256.Sum256(canon)
	}
}

// BenchmarkRegistryFleetFill applies the first snapshot of every agent of a
// fleet to an empty registry, as after a restart of main: the cost of the
// whole re-convergence in the decider (sources × 20 containers).
func BenchmarkRegistryFleetFill(b *testing.B) {
	for _, sources := range []int{50, 100, 200, 1000} {
		b.Run(fmt.Sprintf("agents=%d", sources), func(b *testing.B) {
			if sources > 100 && testing.Short() {
				b.Skip("-short: the larger fleets take minutes")
			}
			sets := make([]messages.ContainerSet, sources)
			names := make([]string, sources)
			for i := range sources {
				sets[i], names[i] = benchSet(i, benchContainers, 1, ""), benchSourceName(i)
			}
			b.ReportAllocs()
			b.ResetTimer()
			var writes int
			for range b.N {
				r := newRegistryState(testClaimConfig(), time.Hour, names)
				writes = 0
				for _, s := range sets {
					r.applySet(s, benchT0)
					w, _ := r.drain()
					writes += len(w)
				}
			}
			b.ReportMetric(float64(writes), "store-writes/op")
		})
	}
}

// benchRules are n owned tunnel routes, sorted as the registry sends them.
func benchRules(n int) []messages.DesiredRule {
	out := make([]messages.DesiredRule, n)
	for i := range n {
		out[i] = messages.DesiredRule{Hostname: fmt.Sprintf("svc%04d.example.com", i), Service: fmt.Sprintf("http://svc%04d:80", i)}
		if i%10 == 0 {
			out[i].OriginRequest = json.RawMessage(`{"connectTimeout":30,"noTLSVerify":true}`)
		}
	}
	return out
}

// benchLive is a live tunnel configuration: the given owned rules as
// Cloudflare returns them, a few foreign rules, and the user's catch-all.
func benchLive(b *testing.B, rules []messages.DesiredRule) cfapi.TunnelConfig {
	b.Helper()
	doc := map[string]any{"originRequest": map[string]any{"connectTimeout": 10}}
	var ingress []any
	for _, r := range rules {
		m := map[string]any{"hostname": r.Hostname, "service": r.Service}
		if len(r.OriginRequest) > 0 {
			m["originRequest"] = json.RawMessage(r.OriginRequest)
		}
		ingress = append(ingress, m)
	}
	for i := range 5 {
		ingress = append(ingress, map[string]any{"hostname": fmt.Sprintf("manual%d.example.org", i), "service": "http://manual:80"})
	}
	ingress = append(ingress, map[string]any{"service": "http_status:404"})
	doc["ingress"] = ingress
	raw, err := json.Marshal(doc)
	if err != nil {
		b.Fatal(err)
	}
	var c cfapi.TunnelConfig
	if err := c.UnmarshalJSON(raw); err != nil {
		b.Fatal(err)
	}
	return c
}

// BenchmarkPlanTunnel merges 1,000 owned rules into a live configuration
// and canonicalises both to decide whether a PUT is needed.
func BenchmarkPlanTunnel(b *testing.B) {
	const n = 1000
	desired := benchRules(n)
	owned := map[plan.RuleKey]bool{}
	for _, r := range desired {
		owned[plan.RuleKey{Hostname: r.Hostname, Path: r.Path}] = true
	}
	pol := plan.Policy{Mode: "sync", Settled: true}
	cases := []struct {
		name    string
		live    cfapi.TunnelConfig
		owned   map[plan.RuleKey]bool
		changed bool
	}{
		// Drift reconcile: everything is in place, no PUT.
		{"unchanged", benchLive(b, desired), owned, false},
		// Cold start: 1,000 rules to add to a config holding only foreign ones.
		{"cold", benchLive(b, nil), map[plan.RuleKey]bool{}, true},
		// One service changed among 1,000.
		{"one-changed", benchLive(b, append([]messages.DesiredRule{{Hostname: desired[0].Hostname, Service: "http://old:80"}}, desired[1:]...)), owned, true},
	}
	for _, c := range cases {
		b.Run(fmt.Sprintf("rules=%d/%s", n, c.name), func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				pl := plan.Tunnel(c.live, desired, c.owned, pol)
				if pl.Changed != c.changed {
					b.Fatalf("changed = %v, want %v", pl.Changed, c.changed)
				}
			}
		})
	}
}
