package web

import (
	"errors"
	"maps"
	"math"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/labelgate/labelgate/metrics"
)

// scrape serves /metrics and parses it with the Prometheus text parser.
func scrape(t *testing.T, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	w := serve(t, h, req{path: "/metrics"})
	if w.Code != http.StatusOK {
		t.Fatalf("GET /metrics: status %d; body:\n%s", w.Code, w.Body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(w.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return families
}

// sample is one expected series: a family, its labels and its value (for a
// histogram: the sample count and sum).
type sample struct {
	family string
	typ    dto.MetricType
	labels map[string]string
	value  float64
	sum    float64 // histograms only
}

func findMetric(f *dto.MetricFamily, labels map[string]string) *dto.Metric {
	for _, m := range f.GetMetric() {
		got := map[string]string{}
		for _, lp := range m.GetLabel() {
			got[lp.GetName()] = lp.GetValue()
		}
		if maps.Equal(got, labels) {
			return m
		}
	}
	return nil
}

func checkSamples(t *testing.T, families map[string]*dto.MetricFamily, want []sample) {
	t.Helper()
	for _, s := range want {
		f, ok := families[s.family]
		if !ok {
			t.Errorf("family %s is missing", s.family)
			continue
		}
		if f.GetType() != s.typ {
			t.Errorf("%s is a %v, want %v", s.family, f.GetType(), s.typ)
			continue
		}
		m := findMetric(f, s.labels)
		if m == nil {
			t.Errorf("%s%v is missing; have %v", s.family, s.labels, f.GetMetric())
			continue
		}
		var got, gotSum float64
		switch s.typ {
		case dto.MetricType_COUNTER:
			got = m.GetCounter().GetValue()
		case dto.MetricType_GAUGE:
			got = m.GetGauge().GetValue()
		case dto.MetricType_HISTOGRAM:
			got = float64(m.GetHistogram().GetSampleCount())
			gotSum = m.GetHistogram().GetSampleSum()
		}
		if math.Abs(got-s.value) > 1e-6 || math.Abs(gotSum-s.sum) > 1e-6 {
			t.Errorf("%s%v = %v (sum %v), want %v (sum %v)", s.family, s.labels, got, gotSum, s.value, s.sum)
		}
	}
}

func unix(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

func TestMetrics(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	s := newServer(Config{Backend: newFakeBackend(), Metrics: m}, func() time.Time { return testNow })

	m.Call("default", "list_dns_records", "ok", 150*time.Millisecond)
	m.Call("default", "list_dns_records", "ok", 250*time.Millisecond)
	m.Call("default", "put_tunnel_config", "429", 50*time.Millisecond)
	m.RateLimited("default", 30*time.Second)
	m.LimiterWait("default", 1500*time.Millisecond)
	m.QueueDepth("default", 4)
	m.QueueDepth("lab", 0)
	m.DockerReconnect("local")
	m.DockerReconnect("agent-a")
	m.DockerReconnect("local")
	m.ObserveConvergence("tunnel:default", 3*time.Second)
	m.SyncSucceeded("tunnel:default", testNow.Add(-10*time.Second)) // newer than the overview's
	m.SyncSucceeded("tunnel:default", testNow.Add(-time.Hour))      // older: ignored
	m.SyncSucceeded("access", testNow.Add(-time.Minute))            // only reported as an event
	m.SetDesiredApplied("dns_record", 5, 4)
	m.SetDesiredApplied("tunnel_rule", 2, 2)

	const (
		counter   = dto.MetricType_COUNTER
		gauge     = dto.MetricType_GAUGE
		histogram = dto.MetricType_HISTOGRAM
	)
	l := func(kv ...string) map[string]string {
		out := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}
	families := scrape(t, s)
	checkSamples(t, families, []sample{
		// Event metrics.
		{"labelgate_cloudflare_requests_total", counter, l("credential", "default", "endpoint", "list_dns_records", "status", "ok"), 2, 0},
		{"labelgate_cloudflare_requests_total", counter, l("credential", "default", "endpoint", "put_tunnel_config", "status", "429"), 1, 0},
		{"labelgate_cloudflare_request_duration_seconds", histogram, l("credential", "default", "endpoint", "list_dns_records"), 2, 0.4},
		{"labelgate_cloudflare_rate_limited_total", counter, l("credential", "default"), 1, 0},
		{"labelgate_cloudflare_paused_seconds_total", counter, l("credential", "default"), 30, 0},
		{"labelgate_cloudflare_limiter_wait_seconds", histogram, l("credential", "default"), 1, 1.5},
		{"labelgate_cloudflare_queue_depth", gauge, l("credential", "default"), 4, 0},
		{"labelgate_cloudflare_queue_depth", gauge, l("credential", "lab"), 0, 0},
		{"labelgate_docker_reconnects_total", counter, l("source", "local"), 2, 0},
		{"labelgate_docker_reconnects_total", counter, l("source", "agent-a"), 1, 0},
		{"labelgate_convergence_lag_seconds", histogram, l("planner", "tunnel:default"), 1, 3},
		{"labelgate_objects_desired", gauge, l("kind", "dns_record"), 5, 0},
		{"labelgate_objects_applied", gauge, l("kind", "dns_record"), 4, 0},
		{"labelgate_objects_desired", gauge, l("kind", "tunnel_rule"), 2, 0},
		{"labelgate_last_sync_timestamp_seconds", gauge, l("planner", "tunnel:default"), unix(testNow.Add(-10 * time.Second)), 0},
		{"labelgate_last_sync_timestamp_seconds", gauge, l("planner", "zone:example.com"), unix(testNow.Add(-45 * time.Second)), 0},
		{"labelgate_last_sync_timestamp_seconds", gauge, l("planner", "access"), unix(testNow.Add(-time.Minute)), 0},

		// Backend gauges, read at scrape time.
		{"labelgate_build_info", gauge, l("version", "v1.2.3", "mode", "main"), 1, 0},
		{"labelgate_settled", gauge, l(), 1, 0},
		{"labelgate_dry_run", gauge, l(), 0, 0},
		{"labelgate_hostnames", gauge, l("state", "active"), 2, 0},
		{"labelgate_hostnames", gauge, l("state", "frozen"), 1, 0},
		{"labelgate_hostnames", gauge, l("state", "leaving"), 1, 0},
		{"labelgate_hostnames", gauge, l("state", "retained"), 0, 0},
		{"labelgate_hostnames", gauge, l("state", "refused"), 0, 0},
		{"labelgate_pending_deletes", gauge, l(), 1, 0},
		{"labelgate_pending_delete_next_due_timestamp_seconds", gauge, l(), unix(testNow.Add(4 * time.Minute)), 0},
		{"labelgate_conflicts", gauge, l("kind", "claim"), 1, 0},
		{"labelgate_conflicts", gauge, l("kind", "foreign"), 0, 0},
		{"labelgate_label_errors", gauge, l(), 2, 0},
		{"labelgate_agents", gauge, l("state", "connected"), 1, 0},
		{"labelgate_agents", gauge, l("state", "stale"), 1, 0},
		{"labelgate_agents", gauge, l("state", "disconnected"), 0, 0},
		{"labelgate_agents", gauge, l("state", "decommissioned"), 0, 0},
		{"labelgate_agent_connected", gauge, l("agent", "agent-a"), 1, 0},
		{"labelgate_agent_connected", gauge, l("agent", "agent-b"), 0, 0},
		{"labelgate_agent_snapshot_age_seconds", gauge, l("agent", "agent-a"), 10, 0},
		{"labelgate_agent_snapshot_age_seconds", gauge, l("agent", "agent-b"), 3 * 3600, 0},
		{"labelgate_tunnel_connections", gauge, l("tunnel", "default"), 2, 0},
		{"labelgate_tunnel_connections", gauge, l("tunnel", "edge"), 0, 0},
		{"labelgate_tunnel_status", gauge, l("tunnel", "default", "status", "healthy"), 1, 0},
		{"labelgate_tunnel_status", gauge, l("tunnel", "default", "status", "degraded"), 0, 0},
		{"labelgate_tunnel_status", gauge, l("tunnel", "default", "status", "down"), 0, 0},
		{"labelgate_tunnel_status", gauge, l("tunnel", "default", "status", "inactive"), 0, 0},
		{"labelgate_tunnel_status", gauge, l("tunnel", "edge", "status", "healthy"), 0, 0},
		{"labelgate_tunnel_status", gauge, l("tunnel", "edge", "status", "down"), 1, 0},
		{"labelgate_tunnel_status", gauge, l("tunnel", "spare", "status", "healthy"), 0, 0},
		{"labelgate_tunnel_status", gauge, l("tunnel", "spare", "status", "inactive"), 0, 0},
		{"labelgate_backend_scrape_success", gauge, l("call", "overview"), 1, 0},
		{"labelgate_backend_scrape_success", gauge, l("call", "agents"), 1, 0},
		{"labelgate_backend_scrape_success", gauge, l("call", "pending_deletes"), 1, 0},
		{"labelgate_backend_scrape_success", gauge, l("call", "conflicts"), 1, 0},
		{"labelgate_backend_scrape_success", gauge, l("call", "label_errors"), 1, 0},
	})

	// The Go and process collectors are registered.
	for _, name := range []string{"go_goroutines", "go_memstats_alloc_bytes", "process_cpu_seconds_total", "process_start_time_seconds"} {
		if _, ok := families[name]; !ok {
			t.Errorf("family %s is missing", name)
		}
	}
	// Every family of ours follows the naming conventions.
	for name, f := range families {
		if !strings.HasPrefix(name, "labelgate_") {
			continue
		}
		if f.GetHelp() == "" {
			t.Errorf("%s has no help text", name)
		}
		if f.GetType() == dto.MetricType_COUNTER && !strings.HasSuffix(name, "_total") {
			t.Errorf("counter %s does not end in _total", name)
		}
		if strings.Contains(name, "milliseconds") || strings.Contains(name, "_ms") {
			t.Errorf("%s is not in base units", name)
		}
	}
}

// The tunnel gauges: connections only once read; the four statuses always,
// and a status Cloudflare adds one day as a fifth series.
func TestMetricsTunnelConnectors(t *testing.T) {
	t.Parallel()
	b := newFakeBackend()
	b.set(func(f *fakeBackend) {
		f.overview.Tunnels = append(f.overview.Tunnels, TunnelHealth{Name: "odd", Status: "sleepy", ActiveConnections: 1, ReadAt: testNow})
	})
	s := newServer(Config{Backend: b, Metrics: metrics.New()}, func() time.Time { return testNow })
	families := scrape(t, s)
	perTunnel := func(family string) map[string][]string {
		out := map[string][]string{}
		for _, m := range families[family].GetMetric() {
			var tunnel, status string
			for _, lp := range m.GetLabel() {
				switch lp.GetName() {
				case "tunnel":
					tunnel = lp.GetValue()
				case "status":
					status = lp.GetValue()
				}
			}
			if m.GetGauge().GetValue() == 1 {
				status += "=1"
			}
			out[tunnel] = append(out[tunnel], status)
		}
		for k := range out {
			slices.Sort(out[k])
		}
		return out
	}
	got := perTunnel("labelgate_tunnel_status")
	want := map[string][]string{
		"default": {"degraded", "down", "healthy=1", "inactive"},
		"edge":    {"degraded", "down=1", "healthy", "inactive"},
		"spare":   {"degraded", "down", "healthy", "inactive"},
		"odd":     {"degraded", "down", "healthy", "inactive", "sleepy=1"},
	}
	if !maps.EqualFunc(got, want, slices.Equal) {
		t.Errorf("labelgate_tunnel_status by tunnel = %v, want %v", got, want)
	}
	conns := perTunnel("labelgate_tunnel_connections")
	if _, ok := conns["spare"]; ok || len(conns) != 3 {
		t.Errorf("labelgate_tunnel_connections for %v; a tunnel not read yet has none", slices.Sorted(maps.Keys(conns)))
	}
}

// A failing backend does not fail the scrape: the event metrics stay, the
// backend gauges go missing and labelgate_backend_scrape_success says so.
func TestMetricsBackendDown(t *testing.T) {
	t.Parallel()
	b := newFakeBackend()
	b.set(func(f *fakeBackend) { f.readErr = errors.New("registry restarting") })
	m := metrics.New()
	m.DockerReconnect("local")
	s := newServer(Config{Backend: b, Metrics: m}, func() time.Time { return testNow })
	families := scrape(t, s)

	f := families["labelgate_backend_scrape_success"]
	if f == nil {
		t.Fatal("labelgate_backend_scrape_success is missing")
	}
	var calls []string
	for _, mt := range f.GetMetric() {
		if mt.GetGauge().GetValue() != 0 {
			t.Errorf("scrape success %v = %v, want 0", mt.GetLabel(), mt.GetGauge().GetValue())
		}
		calls = append(calls, mt.GetLabel()[0].GetValue())
	}
	slices.Sort(calls)
	if want := []string{"agents", "conflicts", "label_errors", "overview", "pending_deletes"}; !slices.Equal(calls, want) {
		t.Errorf("scrape success calls %v, want %v", calls, want)
	}
	for _, name := range []string{"labelgate_hostnames", "labelgate_agents", "labelgate_conflicts", "labelgate_pending_deletes", "labelgate_label_errors"} {
		if _, ok := families[name]; ok {
			t.Errorf("%s is exported although the backend failed", name)
		}
	}
	if _, ok := families["labelgate_docker_reconnects_total"]; !ok {
		t.Error("the event metrics are gone when the backend fails")
	}
}

// Two servers over one Metrics (e.g. a test and main) do not collide.
func TestMetricsShared(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	a := newServer(Config{Backend: newFakeBackend(), Metrics: m}, time.Now)
	b := newServer(Config{Backend: newFakeBackend(), Metrics: m}, time.Now)
	scrape(t, a)
	scrape(t, b)
}
