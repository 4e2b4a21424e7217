package store_test

import (
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"samverk.io/samverk/engine/store"
	"samverk.io/samverk/engine/store/storetest"
)

// TestAPITokens runs the token cases against every store.
func TestAPITokens(t *testing.T) {
	for _, kind := range storetest.Kinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			s := storetest.Open(t, kind, store.Options{})
			h1, h2 := sha256.Sum256([]byte("one")), sha256.Sum256([]byte("two"))
			a := &store.APIToken{ID: "a1", Name: "ci", Member: "region-norr", Role: "viewer", Hash: h1[:],
				CreatedAt: t0, CreatedBy: "admin-token", ExpiresAt: t0.Add(90 * 24 * time.Hour)}
			b := &store.APIToken{ID: "b2", Name: "", Member: "*", Role: "admin", Hash: h2[:],
				CreatedAt: t0.Add(time.Minute), CreatedBy: "oidc:alice", ExpiresAt: t0.Add(time.Hour)}
			for _, tok := range []*store.APIToken{a, b} {
				if err := s.CreateToken(ctx(t), tok); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.CreateToken(ctx(t), &store.APIToken{ID: "c3", Member: "x", Role: "viewer", Hash: h1[:], CreatedAt: t0, ExpiresAt: t0}); err == nil {
				t.Error("a second token with the same hash was stored")
			}
			got, err := s.TokenByHash(ctx(t), h1[:])
			if err != nil {
				t.Fatal(err)
			}
			if got.ID != "a1" || got.Member != "region-norr" || got.Role != "viewer" || !got.CreatedAt.Equal(t0) ||
				!got.ExpiresAt.Equal(a.ExpiresAt) || got.LastUsed != nil || got.RevokedAt != nil || got.CreatedBy != "admin-token" {
				t.Errorf("TokenByHash = %+v", got)
			}
			unknown := sha256.Sum256([]byte("three"))
			if _, err := s.TokenByHash(ctx(t), unknown[:]); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("unknown hash: %v, want ErrNotFound", err)
			}

			used := t0.Add(2 * time.Hour)
			if err := s.TouchTokens(ctx(t), map[string]time.Time{"a1": used, "nope": used}); err != nil {
				t.Fatal(err)
			}
			// An older time does not move last-used back.
			if err := s.TouchTokens(ctx(t), map[string]time.Time{"a1": t0}); err != nil {
				t.Fatal(err)
			}
			if got, _ := s.Token(ctx(t), "a1"); got.LastUsed == nil || !got.LastUsed.Equal(used) {
				t.Errorf("last used = %v, want %v", got.LastUsed, used)
			}

			revoked := t0.Add(3 * time.Hour)
			if err := s.RevokeToken(ctx(t), "b2", revoked); err != nil {
				t.Fatal(err)
			}
			if err := s.RevokeToken(ctx(t), "b2", revoked.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			if err := s.RevokeToken(ctx(t), "nope", revoked); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("revoke unknown: %v, want ErrNotFound", err)
			}
			list, err := s.ListTokens(ctx(t))
			if err != nil {
				t.Fatal(err)
			}
			if len(list) != 2 || list[0].ID != "a1" || list[1].ID != "b2" || list[1].RevokedAt == nil || !list[1].RevokedAt.Equal(revoked) {
				t.Errorf("ListTokens = %+v", list)
			}
		})
	}
}
