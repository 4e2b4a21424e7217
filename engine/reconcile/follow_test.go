package reconcile_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"samverk.io/samverk/engine/reconcile"
	"samverk.io/samverk/engine/source/gittest"
)

// TestFollow: a follower checks and publishes the revision the leader decided on, not the
// head it fetched; it keeps following while suspended; its suspension is shared through
// OnSuspend, and one adopted from elsewhere is not shared back.
func TestFollow(t *testing.T) {
	up := gittest.New(t)
	up.Write(map[string]string{"os.yaml": osRelease, "members/region-norr/member.yaml": member("region")})
	c1 := up.Commit("first", nil)
	up.Write(map[string]string{"members/region-norr/member.yaml": member("municipality")})
	c2 := up.Commit("second", nil)

	var mu sync.Mutex
	decided, following := c1.String(), true
	var shared []string
	var published []*reconcile.Published
	d := start(t, up, t.TempDir(), setup{
		follow: func(context.Context) (string, bool, error) {
			mu.Lock()
			defer mu.Unlock()
			return decided, following, nil
		},
		suspend: func(on bool, reason string) error {
			mu.Lock()
			defer mu.Unlock()
			shared = append(shared, reason)
			return nil
		},
		hooks: []reconcile.Hook{func(ctx context.Context, p *reconcile.Published) error {
			mu.Lock()
			defer mu.Unlock()
			published = append(published, p)
			return nil
		}},
	})
	a := d.waitAttempt(c1)
	if a.Outcome != reconcile.OutcomePublished || a.Trigger != reconcile.TriggerFollow {
		t.Fatalf("attempt = %+v, want c1 published by following", a)
	}
	if st := d.r.Status(); st.LastAppliedRevision != c1.String() {
		t.Fatalf("serves %s, want the leader's c1, not the head c2", st.LastAppliedRevision)
	}

	if err := d.r.Suspend("freeze"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	decided = c2.String()
	mu.Unlock()
	d.r.Wake(reconcile.TriggerFollow)
	if a := d.waitAttempt(c2); a.Outcome != reconcile.OutcomePublished {
		t.Fatalf("following while suspended: %+v", a)
	}
	mu.Lock()
	if len(published) != 2 || !published[0].Followed || !published[1].Followed || published[1].Revision != c2.String() {
		t.Errorf("hooks saw %d publications, want c1 and c2, both followed", len(published))
	}
	if len(shared) != 1 || shared[0] != "freeze" {
		t.Errorf("shared suspensions %q, want [freeze]", shared)
	}
	following = false // this replica leads now
	mu.Unlock()

	// Leading and suspended: no fetch. Resumed from elsewhere: not shared back.
	if err := d.r.Trigger("test", false); !errors.Is(err, reconcile.ErrSuspended) {
		t.Fatalf("Trigger while suspended: %v", err)
	}
	if err := d.r.Adopt(false, ""); err != nil {
		t.Fatal(err)
	}
	if on, _ := d.r.Suspended(); on {
		t.Error("still suspended after adopting a resume")
	}
	mu.Lock()
	if len(shared) != 1 {
		t.Errorf("adopting shared the suspension back: %q", shared)
	}
	mu.Unlock()
}
