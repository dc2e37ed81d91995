package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"
)

// Kinds of owned Cloudflare objects.
const (
	KindDNSRecord    = "dns_record"    // scope: zone id
	KindTunnelRule   = "tunnel_rule"   // scope: tunnel id
	KindAccessApp    = "access_app"    // scope: account id
	KindAccessPolicy = "access_policy" // scope: account id
)

// OwnedKey identifies an owned object: Key is its identity within Scope,
// e.g. "A app.example.com 203.0.113.7" for a DNS record or
// "app.example.com /api" for a tunnel rule.
type OwnedKey struct {
	Kind  string
	Scope string
	Key   string
}

// OwnedObject is a Cloudflare object Labelgate created or adopted. CFID is
// Cloudflare's id, empty for tunnel rules; Data is opaque JSON.
type OwnedObject struct {
	OwnedKey
	CFID      string
	Hostname  string
	Data      json.RawMessage // nil when absent
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Owned returns the owned objects of kind in scope, ordered by kind, scope
// and key. An empty scope means every scope; an empty kind, every kind.
func (s *Store) Owned(ctx context.Context, kind, scope string) ([]OwnedObject, error) {
	rows, err := s.db.QueryContext(ctx, `
		SELECT kind, scope, key, cf_id, hostname, data, created_at, updated_at
		FROM owned
		WHERE (?1 = '' OR kind = ?1) AND (?2 = '' OR scope = ?2)
		ORDER BY kind, scope, key`, kind, scope)
	if err != nil {
		return nil, fmt.Errorf("listing owned objects (kind %q, scope %q): %w", kind, scope, err)
	}
	defer rows.Close()
	var out []OwnedObject
	for rows.Next() {
		var o OwnedObject
		var data string
		var created, updated int64
		if err := rows.Scan(&o.Kind, &o.Scope, &o.Key, &o.CFID, &o.Hostname, &data, &created, &updated); err != nil {
			return nil, fmt.Errorf("listing owned objects (kind %q, scope %q): %w", kind, scope, err)
		}
		o.Data = fromJSONText(data)
		o.CreatedAt = fromMillis(created)
		o.UpdatedAt = fromMillis(updated)
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing owned objects (kind %q, scope %q): %w", kind, scope, err)
	}
	return out, nil
}

// PutOwned inserts or updates o. On update the stored CreatedAt is kept and
// everything else is replaced. Zero CreatedAt and UpdatedAt are stamped with
// the current time.
func (s *Store) PutOwned(ctx context.Context, o OwnedObject) error {
	return s.ApplyOwned(ctx, []OwnedObject{o}, nil)
}

// DeleteOwned forgets one owned object; forgetting a missing one is not an
// error.
func (s *Store) DeleteOwned(ctx context.Context, kind, scope, key string) error {
	return s.ApplyOwned(ctx, nil, []OwnedKey{{Kind: kind, Scope: scope, Key: key}})
}

// ApplyOwned records a batch in one transaction: deletes first, then puts
// (so a key in both ends up stored). Either all of it is recorded or, on
// error, none of it.
func (s *Store) ApplyOwned(ctx context.Context, puts []OwnedObject, deletes []OwnedKey) error {
	if len(puts) == 0 && len(deletes) == 0 {
		return nil
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		for _, k := range deletes {
			_, err := tx.ExecContext(ctx,
				`DELETE FROM owned WHERE kind = ? AND scope = ? AND key = ?`,
				k.Kind, k.Scope, k.Key)
			if err != nil {
				return fmt.Errorf("deleting owned %s: %w", k, err)
			}
		}
		for _, o := range puts {
			if err := s.putOwned(ctx, tx, o); err != nil {
				return fmt.Errorf("storing owned %s: %w", o.OwnedKey, err)
			}
		}
		return nil
	})
}

func (s *Store) putOwned(ctx context.Context, tx *sql.Tx, o OwnedObject) error {
	data, err := jsonText("data", o.Data)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `
		INSERT INTO owned (kind, scope, key, cf_id, hostname, data, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (kind, scope, key) DO UPDATE SET
			cf_id      = excluded.cf_id,
			hostname   = excluded.hostname,
			data       = excluded.data,
			updated_at = excluded.updated_at`,
		o.Kind, o.Scope, o.Key, o.CFID, o.Hostname, data,
		s.stamp(o.CreatedAt), s.stamp(o.UpdatedAt))
	return err
}

// String renders k as "kind scope/key" for error messages.
func (k OwnedKey) String() string {
	return k.Kind + " " + k.Scope + "/" + k.Key
}
