// Package replica keeps one daemon in step with the others sharing its PostgreSQL store: the
// leader decides and records publications, the others follow them; every replica adopts the
// shared operator state, serves the rollout rings as the store has them, and beats a heartbeat
// that status lists. Changes arrive by LISTEN/NOTIFY, with polling as the fallback.
package replica

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/reconcile"
	"samverk.io/samverk/engine/store"
)

// Leadership says whether this replica leads: the leader.Elector.
type Leadership interface {
	Leading() bool
	Fence(ctx context.Context) (context.Context, bool)
	Changed() <-chan struct{}
}

// Reconciler is the part of the reconciler a replica steers.
type Reconciler interface {
	Adopt(suspended bool, reason string) error
	Suspended() (bool, string)
	Wake(reason string)
	Current() *reconcile.Published
}

var _ Reconciler = (*reconcile.Reconciler)(nil)

// Rollout is the rollout controller: the leader publishes to it, followers follow.
type Rollout interface {
	Publish(ctx context.Context, revision string, cat *catalog.Catalog) error
	Follow(ctx context.Context, revision string, cat *catalog.Catalog) error
	Reload(ctx context.Context) error
}

// Options configure a Replica. Store, Leader and ID are required; Reconciler and Rollout are
// set with Attach before Run.
type Options struct {
	// DSN is the PostgreSQL database, for LISTEN (empty: polling only).
	DSN    string
	Store  store.Replicas
	Leader Leadership
	// ID, Host and Version describe this replica in status.
	ID, Host, Version string
	// Poll is how often the shared state is read when no notification came (default 2 s), and
	// the heartbeat's period.
	Poll time.Duration
	// Forget is how long a silent replica stays listed (default 24 h).
	Forget time.Duration
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Replica is this daemon among its replicas.
type Replica struct {
	opt     Options
	log     *slog.Logger
	rec     Reconciler
	rollout Rollout
	started time.Time
	wake    chan struct{}

	mu       sync.Mutex
	replicas []store.Replica
	lastPub  int64
	lastRing string
	also     []func(ctx context.Context) error
	// fresh is the revision whose publication Publish recorded last, for Outcome.
	fresh string
}

// Also adds what is read again from the store on every change notified and every poll (the
// notice board, whose notices any replica may create).
func (r *Replica) Also(reload func(ctx context.Context) error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.also = append(r.also, reload)
}

// New returns a Replica.
func New(opt Options) (*Replica, error) {
	if opt.Store == nil || opt.Leader == nil || opt.ID == "" {
		return nil, errors.New("replica: a store, a leadership and an id are required")
	}
	if opt.Poll <= 0 {
		opt.Poll = 2 * time.Second
	}
	if opt.Forget <= 0 {
		opt.Forget = 24 * time.Hour
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	return &Replica{opt: opt, log: opt.Logger, started: opt.Now().UTC(), wake: make(chan struct{}, 1)}, nil
}

// Attach gives the replica the reconciler and rollout it steers, and takes on the shared
// operator state at once, so that a suspended fleet is never fetched for at start. A store
// whose operator state was never set takes this replica's (an upgrade from one process).
func (r *Replica) Attach(ctx context.Context, rec Reconciler, ro Rollout) error {
	r.rec, r.rollout = rec, ro
	st, err := r.opt.Store.OperatorState(ctx)
	if err != nil {
		return fmt.Errorf("replica: %w", err)
	}
	if st.UpdatedBy == "" {
		if on, reason := rec.Suspended(); on {
			return r.opt.Store.SaveOperatorState(ctx, store.OperatorState{Suspended: true, Reason: reason, UpdatedAt: r.opt.Now(), UpdatedBy: r.opt.ID})
		}
		return nil
	}
	return rec.Adopt(st.Suspended, st.Reason)
}

// Follow is the reconciler's Options.Follow: while another replica leads, the revision to
// serve is the leader's latest publication.
func (r *Replica) Follow(ctx context.Context) (string, bool, error) {
	if r.opt.Leader.Leading() {
		return "", false, nil
	}
	p, err := r.opt.Store.LatestPublication(ctx)
	if err != nil || p == nil {
		return "", true, err
	}
	return p.Revision, true, nil
}

// OnTrigger is the reconciler's Options.OnTrigger: a follower asks the leader, which alone
// fetches, to fetch now.
func (r *Replica) OnTrigger(reason string) {
	if r.opt.Leader.Leading() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.opt.Store.Announce(ctx, store.ChangeWake); err != nil {
		r.log.Warn("cannot pass a trigger on to the leader; it fetches at its interval", "reason", reason, "error", err.Error())
	}
}

// OnSuspend is the reconciler's Options.OnSuspend: suspension is shared through the store.
func (r *Replica) OnSuspend(suspended bool, reason string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return r.opt.Store.SaveOperatorState(ctx, store.OperatorState{Suspended: suspended, Reason: reason, UpdatedAt: r.opt.Now(), UpdatedBy: r.opt.ID})
}

// Publish is the reconciler's publish hook. The leader hands the revision to the rollout
// (which records the rings) and then records the publication, both under its term, so that
// followers, told of the publication, find the rings already set. A follower, or a replica
// that no longer leads, only serves: the rollout follows the rings in the store.
func (r *Replica) Publish(ctx context.Context, p *reconcile.Published) error {
	fctx, leading := r.fence(ctx)
	if p.Followed || !leading {
		if !p.Followed && !p.Restored {
			return fmt.Errorf("replica: %s decided while leading, but no longer leads: %w", p.Revision, store.ErrFenced)
		}
		return r.rollout.Follow(ctx, p.Revision, p.Catalog)
	}
	if err := r.rollout.Publish(fctx, p.Revision, p.Catalog); err != nil {
		return err
	}
	last, err := r.opt.Store.LatestPublication(ctx)
	if err != nil {
		return err
	}
	if last != nil && (p.Restored || last.Revision == p.Revision) {
		// Decided before: served again after a restart, or published by the leader before
		// this one, which died before this replica had followed it.
		return nil
	}
	if _, err := r.opt.Store.RecordPublication(fctx, p.Revision, r.opt.ID, p.Time); err != nil {
		return err
	}
	r.mu.Lock()
	r.fresh = p.Revision
	r.mu.Unlock()
	return nil
}

// Outcome wraps the revision timeline's OnOutcome: only the leader records what became of a
// revision, under its term, and a publication only when it recorded the decision itself, so
// that each is in the timeline once; followers' attempts record nothing.
func (r *Replica) Outcome(next func(context.Context, reconcile.Attempt, *reconcile.Published)) func(context.Context, reconcile.Attempt, *reconcile.Published) {
	return func(ctx context.Context, a reconcile.Attempt, p *reconcile.Published) {
		if a.Trigger == reconcile.TriggerFollow || p != nil && p.Followed {
			return
		}
		if p != nil {
			r.mu.Lock()
			fresh := r.fresh == p.Revision
			r.fresh = ""
			r.mu.Unlock()
			if !fresh {
				return
			}
		}
		fctx, leading := r.fence(ctx)
		if !leading {
			return
		}
		next(fctx, a, p)
	}
}

// fence returns ctx with the term of the leadership the work was decided under: the one ctx
// carries (an attempt scoped by the elector), else the current one, if any.
func (r *Replica) fence(ctx context.Context) (context.Context, bool) {
	if _, ok := store.TermOf(ctx); ok {
		return ctx, true
	}
	return r.opt.Leader.Fence(ctx)
}

// Replicas returns every replica as the last poll found it, for status.
func (r *Replica) Replicas() []reconcile.Replica {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]reconcile.Replica, 0, len(r.replicas))
	for _, s := range r.replicas {
		out = append(out, reconcile.Replica{ID: s.ID, Host: s.Host, Version: s.Version, Started: s.Started, LastSeen: s.LastSeen,
			Leading: s.Leading, Term: s.Term, Revision: s.Revision, Self: s.ID == r.opt.ID})
	}
	return out
}

