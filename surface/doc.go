// Package surface is the adapter between main's HTTP surface and its running
// actor tree: Surface implements web.Backend over an actors.Main.
//
// It owns the translation from what the actors answer (the registry's
// report, planner statuses, the agent directory, store reads) into web's
// views, the plan preview (the pure planners of package plan over fresh
// reads, writing nothing), and a short cache (30 s) of its Cloudflare reads
// so a dashboard left open does not spend the API budget. Every Cloudflare
// read goes through the credential's cloudflare actor at background
// priority (actors.Main.Cloudflare), with the credential the actors use
// (config.CredentialRules, plan.AssignZones).
//
// It runs on the HTTP server's goroutines and talks to the actors only with
// request/reply through actors.Main's read API (Ask, PlannerStatuses,
// Owned, Cloudflare, Resync); it never runs inside an actor, never holds a
// PID, never calls cfapi, Docker or the store directly and never decides
// anything the registry or a planner decides. Neither actors nor web
// imports it; cmd/labelgate wires it.
package surface
