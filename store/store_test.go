package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// t0 is a millisecond-precise UTC instant, so it survives the round trip.
var t0 = time.Date(2025, 3, 14, 15, 9, 26, 535_000_000, time.UTC)

// at returns t0 plus d.
func at(d time.Duration) time.Time { return t0.Add(d) }

// fixedClock is the clock tests give the store: zero times become t0+1h.
func fixedClock() time.Time { return at(time.Hour) }

// dbPath returns a path for a fresh database in a directory that does not
// exist yet, so every test also exercises directory creation.
func dbPath(t *testing.T) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "state", "labelgate.db")
}

// openAt opens the database at path with opts and closes it at cleanup.
func openAt(t *testing.T, path string, opts options) *Store {
	t.Helper()
	if opts.now == nil {
		opts.now = fixedClock
	}
	s, err := open(t.Context(), path, opts)
	if err != nil {
		t.Fatalf("opening store: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("closing store: %v", err)
		}
	})
	return s
}

// newStore opens a fresh, fully migrated store. It starts from a copy of a
// database Open created and closed once per test binary: running the
// migrations for every test would cost most of the suite's time under -race.
// Tests about creating and migrating a database use openAt on dbPath.
func newStore(t *testing.T) *Store {
	t.Helper()
	image, err := migratedImage()
	if err != nil {
		t.Fatalf("building the migrated database: %v", err)
	}
	path := dbPath(t)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, image, 0o600); err != nil {
		t.Fatal(err)
	}
	return openAt(t, path, options{})
}

// migratedImage is the file of a freshly opened and closed database. Close
// checkpoints the WAL, so the file alone holds the whole schema.
var migratedImage = sync.OnceValues(func() ([]byte, error) {
	dir, err := os.MkdirTemp("", "labelgate-store-test-")
	if err != nil {
		return nil, err
	}
	defer func() { _ = os.RemoveAll(dir) }() // a temporary directory
	path := filepath.Join(dir, "template.db")
	s, err := Open(context.Background(), path)
	if err != nil {
		return nil, err
	}
	if err := s.Close(); err != nil {
		return nil, err
	}
	if _, err := os.Stat(path + "-wal"); !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("the WAL outlived Close (stat: %v)", err)
	}
	return os.ReadFile(path)
})

// diff fails the test when got and want differ.
func diff(t *testing.T, what string, got, want any) {
	t.Helper()
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", what, d)
	}
}

// wantErr fails unless err's presence matches want.
func wantErr(t *testing.T, err error, want bool) {
	t.Helper()
	if (err != nil) != want {
		t.Fatalf("error = %v, want error: %v", err, want)
	}
}

func TestOpenCreatesDirectoryInWALMode(t *testing.T) {
	t.Parallel()
	path := dbPath(t)
	s := openAt(t, path, options{})

	info, err := os.Stat(filepath.Dir(path))
	if err != nil {
		t.Fatalf("stat directory: %v", err)
	}
	if got := info.Mode().Perm(); got != 0o700 {
		t.Errorf("directory mode = %o, want 700", got)
	}
	var mode string
	if err := s.db.QueryRowContext(t.Context(), "PRAGMA journal_mode").Scan(&mode); err != nil {
		t.Fatalf("reading journal mode: %v", err)
	}
	if mode != "wal" {
		t.Errorf("journal_mode = %q, want wal", mode)
	}
	var fk, sync, busy int
	if err := s.db.QueryRowContext(t.Context(), "PRAGMA foreign_keys").Scan(&fk); err != nil {
		t.Fatalf("reading foreign_keys: %v", err)
	}
	if err := s.db.QueryRowContext(t.Context(), "PRAGMA synchronous").Scan(&sync); err != nil {
		t.Fatalf("reading synchronous: %v", err)
	}
	if err := s.db.QueryRowContext(t.Context(), "PRAGMA busy_timeout").Scan(&busy); err != nil {
		t.Fatalf("reading busy_timeout: %v", err)
	}
	diff(t, "pragmas", []int{fk, sync, busy}, []int{1, 1 /* NORMAL */, 5000})

	if err := s.PutMeta(t.Context(), "k", "v"); err != nil {
		t.Fatalf("PutMeta: %v", err)
	}
	if _, err := os.Stat(path + "-wal"); err != nil {
		t.Errorf("expected a WAL file next to the database: %v", err)
	}
}

