package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/store"
)

// Actions of a promotion record.
const (
	ActionPublished   = "published"
	ActionWaiting     = "waiting"
	ActionPromoted    = "promoted"
	ActionHalted      = "halted"
	ActionRolledBack  = "rolled-back"
	ActionFastTracked = "fast-tracked"
	ActionPaused      = "paused"
	ActionResumed     = "resumed"
	ActionAborted     = "aborted"
	// A member's own (slower) policy let a ring's revision reach its devices, or failed it.
	ActionMemberPromoted = "member-promoted"
	ActionMemberHalted   = "member-halted"
)

// ActorController is the Actor of the controller's own decisions.
const ActorController = "controller"

// defaultRings are the rings served when the catalog has no RolloutPolicy.
var defaultRings = []string{catalog.RingPilot, catalog.RingEarly, catalog.RingBroad}

// Server serves revisions to devices: the fleet.
type Server interface {
	Publish(ctx context.Context, revision string, cat *catalog.Catalog) error
	ServeRings(ctx context.Context, rings map[string]RingRevision) error
	// Unchanged counts the devices of ring whose state its revision leaves as the previous
	// revision had it.
	Unchanged(ring string) int
}

// Store is what the controller keeps in the store.
type Store interface {
	store.Rollouts
	RecordRevision(ctx context.Context, ev store.RevisionEvent) error
}

// Options configure a Controller. Store and Server are required.
type Options struct {
	Store  Store
	Server Server
	// Load returns the catalog of an earlier revision a ring is still served after a restart
	// (the daemon loads only the newest). Without it, or when it fails, such a ring is served
	// the newest revision, and the record says so.
	Load func(ctx context.Context, revision string) (*catalog.Catalog, error)
	// Interval is how often the gates are evaluated (default 1m).
	Interval time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Registerer receives the samverk_rollout_* metrics (default: none exported).
	Registerer prometheus.Registerer
	Logger     *slog.Logger
	// OnDecision observers are told, in order, of every promotion record once it is saved.
	// They run with the controller locked and must return promptly (queue, never wait on
	// the network, never call the controller).
	OnDecision []func(ctx context.Context, rec store.PromotionRecord)
}

// Controller promotes each revision from ring to ring when its gate passes, halts it when it
// fails, and carries out operators' actions; every decision is a promotion record. One per
// daemon (the leader's once replicas share a store).
type Controller struct {
	opt Options
	log *slog.Logger
	m   *metrics

	mu     sync.Mutex
	policy *Policy // nil: no RolloutPolicy, every ring gets every revision
	newest string
	cats   map[string]*catalog.Catalog
	rings  map[string]store.RingState
	loaded bool
	// waiting is a revision held back by newRevision: wait until the rollout before it ends.
	waiting string
	// members are the members' own (slower) policies, by member; held, by ring, the members
	// whose own gate has not yet let the ring's revision in: their devices keep the ring's
	// previous revision (see member.go).
	members map[string]*Policy
	held    map[string]map[string]bool
	// memberFailed remembers, by member and ring, the revision whose member gate failed, so
	// that the failure is recorded once.
	memberFailed map[string]string
}

// ErrUnknown is returned (wrapped) for a ring or revision the rollout does not have.
var ErrUnknown = errors.New("unknown")

// ErrConflict is returned (wrapped) for an action the rollout's state does not allow.
var ErrConflict = errors.New("not allowed now")

// ErrInvalid is returned (wrapped) for an action that lacks what it needs, such as a ring.
var ErrInvalid = errors.New("invalid request")

