package history_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"samverk.io/samverk/engine/desired"

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

// recorder is where a test writes a device's life, and history reads it back.
type recorder interface {
	history.Timelines
	history.Devices
	publish(t testing.TB, at time.Time, ring, revision, event string)
	enroll(t testing.TB, id string, at time.Time, member string, f desired.Facts)
	serve(t testing.TB, id string, at time.Time, p store.ServedPeriod)
	report(t testing.TB, id string, at time.Time, r *desired.Report)
}

var (
	_ recorder = (*memTimelines)(nil)
	_ recorder = storeRecorder{}
)

// storeRecorder writes a device's life into a real store, as the daemon does.
type storeRecorder struct{ store.Store }

func (s storeRecorder) write(t testing.TB, b *store.Batch) {
	t.Helper()
	if err := s.Write(context.Background(), b); err != nil {
		t.Fatal(err)
	}
}

func (s storeRecorder) publish(t testing.TB, at time.Time, ring, revision, event string) {
	t.Helper()
	if err := s.RecordRevision(context.Background(), store.RevisionEvent{At: at, Ring: ring, Revision: revision, Event: event}); err != nil {
		t.Fatal(err)
	}
}

func (s storeRecorder) enroll(t testing.TB, id string, at time.Time, member string, f desired.Facts) {
	t.Helper()
	h := sha256.Sum256([]byte(id))
	s.write(t, &store.Batch{Enrollments: []store.Enrollment{{ID: id, Member: member, CredentialHash: h[:], Facts: f, At: at}}})
}

func (s storeRecorder) serve(t testing.TB, id string, at time.Time, p store.ServedPeriod) {
	t.Helper()
	s.write(t, &store.Batch{Served: []store.Served{{DeviceID: id, At: at, Profile: p.Profile, Hash: p.Hash, Revision: p.Revision,
		Group: p.Group, Ring: p.Ring}}})
}

func (s storeRecorder) report(t testing.TB, id string, at time.Time, r *desired.Report) {
	t.Helper()
	rep, err := store.NewReport(id, at, r)
	if err != nil {
		t.Fatal(err)
	}
	s.write(t, &store.Batch{Reports: []store.Report{rep}})
}

func newMemTimelines() *memTimelines {
	return &memTimelines{devices: map[string]*store.DeviceTimeline{}, reports: map[string][]store.StoredReport{}}
}

func (m *memTimelines) publish(_ testing.TB, at time.Time, ring, revision, event string) {
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

func (m *memTimelines) enroll(_ testing.TB, id string, at time.Time, member string, f desired.Facts) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.facts(id, at, member, f)
}

// facts closes the open facts period of id at at and opens a new one. Called with mu held.
func (m *memTimelines) facts(id string, at time.Time, member string, f desired.Facts) {
	d := m.device(id)
	if n := len(d.Facts); n > 0 {
		d.Facts[n-1].To = at
	}
	d.Member = member
	d.Facts = append(d.Facts, store.FactsPeriod{Interval: store.Interval{From: at}, Member: member, Facts: f})
}

func (m *memTimelines) serve(_ testing.TB, id string, at time.Time, p store.ServedPeriod) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d := m.device(id)
	if n := len(d.Served); n > 0 {
		if d.Served[n-1].Hash == p.Hash {
			return
		}
		d.Served[n-1].To = at
	}
	p.From = at
	d.Served = append(d.Served, p)
}

func (m *memTimelines) report(_ testing.TB, id string, at time.Time, r *desired.Report) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d := m.device(id)
	if n := len(d.Facts); r.Facts.Hostname != "" && (n == 0 || !reflect.DeepEqual(d.Facts[n-1].Facts, r.Facts)) {
		m.facts(id, at, d.Member, r.Facts)
	}
	counts := store.CountOutcomes(r.Resources)
	var res []desired.ResourceResult
	for _, x := range r.Resources {
		if x.Outcome != desired.Unchanged {
			res = append(res, x)
		}
	}
	sr := store.StoredReport{At: at, Revision: r.Revision, Hash: r.Hash, Counts: counts, Compliance: counts.Judge(), Resources: res}
	m.reports[id] = append(m.reports[id], sr)
	if n := len(d.Outcomes); n > 0 {
		last := &d.Outcomes[n-1]
		if last.AppliedHash == sr.Hash && last.Compliance == sr.Compliance {
			last.Reports++
			return
		}
		last.To = at
	}
	d.Outcomes = append(d.Outcomes, store.OutcomePeriod{Interval: store.Interval{From: at}, Revision: sr.Revision,
		AppliedHash: sr.Hash, Compliance: sr.Compliance, Counts: counts, Resources: res, Reports: 1})
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
