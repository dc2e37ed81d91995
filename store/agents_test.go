package store

import (
	"context"
	"testing"
	"time"
)

func TestAgents(t *testing.T) {
	t.Parallel()
	connected := Agent{
		Name: "edge", FirstSeen: at(0), LastSeen: at(time.Minute), Version: "1.0.0",
		Hostname: "edge-host", DefaultTunnel: "t1", State: AgentConnected,
	}
	// A later report: FirstSeen differs but must not win.
	stale := Agent{
		Name: "edge", FirstSeen: at(time.Hour), LastSeen: at(2 * time.Minute), Version: "1.1.0",
		Hostname: "edge-host-2", DefaultTunnel: "t2", State: AgentDisconnected, StaleSince: at(2 * time.Minute),
	}
	staleKept := stale
	staleKept.FirstSeen = connected.FirstSeen
	put := func(as ...Agent) func(context.Context, *Store) error {
		return func(ctx context.Context, s *Store) error {
			for _, a := range as {
				if err := s.PutAgent(ctx, a); err != nil {
					return err
				}
			}
			return nil
		}
	}
	named := func(a Agent, name string) Agent { a.Name = name; return a }

	tests := []struct {
		name    string
		do      func(ctx context.Context, s *Store) error
		wantErr bool
		want    []Agent
	}{
		{name: "insert", do: put(connected), want: []Agent{connected}},
		{name: "upsert keeps first seen and replaces the rest", do: put(connected, stale), want: []Agent{staleKept}},
		{
			name: "reconnect clears stale since",
			do:   put(stale, connected),
			want: []Agent{func() Agent { a := connected; a.FirstSeen = stale.FirstSeen; return a }()},
		},
		{
			name: "zero times are stamped",
			do:   put(Agent{Name: "a", State: AgentConnected}),
			want: []Agent{{Name: "a", FirstSeen: fixedClock(), LastSeen: fixedClock(), State: AgentConnected}},
		},
		{
			name: "ordered by name",
			do:   put(named(connected, "c"), named(connected, "a"), named(connected, "b")),
			want: []Agent{named(connected, "a"), named(connected, "b"), named(connected, "c")},
		},
		{
			name: "decommissioned is a state",
			do:   put(func() Agent { a := connected; a.State = AgentDecommissioned; return a }()),
			want: []Agent{func() Agent { a := connected; a.State = AgentDecommissioned; return a }()},
		},
		{
			name: "delete",
			do: func(ctx context.Context, s *Store) error {
				if err := put(named(connected, "a"), named(connected, "b"))(ctx, s); err != nil {
					return err
				}
				return s.DeleteAgent(ctx, "a")
			},
			want: []Agent{named(connected, "b")},
		},
		{
			name: "deleting a missing agent is not an error",
			do:   func(ctx context.Context, s *Store) error { return s.DeleteAgent(ctx, "nope") },
		},
		{
			name:    "unknown state is refused",
			do:      put(Agent{Name: "a", State: "sleeping"}),
			wantErr: true,
		},
		{
			name:    "empty name is refused",
			do:      put(Agent{State: AgentConnected}),
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newStore(t)
			wantErr(t, tt.do(t.Context(), s), tt.wantErr)
			got, err := s.Agents(t.Context())
			if err != nil {
				t.Fatalf("Agents: %v", err)
			}
			diff(t, "agents", got, tt.want)
		})
	}
}
