// Package store is Labelgate's SQLite persistence: one database file holding
// what must survive a restart of main.
//
// It owns the schema and its migrations, and six tables:
//
//	claims     when the registry first saw a container claim a hostname
//	hostnames  the registry's decision per hostname (winner, state, last spec)
//	owned      Cloudflare objects Labelgate created or adopted
//	events     the operator-facing event log
//	agents     the agents main has seen
//	meta       small key/value facts (e.g. the last settle time)
//
// The package stores and returns rows; it decides nothing. It never
// interprets the JSON it keeps (HostnameState.Spec, OwnedObject.Data) beyond
// checking that it is valid JSON, never calls Cloudflare or Docker, never
// logs and never starts goroutines. Errors are returned, wrapped with what
// was being done.
//
// # Concurrency
//
// A *Store has exactly one owner: the store actor. Nothing else touches the
// database, and the actor calls the Store from one goroutine at a time. The
// pool holds a single connection, so every statement and transaction is
// serialised; database/sql keeps individual calls memory-safe, but the
// package coordinates nothing across calls. Every list method returns a
// slice, so no cursor outlives a call. One process per database file.
//
// # Guarantees
//
//   - Times are stored as UTC unix milliseconds and returned in UTC,
//     truncated to the millisecond. A zero time on a required field is
//     stamped with the current time; a zero time on an optional one
//     (HostnameState.DueAt, Agent.StaleSince) is stored as NULL.
//   - Every list method returns a deterministic order, documented on it.
//   - Each batch method (ApplyOwned, AppendEvents, PruneEvents) runs in one
//     transaction: all of it is recorded or none of it.
//   - Deletes are idempotent: deleting a row that does not exist succeeds.
//   - Each migration runs in its own transaction together with the bump of
//     the schema version (SQLite's user_version), so a crash mid-upgrade
//     leaves the previous version intact. A database written by a newer
//     Labelgate is refused rather than guessed at.
package store
