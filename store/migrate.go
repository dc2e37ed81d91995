package store

import (
	"context"
	"database/sql"
	"fmt"
)

// migrations are the schema steps, oldest first. Step i brings the database
// to schema version i+1. Append only: a released step is never edited,
// reordered or removed, because databases in the field already ran it.
//
// Times are INTEGER unix milliseconds (UTC). Opaque JSON is TEXT, the empty
// string when absent. CHECK constraints hold the closed vocabularies, so a
// bad value fails its statement (and its transaction) instead of being
// stored.
var migrations = []string{
	// 1: claims.
	`CREATE TABLE claims (
		hostname      TEXT    NOT NULL CHECK (hostname <> ''),
		source        TEXT    NOT NULL CHECK (source <> ''),
		container     TEXT    NOT NULL CHECK (container <> ''),
		registered_at INTEGER NOT NULL,
		PRIMARY KEY (hostname, source, container)
	) WITHOUT ROWID;
	CREATE INDEX claims_by_source ON claims (source);`,

	// 2: hostnames.
	`CREATE TABLE hostnames (
		hostname         TEXT    NOT NULL PRIMARY KEY CHECK (hostname <> ''),
		winner_source    TEXT    NOT NULL DEFAULT '',
		winner_container TEXT    NOT NULL DEFAULT '',
		state            TEXT    NOT NULL CHECK (state IN ('active', 'leaving', 'retained')),
		due_at           INTEGER,
		spec             TEXT    NOT NULL DEFAULT '',
		updated_at       INTEGER NOT NULL
	) WITHOUT ROWID;`,

	// 3: owned.
	`CREATE TABLE owned (
		kind       TEXT    NOT NULL CHECK (kind IN ('dns_record', 'tunnel_rule', 'access_app', 'access_policy')),
		scope      TEXT    NOT NULL CHECK (scope <> ''),
		key        TEXT    NOT NULL CHECK (key <> ''),
		cf_id      TEXT    NOT NULL DEFAULT '',
		hostname   TEXT    NOT NULL DEFAULT '',
		data       TEXT    NOT NULL DEFAULT '',
		created_at INTEGER NOT NULL,
		updated_at INTEGER NOT NULL,
		PRIMARY KEY (kind, scope, key)
	) WITHOUT ROWID;`,

	// 4: events.
	`CREATE TABLE events (
		id        INTEGER PRIMARY KEY AUTOINCREMENT,
		at        INTEGER NOT NULL,
		level     TEXT    NOT NULL CHECK (level IN ('info', 'warn', 'error')),
		kind      TEXT    NOT NULL CHECK (kind <> ''),
		hostname  TEXT    NOT NULL DEFAULT '',
		source    TEXT    NOT NULL DEFAULT '',
		container TEXT    NOT NULL DEFAULT '',
		message   TEXT    NOT NULL DEFAULT ''
	);
	CREATE INDEX events_by_hostname ON events (hostname, id);
	CREATE INDEX events_by_at ON events (at);`,

	// 5: agents.
	`CREATE TABLE agents (
		name           TEXT    NOT NULL PRIMARY KEY CHECK (name <> ''),
		first_seen     INTEGER NOT NULL,
		last_seen      INTEGER NOT NULL,
		version        TEXT    NOT NULL DEFAULT '',
		hostname       TEXT    NOT NULL DEFAULT '',
		default_tunnel TEXT    NOT NULL DEFAULT '',
		state          TEXT    NOT NULL CHECK (state IN ('connected', 'disconnected', 'decommissioned')),
		stale_since    INTEGER
	) WITHOUT ROWID;`,

	// 6: meta.
	`CREATE TABLE meta (
		key   TEXT NOT NULL PRIMARY KEY CHECK (key <> ''),
		value TEXT NOT NULL
	) WITHOUT ROWID;`,

	// 7: revocations of decommissioned agents, bound to the token they had.
	`CREATE TABLE revocations (
		name              TEXT    NOT NULL PRIMARY KEY CHECK (name <> ''),
		token_fingerprint TEXT    NOT NULL,
		revoked_at        INTEGER NOT NULL
	) WITHOUT ROWID;`,
}

// migrate runs the steps the database has not run yet, each in its own
// transaction together with the user_version bump. It refuses a database
// whose version is beyond steps.
func migrate(ctx context.Context, db *sql.DB, steps []string) error {
	current, err := schemaVersion(ctx, db)
	if err != nil {
		return err
	}
	if current > len(steps) {
		return fmt.Errorf("the database has schema version %d but this labelgate knows only up to %d: it was written by a newer labelgate; run that version or restore a backup", current, len(steps))
	}
	for i := current; i < len(steps); i++ {
		version := i + 1
		err := inTx(ctx, db, func(tx *sql.Tx) error {
			// Re-read inside the write transaction: another process may have
			// migrated between the first read and taking the write lock.
			var v int
			if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
				return fmt.Errorf("reading schema version: %w", err)
			}
			if v >= version {
				return nil
			}
			if _, err := tx.ExecContext(ctx, steps[i]); err != nil {
				return err
			}
			// PRAGMA takes no bound parameters; version is an int we computed.
			if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", version)); err != nil {
				return fmt.Errorf("setting schema version: %w", err)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("applying migration %d: %w", version, err)
		}
	}
	return nil
}

// schemaVersion reads the version from the database header.
func schemaVersion(ctx context.Context, db *sql.DB) (int, error) {
	var v int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return 0, fmt.Errorf("reading schema version: %w", err)
	}
	return v, nil
}
