package metrics

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

// cloudflareMetrics is the actors package's CloudflareMetrics, restated:
// this package does not import actors.
type cloudflareMetrics interface {
	Call(credential, endpoint, status string, took time.Duration)
	RateLimited(credential string, pause time.Duration)
	LimiterWait(credential string, wait time.Duration)
	QueueDepth(credential string, depth int)
}

var _ cloudflareMetrics = (*Metrics)(nil)

// TestEventMetricsContract pins every event metric's name, type, labels and
// help text: dashboards and alerts depend on them (docs/operations.md).
func TestEventMetricsContract(t *testing.T) {
	t.Parallel()
	m := New()
	m.Call("default", "list_dns_records", "ok", 150*time.Millisecond)
	m.RateLimited("default", 30*time.Second)
	m.LimiterWait("default", time.Second)
	m.QueueDepth("default", 4)
	m.DockerReconnect("local")
	m.ObserveConvergence("tunnel:default", 3*time.Second)
	m.SetDesiredApplied("dns_record", 5, 4)

	want := map[string]string{
		"labelgate_cloudflare_requests_total COUNTER credential,endpoint,status":      "Cloudflare API calls by credential, endpoint and outcome (ok, an HTTP status code, transport_error or error).",
		"labelgate_cloudflare_request_duration_seconds HISTOGRAM credential,endpoint": "Duration of Cloudflare API calls.",
		"labelgate_cloudflare_rate_limited_total COUNTER credential":                  "Cloudflare answers with HTTP 429 (each pauses every call of the credential).",
		"labelgate_cloudflare_paused_seconds_total COUNTER credential":                "Time the credential's calls were paused after 429 answers.",
		"labelgate_cloudflare_limiter_wait_seconds HISTOGRAM credential":              "Time a Cloudflare call waited in the queue for the token bucket before it ran.",
		"labelgate_cloudflare_queue_depth GAUGE credential":                           "Cloudflare calls waiting for the token bucket.",
		"labelgate_docker_reconnects_total COUNTER source":                            "Reconnections of a Docker event stream (local or an agent's).",
		"labelgate_convergence_lag_seconds HISTOGRAM planner":                         "Time from a desired-state change to the planner having applied it.",
		"labelgate_objects_desired GAUGE kind":                                        "Cloudflare objects labelgate wants, by kind.",
		"labelgate_objects_applied GAUGE kind":                                        "Cloudflare objects labelgate wants that exist as wanted, by kind.",
	}
	families, err := m.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	var runtime []string
	for _, f := range families {
		if !strings.HasPrefix(f.GetName(), "labelgate_") {
			runtime = append(runtime, f.GetName())
			continue
		}
		var labels []string
		for _, lp := range f.GetMetric()[0].GetLabel() {
			labels = append(labels, lp.GetName())
		}
		slices.Sort(labels)
		got[f.GetName()+" "+f.GetType().String()+" "+strings.Join(labels, ",")] = f.GetHelp()
	}
	for k, help := range want {
		if got[k] != help {
			t.Errorf("%s: help %q, want %q", k, got[k], help)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected family %s", k)
		}
	}
	for _, name := range []string{"go_goroutines", "process_start_time_seconds"} {
		if !slices.Contains(runtime, name) {
			t.Errorf("the Go and process collectors: %s is missing", name)
		}
	}
}

// SyncSucceeded keeps each planner's newest time; LastSyncs is a copy.
func TestLastSyncs(t *testing.T) {
	t.Parallel()
	m := New()
	now := time.Now()
	m.SyncSucceeded("access", now)
	m.SyncSucceeded("access", now.Add(-time.Hour)) // older: ignored
	got := m.LastSyncs()
	if !maps.Equal(got, map[string]time.Time{"access": now}) {
		t.Fatalf("LastSyncs = %v", got)
	}
	got["access"] = time.Time{}
	if !m.LastSyncs()["access"].Equal(now) {
		t.Fatal("LastSyncs must return a copy")
	}
}

// A nil *Metrics is a no-op for the actors.
func TestNilMetrics(t *testing.T) {
	t.Parallel()
	var nilMetrics *Metrics
	var cf cloudflareMetrics = nilMetrics
	cf.Call("x", "y", "ok", time.Second)
	cf.RateLimited("x", time.Second)
	cf.LimiterWait("x", time.Second)
	cf.QueueDepth("x", 1)
	nilMetrics.DockerReconnect("local")
	nilMetrics.ObserveConvergence("p", time.Second)
	nilMetrics.SyncSucceeded("p", time.Now())
	nilMetrics.SetDesiredApplied("k", 1, 1)
}
