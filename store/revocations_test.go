package store

import (
	"testing"
	"time"
)

func TestRevocations(t *testing.T) {
	t.Parallel()
	s := openAt(t, dbPath(t), options{})
	ctx := t.Context()
	for _, r := range []Revocation{
		{Name: "b", TokenFingerprint: "fp-b", RevokedAt: at(2 * time.Second)},
		{Name: "a", TokenFingerprint: "fp-a", RevokedAt: at(1 * time.Second)},
		{Name: "a", TokenFingerprint: "fp-a2", RevokedAt: at(3 * time.Second)}, // replaces
	} {
		if err := s.PutRevocation(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Revocations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "revocations", got, []Revocation{
		{Name: "a", TokenFingerprint: "fp-a2", RevokedAt: at(3 * time.Second)},
		{Name: "b", TokenFingerprint: "fp-b", RevokedAt: at(2 * time.Second)},
	})
	if err := s.DeleteRevocation(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRevocation(ctx, "missing"); err != nil {
		t.Fatalf("deleting a missing revocation: %v", err)
	}
	got, err = s.Revocations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "revocations after delete", got, []Revocation{{Name: "b", TokenFingerprint: "fp-b", RevokedAt: at(2 * time.Second)}})
}
