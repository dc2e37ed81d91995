// Package web is main's HTTP surface: the REST API (/api/v1/…), the
// server-rendered dashboard, Prometheus metrics (/metrics) and health
// (/healthz, /readyz), plus the agent's small health server.
//
// It reads everything through the Backend interface and never touches the
// actors, Docker or Cloudflare itself.
package web
