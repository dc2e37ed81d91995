// Package plan holds the pure planners and the values they return. Tunnel,
// Zone and Access each compare what main wants (the desired state), what
// Cloudflare has (live objects) and what Labelgate owns (store ids, the
// ownership marker), and return one plan: the write to make, the typed
// changes it consists of (action, object, hostname, owner) and the typed
// conflicts found (hostname, kind, reason). Policy decides each change
// (sync, upsert-only, create-only; no delete before the settle point), the
// way a write policy filters changes in external-dns's plan package.
//
// Events, log lines, the API's conflicts and plan preview, the dashboard and
// the conflict metrics are built from these values, so no consumer ever
// parses a hostname back out of a message.
//
// It never performs I/O, logs or keeps state: the planner actors in package
// actors read, call these functions and write.
package plan
