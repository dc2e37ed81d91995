package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Agent states.
const (
	AgentConnected      = "connected"
	AgentDisconnected   = "disconnected"
	AgentDecommissioned = "decommissioned"
)

// Agent is an agent main has seen. Hostname is the agent host's name and
// DefaultTunnel the tunnel the agent announced.
type Agent struct {
	Name          string
	FirstSeen     time.Time
	LastSeen      time.Time
	Version       string
	Hostname      string
	DefaultTunnel string
	State         string    // AgentConnected, AgentDisconnected or AgentDecommissioned
	StaleSince    time.Time // zero if not stale
}

// Agents returns every agent ordered by name.
func (s *Store) Agents(ctx context.Context) ([]Agent, error) {
	rows, err := s.db.QueryContext(ctx, `
		SELECT name, first_seen, last_seen, version, hostname, default_tunnel, state, stale_since
		FROM agents
		ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("listing agents: %w", err)
	}
	defer rows.Close()
	var out []Agent
	for rows.Next() {
		var a Agent
		var first, last int64
		var stale sql.NullInt64
		if err := rows.Scan(&a.Name, &first, &last, &a.Version, &a.Hostname, &a.DefaultTunnel, &a.State, &stale); err != nil {
			return nil, fmt.Errorf("listing agents: %w", err)
		}
		a.FirstSeen = fromMillis(first)
		a.LastSeen = fromMillis(last)
		a.StaleSince = fromOptionalMillis(stale)
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing agents: %w", err)
	}
	return out, nil
}

// PutAgent inserts or updates a. On update the stored FirstSeen is kept and
// everything else is replaced. Zero FirstSeen and LastSeen are stamped with
// the current time.
func (s *Store) PutAgent(ctx context.Context, a Agent) error {
	_, err := s.db.ExecContext(ctx, `
		INSERT INTO agents (name, first_seen, last_seen, version, hostname, default_tunnel, state, stale_since)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET
			last_seen      = excluded.last_seen,
			version        = excluded.version,
			hostname       = excluded.hostname,
			default_tunnel = excluded.default_tunnel,
			state          = excluded.state,
			stale_since    = excluded.stale_since`,
		a.Name, s.stamp(a.FirstSeen), s.stamp(a.LastSeen), a.Version, a.Hostname,
		a.DefaultTunnel, a.State, optionalMillis(a.StaleSince))
	if err != nil {
		return fmt.Errorf("storing agent %s: %w", a.Name, err)
	}
	return nil
}

// DeleteAgent forgets an agent; forgetting a missing one is not an error.
func (s *Store) DeleteAgent(ctx context.Context, name string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM agents WHERE name = ?`, name); err != nil {
		return fmt.Errorf("deleting agent %s: %w", name, err)
	}
	return nil
}
