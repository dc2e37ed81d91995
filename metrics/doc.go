// Package metrics owns labelgate's Prometheus registry and the event
// metrics the actors feed: Cloudflare calls, 429s and pauses, limiter wait,
// queue depth, Docker reconnects, convergence lag, last successful syncs and
// desired vs applied objects, plus the Go and process collectors.
//
// The actors see it only through their own small interfaces
// (actors.CloudflareMetrics, PlannerMetrics, DockerMetrics), which *Metrics
// implements; cmd/labelgate wires one Metrics into both the actors and web.
// Every method is cheap, safe for concurrent use and a no-op on a nil
// *Metrics.
//
// It never serves HTTP and never reads main's state: web serves /metrics,
// gathering this registry (Gatherer, LastSyncs) together with the gauges it
// reads from its Backend at scrape time. Metric names, labels and help texts
// are part of the operator's contract (docs/operations.md).
package metrics
