package store

import (
	"context"
	"testing"
	"time"
)

func TestClaims(t *testing.T) {
	t.Parallel()
	c := func(host, source, container string, d time.Duration) Claim {
		return Claim{Hostname: host, Source: source, Container: container, RegisteredAt: at(d)}
	}
	tests := []struct {
		name    string
		do      func(ctx context.Context, s *Store) error
		wantErr bool
		want    []Claim
	}{
		{
			name: "empty",
			do:   func(context.Context, *Store) error { return nil },
		},
		{
			name: "first registration time is kept",
			do: func(ctx context.Context, s *Store) error {
				if err := s.PutClaim(ctx, c("app.example.com", "local", "web", time.Minute)); err != nil {
					return err
				}
				return s.PutClaim(ctx, c("app.example.com", "local", "web", 2*time.Minute))
			},
			want: []Claim{c("app.example.com", "local", "web", time.Minute)},
		},
		{
			name: "an earlier time does not overwrite either",
			do: func(ctx context.Context, s *Store) error {
				if err := s.PutClaim(ctx, c("app.example.com", "local", "web", time.Minute)); err != nil {
					return err
				}
				return s.PutClaim(ctx, c("app.example.com", "local", "web", 0))
			},
			want: []Claim{c("app.example.com", "local", "web", time.Minute)},
		},
		{
			name: "zero time is stamped with the clock",
			do: func(ctx context.Context, s *Store) error {
				return s.PutClaim(ctx, Claim{Hostname: "app.example.com", Source: "local", Container: "web"})
			},
			want: []Claim{{Hostname: "app.example.com", Source: "local", Container: "web", RegisteredAt: fixedClock()}},
		},
		{
			name: "ordered by hostname, time, source, container",
			do: func(ctx context.Context, s *Store) error {
				for _, cl := range []Claim{
					c("b.example.com", "local", "web", 0),
					c("a.example.com", "edge", "z", 2*time.Second),
					c("a.example.com", "local", "b", time.Second),
					c("a.example.com", "edge", "a", time.Second),
					c("a.example.com", "local", "a", time.Second),
				} {
					if err := s.PutClaim(ctx, cl); err != nil {
						return err
					}
				}
				return nil
			},
			want: []Claim{
				c("a.example.com", "edge", "a", time.Second),
				c("a.example.com", "local", "a", time.Second),
				c("a.example.com", "local", "b", time.Second),
				c("a.example.com", "edge", "z", 2*time.Second),
				c("b.example.com", "local", "web", 0),
			},
		},
		{
			name: "delete one claim",
			do: func(ctx context.Context, s *Store) error {
				for _, cl := range []Claim{c("h", "local", "a", 0), c("h", "local", "b", 0)} {
					if err := s.PutClaim(ctx, cl); err != nil {
						return err
					}
				}
				return s.DeleteClaim(ctx, "h", "local", "a")
			},
			want: []Claim{c("h", "local", "b", 0)},
		},
		{
			name: "deleted then re-registered gets the new time",
			do: func(ctx context.Context, s *Store) error {
				if err := s.PutClaim(ctx, c("h", "local", "a", 0)); err != nil {
					return err
				}
				if err := s.DeleteClaim(ctx, "h", "local", "a"); err != nil {
					return err
				}
				return s.PutClaim(ctx, c("h", "local", "a", time.Hour))
			},
			want: []Claim{c("h", "local", "a", time.Hour)},
		},
		{
			name: "deleting a missing claim is not an error",
			do: func(ctx context.Context, s *Store) error {
				return s.DeleteClaim(ctx, "h", "local", "a")
			},
		},
		{
			name: "delete every claim of a source",
			do: func(ctx context.Context, s *Store) error {
				for _, cl := range []Claim{
					c("a", "edge", "x", 0), c("b", "edge", "y", 0), c("a", "local", "x", 0), c("b", "edge2", "y", 0),
				} {
					if err := s.PutClaim(ctx, cl); err != nil {
						return err
					}
				}
				return s.DeleteClaimsOf(ctx, "edge")
			},
			want: []Claim{c("a", "local", "x", 0), c("b", "edge2", "y", 0)},
		},
		{
			name: "empty hostname is refused",
			do: func(ctx context.Context, s *Store) error {
				return s.PutClaim(ctx, c("", "local", "web", 0))
			},
			wantErr: true,
		},
		{
			name: "empty container is refused",
			do: func(ctx context.Context, s *Store) error {
				return s.PutClaim(ctx, c("h", "local", "", 0))
			},
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newStore(t)
			wantErr(t, tt.do(t.Context(), s), tt.wantErr)
			got, err := s.Claims(t.Context())
			if err != nil {
				t.Fatalf("Claims: %v", err)
			}
			diff(t, "claims", got, tt.want)
		})
	}
}
