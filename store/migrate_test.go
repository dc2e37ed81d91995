package store

import (
	"database/sql"
	"fmt"
	"strings"
	"testing"
)

// schemaOf returns the stored schema SQL, in a stable order, and the version.
func schemaOf(t *testing.T, s *Store) (string, int) {
	t.Helper()
	rows, err := s.db.QueryContext(t.Context(),
		`SELECT type, name, coalesce(sql, '') FROM sqlite_schema ORDER BY type, name`)
	if err != nil {
		t.Fatalf("reading schema: %v", err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var typ, name, text string
		if err := rows.Scan(&typ, &name, &text); err != nil {
			t.Fatalf("reading schema: %v", err)
		}
		fmt.Fprintf(&b, "%s %s: %s\n", typ, name, text)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("reading schema: %v", err)
	}
	v, err := schemaVersion(t.Context(), s.db)
	if err != nil {
		t.Fatal(err)
	}
	return b.String(), v
}

func TestMigrationsAreIdempotent(t *testing.T) {
	t.Parallel()
	path := dbPath(t)
	first, err := open(t.Context(), path, options{})
	if err != nil {
		t.Fatal(err)
	}
	wantSchema, wantVersion := schemaOf(t, first)
	if wantVersion != len(migrations) {
		t.Errorf("version after first open = %d, want %d", wantVersion, len(migrations))
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	for i := range 2 {
		s := openAt(t, path, options{})
		if err := migrate(t.Context(), s.db, migrations); err != nil {
			t.Fatalf("re-running migrations: %v", err)
		}
		gotSchema, gotVersion := schemaOf(t, s)
		if gotVersion != wantVersion {
			t.Errorf("reopen %d: version = %d, want %d", i, gotVersion, wantVersion)
		}
		diff(t, "schema after reopen", gotSchema, wantSchema)
	}
}

// seeders write one row into the table migration i (0-based) creates, so an
// upgrade test can check the row survives later migrations.
var seeders = []func(t *testing.T, s *Store){
	func(t *testing.T, s *Store) {
		if err := s.PutClaim(t.Context(), Claim{Hostname: "h", Source: "s", Container: "c", RegisteredAt: at(0)}); err != nil {
			t.Fatal(err)
		}
	},
	func(t *testing.T, s *Store) {
		if err := s.PutHostname(t.Context(), HostnameState{Hostname: "h", State: StateActive, UpdatedAt: at(0)}); err != nil {
			t.Fatal(err)
		}
	},
	func(t *testing.T, s *Store) {
		if err := s.PutOwned(t.Context(), OwnedObject{OwnedKey: OwnedKey{Kind: KindTunnelRule, Scope: "t", Key: "h /"}}); err != nil {
			t.Fatal(err)
		}
	},
	func(t *testing.T, s *Store) {
		if err := s.AppendEvents(t.Context(), []Event{{Level: LevelInfo, Kind: "created"}}); err != nil {
			t.Fatal(err)
		}
	},
	func(t *testing.T, s *Store) {
		if err := s.PutAgent(t.Context(), Agent{Name: "a", State: AgentConnected}); err != nil {
			t.Fatal(err)
		}
	},
	func(t *testing.T, s *Store) {
		if err := s.PutMeta(t.Context(), "k", "v"); err != nil {
			t.Fatal(err)
		}
	},
	func(t *testing.T, s *Store) {
		if err := s.PutRevocation(t.Context(), Revocation{Name: "a", TokenFingerprint: "f", RevokedAt: at(0)}); err != nil {
			t.Fatal(err)
		}
	},
}

// rowCounts returns the number of rows in each table, in migration order.
func rowCounts(t *testing.T, s *Store) []int {
	t.Helper()
	var out []int
	for _, table := range []string{"claims", "hostnames", "owned", "events", "agents", "meta", "revocations"} {
		var n int
		if err := s.db.QueryRowContext(t.Context(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
			t.Fatalf("counting %s: %v", table, err)
		}
		out = append(out, n)
	}
	return out
}

// TestUpgradeFromOlderVersion builds a database at every older version, puts
// data in the tables it has, and checks a normal Open upgrades it in place.
func TestUpgradeFromOlderVersion(t *testing.T) {
	t.Parallel()
	if len(seeders) != len(migrations) {
		t.Fatalf("%d seeders for %d migrations: add a seeder for the new migration", len(seeders), len(migrations))
	}
	for n := 1; n < len(migrations); n++ {
		t.Run(fmt.Sprintf("from version %d", n), func(t *testing.T) {
			t.Parallel()
			path := dbPath(t)
			old, err := open(t.Context(), path, options{migrations: migrations[:n]})
			if err != nil {
				t.Fatalf("building version %d: %v", n, err)
			}
			for _, seed := range seeders[:n] {
				seed(t, old)
			}
			if err := old.Close(); err != nil {
				t.Fatal(err)
			}

			s := openAt(t, path, options{})
			if _, v := schemaOf(t, s); v != len(migrations) {
				t.Errorf("version after upgrade = %d, want %d", v, len(migrations))
			}
			want := make([]int, len(migrations))
			for i := range n {
				want[i] = 1
			}
			diff(t, "rows per table after upgrade", rowCounts(t, s), want)
			// Every table, old or new, takes writes.
			for _, seed := range seeders {
				seed(t, s)
			}
		})
	}
}

func TestNewerDatabaseIsRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// age makes the database newer than migrations[:known].
		age   func(t *testing.T, db *sql.DB)
		known int
	}{
		{
			name: "version bumped beyond this build",
			age: func(t *testing.T, db *sql.DB) {
				execOrFail(t, db, fmt.Sprintf("PRAGMA user_version = %d", len(migrations)+1))
			},
			known: len(migrations),
		},
		{
			name:  "an older build opens a current database",
			age:   func(*testing.T, *sql.DB) {},
			known: len(migrations) - 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := dbPath(t)
			s, err := Open(t.Context(), path)
			if err != nil {
				t.Fatal(err)
			}
			tt.age(t, s.db)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s, err = open(t.Context(), path, options{migrations: migrations[:tt.known]})
			if err == nil {
				_ = s.Close() // the test fails below
				t.Fatal("open succeeded, want the newer database refused")
			}
			if !strings.Contains(err.Error(), "newer labelgate") {
				t.Errorf("error = %v, want it to say a newer labelgate wrote the database", err)
			}
		})
	}
}

