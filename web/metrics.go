package web

import (
	"context"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/labelgate/labelgate/metrics"
)

// scrapeTimeout bounds the Backend calls one /metrics scrape makes; a slow
// backend yields labelgate_backend_scrape_success 0, not a hung scrape.
const scrapeTimeout = 5 * time.Second

// metricsHandler serves the event metrics' registry plus the Backend
// gauges. The Backend collector lives in a registry made per scrape so it
// can use the request's context (a Collector gets none).
func metricsHandler(m *metrics.Metrics, b Backend, logger *slog.Logger, now func() time.Time) http.Handler {
	errLog := promLogger{logger}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scrape := prometheus.NewRegistry()
		scrape.MustRegister(&backendCollector{ctx: r.Context(), b: b, m: m, now: now})
		promhttp.HandlerFor(prometheus.Gatherers{m.Gatherer(), scrape}, promhttp.HandlerOpts{
			ErrorLog:      errLog,
			ErrorHandling: promhttp.ContinueOnError,
		}).ServeHTTP(w, r)
	})
}

type promLogger struct{ logger *slog.Logger }

func (l promLogger) Println(v ...any) {
	l.logger.Warn("serving metrics", "error", slog.AnyValue(v))
}

// States that are always exported (as 0 when absent) so that a series
// does not vanish when its count drops to zero.
var (
	hostnameStates = []string{"active", "frozen", "leaving", "retained", "refused"}
	agentStates    = []string{"connected", "disconnected", "stale", "decommissioned"}
	conflictKinds  = []string{"claim", "foreign", "orphan", "definition", "unplaced"}
	// tunnelStatuses are Cloudflare's tunnel statuses (cfapi.TunnelHealthy, …).
	tunnelStatuses = []string{"healthy", "degraded", "down", "inactive"}
)

var (
	descScrapeOK = prometheus.NewDesc("labelgate_backend_scrape_success",
		"Whether the backend answered this scrape's call (1) or not (0); the metrics of a failed call are missing.",
		[]string{"call"}, nil)
	descBuildInfo = prometheus.NewDesc("labelgate_build_info",
		"Always 1; the labels say the running version and mode.", []string{"version", "mode"}, nil)
	descSettled = prometheus.NewDesc("labelgate_settled",
		"1 once every known source reported (or the settle timeout passed); nothing is deleted before.", nil, nil)
	descDryRun = prometheus.NewDesc("labelgate_dry_run",
		"1 when labelgate plans and reports but writes nothing.", nil, nil)
	descHostnames = prometheus.NewDesc("labelgate_hostnames",
		"Hostnames by registry state.", []string{"state"}, nil)
	descLastSync = prometheus.NewDesc("labelgate_last_sync_timestamp_seconds",
		"Unix time of the planner's last successful reconcile.", []string{"planner"}, nil)
	descPending = prometheus.NewDesc("labelgate_pending_deletes",
		"Hostnames whose winner left and whose objects wait for the grace period to end.", nil, nil)
	descNextDue = prometheus.NewDesc("labelgate_pending_delete_next_due_timestamp_seconds",
		"Unix time the earliest pending delete is due (absent when none is pending).", nil, nil)
	descConflicts = prometheus.NewDesc("labelgate_conflicts",
		"Hostnames that cannot be applied as asked, by kind (claim: claimants queue; foreign: an object labelgate does not own is in the way).",
		[]string{"kind"}, nil)
	descLabelErrors = prometheus.NewDesc("labelgate_label_errors",
		"Refused container labels.", nil, nil)
	descAgents = prometheus.NewDesc("labelgate_agents",
		"Agents main knows, by state.", []string{"state"}, nil)
	descAgentUp = prometheus.NewDesc("labelgate_agent_connected",
		"1 while the agent is connected to main.", []string{"agent"}, nil)
	descAgentAge = prometheus.NewDesc("labelgate_agent_snapshot_age_seconds",
		"Time since main last heard from the agent (its last snapshot or heartbeat).", []string{"agent"}, nil)
	descTunnelConns = prometheus.NewDesc("labelgate_tunnel_connections",
		"Connections of the tunnel's connectors (cloudflared) that serve traffic, as last read (absent until the first read).",
		[]string{"tunnel"}, nil)
	descTunnelStatus = prometheus.NewDesc("labelgate_tunnel_status",
		"1 for the tunnel's status as Cloudflare last reported it, 0 for the others (all 0 until the first read).",
		[]string{"tunnel", "status"}, nil)
)

