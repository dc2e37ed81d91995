package store

import (
	"context"
	"fmt"
	"time"
)

// Revocation records that an agent was decommissioned while it held the
// token with this fingerprint: main refuses that agent until an operator
// enables it again, or its token changes (then the fingerprint no longer
// matches). The fingerprint is a keyed digest of the token, never the token.
type Revocation struct {
	Name             string
	TokenFingerprint string
	RevokedAt        time.Time
}

// Revocations returns every revocation ordered by agent name.
func (s *Store) Revocations(ctx context.Context) ([]Revocation, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, token_fingerprint, revoked_at FROM revocations ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("listing revocations: %w", err)
	}
	defer rows.Close()
	var out []Revocation
	for rows.Next() {
		var r Revocation
		var at int64
		if err := rows.Scan(&r.Name, &r.TokenFingerprint, &at); err != nil {
			return nil, fmt.Errorf("listing revocations: %w", err)
		}
		r.RevokedAt = fromMillis(at)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing revocations: %w", err)
	}
	return out, nil
}

// PutRevocation records or replaces the revocation of r.Name.
func (s *Store) PutRevocation(ctx context.Context, r Revocation) error {
	_, err := s.db.ExecContext(ctx, `
		INSERT INTO revocations (name, token_fingerprint, revoked_at) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET
			token_fingerprint = excluded.token_fingerprint,
			revoked_at        = excluded.revoked_at`,
		r.Name, r.TokenFingerprint, s.stamp(r.RevokedAt))
	if err != nil {
		return fmt.Errorf("storing the revocation of agent %s: %w", r.Name, err)
	}
	return nil
}

// DeleteRevocation lifts the revocation of an agent; lifting a missing one
// is not an error.
func (s *Store) DeleteRevocation(ctx context.Context, name string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM revocations WHERE name = ?`, name); err != nil {
		return fmt.Errorf("deleting the revocation of agent %s: %w", name, err)
	}
	return nil
}
