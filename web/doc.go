// Package web is main's HTTP surface: the REST API (/api/v1/…), the
// server-rendered dashboard, Prometheus metrics (/metrics) and health
// (/healthz, /readyz), plus the agent's small health server.
//
// It reads everything through the Backend interface (package surface
// implements it over the running actors) and never touches the actors,
// Docker or Cloudflare itself. /metrics serves package metrics' registry
// (the event metrics the actors feed) plus gauges read from the Backend per
// scrape. Its own state is the parsed templates, the live dashboard
// sessions (in memory only, so a restart of main logs everyone out) and the
// budgets of failed authentication per client address; the last two are
// bounded (maxSessions, maxAuthAddrs). docs/operations.md documents every
// endpoint, metric and the authentication model (summed up above auth).
//
// Concurrency: New's handler is safe for concurrent requests. Its fields
// are read-only after New, except the session list and the failure
// throttle, each guarded by its own mutex (this package is a plain HTTP
// server, not an actor); no I/O happens while one is held. Each request
// bounds its Backend calls with a deadline (backendTimeout, healthTimeout,
// scrapeTimeout), so a slow actor answers 504 instead of holding a
// connection. Pages that need several Backend reads make them concurrently
// and render what they got, with the failures shown. The Backend gauges
// are read per scrape with the request's context.
//
// It never changes anything without a configured token, never accepts a
// state change by GET, never checks a token for a client over its budget of
// failures, and never renders backend text unescaped.
package web
