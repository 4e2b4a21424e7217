package rollout

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"samverk.io/samverk/engine/store"
)

// Pause holds ring (every ring when "") where it is: no revision is promoted into it or out
// of it until Resume.
func (c *Controller) Pause(ctx context.Context, actor, ring, reason string) error {
	return c.setStatus(ctx, actor, ring, reason, store.RingPaused, ActionPaused)
}

// Resume lets the controller promote into and out of ring (every ring when "") again.
func (c *Controller) Resume(ctx context.Context, actor, ring, reason string) error {
	return c.setStatus(ctx, actor, ring, reason, store.RingActive, ActionResumed)
}

func (c *Controller) setStatus(ctx context.Context, actor, ring, reason, status, action string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	targets, err := c.targets(ring)
	if err != nil {
		return err
	}
	now := c.opt.Now().UTC()
	changed := map[string]store.RingState{}
	for _, r := range targets {
		st := c.rings[r]
		st.Status, st.UpdatedAt, st.UpdatedBy = status, now, actor
		changed[r] = st
	}
	rec := &store.PromotionRecord{At: now, Revision: c.rings[targets[0]].Revision, Ring: ring, Action: action, Actor: actor, Reason: reason}
	return c.record(ctx, changed, rec)
}

// targets are the rings an action on ring ("" for all) concerns. Called with mu held.
func (c *Controller) targets(ring string) ([]string, error) {
	if len(c.rings) == 0 {
		return nil, fmt.Errorf("no revision is served yet: %w", ErrConflict)
	}
	if ring == "" {
		return slices.Clone(c.ringNames()), nil
	}
	if _, ok := c.rings[ring]; !ok || !slices.Contains(c.ringNames(), ring) {
		return nil, fmt.Errorf("ring %q: %w ring (the rings are %s)", ring, ErrUnknown, strings.Join(c.ringNames(), ", "))
	}
	return []string{ring}, nil
}

