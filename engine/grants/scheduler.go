package grants

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"time"

	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/store"
)

// scheduler is what the schedule remembers between looks: the grants warned of, the overlays
// last delivered, and what devices last reported installed.
type scheduler struct {
	mu        sync.Mutex
	warned    map[int64]bool
	delivered map[string]Overlay
	pushed    bool
	installed map[string]installed
}

// installed is what a device reported installed, as read at some time.
type installed struct {
	products map[string]string
	at       time.Time
}

// recheck is how long what a device reported installed is trusted before it is read again.
const recheck = time.Hour

func newScheduler() scheduler {
	return scheduler{warned: map[int64]bool{}, installed: map[string]installed{}}
}

// Run looks at the grants every Interval, and when a decision asks it to, until ctx ends.
// Because every look reads the store, grants due while the daemon was down start or end at
// its first look after a restart.
func (l *Ledger) Run(ctx context.Context) error {
	t := time.NewTicker(l.opt.Interval)
	defer t.Stop()
	for {
		if err := l.Tick(ctx); err != nil && ctx.Err() == nil {
			l.log.Error("grants: schedule", "err", err)
		}
		// Before the first catalog is in force (just after a start) nothing can be judged:
		// look again in a second rather than an interval later, so that grants due while the
		// daemon was down end as soon as it can tell.
		var soon <-chan time.Time
		if _, cat := l.opt.Catalog(); cat == nil {
			soon = time.After(time.Second)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-soon:
		case <-l.nudge:
		}
	}
}