// New returns a Controller.
func New(opt Options) (*Controller, error) {
	if opt.Store == nil || opt.Server == nil {
		return nil, errors.New("rollout: a store and a server are required")
	}
	if opt.Interval <= 0 {
		opt.Interval = time.Minute
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Registerer == nil {
		opt.Registerer = prometheus.NewRegistry()
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	c := &Controller{opt: opt, log: opt.Logger, cats: map[string]*catalog.Catalog{}, rings: map[string]store.RingState{}}
	m, err := newMetrics(opt.Registerer, c)
	if err != nil {
		return nil, fmt.Errorf("rollout metrics: %w", err)
	}
	c.m = m
	return c, nil
}

// ringNames are the rings the controller serves. Called with mu held.
func (c *Controller) ringNames() []string {
	if c.policy != nil {
		return c.policy.Rings
	}
	return defaultRings
}

// Publish is the reconciler's publish hook: the fleet compiles revision, and the controller
// decides which rings get it. Without a RolloutPolicy, or when nothing was served before,
// every ring gets it; otherwise the first ring does (newRevision: supersede), or it waits
// until the rollout in progress has reached the last ring (newRevision: wait).
func (c *Controller) Publish(ctx context.Context, revision string, cat *catalog.Catalog) error {
	if err := c.opt.Server.Publish(ctx, revision, cat); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	pol, ok, err := PolicyOf(cat)
	if err != nil {
		c.log.Warn("rollout policy cannot be read; every ring gets every revision", "revision", revision, "err", err)
	}
	if !ok {
		pol = nil
	}
	c.policy, c.newest = pol, revision
	c.cats[revision] = cat
	members, merrs := MemberPolicies(cat)
	for _, err := range merrs {
		c.log.Warn("a member's rollout policy cannot be read; its devices follow the consortium's", "revision", revision, "err", err)
	}
	c.setMembers(members)
	if err := c.load(ctx); err != nil {
		return err
	}
	now := c.opt.Now().UTC()
	names := c.ringNames()
	if pol == nil || len(c.rings) == 0 {
		changed := map[string]store.RingState{}
		for _, r := range names {
			if c.rings[r].Revision != revision {
				changed[r] = c.ringState(r, revision, now, ActorController)
			}
		}
		if len(changed) == 0 {
			return c.serve(ctx)
		}
		return c.apply(ctx, changed, &store.PromotionRecord{At: now, Revision: revision, Ring: store.AllRings, Action: ActionPublished, Actor: ActorController,
			Reason: map[bool]string{true: "no rollout policy: every ring gets every revision", false: "first revision served: every ring gets it"}[pol == nil]})
	}
	first := names[0]
	if c.rings[first].Revision == revision {
		return c.serve(ctx)
	}
	if pol.NewRevision == catalog.NewRevisionWait && c.inProgress() {
		c.waiting = revision
		return c.record(ctx, nil, &store.PromotionRecord{At: now, Revision: revision, Ring: first, Action: ActionWaiting, Actor: ActorController,
			Reason: "newRevision is wait: it goes to " + first + " once the rollout in progress has reached " + names[len(names)-1]})
	}
	c.waiting = ""
	return c.apply(ctx, map[string]store.RingState{first: c.ringState(first, revision, now, ActorController)},
		&store.PromotionRecord{At: now, Revision: revision, Ring: first, Action: ActionPublished, Actor: ActorController, Reason: "a new revision goes to the first ring"})
}

// inProgress reports whether some ring is served a revision the last ring is not (and the
// rollout is not halted). Called with mu held.
func (c *Controller) inProgress() bool {
	names := c.ringNames()
	last := c.rings[names[len(names)-1]].Revision
	for _, r := range names {
		st := c.rings[r]
		if st.Revision != last && st.Status != store.RingHalted {
			return true
		}
	}
	return false
}

// ringState is ring moved to revision at now, its current revision kept as Previous.
func (c *Controller) ringState(ring, revision string, now time.Time, by string) store.RingState {
	old := c.rings[ring]
	prev := old.Revision
	if prev == revision {
		prev = old.Previous
	}
	status := old.Status
	if status == "" || status == store.RingHalted || status == store.RingFastTracked {
		status = store.RingActive
	}
	return store.RingState{Ring: ring, Revision: revision, Previous: prev, Since: now, Status: status, UpdatedAt: now, UpdatedBy: by}
}

// load reads the rings from the store once. Called with mu held.
func (c *Controller) load(ctx context.Context) error {
	if c.loaded {
		return nil
	}
	rs, err := c.opt.Store.Rings(ctx)
	if err != nil {
		return fmt.Errorf("rollout: %w", err)
	}
	for _, r := range rs {
		c.rings[r.Ring] = r
		// After a restart no member's own gate is known to have passed: each is held until
		// the next tick evaluates it again.
		c.holdMembers(r.Ring, store.RingState{}, r, ActionPromoted)
	}
	c.loaded = true
	return nil
}

// apply saves changed ring states with rec, records each ring's move in the revision
// timeline, and serves the rings. Called with mu held.
func (c *Controller) apply(ctx context.Context, changed map[string]store.RingState, rec *store.PromotionRecord) error {
	if err := c.record(ctx, changed, rec); err != nil {
		return err
	}
	for _, r := range slices.Sorted(maps.Keys(changed)) {
		st := changed[r]
		ev := store.RevisionEvent{At: st.Since, Ring: r, Revision: st.Revision, Event: store.RevisionPromoted, By: rec.Actor, Message: rec.Reason}
		if rec.Action == ActionRolledBack || rec.Action == ActionAborted {
			ev.Event = store.RevisionRolledBack
		}
		if err := c.opt.Store.RecordRevision(ctx, ev); err != nil {
			c.log.Error("cannot record a ring's revision in the timeline", "ring", r, "revision", st.Revision, "err", err)
		}
	}
	return c.serve(ctx)
}

// record saves changed ring states and rec in one transaction. Called with mu held.
func (c *Controller) record(ctx context.Context, changed map[string]store.RingState, rec *store.PromotionRecord) error {
	states := slices.Collect(maps.Values(changed))
	slices.SortFunc(states, func(a, b store.RingState) int { return cmpString(a.Ring, b.Ring) })
	if err := c.opt.Store.SaveRollout(ctx, states, rec); err != nil {
		return fmt.Errorf("rollout: %w", err)
	}
	for r, st := range changed {
		c.holdMembers(r, c.rings[r], st, rec.Action)
	}
	maps.Copy(c.rings, changed)
	c.m.decisions.WithLabelValues(rec.Action).Inc()
	c.log.Info("rollout decision", "action", rec.Action, "revision", rec.Revision, "ring", rec.Ring, "actor", rec.Actor, "reason", rec.Reason)
	for _, fn := range c.opt.OnDecision {
		if fn != nil {
			fn(ctx, *rec)
		}
	}
	return nil
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// serve hands the fleet every ring's revision. A ring at a revision this process has not
// published (after a restart) is loaded with Options.Load, or else served the newest.
// Called with mu held.
func (c *Controller) serve(ctx context.Context) error {
	rings := map[string]RingRevision{}
	for _, r := range c.ringNames() {
		st, ok := c.rings[r]
		if !ok {
			continue
		}
		rev := st.Revision
		if !c.have(ctx, rev) {
			c.log.Error("a ring's revision cannot be loaded; it is served the newest", "ring", r, "revision", rev, "newest", c.newest)
			rev = c.newest
		}
		rr := RingRevision{Revision: rev}
		if st.Previous != "" && st.Status != store.RingFastTracked && c.have(ctx, st.Previous) {
			rr.Previous = st.Previous
		}
		if c.policy != nil {
			rr.MaxPerHour = c.policy.Steps[r].MaxPerHour
		}
		if rr.Previous != "" && len(c.held[r]) > 0 {
			rr.Held = maps.Clone(c.held[r])
		}
		rings[r] = rr
	}
	// Forget the catalogs no ring needs any more.
	keep := map[string]bool{c.newest: true, c.waiting: true}
	for _, rr := range rings {
		keep[rr.Revision], keep[rr.Previous] = true, true
	}
	for rev := range c.cats {
		if !keep[rev] {
			delete(c.cats, rev)
		}
	}
	return c.opt.Server.ServeRings(ctx, rings)
}

// have makes sure revision is published to the server. Called with mu held.
func (c *Controller) have(ctx context.Context, revision string) bool {
	if c.cats[revision] != nil {
		return true
	}
	if c.opt.Load == nil || revision == "" {
		return false
	}
	cat, err := c.opt.Load(ctx, revision)
	if err == nil {
		err = c.opt.Server.Publish(ctx, revision, cat)
	}
	if err != nil {
		c.log.Error("cannot load a ring's revision", "revision", revision, "err", err)
		return false
	}
	c.cats[revision] = cat
	// Publishing an older revision made it the fleet's newest; publish the newest again.
	if n := c.cats[c.newest]; n != nil && revision != c.newest {
		if err := c.opt.Server.Publish(ctx, c.newest, n); err != nil {
			c.log.Error("cannot publish the newest revision again", "revision", c.newest, "err", err)
		}
	}
	return true
}

// Run evaluates the gates every Interval until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	t := time.NewTicker(c.opt.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := c.Tick(ctx); err != nil && ctx.Err() == nil {
				c.log.Warn("rollout gates not evaluated", "err", err)
			}
		}
	}
}