// backendCollector turns Backend answers into gauges at scrape time.
type backendCollector struct {
	ctx context.Context
	b   Backend
	m   *metrics.Metrics
	now func() time.Time
}

func (c *backendCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descScrapeOK, descBuildInfo, descSettled, descDryRun,
		descHostnames, descLastSync, descPending, descNextDue, descConflicts, descLabelErrors,
		descAgents, descAgentUp, descAgentAge, descTunnelConns, descTunnelStatus} {
		ch <- d
	}
}

func (c *backendCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(c.ctx, scrapeTimeout)
	defer cancel()

	var (
		wg                                sync.WaitGroup
		ov                                Overview
		agents                            []AgentView
		pending                           []PendingDelete
		conflicts                         []ConflictView
		labelErrs                         []LabelErrorView
		ovErr, agErr, pdErr, cfErr, leErr error
	)
	wg.Go(func() { ov, ovErr = c.b.Overview(ctx) })
	wg.Go(func() { agents, agErr = c.b.Agents(ctx) })
	wg.Go(func() { pending, pdErr = c.b.PendingDeletes(ctx) })
	wg.Go(func() { conflicts, cfErr = c.b.Conflicts(ctx) })
	wg.Go(func() { labelErrs, leErr = c.b.LabelErrors(ctx) })
	wg.Wait()

	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	success := func(call string, err error) bool {
		gauge(descScrapeOK, boolFloat(err == nil), call)
		return err == nil
	}

	lastSync := c.m.LastSyncs()
	if success("overview", ovErr) {
		gauge(descBuildInfo, 1, ov.Version, ov.Mode)
		gauge(descSettled, boolFloat(ov.Settled))
		gauge(descDryRun, boolFloat(ov.DryRun))
		for _, state := range withKnown(hostnameStates, ov.Hostnames) {
			gauge(descHostnames, float64(ov.Hostnames[state]), state)
		}
		for planner, at := range ov.LastSync {
			if at.After(lastSync[planner]) {
				lastSync[planner] = at
			}
		}
		for _, t := range ov.Tunnels {
			if t.Read() {
				gauge(descTunnelConns, float64(t.ActiveConnections), t.Name)
			}
			for _, status := range withKnown(tunnelStatuses, map[string]int{t.Status: 1}) {
				gauge(descTunnelStatus, boolFloat(status == t.Status), t.Name, status)
			}
		}
	}
	for _, planner := range slices.Sorted(maps.Keys(lastSync)) {
		if at := lastSync[planner]; !at.IsZero() {
			gauge(descLastSync, unixSeconds(at), planner)
		}
	}

	if success("pending_deletes", pdErr) {
		gauge(descPending, float64(len(pending)))
		var next time.Time
		for _, p := range pending {
			if !p.Due.IsZero() && (next.IsZero() || p.Due.Before(next)) {
				next = p.Due
			}
		}
		if !next.IsZero() {
			gauge(descNextDue, unixSeconds(next))
		}
	}

	if success("conflicts", cfErr) {
		byKind := map[string]int{}
		for _, cv := range conflicts {
			byKind[cv.Kind]++
		}
		for _, kind := range withKnown(conflictKinds, byKind) {
			gauge(descConflicts, float64(byKind[kind]), kind)
		}
	}

	if success("label_errors", leErr) {
		gauge(descLabelErrors, float64(len(labelErrs)))
	}

	if success("agents", agErr) {
		byState := map[string]int{}
		now := c.now()
		for _, a := range agents {
			byState[a.State]++
			gauge(descAgentUp, boolFloat(a.Connected), a.Name)
			if !a.LastSeen.IsZero() {
				gauge(descAgentAge, max(now.Sub(a.LastSeen).Seconds(), 0), a.Name)
			}
		}
		for _, state := range withKnown(agentStates, byState) {
			gauge(descAgents, float64(byState[state]), state)
		}
	}
}

// withKnown returns the known keys plus any other key of m, sorted after
// them, so output order is stable.
func withKnown(known []string, m map[string]int) []string {
	out := slices.Clone(known)
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if k != "" && !slices.Contains(known, k) {
			out = append(out, k)
		}
	}
	return out
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func unixSeconds(t time.Time) float64 {
	return float64(t.UnixNano()) / 1e9
}
