package store

import (
	"context"
	"encoding/json"
	"testing"
	"time"
)

func TestHostnames(t *testing.T) {
	t.Parallel()
	active := HostnameState{
		Hostname: "app.example.com", WinnerSource: "local", WinnerContainer: "web",
		State: StateActive, Spec: json.RawMessage(`{"tunnel":"t1","service":"http://web:80"}`), UpdatedAt: at(0),
	}
	leaving := HostnameState{
		Hostname: "app.example.com", WinnerSource: "edge", WinnerContainer: "api",
		State: StateLeaving, DueAt: at(5 * time.Minute), Spec: json.RawMessage(`{"tunnel":"t2"}`), UpdatedAt: at(time.Minute),
	}
	put := func(hs ...HostnameState) func(context.Context, *Store) error {
		return func(ctx context.Context, s *Store) error {
			for _, h := range hs {
				if err := s.PutHostname(ctx, h); err != nil {
					return err
				}
			}
			return nil
		}
	}
	named := func(h HostnameState, name string) HostnameState { h.Hostname = name; return h }

	tests := []struct {
		name    string
		do      func(ctx context.Context, s *Store) error
		wantErr bool
		want    []HostnameState
	}{
		{name: "insert", do: put(active), want: []HostnameState{active}},
		{name: "upsert replaces every field", do: put(active, leaving), want: []HostnameState{leaving}},
		{
			name: "due time and spec can be cleared",
			do:   put(leaving, active),
			want: []HostnameState{active},
		},
		{
			name: "nil spec and zero times",
			do:   put(HostnameState{Hostname: "h", State: StateRetained}),
			want: []HostnameState{{Hostname: "h", State: StateRetained, UpdatedAt: fixedClock()}},
		},
		{
			name: "ordered by hostname",
			do:   put(named(active, "c"), named(leaving, "a"), named(active, "b")),
			want: []HostnameState{named(leaving, "a"), named(active, "b"), named(active, "c")},
		},
		{
			name: "delete",
			do: func(ctx context.Context, s *Store) error {
				if err := put(named(active, "a"), named(active, "b"))(ctx, s); err != nil {
					return err
				}
				return s.DeleteHostname(ctx, "a")
			},
			want: []HostnameState{named(active, "b")},
		},
		{
			name: "deleting a missing hostname is not an error",
			do:   func(ctx context.Context, s *Store) error { return s.DeleteHostname(ctx, "nope") },
		},
		{
			name:    "unknown state is refused",
			do:      put(HostnameState{Hostname: "h", State: "gone"}),
			wantErr: true,
		},
		{
			name:    "invalid spec JSON is refused",
			do:      put(HostnameState{Hostname: "h", State: StateActive, Spec: json.RawMessage(`{"a":`)}),
			wantErr: true,
		},
		{
			name:    "a refused update keeps the previous state",
			do:      put(active, HostnameState{Hostname: active.Hostname, State: "bogus"}),
			wantErr: true,
			want:    []HostnameState{active},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newStore(t)
			wantErr(t, tt.do(t.Context(), s), tt.wantErr)
			got, err := s.Hostnames(t.Context())
			if err != nil {
				t.Fatalf("Hostnames: %v", err)
			}
			diff(t, "hostnames", got, tt.want)
		})
	}
}

// TestApplyRegistry: a batch writes hostnames and claims in one
// transaction; a claim that left and came back in the batch is registered
// anew, an existing one keeps its time.
func TestApplyRegistry(t *testing.T) {
	t.Parallel()
	s := openAt(t, dbPath(t), options{})
	ctx := t.Context()
	if err := s.PutClaim(ctx, Claim{Hostname: "a", Source: "s", Container: "c", RegisteredAt: at(time.Second)}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutClaim(ctx, Claim{Hostname: "b", Source: "s", Container: "c", RegisteredAt: at(time.Second)}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutHostname(ctx, HostnameState{Hostname: "gone", State: StateActive, UpdatedAt: at(0)}); err != nil {
		t.Fatal(err)
	}
	err := s.ApplyRegistry(ctx, RegistryBatch{
		PutHosts:     []HostnameState{{Hostname: "a", WinnerSource: "s", WinnerContainer: "c", State: StateActive, UpdatedAt: at(time.Minute)}},
		DeleteHosts:  []string{"gone"},
		DeleteClaims: []Claim{{Hostname: "b", Source: "s", Container: "c"}},
		PutClaims: []Claim{
			{Hostname: "a", Source: "s", Container: "c", RegisteredAt: at(time.Hour)}, // exists: keeps 1 s
			{Hostname: "b", Source: "s", Container: "c", RegisteredAt: at(time.Hour)}, // deleted first: 1 h
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	claims, err := s.Claims(ctx)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "claims", claims, []Claim{
		{Hostname: "a", Source: "s", Container: "c", RegisteredAt: at(time.Second)},
		{Hostname: "b", Source: "s", Container: "c", RegisteredAt: at(time.Hour)},
	})
	hosts, err := s.Hostnames(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(hosts) != 1 || hosts[0].Hostname != "a" {
		t.Errorf("hostnames %+v, want only a", hosts)
	}
	// A batch that fails writes nothing.
	err = s.ApplyRegistry(ctx, RegistryBatch{
		PutHosts:  []HostnameState{{Hostname: "x", State: StateActive}},
		PutClaims: []Claim{{Hostname: "", Source: "s", Container: "c"}}, // CHECK fails
	})
	if err == nil {
		t.Fatal("a batch with an invalid claim succeeded")
	}
	if hosts, _ := s.Hostnames(ctx); len(hosts) != 1 {
		t.Errorf("a failed batch wrote %d hostnames", len(hosts)-1)
	}
}
