package store

import (
	"context"
	"fmt"
	"time"
)

// Claim records when the registry first saw a container claim a hostname.
// Source is where the container lives (local Docker or an agent's name).
type Claim struct {
	Hostname     string
	Source       string
	Container    string
	RegisteredAt time.Time
}

// Claims returns every claim ordered by hostname, then registration time,
// then source and container: per hostname, the order in which claimants
// queue, with exact ties broken by a stable order.
func (s *Store) Claims(ctx context.Context) ([]Claim, error) {
	rows, err := s.db.QueryContext(ctx, `
		SELECT hostname, source, container, registered_at
		FROM claims
		ORDER BY hostname, registered_at, source, container`)
	if err != nil {
		return nil, fmt.Errorf("listing claims: %w", err)
	}
	defer rows.Close()
	var out []Claim
	for rows.Next() {
		var c Claim
		var at int64
		if err := rows.Scan(&c.Hostname, &c.Source, &c.Container, &at); err != nil {
			return nil, fmt.Errorf("listing claims: %w", err)
		}
		c.RegisteredAt = fromMillis(at)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing claims: %w", err)
	}
	return out, nil
}

// PutClaim records c unless the same (hostname, source, container) is already
// recorded: the first registration time is never overwritten. A zero
// RegisteredAt is stamped with the current time.
func (s *Store) PutClaim(ctx context.Context, c Claim) error {
	return s.putClaim(ctx, s.db, c)
}

func (s *Store) putClaim(ctx context.Context, ex execer, c Claim) error {
	// ON CONFLICT ... DO NOTHING rather than INSERT OR IGNORE: the latter
	// would also swallow CHECK and NOT NULL failures.
	_, err := ex.ExecContext(ctx, `
		INSERT INTO claims (hostname, source, container, registered_at)
		VALUES (?, ?, ?, ?)
		ON CONFLICT (hostname, source, container) DO NOTHING`,
		c.Hostname, c.Source, c.Container, s.stamp(c.RegisteredAt))
	if err != nil {
		return fmt.Errorf("storing claim of %s by %s/%s: %w", c.Hostname, c.Source, c.Container, err)
	}
	return nil
}

// DeleteClaim removes one claim; removing a missing claim is not an error.
func (s *Store) DeleteClaim(ctx context.Context, hostname, source, container string) error {
	return deleteClaim(ctx, s.db, hostname, source, container)
}

func deleteClaim(ctx context.Context, ex execer, hostname, source, container string) error {
	_, err := ex.ExecContext(ctx,
		`DELETE FROM claims WHERE hostname = ? AND source = ? AND container = ?`,
		hostname, source, container)
	if err != nil {
		return fmt.Errorf("deleting claim of %s by %s/%s: %w", hostname, source, container, err)
	}
	return nil
}

// DeleteClaimsOf removes every claim made from source (e.g. a decommissioned
// agent).
func (s *Store) DeleteClaimsOf(ctx context.Context, source string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM claims WHERE source = ?`, source); err != nil {
		return fmt.Errorf("deleting claims of source %s: %w", source, err)
	}
	return nil
}