// Run beats the heartbeat, listens for changes and polls for them until ctx ends.
func (r *Replica) Run(ctx context.Context) error {
	if r.rec == nil || r.rollout == nil {
		return errors.New("replica: Attach was not called")
	}
	if r.opt.DSN != "" {
		go r.listen(ctx)
	}
	tick := time.NewTicker(r.opt.Poll)
	defer tick.Stop()
	changed := r.opt.Leader.Changed()
	r.sync(ctx, true)
	for {
		leadership := false
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		case <-r.wake:
		case <-changed:
			changed = r.opt.Leader.Changed()
			leadership = true
		}
		r.sync(ctx, leadership)
	}
}

// sync reads the shared state and acts on what changed: a new publication wakes the
// reconciler (a follower follows it), the operator state is adopted, rings changed elsewhere
// are served; then the heartbeat.
func (r *Replica) sync(ctx context.Context, leadership bool) {
	if err := r.syncOnce(ctx, leadership); err != nil && ctx.Err() == nil {
		r.log.Warn("cannot read the state replicas share; will try again", "error", err.Error())
	}
}

func (r *Replica) syncOnce(ctx context.Context, leadership bool) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	leading := r.opt.Leader.Leading()
	p, err := r.opt.Store.LatestPublication(ctx)
	if err != nil {
		return err
	}
	cur := r.rec.Current()
	r.mu.Lock()
	decided := p != nil && p.Seq != r.lastPub
	r.mu.Unlock()
	if decided && !leading && (cur == nil || cur.Revision != p.Revision) {
		// A new decision: follow it now. (One this replica could not follow is retried by
		// the reconciler's own back-off, not on every poll.)
		r.rec.Wake(reconcile.TriggerFollow)
	}
	if leadership {
		// A new leader decides from now on: fetch at once.
		r.rec.Wake("leader")
	}
	st, err := r.opt.Store.OperatorState(ctx)
	if err != nil {
		return err
	}
	if st.UpdatedBy != "" {
		if err := r.rec.Adopt(st.Suspended, st.Reason); err != nil {
			return err
		}
	}
	rings, err := ringsOf(ctx, r.opt.Store)
	if err != nil {
		return err
	}
	r.mu.Lock()
	ringsChanged := rings != r.lastRing
	r.lastRing = rings
	if p != nil {
		r.lastPub = p.Seq
	}
	r.mu.Unlock()
	if ringsChanged || leadership {
		if err := r.rollout.Reload(ctx); err != nil {
			return err
		}
	}
	r.mu.Lock()
	also := r.also
	r.mu.Unlock()
	for _, reload := range also {
		if err := reload(ctx); err != nil {
			return err
		}
	}
	me := store.Replica{ID: r.opt.ID, Host: r.opt.Host, Started: r.started, LastSeen: r.opt.Now().UTC(), Version: r.opt.Version, Leading: leading}
	if fctx, ok := r.opt.Leader.Fence(ctx); ok {
		me.Term, _ = store.TermOf(fctx)
		if _, err := r.opt.Store.ForgetReplicas(ctx, me.LastSeen.Add(-r.opt.Forget)); err != nil {
			return err
		}
	}
	if cur != nil {
		me.Revision = cur.Revision
	}
	if err := r.opt.Store.Beat(ctx, me); err != nil {
		return err
	}
	list, err := r.opt.Store.ListReplicas(ctx)
	if err != nil {
		return err
	}
	// The term's holder leads, whatever the heartbeat of a replica that died leading says.
	term, holder, err := r.opt.Store.LeaderTerm(ctx)
	if err != nil {
		return err
	}
	for i := range list {
		list[i].Leading = list[i].ID == holder && (list[i].ID != r.opt.ID || leading)
		if list[i].Leading {
			list[i].Term = term
		} else {
			list[i].Term = 0
		}
	}
	r.mu.Lock()
	r.replicas = list
	r.mu.Unlock()
	return nil
}

