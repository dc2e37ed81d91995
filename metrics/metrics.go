package metrics

import (
	"maps"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics owns labelgate's Prometheus registry. The actors report events to
// it through the methods below (all cheap, safe for concurrent use and safe
// on a nil *Metrics); the gauges that describe main's state are read from
// web's Backend at scrape time by the handler web serves on /metrics,
// which gathers this registry too (Gatherer).
type Metrics struct {
	reg *prometheus.Registry

	cfRequests    *prometheus.CounterVec
	cfDuration    *prometheus.HistogramVec
	cfRateLimited *prometheus.CounterVec
	cfPaused      *prometheus.CounterVec
	cfLimiterWait *prometheus.HistogramVec
	cfQueueDepth  *prometheus.GaugeVec
	dockerReconn  *prometheus.CounterVec
	convergence   *prometheus.HistogramVec
	desired       *prometheus.GaugeVec
	applied       *prometheus.GaugeVec

	mu       sync.Mutex
	lastSync map[string]time.Time // planner → last success, merged with Overview.LastSync
}

// New returns a Metrics with its own registry holding the event metrics
// and the Go and process collectors.
func New() *Metrics {
	m := &Metrics{
		reg:      prometheus.NewRegistry(),
		lastSync: map[string]time.Time{},
		cfRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "labelgate_cloudflare_requests_total",
			Help: "Cloudflare API calls by credential, endpoint and outcome (ok, an HTTP status code, transport_error or error).",
		}, []string{"credential", "endpoint", "status"}),
		cfDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "labelgate_cloudflare_request_duration_seconds",
			Help:    "Duration of Cloudflare API calls.",
			Buckets: prometheus.DefBuckets,
		}, []string{"credential", "endpoint"}),
		cfRateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "labelgate_cloudflare_rate_limited_total",
			Help: "Cloudflare answers with HTTP 429 (each pauses every call of the credential).",
		}, []string{"credential"}),
		cfPaused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "labelgate_cloudflare_paused_seconds_total",
			Help: "Time the credential's calls were paused after 429 answers.",
		}, []string{"credential"}),
		cfLimiterWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "labelgate_cloudflare_limiter_wait_seconds",
			Help:    "Time a Cloudflare call waited in the queue for the token bucket before it ran.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10), // 1 ms … 262 s
		}, []string{"credential"}),
		cfQueueDepth: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "labelgate_cloudflare_queue_depth",
			Help: "Cloudflare calls waiting for the token bucket.",
		}, []string{"credential"}),
		dockerReconn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "labelgate_docker_reconnects_total",
			Help: "Reconnections of a Docker event stream (local or an agent's).",
		}, []string{"source"}),
		convergence: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "labelgate_convergence_lag_seconds",
			Help:    "Time from a desired-state change to the planner having applied it.",
			Buckets: prometheus.ExponentialBuckets(0.25, 2, 14), // 0.25 s … 34 min
		}, []string{"planner"}),
		desired: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "labelgate_objects_desired",
			Help: "Cloudflare objects labelgate wants, by kind.",
		}, []string{"kind"}),
		applied: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "labelgate_objects_applied",
			Help: "Cloudflare objects labelgate wants that exist as wanted, by kind.",
		}, []string{"kind"}),
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.cfRequests, m.cfDuration, m.cfRateLimited, m.cfPaused, m.cfLimiterWait,
		m.cfQueueDepth, m.dockerReconn, m.convergence, m.desired, m.applied,
	)
	return m
}

// Call records one Cloudflare API call.
func (m *Metrics) Call(credential, endpoint, status string, took time.Duration) {
	if m == nil {
		return
	}
	m.cfRequests.WithLabelValues(credential, endpoint, status).Inc()
	m.cfDuration.WithLabelValues(credential, endpoint).Observe(took.Seconds())
}

// RateLimited records a 429 and the pause it caused.
func (m *Metrics) RateLimited(credential string, pause time.Duration) {
	if m == nil {
		return
	}
	m.cfRateLimited.WithLabelValues(credential).Inc()
	m.cfPaused.WithLabelValues(credential).Add(pause.Seconds())
}

// LimiterWait records how long a call waited for the token bucket.
func (m *Metrics) LimiterWait(credential string, wait time.Duration) {
	if m == nil {
		return
	}
	m.cfLimiterWait.WithLabelValues(credential).Observe(wait.Seconds())
}

// QueueDepth sets how many calls of the credential wait.
func (m *Metrics) QueueDepth(credential string, depth int) {
	if m == nil {
		return
	}
	m.cfQueueDepth.WithLabelValues(credential).Set(float64(depth))
}

// DockerReconnect records a reconnection of a Docker event stream.
func (m *Metrics) DockerReconnect(source string) {
	if m == nil {
		return
	}
	m.dockerReconn.WithLabelValues(source).Inc()
}

// ObserveConvergence records how long a planner took to apply a change.
func (m *Metrics) ObserveConvergence(planner string, lag time.Duration) {
	if m == nil {
		return
	}
	m.convergence.WithLabelValues(planner).Observe(lag.Seconds())
}

// SyncSucceeded records a planner's successful reconcile. An older time
// than the one known is ignored.
func (m *Metrics) SyncSucceeded(planner string, at time.Time) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if at.After(m.lastSync[planner]) {
		m.lastSync[planner] = at
	}
}

// SetDesiredApplied sets how many objects of a kind are wanted and how many
// of those exist as wanted.
func (m *Metrics) SetDesiredApplied(kind string, desired, applied int) {
	if m == nil {
		return
	}
	m.desired.WithLabelValues(kind).Set(float64(desired))
	m.applied.WithLabelValues(kind).Set(float64(applied))
}

// Gatherer is the registry of the event metrics and the Go and process
// collectors, for a /metrics handler to serve.
func (m *Metrics) Gatherer() prometheus.Gatherer { return m.reg }

// LastSyncs returns a copy of the event-reported sync times, by planner.
func (m *Metrics) LastSyncs() map[string]time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.lastSync)
}
