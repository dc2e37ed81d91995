// Package bridge is the main↔agent WebSocket protocol and transport: framing,
// mutual authentication, TLS, heartbeats and reconnect backoff for both
// connection modes.
//
// It never parses container labels (main does that) and never calls Cloudflare.
package bridge