// Tick is one look at the grants: it starts the approved ones, expires those whose time is
// up, revokes those whose service left the catalog, warns of those that end soon, and
// delivers the overlays when they changed. A replica that does not lead only delivers.
func (l *Ledger) Tick(ctx context.Context) error {
	rev, cat := l.opt.Catalog()
	if cat == nil {
		return nil // nothing can be judged before a catalog is in force
	}
	l.sched.mu.Lock()
	defer l.sched.mu.Unlock()
	if l.opt.Leading != nil && !l.opt.Leading() {
		return l.deliver(ctx, cat, l.now())
	}
	live, err := l.opt.Store.ListGrants(ctx, store.GrantFilter{States: []string{string(Approved), string(Active)}})
	if err != nil {
		return err
	}
	now := l.now()
	lookup := serviceCache(cat)
	// Every start and end of this look is written in one transaction: expiring thousands of
	// grants at once costs one commit.
	var changes []*store.GrantChange
	var errs []error
	for i := range live {
		g := &live[i]
		svc, lerr := lookup(g.Service)
		due := !g.Until.IsZero() && !now.Before(g.Until)
		if lerr == nil && State(g.State) == Approved {
			// It starts now; one whose time was up before it could start (the daemon was
			// down) starts and ends at its end, delivered for no time.
			from := now
			if due {
				from = g.Until
			}
			changes = append(changes, &store.GrantChange{Grant: g.ID, Version: g.Version, State: string(Active), From: from})
			g.State, g.From, g.Version = string(Active), from, g.Version+1
		}
		var ch *store.GrantChange
		var err error
		switch {
		case lerr != nil:
			ch, err = l.ending(ctx, g, nil, Revoke, now, "service "+g.Service+" is no longer in the catalog (revision "+rev+")")
		case due:
			// It ended at its time, even when the daemon looks later (after a restart).
			ch, err = l.ending(ctx, g, svc, Expire, g.Until, "expired")
		case !g.Until.IsZero() && !now.Before(g.Until.Add(-l.opt.WarnAhead)) && !l.sched.warned[g.ID] && l.opt.Warn != nil:
			l.sched.warned[g.ID] = true
			l.opt.Warn(ctx, *g)
		}
		if err != nil {
			errs = append(errs, err)
		}
		if ch != nil {
			changes = append(changes, ch)
		}
	}
	if len(changes) > 0 {
		// A change another replica made first is left out: the next look sees what it did.
		if _, err := l.opt.Store.ChangeGrants(ctx, changes); err != nil {
			errs = append(errs, err)
		}
	}
	if err := l.deliver(ctx, cat, now); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// deliver computes every device's overlay and hands the whole map to the Deliverer when it
// differs from the one delivered last.
func (l *Ledger) deliver(ctx context.Context, cat *catalog.Catalog, now time.Time) error {
	if l.opt.Deliverer == nil {
		return nil
	}
	overlays, err := l.Overlays(ctx, cat, now)
	if err != nil {
		return err
	}
	if l.sched.pushed && maps.EqualFunc(overlays, l.sched.delivered, func(a, b Overlay) bool {
		return slices.Equal(a.Present, b.Present) && slices.Equal(a.Absent, b.Absent)
	}) {
		return nil
	}
	if err := l.opt.Deliverer.SetOverlays(overlays); err != nil {
		return err
	}
	l.sched.delivered, l.sched.pushed = overlays, true
	return nil
}

// Overlays computes every device's overlay at now: the products of its active grants (as the
// catalog cat delivers them today, or as the grant recorded them if its service left), and
// the products of its grants that ended within KeepAbsent, which no active grant delivers and
// the device still reports installed.
func (l *Ledger) Overlays(ctx context.Context, cat *catalog.Catalog, now time.Time) (map[string]Overlay, error) {
	active, err := l.opt.Store.ListGrants(ctx, store.GrantFilter{States: []string{string(Active)}})
	if err != nil {
		return nil, err
	}
	ended, err := l.opt.Store.ListGrants(ctx, store.GrantFilter{States: []string{string(Expired), string(Revoked)},
		Within: now.Add(-l.opt.KeepAbsent), Before: now.Add(time.Hour)})
	if err != nil {
		return nil, err
	}
	present := map[string]map[string]bool{}
	// Only products the catalog has a Package for can be delivered (or removed): the fleet
	// refuses the others, and with them every overlay.
	have := map[string]bool{}
	for _, d := range cat.OfKind(catalog.KindPackage) {
		if p, ok := d.Spec()["product"].(string); ok {
			have[p] = true
		}
	}
	known := func(ps []string) []string {
		return slices.DeleteFunc(slices.Clone(ps), func(p string) bool { return !have[p] })
	}
	lookup := serviceCache(cat)
	products := func(g *store.Grant) []string {
		if svc, err := lookup(g.Service); err == nil {
			return known(svc.Spec.Delivers.Products)
		}
		return known(g.Products)
	}
	for i := range active {
		for _, d := range active[i].Devices {
			for _, p := range products(&active[i]) {
				if present[d] == nil {
					present[d] = map[string]bool{}
				}
				present[d][p] = true
			}
		}
	}
	absent := map[string]map[string]bool{}
	for i := range ended {
		g := &ended[i]
		gone := slices.Concat(known(g.Products), products(g))
		for _, d := range g.Devices {
			for _, p := range gone {
				if present[d][p] || absent[d][p] {
					continue
				}
				has, err := l.reports(ctx, d, p, now)
				if err != nil {
					return nil, err
				}
				if has {
					if absent[d] == nil {
						absent[d] = map[string]bool{}
					}
					absent[d][p] = true
				}
			}
		}
	}
	out := make(map[string]Overlay, len(present)+len(absent))
	for _, d := range slices.Sorted(maps.Keys(present)) {
		out[d] = Overlay{Present: slices.Sorted(maps.Keys(present[d]))}
	}
	for _, d := range slices.Sorted(maps.Keys(absent)) {
		o := out[d]
		o.Absent = slices.Sorted(maps.Keys(absent[d]))
		out[d] = o
	}
	return out, nil
}

// reports tells whether device d still reports product p installed, from what it reported
// as read within the last hour. A device that reports no inventory of products keeps it
// absent; a device that no longer exists has nothing.
func (l *Ledger) reports(ctx context.Context, d, p string, now time.Time) (bool, error) {
	in, ok := l.sched.installed[d]
	if !ok || now.Sub(in.at) > recheck || now.Before(in.at) {
		dev, err := l.opt.Devices.Device(ctx, d, time.Time{})
		switch {
		case errors.Is(err, store.ErrNotFound):
			in = installed{products: map[string]string{}, at: now}
		case err != nil:
			return false, err
		default:
			in = installed{products: dev.Facts.Products, at: now}
		}
		l.sched.installed[d] = in
	}
	if in.products == nil {
		return true, nil // it has not said what it has installed: keep the product absent
	}
	_, has := in.products[p]
	return has, nil
}

// serviceCache looks services up in cat, each once.
func serviceCache(cat *catalog.Catalog) func(string) (*Service, error) {
	type found struct {
		svc *Service
		err error
	}
	m := map[string]found{}
	return func(name string) (*Service, error) {
		f, ok := m[name]
		if !ok {
			f.svc, f.err = LookupService(cat, name)
			m[name] = f
		}
		return f.svc, f.err
	}
}
