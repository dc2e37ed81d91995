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
	t.Cleanup(func() { _ = db.Close() })
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

// TestStoreBudgetsAgentEvents: whatever actor records them, an agent's
// events are kept up to its budget and summed up beyond it; main's own are
// all kept.
func TestStoreBudgetsAgentEvents(t *testing.T) {
	var a storeActor
	var evs []store.Event
	for i := range 3 * eventBurst {
		evs = append(evs, store.Event{Kind: "updated", Source: "agent:x", Message: fmt.Sprint(i)}, store.Event{Kind: "updated", Source: "local"})
	}
	kept := a.budgetEvents(evs, t0)
	count := func(evs []store.Event, source, kind string) int {
		n := 0
		for _, e := range evs {
			if e.Source == source && e.Kind == kind {
				n++
			}
		}
		return n
	}
	if n := count(kept, "agent:x", "updated"); n != eventBurst {
		t.Errorf("%d of an agent's events kept at once, want its budget %d", n, eventBurst)
	}
	if n := count(kept, "local", "updated"); n != 3*eventBurst {
		t.Errorf("%d of main's own events kept, want all %d", n, 3*eventBurst)
	}
	later := a.budgetEvents(nil, t0.Add(time.Second))
	if len(later) != 1 || later[0].Kind != "summary" || later[0].Message != fmt.Sprintf("agent:x: %d more events were not recorded one by one (too many at once)", 2*eventBurst) {
		t.Errorf("want one summary of the %d held back, got %+v", 2*eventBurst, later)
	}
}

// TestChangeLines: a write logs and records its first changes one by one and
// sums up the rest by kind.
func TestChangeLines(t *testing.T) {
	var c changeLines
	taken := 0
	for range 5000 {
		if c.take("updated") {
			taken++
		}
	}
	for range 3 {
		c.take("created")
	}
	e, ok := c.summary(t0, "tunnel home: routes")
	if taken != maxChangeLines || !ok || e.Message != "tunnel home: routes: 4983 more changes in this write (3 created, 4980 updated)" {
		t.Errorf("taken %d, summary %v %q", taken, ok, e.Message)
	}
	var quiet changeLines
	quiet.take("created")
	if _, ok := quiet.summary(t0, "x"); ok {
		t.Error("a small write got a summary")
	}
}
