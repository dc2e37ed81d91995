package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"
)

// Hostname states.
const (
	StateActive   = "active"   // a winner serves the hostname
	StateLeaving  = "leaving"  // no claimant left; deleted when DueAt passes
	StateRetained = "retained" // no claimant left; kept (e.g. upsert-only policy)
)

// HostnameState is the registry's decision for one hostname. Spec is opaque
// JSON owned by the registry (the winner's last resources), kept so that a
// leaving or retained hostname survives a restart.
type HostnameState struct {
	Hostname        string
	WinnerSource    string
	WinnerContainer string
	State           string          // StateActive, StateLeaving or StateRetained
	DueAt           time.Time       // when a leaving hostname's grace ends; zero if none
	Spec            json.RawMessage // nil when absent
	UpdatedAt       time.Time
}

// Hostnames returns every hostname state ordered by hostname.
func (s *Store) Hostnames(ctx context.Context) ([]HostnameState, error) {
	rows, err := s.db.QueryContext(ctx, `
		SELECT hostname, winner_source, winner_container, state, due_at, spec, updated_at
		FROM hostnames
		ORDER BY hostname`)
	if err != nil {
		return nil, fmt.Errorf("listing hostnames: %w", err)
	}
	defer rows.Close()
	var out []HostnameState
	for rows.Next() {
		var h HostnameState
		var due sql.NullInt64
		var spec string
		var updated int64
		if err := rows.Scan(&h.Hostname, &h.WinnerSource, &h.WinnerContainer, &h.State, &due, &spec, &updated); err != nil {
			return nil, fmt.Errorf("listing hostnames: %w", err)
		}
		h.DueAt = fromOptionalMillis(due)
		h.Spec = fromJSONText(spec)
		h.UpdatedAt = fromMillis(updated)
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing hostnames: %w", err)
	}
	return out, nil
}

// PutHostname inserts or replaces the state of h.Hostname. A zero UpdatedAt
// is stamped with the current time.
func (s *Store) PutHostname(ctx context.Context, h HostnameState) error {
	return s.putHostname(ctx, s.db, h)
}

func (s *Store) putHostname(ctx context.Context, ex execer, h HostnameState) error {
	spec, err := jsonText("spec", h.Spec)
	if err != nil {
		return fmt.Errorf("storing hostname %s: %w", h.Hostname, err)
	}
	_, err = ex.ExecContext(ctx, `
		INSERT INTO hostnames (hostname, winner_source, winner_container, state, due_at, spec, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (hostname) DO UPDATE SET
			winner_source    = excluded.winner_source,
			winner_container = excluded.winner_container,
			state            = excluded.state,
			due_at           = excluded.due_at,
			spec             = excluded.spec,
			updated_at       = excluded.updated_at`,
		h.Hostname, h.WinnerSource, h.WinnerContainer, h.State,
		optionalMillis(h.DueAt), spec, s.stamp(h.UpdatedAt))
	if err != nil {
		return fmt.Errorf("storing hostname %s: %w", h.Hostname, err)
	}
	return nil
}

// DeleteHostname removes the state of hostname; removing a missing one is
// not an error.
func (s *Store) DeleteHostname(ctx context.Context, hostname string) error {
	return deleteHostname(ctx, s.db, hostname)
}

func deleteHostname(ctx context.Context, ex execer, hostname string) error {
	if _, err := ex.ExecContext(ctx, `DELETE FROM hostnames WHERE hostname = ?`, hostname); err != nil {
		return fmt.Errorf("deleting hostname %s: %w", hostname, err)
	}
	return nil
}

// RegistryBatch is the registry's writes since the last batch, coalesced to
// their net effect: each hostname's last state (or its delete), and each
// claim's delete and first registration. ApplyRegistry writes it in one
// transaction.
type RegistryBatch struct {
	PutHosts     []HostnameState
	DeleteHosts  []string
	DeleteClaims []Claim // applied before PutClaims: a claim that left and came back is registered anew
	PutClaims    []Claim
}

// Empty reports whether the batch writes nothing.
func (b RegistryBatch) Empty() bool {
	return len(b.PutHosts)+len(b.DeleteHosts)+len(b.DeleteClaims)+len(b.PutClaims) == 0
}

// ApplyRegistry writes a batch in one transaction: all of it or none.
func (s *Store) ApplyRegistry(ctx context.Context, b RegistryBatch) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		for _, c := range b.DeleteClaims {
			if err := deleteClaim(ctx, tx, c.Hostname, c.Source, c.Container); err != nil {
				return err
			}
		}
		for _, c := range b.PutClaims {
			if err := s.putClaim(ctx, tx, c); err != nil {
				return err
			}
		}
		for _, h := range b.DeleteHosts {
			if err := deleteHostname(ctx, tx, h); err != nil {
				return err
			}
		}
		for _, h := range b.PutHosts {
			if err := s.putHostname(ctx, tx, h); err != nil {
				return err
			}
		}
		return nil
	})
}
