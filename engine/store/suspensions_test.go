package store_test

import (
	"testing"
	"time"

	"samverk.io/samverk/engine/store"
	"samverk.io/samverk/engine/store/storetest"
)

// TestSuspensions runs the suspension cases against every store: a member and a group are
// suspended apart, a second suspension of one scope replaces the first, a resume removes only
// its own scope and says whether there was one, and a suspension without a member is refused.
func TestSuspensions(t *testing.T) {
	for _, kind := range storetest.Kinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			s := storetest.Open(t, kind, store.Options{})
			if got, err := s.SuspensionList(ctx(t)); err != nil || len(got) != 0 {
				t.Fatalf("suspensions of an empty store = %v, %v", got, err)
			}
			member := store.Suspension{Member: "region-norr", Reason: "exam week", Actor: "oidc:anna", Since: t0}
			group := store.Suspension{Member: "region-norr", Group: "lab", Reason: "driver trouble", Actor: "oidc:bo", Since: t0.Add(time.Minute)}
			for _, sp := range []store.Suspension{member, group} {
				if err := s.Suspend(ctx(t), sp); err != nil {
					t.Fatal(err)
				}
			}
			again := member
			again.Reason, again.Since = "exam week, extended", t0.Add(time.Hour)
			if err := s.Suspend(ctx(t), again); err != nil {
				t.Fatal(err)
			}
			got, err := s.SuspensionList(ctx(t))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 2 || got[0] != again || got[1] != group {
				t.Fatalf("suspensions = %+v\nwant %+v and %+v", got, again, group)
			}
			if err := s.Suspend(ctx(t), store.Suspension{Group: "lab", Reason: "x", Since: t0}); err == nil {
				t.Error("a suspension without a member was accepted")
			}
			if ok, err := s.Unsuspend(ctx(t), "region-norr", ""); err != nil || !ok {
				t.Fatalf("resume the member = %v, %v", ok, err)
			}
			if ok, err := s.Unsuspend(ctx(t), "region-norr", ""); err != nil || ok {
				t.Errorf("resume the member twice = %v, %v; want false", ok, err)
			}
			got, err = s.SuspensionList(ctx(t))
			if err != nil || len(got) != 1 || got[0] != group {
				t.Errorf("after resuming the member, suspensions = %+v, %v; want only the group", got, err)
			}
		})
	}
}
