package history_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"samverk.io/samverk/engine/history"
	"samverk.io/samverk/engine/store"
)

// memTimelines is a store's timelines kept in memory, as the store writes them: each device's
// facts, served states and outcomes as intervals, and the revision events of the rings. It lets
// the recompile-and-verify part be tested apart from a database; the store's own timelines are
// tested against SQLite and PostgreSQL in package store.
type memTimelines struct {
	mu        sync.Mutex
	revisions []store.RevisionEvent // oldest first
	devices   map[string]*store.DeviceTimeline
	reports   map[string][]store.StoredReport
}

var _ history.Timelines = (*memTimelines)(nil)
var _ history.Devices = (*memTimelines)(nil)

func newMemTimelines() *memTimelines {
	return &memTimelines{devices: map[string]*store.DeviceTimeline{}, reports: map[string][]store.StoredReport{}}
}

func (m *memTimelines) publish(at time.Time, ring, revision, event string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.revisions = append(m.revisions, store.RevisionEvent{At: at, Ring: ring, Revision: revision, Event: event})
}

func (m *memTimelines) device(id string) *store.DeviceTimeline {
	d := m.devices[id]
	if d == nil {
		d = &store.DeviceTimeline{DeviceID: id}
		m.devices[id] = d
	}
	return d
}

// facts closes the open facts period of id at at and opens a new one.
func (m *memTimelines) facts(id string, at time.Time, p store.FactsPeriod) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d := m.device(id)
	if n := len(d.Facts); n > 0 {
		d.Facts[n-1].To = at
	}
	p.From = at
	d.Member = p.Member
	d.Facts = append(d.Facts, p)
}

func (m *memTimelines) served(id string, at time.Time, p store.ServedPeriod) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d := m.device(id)
	if n := len(d.Served); n > 0 {
		d.Served[n-1].To = at
	}
	p.From = at
	d.Served = append(d.Served, p)
}

func (m *memTimelines) report(id string, at time.Time, r store.StoredReport, judge func(store.Counts) string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d := m.device(id)
	r.At = at
	r.Compliance = judge(r.Counts)
	m.reports[id] = append(m.reports[id], r)
	if n := len(d.Outcomes); n > 0 {
		last := &d.Outcomes[n-1]
		if last.AppliedHash == r.Hash && last.Compliance == r.Compliance {
			last.Reports++
			return
		}
		last.To = at
	}
	d.Outcomes = append(d.Outcomes, store.OutcomePeriod{Interval: store.Interval{From: at}, Revision: r.Revision,
		AppliedHash: r.Hash, Compliance: r.Compliance, Counts: r.Counts, Resources: r.Resources, Reports: 1})
}

func (m *memTimelines) RevisionAt(_ context.Context, ring string, at time.Time) (*store.RevisionEvent, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := len(m.revisions) - 1; i >= 0; i-- {
		ev := m.revisions[i]
		if ev.At.After(at) || ev.Ring != ring && ev.Ring != store.AllRings || ev.Event == store.RevisionRefused {
			continue
		}
		return &ev, nil
	}
	return nil, fmt.Errorf("revision of ring %q at %s: %w", ring, at, store.ErrNotFound)
}

func containing[P any](ps []P, iv func(P) store.Interval, at time.Time) *P {
	for i := range ps {
		if iv(ps[i]).Contains(at) {
			p := ps[i]
			return &p
		}
	}
	return nil
}

func (m *memTimelines) DeviceAt(_ context.Context, id string, at time.Time) (*store.DeviceAt, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d := m.devices[id]
	if d == nil {
		return nil, fmt.Errorf("device %s: %w", id, store.ErrNotFound)
	}
	out := &store.DeviceAt{DeviceID: id, Member: d.Member, At: at,
		Facts:   containing(d.Facts, func(p store.FactsPeriod) store.Interval { return p.Interval }, at),
		Served:  containing(d.Served, func(p store.ServedPeriod) store.Interval { return p.Interval }, at),
		Outcome: containing(d.Outcomes, func(p store.OutcomePeriod) store.Interval { return p.Interval }, at),
	}
	for _, r := range slices.Backward(m.reports[id]) {
		if !r.At.After(at) {
			out.Report = &r
			break
		}
	}
	return out, nil
}

func (m *memTimelines) DeviceTimeline(_ context.Context, id string, from, to time.Time) (*store.DeviceTimeline, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d := m.devices[id]
	if d == nil {
		return nil, fmt.Errorf("device %s: %w", id, store.ErrNotFound)
	}
	overlaps := func(iv store.Interval) bool {
		return (iv.To.IsZero() || iv.To.After(from)) && (to.IsZero() || iv.From.Before(to))
	}
	out := &store.DeviceTimeline{DeviceID: id, Member: d.Member,
		Facts: []store.FactsPeriod{}, Served: []store.ServedPeriod{}, Outcomes: []store.OutcomePeriod{}}
	for _, p := range d.Facts {
		if overlaps(p.Interval) {
			out.Facts = append(out.Facts, p)
		}
	}
	for _, p := range d.Served {
		if overlaps(p.Interval) {
			out.Served = append(out.Served, p)
		}
	}
	for _, p := range d.Outcomes {
		if overlaps(p.Interval) {
			out.Outcomes = append(out.Outcomes, p)
		}
	}
	return out, nil
}

func (m *memTimelines) Device(_ context.Context, id string, _ time.Time) (*store.Device, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d := m.devices[id]
	if d == nil {
		return nil, fmt.Errorf("device %s: %w", id, store.ErrNotFound)
	}
	return &store.Device{ID: id, Member: d.Member}, nil
}
