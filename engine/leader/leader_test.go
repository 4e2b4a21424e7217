package leader_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"samverk.io/samverk/engine/leader"
	"samverk.io/samverk/engine/store"
	"samverk.io/samverk/engine/store/storetest"
)

// replica is one elector running against the shared database, as a daemon runs it.
type replica struct {
	e    *leader.Elector
	stop context.CancelFunc
	done chan error
	// work counts the leaderships fn was run for; ended receives when one ends.
	started chan int64
	ended   chan int64
}

func start(t *testing.T, dsn string, s store.Store, id string, reg ...prometheus.Registerer) *replica {
	t.Helper()
	opt := leader.Options{DSN: dsn, Terms: s, ID: id, Check: 200 * time.Millisecond}
	if len(reg) > 0 {
		opt.Registerer = reg[0]
	}
	e, err := leader.New(opt)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &replica{e: e, stop: cancel, done: make(chan error, 2), started: make(chan int64, 10), ended: make(chan int64, 10)}
	go func() { r.done <- e.Run(ctx) }()
	work := e.Lead(func(ctx context.Context) error {
		term, _ := store.TermOf(ctx)
		r.started <- term
		<-ctx.Done()
		r.ended <- term
		return nil
	})
	go func() { r.done <- work(ctx) }()
	t.Cleanup(func() {
		cancel()
		for range 2 {
			if err := <-r.done; err != nil {
				t.Errorf("replica %s: %v", id, err)
			}
		}
	})
	return r
}

// eventually polls cond until it holds, failing the test after a generous deadline.
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

func recv(t *testing.T, what string, c <-chan int64) int64 {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(30 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		return 0
	}
}

// holderPID is the server process of the session holding the leader's lock in dsn's database.
func holderPID(t *testing.T, dsn string) int64 {
	t.Helper()
	return storetest.Int(t, dsn, fmt.Sprintf(`SELECT coalesce(max(pid), 0) FROM pg_locks WHERE locktype = 'advisory' AND granted
		AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
		AND ((classid::bigint << 32) | objid::bigint) = %d`, leader.LockKey))
}

func TestElection(t *testing.T) {
	dsn := storetest.DSN(t, "postgres")
	s := storetest.OpenDSN(t, dsn, store.Options{})
	c := context.Background()

	a := start(t, dsn, s, "a")
	if term := recv(t, "a to lead", a.started); term != 1 {
		t.Fatalf("a leads in term %d, want 1", term)
	}
	b := start(t, dsn, s, "b")
	// b campaigns while a holds the lock: it must not lead. (a negative can only be sampled:
	// several of b's tries, at 200 ms each, pass while a is checked to lead throughout.)
	for range 5 {
		time.Sleep(250 * time.Millisecond)
		if b.e.Leading() || !a.e.Leading() {
			t.Fatalf("leading: a %v, b %v; want only a", a.e.Leading(), b.e.Leading())
		}
	}
	// A leader write made by a, the paused leader, before it knew it had lost.
	paused, ok := a.e.Fence(c)
	if !ok {
		t.Fatal("a's fence: not leading")
	}
	if _, err := s.RecordPublication(paused, "r1", "a", time.Now()); err != nil {
		t.Fatalf("a writes while leading: %v", err)
	}

	// Leader work scoped to a's leadership, such as a reconcile attempt deciding a commit.
	scoped, stop := a.e.Scope(c)
	defer stop()
	if term, ok := store.TermOf(scoped); !ok || term != 1 || scoped.Err() != nil {
		t.Fatalf("a's scope: term %d %v, err %v", term, ok, scoped.Err())
	}

	// The leader's connection dies (as when its process is killed): b takes over.
	pid := holderPID(t, dsn)
	if pid == 0 {
		t.Fatal("no session holds the leader's lock")
	}
	if err := storetest.Raw(t, dsn, `SELECT pg_terminate_backend($1)`, pid); err != nil {
		t.Fatal(err)
	}
	if term := recv(t, "a's leadership to end", a.ended); term != 1 {
		t.Errorf("a's leadership ended in term %d, want 1", term)
	}
	if term := recv(t, "b to lead", b.started); term != 2 {
		t.Fatalf("b leads in term %d, want 2", term)
	}
	eventually(t, "a to know it follows", func() bool { return !a.e.Leading() })
	select {
	case <-scoped.Done():
		if !errors.Is(context.Cause(scoped), leader.ErrNotLeading) {
			t.Errorf("a's scoped work ended by %v, want ErrNotLeading", context.Cause(scoped))
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a's scoped work goes on after a lost the leadership")
	}
	if late, _ := a.e.Scope(c); !errors.Is(context.Cause(late), leader.ErrNotLeading) {
		t.Errorf("a scope taken by a follower: %v, want cancelled with ErrNotLeading", context.Cause(late))
	}

	// Fencing: a's write under term 1 is refused, and leaves nothing; b's goes through.
	if _, err := s.RecordPublication(paused, "r2", "a", time.Now()); !errors.Is(err, store.ErrFenced) {
		t.Fatalf("the paused leader's write: %v, want ErrFenced", err)
	}
	if _, ok := a.e.Fence(c); ok {
		t.Error("a still offers a fence after losing the lock")
	}
	fb, ok := b.e.Fence(c)
	if !ok {
		t.Fatal("b's fence: not leading")
	}
	if _, err := s.RecordPublication(fb, "r2", "b", time.Now()); err != nil {
		t.Fatal(err)
	}
	if p, err := s.LatestPublication(c); err != nil || p.Revision != "r2" || p.Holder != "b" {
		t.Fatalf("latest publication = %+v, %v; want r2 by b", p, err)
	}
	if n := storetest.Int(t, dsn, `SELECT count(*) FROM publications WHERE holder = 'a' AND revision = 'r2'`); n != 0 {
		t.Errorf("the fenced write left %d rows", n)
	}

	// b stops cleanly: its lock is released and a, campaigning again, takes over.
	b.stop()
	if term := recv(t, "a to lead again", a.started); term != 3 {
		t.Fatalf("a leads again in term %d, want 3", term)
	}
	if term, holder, err := s.LeaderTerm(c); err != nil || term != 3 || holder != "a" {
		t.Fatalf("leader term = %d %q %v; want 3 a", term, holder, err)
	}
}

// TestSingle: without a DSN (SQLite) the one process leads from the start.
func TestSingle(t *testing.T) {
	s := storetest.Open(t, "sqlite", store.Options{})
	reg := prometheus.NewRegistry()
	r := start(t, "", s, "only", reg)
	if term := recv(t, "the single process to lead", r.started); term != 1 {
		t.Fatalf("term %d, want 1", term)
	}
	if !r.e.Leading() {
		t.Fatal("not leading")
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		m := mf.GetMetric()[0]
		got[mf.GetName()] = m.GetGauge().GetValue() + m.GetCounter().GetValue()
	}
	want := map[string]float64{"samverk_leader_leading": 1, "samverk_leader_term": 1, "samverk_leader_acquisitions_total": 1}
	if !maps.Equal(got, want) {
		t.Errorf("metrics %v, want %v", got, want)
	}
}
