package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// Store is a handle on one Labelgate database file. It is owned by a single
// goroutine; see the package documentation.
type Store struct {
	db  *sql.DB
	now func() time.Time
}

// writeCheckKey is the meta row CheckWritable rewrites. Its value is the time
// of the last successful check, which doubles as a liveness trace.
const writeCheckKey = "store.write_checked_at"

// options are the knobs only this package's tests turn.
type options struct {
	// readOnly opens the file with SQLite's mode=ro: every write fails.
	readOnly bool
	// migrations replaces the schema steps, to build older databases.
	migrations []string
	// now replaces the clock used to stamp zero times.
	now func() time.Time
}

// Open opens (creating if missing) the database at path, in WAL mode with a
// single connection, and brings its schema up to date. The parent directory
// is created with mode 0700 if it does not exist.
func Open(ctx context.Context, path string) (*Store, error) {
	return open(ctx, path, options{})
}

func open(ctx context.Context, path string, opts options) (*Store, error) {
	if path == "" {
		return nil, errors.New("opening database: the path is empty")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("resolving database path %q: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, fmt.Errorf("creating database directory: %w", err)
	}
	db, err := sql.Open("sqlite", dsn(abs, opts.readOnly))
	if err != nil {
		return nil, fmt.Errorf("opening database %s: %w", abs, err)
	}
	// One connection: the store actor is the only writer, and SQLite allows
	// one writer anyway. It also makes "one transaction at a time" structural.
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)

	s := &Store{db: db, now: time.Now}
	if opts.now != nil {
		s.now = opts.now
	}
	steps := migrations
	if opts.migrations != nil {
		steps = opts.migrations
	}
	if err := s.prepare(ctx, abs, steps); err != nil {
		return nil, errors.Join(err, db.Close())
	}
	return s, nil
}

func (s *Store) prepare(ctx context.Context, path string, steps []string) error {
	// The pragmas in the DSN run when the connection opens; a file the
	// driver cannot open or a filesystem without WAL support shows up here.
	var mode string
	if err := s.db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("opening database %s: %w", path, err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("opening database %s: journal mode is %q, want wal (is the filesystem able to hold a WAL database?)", path, mode)
	}
	if err := migrate(ctx, s.db, steps); err != nil {
		return fmt.Errorf("migrating database %s: %w", path, err)
	}
	return nil
}

// dsn builds a file: URI so that SQLite's own parameters (mode=ro) apply;
// the path is escaped, so '?', '#' and '%' in it are taken literally.
func dsn(absPath string, readOnly bool) string {
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(absPath)}
	q := []string{
		"_pragma=busy_timeout(5000)",
		"_pragma=journal_mode(WAL)",
		"_pragma=foreign_keys(1)",
		"_pragma=synchronous(NORMAL)",
		// Write transactions take the write lock up front, so they wait out
		// busy_timeout instead of failing on a read-to-write upgrade.
		"_txlock=immediate",
	}
	if readOnly {
		q = append(q, "mode=ro")
	}
	return u.String() + "?" + strings.Join(q, "&")
}

// Close closes the database. On the last connection SQLite checkpoints the
// WAL back into the main file.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("closing database: %w", err)
	}
	return nil
}

// Ping reports whether the database can be read: it reads the schema version
// from the file, not just the connection's state.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("pinging database: %w", err)
	}
	if _, err := schemaVersion(ctx, s.db); err != nil {
		return fmt.Errorf("pinging database: %w", err)
	}
	return nil
}

// CheckWritable reports whether the database accepts writes, by committing a
// real write: it records the current time in a meta row of its own. Meant for
// readiness checks.
func (s *Store) CheckWritable(ctx context.Context) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		return putMeta(ctx, tx, writeCheckKey, s.now().UTC().Format(time.RFC3339Nano))
	})
	if err != nil {
		return fmt.Errorf("checking the database is writable: %w", err)
	}
	return nil
}

// execer is what single-statement helpers need from *sql.DB and *sql.Tx.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// inTx runs fn in one transaction, committing if it returns nil and rolling
// back otherwise.
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return inTx(ctx, s.db, fn)
}

func inTx(ctx context.Context, db *sql.DB, fn func(tx *sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("beginning transaction: %w", err)
	}
	if err := fn(tx); err != nil {
		if rerr := tx.Rollback(); rerr != nil && !errors.Is(rerr, sql.ErrTxDone) {
			return errors.Join(err, fmt.Errorf("rolling back: %w", rerr))
		}
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("committing transaction: %w", err)
	}
	return nil
}

// stamp returns t as unix milliseconds, or now when t is zero.
func (s *Store) stamp(t time.Time) int64 {
	if t.IsZero() {
		t = s.now()
	}
	return t.UnixMilli()
}

// fromMillis is the inverse of the stored form: UTC, millisecond precision.
func fromMillis(ms int64) time.Time {
	return time.UnixMilli(ms).UTC()
}

// optionalMillis stores a zero time as NULL.
func optionalMillis(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMilli(), Valid: true}
}

func fromOptionalMillis(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return fromMillis(v.Int64)
}

// jsonText checks an opaque JSON document and returns its stored text; an
// empty document is stored as the empty string.
func jsonText(field string, doc json.RawMessage) (string, error) {
	if len(doc) == 0 {
		return "", nil
	}
	if !json.Valid(doc) {
		return "", fmt.Errorf("%s is not valid JSON", field)
	}
	return string(doc), nil
}

// fromJSONText is the inverse of jsonText: the empty string reads as nil.
func fromJSONText(text string) json.RawMessage {
	if text == "" {
		return nil
	}
	return json.RawMessage(text)
}
