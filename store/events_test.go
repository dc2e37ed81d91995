package store

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// ev is an event at t0+d about host; its ID is filled in by the caller.
func ev(id int64, d time.Duration, host string) Event {
	return Event{
		ID: id, At: at(d), Level: LevelInfo, Kind: "created", Hostname: host,
		Source: "local", Container: "web", Message: fmt.Sprintf("event %d", id),
	}
}

// appendN appends n events: event i (1-based) is at t0+i minutes, about
// a.example.com when i is odd and b.example.com when even.
func appendN(ctx context.Context, s *Store, n int) error {
	var batch []Event
	for i := 1; i <= n; i++ {
		batch = append(batch, evN(i))
	}
	return s.AppendEvents(ctx, batch)
}

func evN(i int) Event {
	host := "a.example.com"
	if i%2 == 0 {
		host = "b.example.com"
	}
	return ev(int64(i), time.Duration(i)*time.Minute, host)
}

// evs returns evN for each i.
func evs(is ...int) []Event {
	out := make([]Event, 0, len(is))
	for _, i := range is {
		out = append(out, evN(i))
	}
	return out
}

func TestEventsQuery(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	if err := appendN(t.Context(), s, 6); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		q    EventQuery
		want []Event
	}{
		{name: "all, newest first", q: EventQuery{}, want: evs(6, 5, 4, 3, 2, 1)},
		{name: "limit", q: EventQuery{Limit: 2}, want: evs(6, 5)},
		{name: "next page", q: EventQuery{Limit: 2, BeforeID: 5}, want: evs(4, 3)},
		{name: "last page", q: EventQuery{Limit: 10, BeforeID: 3}, want: evs(2, 1)},
		{name: "past the end", q: EventQuery{BeforeID: 1}},
		{name: "one hostname", q: EventQuery{Hostname: "a.example.com"}, want: evs(5, 3, 1)},
		{name: "one hostname, paged", q: EventQuery{Hostname: "b.example.com", Limit: 1, BeforeID: 6}, want: evs(4)},
		{name: "unknown hostname", q: EventQuery{Hostname: "c.example.com"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := s.Events(t.Context(), tt.q)
			if err != nil {
				t.Fatalf("Events: %v", err)
			}
			diff(t, "events", got, tt.want)
		})
	}
}

func TestEventsDefaultLimit(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	if err := appendN(t.Context(), s, DefaultEventLimit+5); err != nil {
		t.Fatal(err)
	}
	got, err := s.Events(t.Context(), EventQuery{Limit: -1})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != DefaultEventLimit || got[0].ID != DefaultEventLimit+5 {
		t.Errorf("got %d events starting at ID %d, want %d starting at %d",
			len(got), got[0].ID, DefaultEventLimit, DefaultEventLimit+5)
	}
}

func TestAppendEvents(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		do      func(ctx context.Context, s *Store) error
		wantErr bool
		want    []Event
	}{
		{
			name: "IDs follow slice order across batches",
			do: func(ctx context.Context, s *Store) error {
				if err := s.AppendEvents(ctx, []Event{evN(1), evN(2)}); err != nil {
					return err
				}
				return s.AppendEvents(ctx, []Event{evN(3)})
			},
			want: evs(3, 2, 1),
		},
		{
			name: "given IDs are ignored",
			do: func(ctx context.Context, s *Store) error {
				e := evN(1)
				e.ID = 42
				return s.AppendEvents(ctx, []Event{e})
			},
			want: evs(1),
		},
		{
			name: "zero time is stamped",
			do: func(ctx context.Context, s *Store) error {
				return s.AppendEvents(ctx, []Event{{Level: LevelWarn, Kind: "agent_stale", Source: "edge"}})
			},
			want: []Event{{ID: 1, At: fixedClock(), Level: LevelWarn, Kind: "agent_stale", Source: "edge"}},
		},
		{
			name: "empty batch is a no-op",
			do:   func(ctx context.Context, s *Store) error { return s.AppendEvents(ctx, nil) },
		},
		{
			name: "a failing event drops the whole batch",
			do: func(ctx context.Context, s *Store) error {
				bad := evN(2)
				bad.Level = "debug"
				return s.AppendEvents(ctx, []Event{evN(1), bad, evN(3)})
			},
			wantErr: true,
		},
		{
			name: "empty kind is refused",
			do: func(ctx context.Context, s *Store) error {
				return s.AppendEvents(ctx, []Event{{Level: LevelError}})
			},
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newStore(t)
			wantErr(t, tt.do(t.Context(), s), tt.wantErr)
			got, err := s.Events(t.Context(), EventQuery{})
			if err != nil {
				t.Fatalf("Events: %v", err)
			}
			diff(t, "events", got, tt.want)
		})
	}
}

func TestPruneEvents(t *testing.T) {
	t.Parallel()
	// Ten events, event i at t0+i minutes.
	tests := []struct {
		name        string
		keep        int
		olderThan   time.Time
		wantRemoved int64
		want        []Event
	}{
		{name: "no limits", wantRemoved: 0, want: evs(10, 9, 8, 7, 6, 5, 4, 3, 2, 1)},
		{name: "keep the newest three", keep: 3, wantRemoved: 7, want: evs(10, 9, 8)},
		{name: "keep more than there are", keep: 50, want: evs(10, 9, 8, 7, 6, 5, 4, 3, 2, 1)},
		{name: "keep exactly all", keep: 10, want: evs(10, 9, 8, 7, 6, 5, 4, 3, 2, 1)},
		{name: "drop older than", olderThan: at(8 * time.Minute), wantRemoved: 7, want: evs(10, 9, 8)},
		{
			name: "both: the count limit removes more", keep: 2, olderThan: at(5 * time.Minute),
			wantRemoved: 8, want: evs(10, 9),
		},
		{
			name: "both: the age limit removes more", keep: 8, olderThan: at(9 * time.Minute),
			wantRemoved: 8, want: evs(10, 9),
		},
		{name: "everything too old", olderThan: at(time.Hour), wantRemoved: 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newStore(t)
			if err := appendN(t.Context(), s, 10); err != nil {
				t.Fatal(err)
			}
			removed, err := s.PruneEvents(t.Context(), tt.keep, tt.olderThan)
			if err != nil {
				t.Fatalf("PruneEvents: %v", err)
			}
			if removed != tt.wantRemoved {
				t.Errorf("removed %d, want %d", removed, tt.wantRemoved)
			}
			got, err := s.Events(t.Context(), EventQuery{})
			if err != nil {
				t.Fatal(err)
			}
			diff(t, "events left", got, tt.want)
		})
	}
}

func TestEventIDsAreNotReusedAfterPrune(t *testing.T) {
	t.Parallel()
	// AUTOINCREMENT: a pager holding BeforeID must never see an old ID
	// come back for a new event.
	s := newStore(t)
	ctx := t.Context()
	if err := appendN(ctx, s, 3); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PruneEvents(ctx, 0, at(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendEvents(ctx, []Event{evN(1)}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Events(ctx, EventQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != 4 {
		t.Errorf("events after prune and append = %+v, want one with ID 4", got)
	}
}