// ringsOf is a fingerprint of the rings' states in the store.
func ringsOf(ctx context.Context, s store.Replicas) (string, error) {
	rs, ok := s.(store.Rollouts)
	if !ok {
		return "", nil
	}
	rings, err := rs.Rings(ctx)
	if err != nil {
		return "", err
	}
	slices.SortFunc(rings, func(a, b store.RingState) int {
		switch {
		case a.Ring < b.Ring:
			return -1
		case a.Ring > b.Ring:
			return 1
		}
		return 0
	})
	return fmt.Sprint(rings), nil
}

// listen waits for notifications on a connection of its own and wakes the sync loop on each;
// it reconnects after a failure, while polling carries on.
func (r *Replica) listen(ctx context.Context) {
	for ctx.Err() == nil {
		err := r.listenOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		r.log.Warn("listening for changes failed; polling meanwhile", "error", err.Error())
		select {
		case <-ctx.Done():
			return
		case <-time.After(r.opt.Poll):
		}
	}
}

func (r *Replica) listenOnce(ctx context.Context) error {
	c, cancel := context.WithTimeout(ctx, 10*time.Second)
	conn, err := pgx.Connect(c, r.opt.DSN)
	cancel()
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, `LISTEN `+store.ChangesChannel); err != nil {
		return err
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		if n.Payload == store.ChangeWake && r.opt.Leader.Leading() {
			r.rec.Wake("replica")
			continue
		}
		select {
		case r.wake <- struct{}{}:
		default:
		}
	}
}
