package store

import (
	"context"
	"encoding/json"
	"testing"
	"time"
)

func obj(kind, scope, key string, d time.Duration) OwnedObject {
	return OwnedObject{
		OwnedKey:  OwnedKey{Kind: kind, Scope: scope, Key: key},
		CFID:      "cf-" + key,
		Hostname:  "app.example.com",
		Data:      json.RawMessage(`{"proxied":true}`),
		CreatedAt: at(d),
		UpdatedAt: at(d),
	}
}

// seedOwned is the starting state of most owned tests, listed in the order
// Owned returns it.
var seedOwned = []OwnedObject{
	obj(KindAccessApp, "acc1", "app.example.com", 0),
	obj(KindDNSRecord, "zone1", "A a.example.com 203.0.113.7", 0),
	obj(KindDNSRecord, "zone1", "CNAME app.example.com t1.cfargotunnel.com", 0),
	obj(KindDNSRecord, "zone2", "A b.example.org 203.0.113.8", 0),
	obj(KindTunnelRule, "t1", "app.example.com /api", 0),
}

func TestOwnedListing(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	// Insert in reverse to show the order comes from the query.
	for i := len(seedOwned) - 1; i >= 0; i-- {
		if err := s.PutOwned(t.Context(), seedOwned[i]); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name        string
		kind, scope string
		want        []OwnedObject
	}{
		{name: "one kind in one scope", kind: KindDNSRecord, scope: "zone1", want: seedOwned[1:3]},
		{name: "one kind in every scope", kind: KindDNSRecord, want: seedOwned[1:4]},
		{name: "every kind", want: seedOwned},
		{name: "nothing of a kind", kind: KindAccessPolicy},
		{name: "unknown scope", kind: KindDNSRecord, scope: "zone9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := s.Owned(t.Context(), tt.kind, tt.scope)
			if err != nil {
				t.Fatalf("Owned: %v", err)
			}
			diff(t, "owned", got, tt.want)
		})
	}
}

func TestOwnedWrites(t *testing.T) {
	t.Parallel()
	rec := obj(KindDNSRecord, "zone1", "A a.example.com 203.0.113.7", 0)
	updated := rec
	updated.CFID = "cf-new"
	updated.Hostname = "a.example.com"
	updated.Data = json.RawMessage(`{"proxied":false}`)
	updated.CreatedAt = at(time.Hour) // ignored: the first creation time stays
	updated.UpdatedAt = at(time.Minute)
	updatedKept := updated
	updatedKept.CreatedAt = rec.CreatedAt
	rule := obj(KindTunnelRule, "t1", "a.example.com /", 0)
	rule.CFID = ""
	rule.Data = nil

	bad := obj("dns", "zone1", "A c.example.com 203.0.113.9", 0)
	badJSON := obj(KindDNSRecord, "zone1", "A d.example.com 203.0.113.9", 0)
	badJSON.Data = json.RawMessage(`{`)

	tests := []struct {
		name    string
		do      func(ctx context.Context, s *Store) error
		wantErr bool
		want    []OwnedObject
	}{
		{
			name: "upsert keeps created at and replaces the rest",
			do: func(ctx context.Context, s *Store) error {
				if err := s.PutOwned(ctx, rec); err != nil {
					return err
				}
				return s.PutOwned(ctx, updated)
			},
			want: []OwnedObject{updatedKept},
		},
		{
			name: "tunnel rule without a Cloudflare id or data",
			do:   func(ctx context.Context, s *Store) error { return s.PutOwned(ctx, rule) },
			want: []OwnedObject{rule},
		},
		{
			name: "zero times are stamped",
			do: func(ctx context.Context, s *Store) error {
				return s.PutOwned(ctx, OwnedObject{OwnedKey: OwnedKey{Kind: KindAccessPolicy, Scope: "acc", Key: "p"}})
			},
			want: []OwnedObject{{
				OwnedKey:  OwnedKey{Kind: KindAccessPolicy, Scope: "acc", Key: "p"},
				CreatedAt: fixedClock(), UpdatedAt: fixedClock(),
			}},
		},
		{
			name: "delete",
			do: func(ctx context.Context, s *Store) error {
				if err := s.ApplyOwned(ctx, []OwnedObject{rec, rule}, nil); err != nil {
					return err
				}
				return s.DeleteOwned(ctx, rec.Kind, rec.Scope, rec.Key)
			},
			want: []OwnedObject{rule},
		},
		{
			name: "deleting a missing object is not an error",
			do: func(ctx context.Context, s *Store) error {
				return s.DeleteOwned(ctx, KindDNSRecord, "zone1", "nope")
			},
		},
		{
			name: "batch applies deletes before puts",
			do: func(ctx context.Context, s *Store) error {
				if err := s.ApplyOwned(ctx, []OwnedObject{rec, rule}, nil); err != nil {
					return err
				}
				// rule is deleted; rec is deleted and put again, so it stays
				// (as a fresh row: its created time is the new one).
				again := updated
				return s.ApplyOwned(ctx, []OwnedObject{again}, []OwnedKey{rule.OwnedKey, rec.OwnedKey})
			},
			want: []OwnedObject{updated},
		},
		{
			name: "empty batch is a no-op",
			do:   func(ctx context.Context, s *Store) error { return s.ApplyOwned(ctx, nil, nil) },
		},
		{
			name:    "unknown kind is refused",
			do:      func(ctx context.Context, s *Store) error { return s.PutOwned(ctx, bad) },
			wantErr: true,
		},
		{
			name: "empty scope is refused",
			do: func(ctx context.Context, s *Store) error {
				return s.PutOwned(ctx, obj(KindDNSRecord, "", "k", 0))
			},
			wantErr: true,
		},
		// Atomicity: in each batch below an early statement succeeds and a
		// later one fails; nothing of the batch may remain.
		{
			name: "failed batch writes nothing (bad kind in the second put)",
			do: func(ctx context.Context, s *Store) error {
				return s.ApplyOwned(ctx, []OwnedObject{rec, bad}, nil)
			},
			wantErr: true,
		},
		{
			name: "failed batch writes nothing (bad JSON in the second put)",
			do: func(ctx context.Context, s *Store) error {
				return s.ApplyOwned(ctx, []OwnedObject{rec, badJSON}, nil)
			},
			wantErr: true,
		},
		{
			name: "failed batch undoes its deletes and updates",
			do: func(ctx context.Context, s *Store) error {
				if err := s.ApplyOwned(ctx, []OwnedObject{rec, rule}, nil); err != nil {
					return err
				}
				return s.ApplyOwned(ctx, []OwnedObject{updated, bad}, []OwnedKey{rule.OwnedKey})
			},
			wantErr: true,
			want:    []OwnedObject{rec, rule},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newStore(t)
			wantErr(t, tt.do(t.Context(), s), tt.wantErr)
			got, err := s.Owned(t.Context(), "", "")
			if err != nil {
				t.Fatalf("Owned: %v", err)
			}
			diff(t, "owned", got, tt.want)
		})
	}
}
