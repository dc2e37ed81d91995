package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// Event levels.
const (
	LevelInfo  = "info"
	LevelWarn  = "warn"
	LevelError = "error"
)

// DefaultEventLimit is how many events Events returns when the query sets
// no limit.
const DefaultEventLimit = 100

// Event is one entry of the operator-facing event log. Kind is free text
// ("created", "conflict", "agent_stale", …); Hostname, Source and Container
// are empty when they do not apply.
type Event struct {
	ID        int64 // assigned by the store; ignored by AppendEvents
	At        time.Time
	Level     string // LevelInfo, LevelWarn or LevelError
	Kind      string
	Hostname  string
	Source    string
	Container string
	Message   string
}

// EventQuery selects a page of events, newest first.
type EventQuery struct {
	Limit    int    // at most this many; <= 0 means DefaultEventLimit
	BeforeID int64  // only events with a smaller ID (the next page); 0 means from the newest
	Hostname string // only events about this hostname; "" means all
}

// AppendEvents adds events to the log in one transaction, in slice order (so
// later elements get larger IDs). A zero At is stamped with the current time.
func (s *Store) AppendEvents(ctx context.Context, events []Event) error {
	if len(events) == 0 {
		return nil
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `
			INSERT INTO events (at, level, kind, hostname, source, container, message)
			VALUES (?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		// The transaction's end closes it too; a failed close has nothing
		// to add to the outcome of the inserts.
		defer func() { _ = stmt.Close() }()
		for i, e := range events {
			_, err := stmt.ExecContext(ctx, s.stamp(e.At), e.Level, e.Kind, e.Hostname, e.Source, e.Container, e.Message)
			if err != nil {
				return fmt.Errorf("event %d (%s %s): %w", i, e.Level, e.Kind, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("appending events: %w", err)
	}
	return nil
}

// Events returns the events q selects, newest (largest ID) first.
func (s *Store) Events(ctx context.Context, q EventQuery) ([]Event, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultEventLimit
	}
	var where []string
	var args []any
	if q.BeforeID > 0 {
		where = append(where, "id < ?")
		args = append(args, q.BeforeID)
	}
	if q.Hostname != "" {
		where = append(where, "hostname = ?")
		args = append(args, q.Hostname)
	}
	query := `SELECT id, at, level, kind, hostname, source, container, message FROM events`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY id DESC LIMIT ?"
	args = append(args, limit)

	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("listing events: %w", err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var e Event
		var at int64
		if err := rows.Scan(&e.ID, &at, &e.Level, &e.Kind, &e.Hostname, &e.Source, &e.Container, &e.Message); err != nil {
			return nil, fmt.Errorf("listing events: %w", err)
		}
		e.At = fromMillis(at)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing events: %w", err)
	}
	return out, nil
}

// PruneEvents bounds the log in one transaction: it keeps at most the keep
// newest events (by ID) and drops every event older than olderThan. An event
// goes if either limit says so. keep <= 0 disables the count limit and a zero
// olderThan the age limit. It returns how many events were removed.
func (s *Store) PruneEvents(ctx context.Context, keep int, olderThan time.Time) (int64, error) {
	var removed int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if !olderThan.IsZero() {
			res, err := tx.ExecContext(ctx, `DELETE FROM events WHERE at < ?`, olderThan.UnixMilli())
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			removed += n
		}
		if keep > 0 {
			// The subquery is the ID of the keep-th newest event, NULL when
			// there are fewer; "id < NULL" matches nothing.
			res, err := tx.ExecContext(ctx, `
				DELETE FROM events
				WHERE id < (SELECT id FROM events ORDER BY id DESC LIMIT 1 OFFSET ?)`, keep-1)
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			removed += n
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("pruning events: %w", err)
	}
	return removed, nil
}