// Tick evaluates every gate once, from the last ring back (so that one tick moves a revision
// at most one ring), and acts on each verdict.
func (c *Controller) Tick(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.policy == nil || len(c.rings) == 0 {
		return nil
	}
	counts, err := c.opt.Store.RingCounts(ctx)
	if err != nil {
		return fmt.Errorf("rollout: %w", err)
	}
	now := c.opt.Now().UTC()
	names := c.policy.Rings
	for i := len(names) - 1; i >= 1; i-- {
		from, to := names[i-1], names[i]
		v, ok := c.verdict(from, to, counts, now)
		if !ok {
			continue
		}
		ev, _ := json.Marshal(v)
		step := c.policy.Steps[to]
		fs := c.rings[from]
		switch v.Decision {
		case Promote:
			rec := &store.PromotionRecord{At: now, Revision: fs.Revision, Ring: to, Action: ActionPromoted, Actor: ActorController, Reason: v.Reason, Evidence: ev}
			if err := c.apply(ctx, map[string]store.RingState{to: c.ringState(to, fs.Revision, now, ActorController)}, rec); err != nil {
				return err
			}
		case Fail:
			halted := fs
			halted.Status, halted.UpdatedAt, halted.UpdatedBy = store.RingHalted, now, ActorController
			rec := &store.PromotionRecord{At: now, Revision: fs.Revision, Ring: from, Action: ActionHalted, Actor: ActorController, Reason: v.Reason, Evidence: ev}
			if step.OnFailure != catalog.OnFailureHaltRollback || fs.Previous == "" {
				if err := c.record(ctx, map[string]store.RingState{from: halted}, rec); err != nil {
					return err
				}
				continue
			}
			halted.Revision, halted.Previous, halted.Since = fs.Previous, fs.Revision, now
			rec.Action, rec.Reason = ActionRolledBack, v.Reason+": "+from+" returns to "+fs.Previous
			if err := c.apply(ctx, map[string]store.RingState{from: halted}, rec); err != nil {
				return err
			}
		}
	}
	if err := c.tickMembers(ctx, counts, now); err != nil {
		return err
	}
	if c.waiting != "" && !c.inProgress() {
		rev := c.waiting
		c.waiting = ""
		first := names[0]
		return c.apply(ctx, map[string]store.RingState{first: c.ringState(first, rev, now, ActorController)},
			&store.PromotionRecord{At: now, Revision: rev, Ring: first, Action: ActionPublished, Actor: ActorController, Reason: "the rollout before it has ended"})
	}
	return nil
}

