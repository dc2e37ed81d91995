package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Meta returns the value stored under key and whether there is one.
func (s *Store) Meta(ctx context.Context, key string) (string, bool, error) {
	var v string
	err := s.db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, key).Scan(&v)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", false, nil
	case err != nil:
		return "", false, fmt.Errorf("reading meta %s: %w", key, err)
	}
	return v, true, nil
}

// PutMeta sets key to value, replacing any previous value.
func (s *Store) PutMeta(ctx context.Context, key, value string) error {
	if err := putMeta(ctx, s.db, key, value); err != nil {
		return fmt.Errorf("storing meta %s: %w", key, err)
	}
	return nil
}

func putMeta(ctx context.Context, db execer, key, value string) error {
	_, err := db.ExecContext(ctx, `
		INSERT INTO meta (key, value) VALUES (?, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
	return err
}
