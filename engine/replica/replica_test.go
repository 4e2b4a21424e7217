package replica_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/leader"
	"samverk.io/samverk/engine/reconcile"
	"samverk.io/samverk/engine/replica"
	"samverk.io/samverk/engine/store"
	"samverk.io/samverk/engine/store/storetest"
)

// steered records what a Replica asks of the reconciler and the rollout it steers.
type steered struct {
	mu        sync.Mutex
	suspended bool
	reason    string
	wakes     []string
	current   *reconcile.Published
	published []string // rollout.Publish, with the term its context carried
	followed  []string
	terms     []int64
}

func (s *steered) Adopt(on bool, reason string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.suspended, s.reason = on, reason
	return nil
}

func (s *steered) Suspended() (bool, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.suspended, s.reason
}

func (s *steered) Wake(reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.wakes = append(s.wakes, reason)
}

func (s *steered) Current() *reconcile.Published {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.current
}

func (s *steered) Publish(ctx context.Context, rev string, _ *catalog.Catalog) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	term, _ := store.TermOf(ctx)
	s.published, s.terms = append(s.published, rev), append(s.terms, term)
	return nil
}

func (s *steered) Follow(ctx context.Context, rev string, _ *catalog.Catalog) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.followed = append(s.followed, rev)
	return nil
}

func (s *steered) Reload(ctx context.Context) error { return nil }

func (s *steered) woken(reason string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Contains(s.wakes, reason)
}

type node struct {
	e   *leader.Elector
	r   *replica.Replica
	rec *steered
}

func startNode(t *testing.T, dsn string, s store.Store, id string) *node {
	t.Helper()
	e, err := leader.New(leader.Options{DSN: dsn, Terms: s, ID: id, Check: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	r, err := replica.New(replica.Options{DSN: dsn, Store: s, Leader: e, ID: id, Host: "host-" + id, Version: "test", Poll: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	n := &node{e: e, r: r, rec: &steered{}}
	ctx, cancel := context.WithCancel(context.Background())
	if err := r.Attach(ctx, n.rec, n.rec); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 2)
	go func() { done <- e.Run(ctx) }()
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		for range 2 {
			if err := <-done; err != nil {
				t.Errorf("%s: %v", id, err)
			}
		}
	})
	return n
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestReplicas: the leader records a publication once, under its term, and the timeline hears
// of it once; a follower follows it without recording; suspension and triggers reach the other
// replica through the database; status lists both.
func TestReplicas(t *testing.T) {
	dsn := storetest.DSN(t, "postgres")
	s := storetest.OpenDSN(t, dsn, store.Options{})
	c := context.Background()
	a := startNode(t, dsn, s, "a")
	eventually(t, "a to lead", a.e.Leading)
	b := startNode(t, dsn, s, "b")

	var outcomes []string
	outcome := a.r.Outcome(func(ctx context.Context, at reconcile.Attempt, p *reconcile.Published) {
		if _, ok := store.TermOf(ctx); !ok {
			t.Error("the timeline was told without a term")
		}
		outcomes = append(outcomes, at.Revision)
	})
	const rev = "1111111111111111111111111111111111111111"
	p := &reconcile.Published{Revision: rev, Time: time.Now()}
	for range 2 {
		// The second time: a new leader that decided what its predecessor had just published.
		if err := a.r.Publish(c, p); err != nil {
			t.Fatal(err)
		}
		outcome(c, reconcile.Attempt{Revision: rev, Outcome: reconcile.OutcomePublished}, p)
	}
	if n := storetest.Int(t, dsn, `SELECT count(*) FROM publications`); n != 1 {
		t.Errorf("%d publications, want 1", n)
	}
	if len(outcomes) != 1 {
		t.Errorf("the timeline heard of the publication %d times, want once", len(outcomes))
	}
	if a.rec.terms[0] != a.e.Term() || len(a.rec.followed) != 0 {
		t.Errorf("rollout published under term %v (leader's %d), followed %v", a.rec.terms, a.e.Term(), a.rec.followed)
	}

	// The follower reads the decision, and follows it without recording anything.
	got, following, err := b.r.Follow(c)
	if err != nil || !following || got != rev {
		t.Fatalf("b follows %q, %v, %v; want %s", got, following, err, rev)
	}
	eventually(t, "b to be woken to follow", func() bool { return b.rec.woken(reconcile.TriggerFollow) })
	fp := &reconcile.Published{Revision: rev, Followed: true}
	if err := b.r.Publish(c, fp); err != nil {
		t.Fatal(err)
	}
	b.r.Outcome(func(context.Context, reconcile.Attempt, *reconcile.Published) {
		t.Error("a follower wrote the timeline")
	})(c,
		reconcile.Attempt{Revision: rev, Trigger: reconcile.TriggerFollow, Outcome: reconcile.OutcomePublished}, fp)
	if len(b.rec.followed) != 1 || len(b.rec.published) != 0 {
		t.Errorf("b's rollout: followed %v, published %v", b.rec.followed, b.rec.published)
	}
	// A decision b took while it believed it led is refused.
	if err := b.r.Publish(c, &reconcile.Published{Revision: rev}); !errors.Is(err, store.ErrFenced) {
		t.Errorf("a follower's own decision: %v, want ErrFenced", err)
	}
	if n := storetest.Int(t, dsn, `SELECT count(*) FROM publications`); n != 1 {
		t.Errorf("%d publications, want 1", n)
	}

	// Suspend on b reaches a; a trigger on b wakes the leader.
	if err := b.r.OnSuspend(true, "freeze"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a to adopt the suspension", func() bool { on, why := a.rec.Suspended(); return on && why == "freeze" })
	b.r.OnTrigger("webhook/github")
	eventually(t, "the leader to be woken", func() bool { return a.rec.woken("replica") })

	eventually(t, "status to list both replicas", func() bool {
		rs := a.r.Replicas()
		return len(rs) == 2 && rs[0].ID == "a" && rs[0].Leading && rs[0].Self && rs[1].ID == "b" && !rs[1].Leading && !rs[1].Self
	})
}