func TestOpenRejectsBadPaths(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "plain-file")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatalf("writing file: %v", err)
	}
	notADB := filepath.Join(t.TempDir(), "not-a-db")
	if err := os.WriteFile(notADB, []byte(strings.Repeat("this is not sqlite ", 64)), 0o600); err != nil {
		t.Fatalf("writing file: %v", err)
	}
	tests := []struct {
		name string
		path string
	}{
		{"empty path", ""},
		{"parent is a file", filepath.Join(file, "labelgate.db")},
		{"not a database", notADB},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := Open(t.Context(), tt.path)
			if err == nil {
				_ = s.Close() // the test fails below
				t.Fatalf("Open(%q) succeeded, want an error", tt.path)
			}
		})
	}
}

func TestOpenEscapesPath(t *testing.T) {
	t.Parallel()
	// Characters that mean something in a file: URI must be taken literally.
	path := filepath.Join(t.TempDir(), "we?ird #dir%20", "state.db")
	s := openAt(t, path, options{})
	if err := s.PutMeta(t.Context(), "k", "v"); err != nil {
		t.Fatalf("PutMeta: %v", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database not at the literal path: %v", err)
	}
}

// TestReopenKeepsEverything writes to every table, closes the store (which
// checkpoints the WAL) and checks a fresh Open reads it all back.
func TestReopenKeepsEverything(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := dbPath(t)

	claim := Claim{Hostname: "app.example.com", Source: "local", Container: "web", RegisteredAt: at(0)}
	host := HostnameState{Hostname: "app.example.com", WinnerSource: "local", WinnerContainer: "web",
		State: StateLeaving, DueAt: at(time.Minute), Spec: []byte(`{"a":1}`), UpdatedAt: at(time.Second)}
	obj := OwnedObject{OwnedKey: OwnedKey{Kind: KindDNSRecord, Scope: "zone1", Key: "A app.example.com 203.0.113.7"},
		CFID: "rec1", Hostname: "app.example.com", Data: []byte(`{"ttl":1}`), CreatedAt: at(0), UpdatedAt: at(0)}
	agent := Agent{Name: "edge", FirstSeen: at(0), LastSeen: at(time.Second), Version: "1.0",
		Hostname: "edge-host", DefaultTunnel: "t1", State: AgentConnected}
	event := Event{At: at(0), Level: LevelInfo, Kind: "created", Hostname: "app.example.com", Message: "created"}

	s, err := open(ctx, path, options{now: fixedClock})
	if err != nil {
		t.Fatalf("opening store: %v", err)
	}
	for _, err := range []error{
		s.PutClaim(ctx, claim),
		s.PutHostname(ctx, host),
		s.PutOwned(ctx, obj),
		s.PutAgent(ctx, agent),
		s.AppendEvents(ctx, []Event{event}),
		s.PutMeta(ctx, "last_settled", "2025-03-14T15:09:26Z"),
	} {
		if err != nil {
			t.Fatalf("writing: %v", err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatalf("closing: %v", err)
	}

	s = openAt(t, path, options{})
	claims, err := s.Claims(ctx)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "claims", claims, []Claim{claim})
	hosts, err := s.Hostnames(ctx)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "hostnames", hosts, []HostnameState{host})
	objs, err := s.Owned(ctx, "", "")
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "owned", objs, []OwnedObject{obj})
	agents, err := s.Agents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "agents", agents, []Agent{agent})
	events, err := s.Events(ctx, EventQuery{})
	if err != nil {
		t.Fatal(err)
	}
	event.ID = 1
	diff(t, "events", events, []Event{event})
	v, ok, err := s.Meta(ctx, "last_settled")
	if err != nil || !ok || v != "2025-03-14T15:09:26Z" {
		t.Errorf("Meta = %q, %v, %v; want the stored value", v, ok, err)
	}
}

