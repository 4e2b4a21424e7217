package web

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"samverk.io/samverk/engine/desired"
	"samverk.io/samverk/engine/store"
)

// The fleet-wide counts (devices by member and state, by hardware and OS, failed and drifted
// resources) read every device row. They are counted once per CountsMaxAge for every reader
// and cut to each reader's members when a page is built, so that a page never waits for a
// scan of the fleet except the very first.

// snapshot is one count of the fleet.
type snapshot struct {
	At     time.Time
	census []store.Census
	// done counts done OS upgrades by member, hardware model and release.
	done []store.UpgradeDone
	// outcomes counts, by member and resource id, the devices whose latest report had the
	// resource fail or drift.
	outcomes map[string]map[string]*outcomeCount
}

type outcomeCount struct{ Failed, Drifted int }

type countCache struct {
	src        Counts
	maxAge     time.Duration
	staleAfter time.Duration
	now        func() time.Time
	log        *slog.Logger

	load sync.Mutex // held while counting

	mu         sync.Mutex // guards what follows
	snap       *snapshot
	refreshing bool
}

func newCountCache(src Counts, maxAge, staleAfter time.Duration, now func() time.Time, log *slog.Logger) *countCache {
	return &countCache{src: src, maxAge: maxAge, staleAfter: staleAfter, now: now, log: log}
}

// get returns the last count, counting first when there is none; a count older than maxAge
// is returned as it is while a new one runs in the background.
func (c *countCache) get(ctx context.Context) (*snapshot, error) {
	c.mu.Lock()
	s := c.snap
	if s != nil {
		if c.now().Sub(s.At) >= c.maxAge && !c.refreshing {
			c.refreshing = true
			go c.refresh()
		}
		c.mu.Unlock()
		return s, nil
	}
	c.mu.Unlock()

	c.load.Lock()
	defer c.load.Unlock()
	c.mu.Lock()
	s = c.snap
	c.mu.Unlock()
	if s != nil {
		return s, nil // counted while this request waited
	}
	s, err := c.count(ctx)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.snap = s
	c.mu.Unlock()
	return s, nil
}

// Run counts the fleet at once and then every CountsMaxAge, until ctx ends, so that pages
// find a fresh count ready.
func (c *Console) Run(ctx context.Context) error {
	t := time.NewTicker(c.opt.CountsMaxAge)
	defer t.Stop()
	for {
		c.counts.mu.Lock()
		busy := c.counts.refreshing
		c.counts.refreshing = true
		c.counts.mu.Unlock()
		if !busy {
			c.counts.refreshWith(ctx)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (c *countCache) refresh() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c.refreshWith(ctx)
}

// refreshWith counts and keeps the count; the caller has set refreshing.
func (c *countCache) refreshWith(ctx context.Context) {
	c.load.Lock()
	s, err := c.count(ctx)
	c.load.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refreshing = false
	if err != nil {
		if ctx.Err() == nil {
			c.log.Warn("console: cannot count the fleet; showing the last count", "err", err)
		}
		return
	}
	c.snap = s
}

func (c *countCache) count(ctx context.Context) (*snapshot, error) {
	now := c.now()
	census, err := c.src.Census(ctx, now.Add(-c.staleAfter))
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]*outcomeCount{}
	err = c.src.Outcomes(ctx, nil, func(o *store.Outcome) error {
		m := out[o.Member]
		if m == nil {
			m = map[string]*outcomeCount{}
			out[o.Member] = m
		}
		for _, r := range o.Resources {
			switch r.Outcome {
			case desired.Failed, desired.Drifted:
			default:
				continue
			}
			n := m[r.ID]
			if n == nil {
				n = &outcomeCount{}
				m[r.ID] = n
			}
			if r.Outcome == desired.Failed {
				n.Failed++
			} else {
				n.Drifted++
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	done, err := c.src.UpgradesDone(ctx)
	if err != nil {
		return nil, err
	}
	return &snapshot{At: now, census: census, done: done, outcomes: out}, nil
}

// sees reports whether members (nil: all) includes m.
func sees(members []string, m string) bool {
	if members == nil {
		return true
	}
	for _, x := range members {
		if x == m {
			return true
		}
	}
	return false
}
