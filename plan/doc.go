// Package plan holds the values a planner returns: the changes it would
// write (kind, object, hostname, owner) and the conflicts it found
// (hostname, kind, reason), and the write policy that filters changes.
//
// Events, log lines, the API's conflicts and plan preview, the dashboard and
// the conflict metrics are all built from these values, so no consumer ever
// parses a hostname back out of a message.
//
// It owns the vocabulary of plans; it never plans (the planners in package
// actors do), talks to Cloudflare, or logs.
package plan
