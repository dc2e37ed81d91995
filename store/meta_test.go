package store

import (
	"context"
	"testing"
)

func TestMeta(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		do      func(ctx context.Context, s *Store) error
		wantErr bool
		key     string
		want    string
		wantOK  bool
	}{
		{name: "missing key", key: "last_settled"},
		{
			name:   "stored value",
			do:     func(ctx context.Context, s *Store) error { return s.PutMeta(ctx, "last_settled", "t1") },
			key:    "last_settled",
			want:   "t1",
			wantOK: true,
		},
		{
			name: "overwritten value",
			do: func(ctx context.Context, s *Store) error {
				if err := s.PutMeta(ctx, "last_settled", "t1"); err != nil {
					return err
				}
				return s.PutMeta(ctx, "last_settled", "t2")
			},
			key:    "last_settled",
			want:   "t2",
			wantOK: true,
		},
		{
			name:   "empty value is a value",
			do:     func(ctx context.Context, s *Store) error { return s.PutMeta(ctx, "k", "") },
			key:    "k",
			wantOK: true,
		},
		{
			name:    "empty key is refused",
			do:      func(ctx context.Context, s *Store) error { return s.PutMeta(ctx, "", "v") },
			wantErr: true,
			key:     "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newStore(t)
			if tt.do != nil {
				wantErr(t, tt.do(t.Context(), s), tt.wantErr)
			}
			got, ok, err := s.Meta(t.Context(), tt.key)
			if err != nil {
				t.Fatalf("Meta: %v", err)
			}
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("Meta(%q) = %q, %v; want %q, %v", tt.key, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}
