// Package actors holds Labelgate's protoactor-go actors, one per file (the
// pure planners they call are in package plan).
//
// It owns supervision, message routing and the decisions of DESIGN §4–§6. It
// never talks to Docker or Cloudflare directly: I/O goes through dockerwatch,
// bridge and cfapi, and its results come back to an actor as messages.
// Code outside the tree reads it through Main's read API (reads.go), never
// from inside an actor. It depends on nothing of the HTTP surface: not web,
// not surface (the web.Backend adapter above it), not metrics (which it sees
// through CloudflareMetrics, PlannerMetrics and DockerMetrics);
// TestActorsDoNotImportTheHTTPSurface and `make lint` hold that edge.
package actors
