package store_test

import (
	"errors"
	"testing"
	"time"

	"samverk.io/samverk/engine/store"
	"samverk.io/samverk/engine/store/storetest"
)

// TestReplicas runs the shared replica state against every store: terms increase, a leader
// write under a term that has moved on is refused and leaves nothing, publications are read
// back newest first, operator state and heartbeats round-trip.
func TestReplicas(t *testing.T) {
	for _, kind := range storetest.Kinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			s := storetest.Open(t, kind, store.Options{})
			c := ctx(t)
			if p, err := s.LatestPublication(c); err != nil || p != nil {
				t.Fatalf("latest publication of an empty store = %v, %v", p, err)
			}
			t1, err := s.BeginTerm(c, "a")
			if err != nil || t1 != 1 {
				t.Fatalf("first term = %d, %v; want 1", t1, err)
			}
			if _, err := s.RecordPublication(c, "r0", "a", t0); !errors.Is(err, store.ErrNoTerm) {
				t.Fatalf("publication without a term: %v, want ErrNoTerm", err)
			}
			p1, err := s.RecordPublication(store.WithTerm(c, t1), "r1", "a", t0)
			if err != nil || p1.Seq <= 0 || p1.Term != 1 {
				t.Fatalf("publication under term 1 = %+v, %v", p1, err)
			}
			t2, err := s.BeginTerm(c, "b")
			if err != nil || t2 != 2 {
				t.Fatalf("second term = %d, %v; want 2", t2, err)
			}
			if term, holder, err := s.LeaderTerm(c); err != nil || term != 2 || holder != "b" {
				t.Fatalf("leader term = %d %q %v; want 2 b", term, holder, err)
			}
			old := store.WithTerm(c, t1)
			if _, err := s.RecordPublication(old, "r2", "a", t0.Add(time.Minute)); !errors.Is(err, store.ErrFenced) {
				t.Errorf("publication under an old term: %v, want ErrFenced", err)
			}
			ring := store.RingState{Ring: "pilot", Revision: "r2", Since: t0, Status: store.RingActive, UpdatedAt: t0, UpdatedBy: "controller"}
			if err := s.SaveRollout(old, []store.RingState{ring}, &store.PromotionRecord{At: t0, Revision: "r2", Ring: "pilot", Action: "published", Actor: "controller"}); !errors.Is(err, store.ErrFenced) {
				t.Errorf("rollout under an old term: %v, want ErrFenced", err)
			}
			if err := s.RecordRevision(old, store.RevisionEvent{At: t0, Revision: "r2", Event: store.RevisionPublished}); !errors.Is(err, store.ErrFenced) {
				t.Errorf("revision event under an old term: %v, want ErrFenced", err)
			}
			if err := s.RecordWaivers(old, t0, "r2", []store.WaiverPeriod{}); !errors.Is(err, store.ErrFenced) {
				t.Errorf("waivers under an old term: %v, want ErrFenced", err)
			}
			if rs, _ := s.Rings(c); len(rs) != 0 {
				t.Errorf("a fenced rollout left rings %v", rs)
			}
			if evs, _ := s.Revisions(c, store.RevisionQuery{}); len(evs) != 0 {
				t.Errorf("a fenced write left revision events %v", evs)
			}
			if p, err := s.LatestPublication(c); err != nil || p == nil || p.Revision != "r1" {
				t.Fatalf("latest publication after a fenced one = %+v, %v; want r1", p, err)
			}
			if _, err := s.RecordPublication(store.WithTerm(c, t2), "r2", "b", t0.Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
			if err := s.RecordRevision(store.WithTerm(c, t2), store.RevisionEvent{At: t0, Revision: "r2", Event: store.RevisionPublished}); err != nil {
				t.Fatal(err)
			}
			if p, err := s.LatestPublication(c); err != nil || p.Revision != "r2" || p.Term != 2 || p.Holder != "b" || !p.At.Equal(t0.Add(time.Minute)) {
				t.Fatalf("latest publication = %+v, %v; want r2 of term 2 by b", p, err)
			}

			if st, err := s.OperatorState(c); err != nil || st.Suspended {
				t.Fatalf("initial operator state = %+v, %v", st, err)
			}
			want := store.OperatorState{Suspended: true, Reason: "freeze", UpdatedAt: t0, UpdatedBy: "oidc:anna"}
			if err := s.SaveOperatorState(c, want); err != nil {
				t.Fatal(err)
			}
			if st, err := s.OperatorState(c); err != nil || st != want {
				t.Fatalf("operator state = %+v, %v; want %+v", st, err, want)
			}

			r1 := store.Replica{ID: "r1", Host: "h1", Started: t0, LastSeen: t0.Add(time.Minute), Version: "v1", Leading: true, Term: 2, Revision: "r2"}
			r2 := store.Replica{ID: "r2", Host: "h2", Started: t0, LastSeen: t0, Version: "v1"}
			for _, r := range []store.Replica{r1, r2, r1} {
				if err := s.Beat(c, r); err != nil {
					t.Fatal(err)
				}
			}
			rs, err := s.ListReplicas(c)
			if err != nil || len(rs) != 2 || rs[0] != r1 || rs[1] != r2 {
				t.Fatalf("replicas = %+v, %v; want %+v %+v", rs, err, r1, r2)
			}
			if n, err := s.ForgetReplicas(c, t0.Add(time.Second)); err != nil || n != 1 {
				t.Fatalf("forgot %d, %v; want 1", n, err)
			}
			if rs, _ := s.ListReplicas(c); len(rs) != 1 || rs[0].ID != "r1" {
				t.Fatalf("replicas after forgetting = %+v", rs)
			}
		})
	}
}
