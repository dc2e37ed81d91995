package actors

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/google/go-cmp/cmp"

	"github.com/labelgate/labelgate/store"
)

// TestPendingWritesCoalesce: what waits for the store is each hostname's
// last state and each claim's net change, whatever the number of writes.
func TestPendingWritesCoalesce(t *testing.T) {
	claim := func(h string, at int) *store.Claim {
		return &store.Claim{Hostname: h, Source: "agent:x", Container: "c", RegisteredAt: t0.Add(time.Duration(at) * time.Second)}
	}
	host := func(h, state string) *store.HostnameState {
		return &store.HostnameState{Hostname: h, WinnerSource: "agent:x", WinnerContainer: "c", State: state}
	}
	var p pendingWrites
	for i := range 1000 {
		p.add([]storeWrite{{putHost: host("a.example.com", fmt.Sprint("v", i))}})
	}
	p.add([]storeWrite{
		{putClaim: claim("a.example.com", 1)}, {putClaim: claim("a.example.com", 2)}, // the first stands
		{putHost: host("b.example.com", "active")}, {deleteHost: "b.example.com"}, // the delete stands
		{putClaim: claim("b.example.com", 3)}, {deleteClaim: claim("b.example.com", 0)}, // deleted
		{deleteClaim: claim("c.example.com", 0)}, {putClaim: claim("c.example.com", 5)}, // left, and came back
	})
	got := p.take()
	want := store.RegistryBatch{
		PutHosts:     []store.HostnameState{*host("a.example.com", "v999")},
		DeleteHosts:  []string{"b.example.com"},
		DeleteClaims: []store.Claim{{Hostname: "b.example.com", Source: "agent:x", Container: "c"}, {Hostname: "c.example.com", Source: "agent:x", Container: "c"}},
		PutClaims:    []store.Claim{*claim("a.example.com", 1), *claim("c.example.com", 5)},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("batch (-want +got):\n%s", diff)
	}
	if !p.empty() || !p.take().Empty() {
		t.Error("take left writes behind")
	}
}

// TestStoreActorWritesThrough: a burst of registry writes ends as the last
// decision of each hostname, and a read after them sees them.
func TestStoreActorWritesThrough(t *testing.T) {
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	sys := actor.NewActorSystem()
	t.Cleanup(sys.Shutdown)
	pid := sys.Root.Spawn(NewStoreProps(db, slog.New(slog.DiscardHandler)))
	for i := range 2000 {
		var ws []storeWrite
		for h := range 50 {
			ws = append(ws, storeWrite{putHost: &store.HostnameState{Hostname: fmt.Sprintf("h%02d.example.com", h), WinnerSource: "agent:x",
				WinnerContainer: "c", State: "active", Spec: []byte(fmt.Sprintf(`{"v":%d}`, i)), UpdatedAt: t0}})
		}
		sys.Root.Send(pid, storeRegistryWrites{Writes: ws})
	}
	res, err := sys.Root.RequestFuture(pid, storeLoadRegistry{}, 30*time.Second).Result()
	if err != nil {
		t.Fatal(err)
	}
	loaded := res.(storeRegistryLoaded)
	if loaded.Err != nil || len(loaded.Hosts) != 50 {
		t.Fatalf("loaded %d hostnames (%v), want 50", len(loaded.Hosts), loaded.Err)
	}
	for _, h := range loaded.Hosts {
		if string(h.Spec) != `{"v":1999}` {
			t.Fatalf("%s holds %s, want the last decision", h.Hostname, h.Spec)
		}
	}
}