// Promote moves the revision of the ring before ring into ring now, whatever its gate says;
// the gate's verdict at that moment is kept as evidence.
func (c *Controller) Promote(ctx context.Context, actor, ring, reason string) error {
	if ring == "" {
		return fmt.Errorf("promote: name the ring to promote into: %w", ErrInvalid)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := c.targets(ring); err != nil {
		return err
	}
	names := c.ringNames()
	i := slices.Index(names, ring)
	if i == 0 {
		return fmt.Errorf("ring %s is the first: a new revision reaches it by publication: %w", ring, ErrConflict)
	}
	from := names[i-1]
	fs := c.rings[from]
	if fs.Revision == c.rings[ring].Revision {
		return fmt.Errorf("ring %s is already served %s: %w", ring, fs.Revision, ErrConflict)
	}
	now := c.opt.Now().UTC()
	var ev []byte
	if c.policy != nil {
		counts, err := c.opt.Store.RingCounts(ctx)
		if err != nil {
			return fmt.Errorf("rollout: %w", err)
		}
		ev, _ = json.Marshal(Evaluate(c.policy.Steps[ring], c.evidence(from, counts), now))
	}
	return c.apply(ctx, map[string]store.RingState{ring: c.ringState(ring, fs.Revision, now, actor)},
		&store.PromotionRecord{At: now, Revision: fs.Revision, Ring: ring, Action: ActionPromoted, Actor: actor, Reason: reason, Evidence: ev})
}

// FastTrack serves the newest revision to every ring at once, maintenance windows and hourly
// bounds notwithstanding. It needs a reason, which the record keeps: an urgent change is
// never rolled out silently.
func (c *Controller) FastTrack(ctx context.Context, actor, reason string) error {
	if strings.TrimSpace(reason) == "" {
		return fmt.Errorf("a fast-track needs a reason: %w", ErrConflict)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.newest == "" {
		return fmt.Errorf("no revision is published yet: %w", ErrConflict)
	}
	now := c.opt.Now().UTC()
	changed := map[string]store.RingState{}
	for _, r := range c.ringNames() {
		if c.rings[r].Revision != c.newest || c.rings[r].Status != store.RingFastTracked {
			st := c.ringState(r, c.newest, now, actor)
			st.Status = store.RingFastTracked
			changed[r] = st
		}
	}
	if len(changed) == 0 {
		return fmt.Errorf("every ring is served %s already: %w", c.newest, ErrConflict)
	}
	c.waiting = ""
	return c.apply(ctx, changed, &store.PromotionRecord{At: now, Revision: c.newest, Ring: store.AllRings, Action: ActionFastTracked, Actor: actor, Reason: reason})
}

// Abort ends the rollout of the newest revision: every ring served it returns to the revision
// it had before and is halted, until the next revision or a resume.
func (c *Controller) Abort(ctx context.Context, actor, reason string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.opt.Now().UTC()
	changed := map[string]store.RingState{}
	for _, r := range c.ringNames() {
		st := c.rings[r]
		if st.Revision == c.newest && st.Previous != "" {
			st.Revision, st.Previous, st.Since = st.Previous, st.Revision, now
			st.Status, st.UpdatedAt, st.UpdatedBy = store.RingHalted, now, actor
			changed[r] = st
		}
	}
	if len(changed) == 0 {
		return fmt.Errorf("no ring can return from %s to an earlier revision: %w", c.newest, ErrConflict)
	}
	return c.apply(ctx, changed, &store.PromotionRecord{At: now, Revision: c.newest, Ring: store.AllRings, Action: ActionAborted, Actor: actor, Reason: reason})
}

// RingStatus is one ring in a Status.
type RingStatus struct {
	store.RingState
	// Devices in the ring and how many of them applied its revision, and failed.
	Devices int `json:"devices"`
	Applied int `json:"applied"`
	Failed  int `json:"failed"`
	// Unchanged of Applied are devices whose state the revision does not change.
	Unchanged int `json:"unchanged,omitempty"`
	// Gate is the verdict of the step into the next ring, when there is one to evaluate.
	Gate *Verdict `json:"gate,omitempty"`
	// Held are the members whose own policy still keeps their devices on Previous.
	Held []string `json:"held,omitempty"`
}

// Status is the rollout as operators see it.
type Status struct {
	Policy  string       `json:"policy,omitempty"`
	Newest  string       `json:"newest"`
	Waiting string       `json:"waiting,omitempty"`
	At      time.Time    `json:"at"`
	Rings   []RingStatus `json:"rings"`
	// Records are the latest promotion records, newest first.
	Records []store.PromotionRecord `json:"records"`
}

// Status returns each ring's revision, counts and gate, with the latest records.
func (c *Controller) Status(ctx context.Context) (*Status, error) {
	counts, err := c.opt.Store.RingCounts(ctx)
	if err != nil {
		return nil, fmt.Errorf("rollout: %w", err)
	}
	recs, err := c.opt.Store.PromotionRecords(ctx, "", 20)
	if err != nil {
		return nil, fmt.Errorf("rollout: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.opt.Now().UTC()
	st := &Status{Newest: c.newest, Waiting: c.waiting, At: now, Records: recs}
	if c.policy != nil {
		st.Policy = c.policy.Name
	}
	for _, r := range c.ringNames() {
		rs := c.rings[r]
		ev := c.evidence(r, counts)
		out := RingStatus{RingState: rs, Devices: ev.Devices, Applied: ev.Applied, Failed: ev.Failed, Unchanged: ev.Unchanged}
		if held := c.held[r]; len(held) > 0 {
			out.Held = slices.Sorted(maps.Keys(held))
		}
		if c.policy != nil {
			if next := c.policy.Next(r); next != "" {
				if v, ok := c.verdict(r, next, counts, now); ok {
					out.Gate = &v
				}
			}
		}
		st.Rings = append(st.Rings, out)
	}
	return st, nil
}