func TestTimesAreUTCMilliseconds(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	paris := time.FixedZone("CET", 3600)
	in := time.Date(2025, 3, 14, 16, 9, 26, 535_999_999, paris)
	if err := s.PutClaim(t.Context(), Claim{Hostname: "h", Source: "s", Container: "c", RegisteredAt: in}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Claims(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("got %d claims, want 1", len(got))
	}
	want := time.Date(2025, 3, 14, 15, 9, 26, 535_000_000, time.UTC)
	if r := got[0].RegisteredAt; r != want {
		t.Errorf("RegisteredAt = %v (%v), want %v", r, r.Location(), want)
	}
}

func TestPingAndCheckWritable(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	if err := s.Ping(t.Context()); err != nil {
		t.Errorf("Ping: %v", err)
	}
	if err := s.CheckWritable(t.Context()); err != nil {
		t.Errorf("CheckWritable: %v", err)
	}
	v, ok, err := s.Meta(t.Context(), writeCheckKey)
	if err != nil || !ok || v != fixedClock().Format(time.RFC3339Nano) {
		t.Errorf("write-check row = %q, %v, %v; want the check's time", v, ok, err)
	}
}

func TestClosedStoreFails(t *testing.T) {
	t.Parallel()
	s, err := Open(t.Context(), dbPath(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(t.Context()); err == nil {
		t.Error("Ping on a closed store succeeded")
	}
	if err := s.CheckWritable(t.Context()); err == nil {
		t.Error("CheckWritable on a closed store succeeded")
	}
}

// TestReadOnlyDatabase opens a database with SQLite's mode=ro: reads work,
// every write fails with SQLITE_READONLY, and CheckWritable says so. (chmod
// would not do: tests may run as root, which ignores file modes.)
func TestReadOnlyDatabase(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		writerStays bool // keep the writing store open while the read-only one is used
	}{
		{name: "after the writer closed"},
		{name: "while the writer is open", writerStays: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			path := dbPath(t)
			w, err := open(ctx, path, options{now: fixedClock})
			if err != nil {
				t.Fatal(err)
			}
			if err := w.PutMeta(ctx, "settled", "yes"); err != nil {
				t.Fatal(err)
			}
			if tt.writerStays {
				t.Cleanup(func() {
					if err := w.Close(); err != nil {
						t.Error(err)
					}
				})
			} else if err := w.Close(); err != nil {
				t.Fatal(err)
			}

			ro := openAt(t, path, options{readOnly: true})
			if err := ro.Ping(ctx); err != nil {
				t.Errorf("Ping on a read-only database: %v", err)
			}
			if v, ok, err := ro.Meta(ctx, "settled"); err != nil || !ok || v != "yes" {
				t.Errorf("Meta = %q, %v, %v; want \"yes\", true, nil", v, ok, err)
			}
			wantReadOnly(t, "CheckWritable", ro.CheckWritable(ctx))
			wantReadOnly(t, "PutClaim", ro.PutClaim(ctx, Claim{Hostname: "h", Source: "s", Container: "c"}))
		})
	}
}

// wantReadOnly fails unless err is SQLite's "attempt to write a readonly
// database".
func wantReadOnly(t *testing.T, call string, err error) {
	t.Helper()
	var serr *sqlite.Error
	if !errors.As(err, &serr) || serr.Code()&0xff != sqlite3.SQLITE_READONLY {
		t.Errorf("%s on a read-only database: error = %v, want SQLITE_READONLY", call, err)
	}
}

func TestReadOnlyOpenOfMissingFileFails(t *testing.T) {
	t.Parallel()
	s, err := open(t.Context(), dbPath(t), options{readOnly: true})
	if err == nil {
		_ = s.Close() // the test fails below
		t.Fatal("read-only open of a missing database succeeded")
	}
}

// TestCancelledContext checks calls honour their context.
func TestCancelledContext(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.PutMeta(ctx, "k", "v"); err == nil {
		t.Error("PutMeta with a cancelled context succeeded")
	}
	if err := s.AppendEvents(ctx, []Event{{Level: LevelInfo, Kind: "x"}}); err == nil {
		t.Error("AppendEvents with a cancelled context succeeded")
	}
	// The store is still usable afterwards.
	if err := s.PutMeta(t.Context(), "k", "v"); err != nil {
		t.Errorf("PutMeta after a cancelled call: %v", err)
	}
}

// TestUncheckpointedWALSurvives simulates a crash: the database and its WAL
// are copied while the writer is still open (nothing checkpointed), and the
// copy must hold every committed write.
func TestUncheckpointedWALSurvives(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := dbPath(t)
	s := openAt(t, path, options{})
	if err := s.PutClaim(ctx, Claim{Hostname: "h", Source: "local", Container: "c", RegisteredAt: at(0)}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutMeta(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path + "-wal")
	if err != nil || info.Size() == 0 {
		t.Fatalf("want a non-empty WAL while the store is open: %v", err)
	}

	crashed := filepath.Join(t.TempDir(), "crashed.db")
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(path + suffix)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(crashed+suffix, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c := openAt(t, crashed, options{})
	claims, err := c.Claims(ctx)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "claims after crash", claims, []Claim{{Hostname: "h", Source: "local", Container: "c", RegisteredAt: at(0)}})
	if v, ok, err := c.Meta(ctx, "k"); err != nil || !ok || v != "v" {
		t.Errorf("Meta after crash = %q, %v, %v; want \"v\", true, nil", v, ok, err)
	}
}
