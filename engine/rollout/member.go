package rollout

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"time"

	"samverk.io/samverk/engine/store"
)

// A member's own RolloutPolicy (which SV-RO-001 only lets be slower than the consortium's)
// applies to that member's devices alone. The rings still move for the whole consortium: when
// a ring is promoted to a revision, each member with a step of its own into that ring is held
// there, its devices kept on the ring's previous revision (as outside a maintenance window),
// until the member's own step passes on the same evidence the ring-wide gate read: the
// devices of the ring before, all members', measured against the member's thresholds and soak.
// A member's gate that fails keeps the member held until the next revision, a fast-track or a
// rollback; it never halts the others.

// setMembers replaces the members' policies; a member that no longer has one is held no more.
// Called with mu held.
func (c *Controller) setMembers(members map[string]*Policy) {
	c.members = members
	for ring, held := range c.held {
		for m := range held {
			if c.memberStep(m, ring) == nil {
				delete(held, m)
			}
		}
		if len(held) == 0 {
			delete(c.held, ring)
		}
	}
}

// memberStep is member's own step into ring, or nil.
func (c *Controller) memberStep(member, ring string) *Step {
	p := c.members[member]
	if p == nil {
		return nil
	}
	st, ok := p.Steps[ring]
	if !ok {
		return nil
	}
	return &st
}

// holdMembers updates ring's held members for its move from old to st by action: a ring that
// moves forward to a new revision holds every member with a step of its own into it; a
// fast-track, a rollback or an abort holds nobody. Called with mu held.
func (c *Controller) holdMembers(ring string, old, st store.RingState, action string) {
	if st.Revision == old.Revision {
		return
	}
	delete(c.held, ring)
	if st.Previous == "" || st.Status == store.RingFastTracked || action == ActionRolledBack || action == ActionAborted {
		return
	}
	if c.policy == nil || slices.Index(c.policy.Rings, ring) <= 0 {
		return
	}
	for m := range c.members {
		if c.memberStep(m, ring) != nil {
			if c.held == nil {
				c.held = map[string]map[string]bool{}
			}
			if c.held[ring] == nil {
				c.held[ring] = map[string]bool{}
			}
			c.held[ring][m] = true
		}
	}
}

// memberVerdict evaluates member's own step into ring on the evidence of the ring before it.
// Called with mu held.
func (c *Controller) memberVerdict(member, ring string, counts []store.RingCount, now time.Time) (Verdict, bool) {
	step := c.memberStep(member, ring)
	i := slices.Index(c.policy.Rings, ring)
	if step == nil || i <= 0 {
		return Verdict{}, false
	}
	from := c.policy.Rings[i-1]
	fs, ts := c.rings[from], c.rings[ring]
	var ev Evidence
	if fs.Revision == ts.Revision {
		ev = c.evidence(from, counts)
	} else {
		// The ring before has moved on (a newer revision superseded this one): its reports
		// of this revision still count, and the soak counts from this ring's promotion.
		ev = ringEvidence(from, ts.Revision, ts.Since, counts)
	}
	return Evaluate(*step, ev, now), true
}

// tickMembers evaluates each held member's own gate and releases those that pass; one that
// fails is recorded once and stays held. Called with mu held.
func (c *Controller) tickMembers(ctx context.Context, counts []store.RingCount, now time.Time) error {
	released := false
	for _, ring := range slices.Sorted(maps.Keys(c.held)) {
		ts := c.rings[ring]
		for _, m := range slices.Sorted(maps.Keys(c.held[ring])) {
			v, ok := c.memberVerdict(m, ring, counts, now)
			if !ok || v.Decision == Wait {
				continue
			}
			ev, _ := json.Marshal(v)
			rec := &store.PromotionRecord{At: now, Revision: ts.Revision, Ring: ring, Actor: ActorController, Evidence: ev,
				Reason: "member " + m + "'s own policy: " + v.Reason}
			if v.Decision == Fail {
				if c.failedMember(m, ring, ts.Revision) {
					continue
				}
				rec.Action = ActionMemberHalted
			} else {
				rec.Action = ActionMemberPromoted
				delete(c.held[ring], m)
				released = true
			}
			if err := c.record(ctx, nil, rec); err != nil {
				return err
			}
		}
	}
	if released {
		return c.serve(ctx)
	}
	return nil
}

// failedMember reports whether member's gate into ring has already been recorded as failed
// for revision, and remembers that it now is. Called with mu held.
func (c *Controller) failedMember(member, ring, revision string) bool {
	key := member + "\x00" + ring
	if c.memberFailed[key] == revision {
		return true
	}
	if c.memberFailed == nil {
		c.memberFailed = map[string]string{}
	}
	c.memberFailed[key] = revision
	return false
}

// HeldMembers returns, by ring, the members whose own policy still holds their devices on the
// ring's previous revision.
func (c *Controller) HeldMembers() map[string][]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string][]string{}
	for ring, held := range c.held {
		if len(held) > 0 {
			out[ring] = slices.Sorted(maps.Keys(held))
		}
	}
	return out
}

// MemberMayHold reports whether the consortium's policy lets a member's operators suspend and
// resume their own member's devices and groups.
func (c *Controller) MemberMayHold() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.policy != nil && c.policy.MemberMayHold
}