// TestFailedMigrationRollsBack checks a step and its version bump commit
// together: a step failing halfway leaves neither its tables nor the bump.
func TestFailedMigrationRollsBack(t *testing.T) {
	t.Parallel()
	path := dbPath(t)
	steps := append(migrations[:len(migrations):len(migrations)],
		`CREATE TABLE half_done (a INTEGER); CREATE TABLE broken (`)
	s, err := open(t.Context(), path, options{migrations: steps})
	if err == nil {
		_ = s.Close() // the test fails below
		t.Fatal("open with a broken migration succeeded")
	}
	if !strings.Contains(err.Error(), fmt.Sprintf("applying migration %d", len(steps))) {
		t.Errorf("error = %v, want it to name migration %d", err, len(steps))
	}

	s = openAt(t, path, options{})
	_, v := schemaOf(t, s)
	if v != len(migrations) {
		t.Errorf("version = %d, want %d (the broken step not counted)", v, len(migrations))
	}
	var n int
	if err := s.db.QueryRowContext(t.Context(),
		`SELECT count(*) FROM sqlite_schema WHERE name = 'half_done'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Error("the failed migration's first statement was kept")
	}
}

func execOrFail(t *testing.T, db *sql.DB, query string) {
	t.Helper()
	if _, err := db.ExecContext(t.Context(), query); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}