// verdict evaluates the gate from ring from to ring to, when there is one to evaluate: from
// is served a revision to is not, neither is paused, and from is not halted. Called with mu
// held.
func (c *Controller) verdict(from, to string, counts []store.RingCount, now time.Time) (Verdict, bool) {
	fs, ts := c.rings[from], c.rings[to]
	if fs.Revision == "" || fs.Revision == ts.Revision || fs.Status != store.RingActive || ts.Status == store.RingPaused {
		return Verdict{}, false
	}
	return Evaluate(c.policy.Steps[to], c.evidence(from, counts), now), true
}

// evidence is what ring shows of its revision: the devices whose latest report is for it,
// and those whose state it does not change (which poll 304 and keep reporting the revision
// before). Called with mu held.
func (c *Controller) evidence(ring string, counts []store.RingCount) Evidence {
	st := c.rings[ring]
	ev := ringEvidence(ring, st.Revision, st.Since, counts)
	if st.Previous != "" {
		ev.Unchanged = c.opt.Server.Unchanged(ring)
		ev.Applied = min(ev.Devices, ev.Applied+ev.Unchanged)
	}
	return ev
}

// ringEvidence sums the counts of ring for revision.
func ringEvidence(ring, revision string, since time.Time, counts []store.RingCount) Evidence {
	ev := Evidence{Ring: ring, Revision: revision, Since: since}
	for _, n := range counts {
		if n.Ring != ring {
			continue
		}
		ev.Devices += int(n.Devices)
		if n.Revision == revision {
			ev.Applied += int(n.Devices)
			ev.Failed += int(n.Failed)
		}
	}
	return ev
}

// Follow is Publish for a replica that follows the leader's decisions: the fleet compiles
// revision, and the rings are served as the store says the leader set them. Nothing is
// written.
func (c *Controller) Follow(ctx context.Context, revision string, cat *catalog.Catalog) error {
	if err := c.opt.Server.Publish(ctx, revision, cat); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	pol, ok, err := PolicyOf(cat)
	if err != nil || !ok {
		pol = nil
	}
	c.policy, c.newest = pol, revision
	c.cats[revision] = cat
	return c.reload(ctx)
}

// Reload reads the rings from the store again and serves them: another replica changed them
// (the leader's promotions, an operator's action on another replica).
func (c *Controller) Reload(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.newest == "" {
		return nil // nothing published here yet: Publish or Follow loads them
	}
	return c.reload(ctx)
}

// reload reads the rings and serves them. Called with mu held.
func (c *Controller) reload(ctx context.Context) error {
	c.loaded = false
	clear(c.rings)
	if err := c.load(ctx); err != nil {
		return err
	}
	return c.serve(ctx)
}
