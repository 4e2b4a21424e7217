package store_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"samverk.io/samverk/engine/desired"
	"samverk.io/samverk/engine/store"
	"samverk.io/samverk/engine/store/storetest"
)

// TestTimelines runs the one timelines suite against every store.
func TestTimelines(t *testing.T) {
	for _, kind := range storetest.Kinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			for _, tc := range timelineCases {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					tc.run(t, storetest.Open(t, kind, store.Options{History: 3}))
				})
			}
		})
	}
}

// factsReport is a report of device d1 at at that applied hash, carrying facts (nil: none).
func factsReport(t *testing.T, at time.Time, hash string, facts *desired.Facts, outcomes ...string) store.Report {
	t.Helper()
	r := newReport(t, "d1", at, hash, outcomes...)
	r.Facts = nil
	if facts != nil {
		var err error
		if r.Facts, err = store.EncodeFacts(facts); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

func minute(n int) time.Time { return t0.Add(time.Duration(n) * time.Minute) }

var timelineCases = []storeCase{
	{"a device's life as periods", func(t *testing.T, s store.Store) {
		e := enrollment("d1", "m", t0)
		f0, f1 := e.Facts, e.Facts
		f1.OSBuild = "26100"
		served := func(at time.Time, hash, rev string) store.Served {
			return store.Served{DeviceID: "d1", At: at, Profile: "p", Hash: hash, Revision: rev, Group: "g", Ring: "pilot"}
		}
		for _, b := range []*store.Batch{
			{Enrollments: []store.Enrollment{e}},
			{Served: []store.Served{served(minute(1), "hA", "r1")}},
			{Reports: []store.Report{factsReport(t, minute(2), "hA", &f0, desired.Unchanged)}},
			{Reports: []store.Report{factsReport(t, minute(3), "hA", &f0, desired.Unchanged)}},
			{Reports: []store.Report{factsReport(t, minute(4), "hA", &f1, desired.Corrected)}},
			{Served: []store.Served{served(minute(5), "hB", "r2")}},
			{Reports: []store.Report{factsReport(t, minute(6), "hB", nil, desired.Failed, desired.Unchanged)}},
			{Reports: []store.Report{factsReport(t, minute(7), "hB", nil, desired.Unchanged)}},
			// The same state served again, the same facts and outcome again: nothing opens.
			{Served: []store.Served{served(minute(8), "hB", "r3")}},
			{Reports: []store.Report{factsReport(t, minute(9), "hB", &f1, desired.Unchanged)}},
		} {
			write(t, s, b)
		}

		type want struct {
			facts           string // OS build, "" for none
			served          string // hash
			outcome         string // hash/compliance
			from, to        time.Time
			reports         int64
			reportAt        time.Time // zero: no report kept
			outcomeFailures int
		}
		for _, tc := range []struct {
			at   time.Time
			want want
		}{
			{t0.Add(-time.Second), want{}},
			{t0, want{facts: "22631"}},
			{minute(1), want{facts: "22631", served: "hA"}},
			{minute(2), want{facts: "22631", served: "hA", outcome: "hA/compliant", from: minute(2), to: minute(6), reports: 3, reportAt: minute(2)}},
			{minute(4), want{facts: "26100", served: "hA", outcome: "hA/compliant", from: minute(2), to: minute(6), reports: 3, reportAt: minute(4)}},
			{minute(5).Add(30 * time.Second), want{facts: "26100", served: "hB", outcome: "hA/compliant", from: minute(2), to: minute(6), reports: 3, reportAt: minute(4)}},
			{minute(6), want{facts: "26100", served: "hB", outcome: "hB/failed", from: minute(6), to: minute(7), reports: 1, reportAt: minute(6), outcomeFailures: 1}},
			// Reports that found the state they applied before all in line are not kept: the
			// last one kept is the failure.
			{minute(10), want{facts: "26100", served: "hB", outcome: "hB/compliant", from: minute(7), reports: 2, reportAt: minute(6)}},
		} {
			d, err := s.DeviceAt(ctx(t), "d1", tc.at)
			if err != nil {
				t.Fatalf("at %s: %v", tc.at, err)
			}
			var got want
			if d.Facts != nil {
				got.facts = d.Facts.Facts.OSBuild
				if d.Facts.Member != "m" || d.Facts.Facts.Hostname != "pc-d1" {
					t.Errorf("at %s: facts %+v", tc.at, d.Facts)
				}
			}
			if d.Served != nil {
				got.served = d.Served.Hash
				if d.Served.Group != "g" || d.Served.Ring != "pilot" || d.Served.Profile != "p" {
					t.Errorf("at %s: served %+v", tc.at, d.Served)
				}
				if wantRev := map[string]string{"hA": "r1", "hB": "r2"}[d.Served.Hash]; d.Served.Revision != wantRev {
					t.Errorf("at %s: served revision %q, want %q (the one that first served it)", tc.at, d.Served.Revision, wantRev)
				}
			}
			if o := d.Outcome; o != nil {
				got.outcome, got.from, got.to, got.reports = o.AppliedHash+"/"+o.Compliance, o.From, o.To, o.Reports
				got.outcomeFailures = o.Counts.Failed
				if o.Revision != "rev-"+o.AppliedHash || len(o.Resources) != o.Counts.Failed+o.Counts.Corrected {
					t.Errorf("at %s: outcome %+v", tc.at, o)
				}
			}
			if d.Report != nil {
				got.reportAt = d.Report.At
			}
			if got != tc.want {
				t.Errorf("at %s:\n got %+v\nwant %+v", tc.at, got, tc.want)
			}
			if d.Member != "m" || d.DeviceID != "d1" || !d.At.Equal(tc.at) {
				t.Errorf("at %s: device %q member %q at %s", tc.at, d.DeviceID, d.Member, d.At)
			}
		}

		tl, err := s.DeviceTimeline(ctx(t), "d1", time.Time{}, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		checkContiguous(t, "facts", ivs(tl.Facts, func(p store.FactsPeriod) store.Interval { return p.Interval }), t0, minute(4))
		checkContiguous(t, "served", ivs(tl.Served, func(p store.ServedPeriod) store.Interval { return p.Interval }), minute(1), minute(5))
		checkContiguous(t, "outcomes", ivs(tl.Outcomes, func(p store.OutcomePeriod) store.Interval { return p.Interval }), minute(2), minute(6), minute(7))
		if n := len(tl.Outcomes); n == 3 && (tl.Outcomes[1].Compliance != store.Failed || tl.Outcomes[2].Reports != 2) {
			t.Errorf("outcomes %+v", tl.Outcomes)
		}
		tl, err = s.DeviceTimeline(ctx(t), "d1", minute(6).Add(30*time.Second), minute(7))
		if err != nil {
			t.Fatal(err)
		}
		if len(tl.Outcomes) != 1 || tl.Outcomes[0].Interval != (store.Interval{From: minute(6), To: minute(7)}) {
			t.Errorf("outcomes within [6:30, 7:00): %+v, want the failure alone", tl.Outcomes)
		}
		checkContiguous(t, "served within [6:30, 7:00)", ivs(tl.Served, func(p store.ServedPeriod) store.Interval { return p.Interval }), minute(5))
		if tl.Member != "m" {
			t.Errorf("timeline member %q", tl.Member)
		}

		for _, fn := range []func() error{
			func() error { _, err := s.DeviceAt(ctx(t), "nope", t0); return err },
			func() error { _, err := s.DeviceTimeline(ctx(t), "nope", time.Time{}, time.Time{}); return err },
		} {
			if err := fn(); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("unknown device: %v, want ErrNotFound", err)
			}
		}
	}},
	{"re-enrollment changes facts only when they differ", func(t *testing.T, s store.Store) {
		e := enrollment("d1", "m", t0)
		write(t, s, &store.Batch{Enrollments: []store.Enrollment{e}})
		again := e
		again.Replaces, again.At = true, minute(1)
		write(t, s, &store.Batch{Enrollments: []store.Enrollment{again}})
		other := again
		other.At = minute(2)
		other.Facts.Model = "Latitude 7450"
		write(t, s, &store.Batch{Enrollments: []store.Enrollment{other}})
		tl, err := s.DeviceTimeline(ctx(t), "d1", time.Time{}, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		checkContiguous(t, "facts", ivs(tl.Facts, func(p store.FactsPeriod) store.Interval { return p.Interval }), t0, minute(2))
		if len(tl.Facts) == 2 && tl.Facts[1].Facts.Model != "Latitude 7450" {
			t.Errorf("facts after re-enrollment: %+v", tl.Facts[1])
		}
	}},
	{"changes at one instant keep the last", func(t *testing.T, s store.Store) {
		write(t, s, &store.Batch{Enrollments: []store.Enrollment{enrollment("d1", "m", t0)}})
		write(t, s, &store.Batch{Reports: []store.Report{factsReport(t, minute(1), "h1", nil, desired.Unchanged)}})
		// Two reports in one batch at one instant, and a late one stamped before the open
		// period began (a replica's clock behind): each replaces the period of that instant.
		write(t, s, &store.Batch{Reports: []store.Report{
			factsReport(t, minute(2), "h1", nil, desired.Failed),
			factsReport(t, minute(2), "h1", nil, desired.Drifted),
		}})
		write(t, s, &store.Batch{Reports: []store.Report{factsReport(t, minute(2).Add(-time.Second), "h2", nil, desired.Unchanged)}})
		tl, err := s.DeviceTimeline(ctx(t), "d1", time.Time{}, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		checkContiguous(t, "outcomes", ivs(tl.Outcomes, func(p store.OutcomePeriod) store.Interval { return p.Interval }), minute(1), minute(2))
		if n := len(tl.Outcomes); n != 2 || tl.Outcomes[1].AppliedHash != "h2" || tl.Outcomes[0].Reports != 1 {
			t.Errorf("outcomes %+v", tl.Outcomes)
		}
	}},
	{"revisions per ring, the ring's own events first, then the all-rings ones", func(t *testing.T, s store.Store) {
		hour := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Hour) }
		for _, ev := range []store.RevisionEvent{
			{At: hour(0), Revision: "r1", Event: store.RevisionPublished},
			{At: hour(1), Revision: "r2", Event: store.RevisionRefused, Reason: "policy", Message: "denied"},
			{At: hour(2), Ring: "pilot", Revision: "r3", Event: store.RevisionPromoted, By: "anna"},
			{At: hour(3), Revision: "r4", Event: store.RevisionPublished},
			{At: hour(4), Ring: "broad", Revision: "r3", Event: store.RevisionRolledBack, By: "bo"},
			{At: hour(5), Revision: "r4", Event: store.RevisionRestored},
		} {
			if err := s.RecordRevision(ctx(t), ev); err != nil {
				t.Fatal(err)
			}
		}
		for _, tc := range []struct {
			ring string
			at   time.Time
			want string // "" for ErrNotFound
		}{
			{"pilot", hour(0).Add(-time.Millisecond), ""},
			{"pilot", hour(0), "r1"},
			{"pilot", hour(1).Add(time.Minute), "r1"}, // refused: still r1
			{"pilot", hour(2), "r3"},
			{"broad", hour(2), "r1"},
			// Once a ring has events of its own (a rollout moves it), they decide: a revision
			// published to all rings reaches it only when promoted, and a restart restores
			// what each ring had.
			{"pilot", hour(3), "r3"},
			{"early", hour(3), "r4"},
			{"broad", hour(3), "r4"},
			{"broad", hour(4), "r3"},
			{"broad", hour(6), "r3"},
			{"early", hour(6), "r4"},
		} {
			ev, err := s.RevisionAt(ctx(t), tc.ring, tc.at)
			switch {
			case tc.want == "" && !errors.Is(err, store.ErrNotFound):
				t.Errorf("%s at %s: %v %+v, want ErrNotFound", tc.ring, tc.at, err, ev)
			case tc.want != "" && err != nil:
				t.Errorf("%s at %s: %v", tc.ring, tc.at, err)
			case tc.want != "" && ev.Revision != tc.want:
				t.Errorf("%s at %s: %s, want %s", tc.ring, tc.at, ev.Revision, tc.want)
			}
		}
		revs := func(q store.RevisionQuery) []string {
			evs, err := s.Revisions(ctx(t), q)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, ev := range evs {
				out = append(out, ev.Event+":"+ev.Revision)
			}
			return out
		}
		for _, tc := range []struct {
			q    store.RevisionQuery
			want []string
		}{
			{store.RevisionQuery{}, []string{"restored:r4", "rolled-back:r3", "published:r4", "promoted:r3", "refused:r2", "published:r1"}},
			{store.RevisionQuery{Ring: "pilot"}, []string{"promoted:r3"}},
			{store.RevisionQuery{Since: hour(1), Until: hour(3)}, []string{"promoted:r3", "refused:r2"}},
			{store.RevisionQuery{Limit: 2}, []string{"restored:r4", "rolled-back:r3"}},
		} {
			if got := revs(tc.q); !slices.Equal(got, tc.want) {
				t.Errorf("%+v: %v, want %v", tc.q, got, tc.want)
			}
		}
		evs, _ := s.Revisions(ctx(t), store.RevisionQuery{Since: hour(1), Until: hour(2)})
		if len(evs) != 1 || evs[0].Reason != "policy" || evs[0].Message != "denied" || !evs[0].At.Equal(hour(1)) {
			t.Errorf("refusal read back as %+v", evs)
		}
	}},
	{"waivers as periods, expiry applied", func(t *testing.T, s store.Store) {
		w1 := store.WaiverPeriod{Name: "old-java", Policy: "no-eol", Targets: []string{"Package/java8"}, Expires: "2026-03-04", Approver: "cio"}
		w2 := store.WaiverPeriod{Namespace: "region-norr", Name: "lab", Policy: "bitlocker", Targets: []string{"DeviceGroup/region-norr/lab"},
			Reason: "lab machines", Expires: "2027-01-01"}
		w2b := w2
		w2b.Reason = "lab machines, renewed"
		day := 24 * time.Hour
		for _, step := range []struct {
			at  time.Time
			rev string
			ws  []store.WaiverPeriod
		}{
			{t0, "r1", []store.WaiverPeriod{w1, w2}},
			{t0.Add(day), "r2", []store.WaiverPeriod{w2b, w1}},
			{t0.Add(2 * day), "r3", []store.WaiverPeriod{w2b}},
		} {
			if err := s.RecordWaivers(ctx(t), step.at, step.rev, step.ws); err != nil {
				t.Fatal(err)
			}
		}
		expiry := time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC)
		for _, tc := range []struct {
			at   time.Time
			want []string // name@revision[..to]
		}{
			{t0.Add(-time.Millisecond), nil},
			{t0, []string{"old-java@r1..2026-03-04T00:00:00Z", "lab@r1..2026-03-03T08:00:00Z"}},
			{t0.Add(day), []string{"old-java@r1..2026-03-04T00:00:00Z", "lab@r2..2027-01-01T00:00:00Z"}},
			{expiry.Add(-time.Millisecond), []string{"old-java@r1..2026-03-04T00:00:00Z", "lab@r2..2027-01-01T00:00:00Z"}},
			{expiry, []string{"lab@r2..2027-01-01T00:00:00Z"}}, // expired from its date on, though still in the catalog
			{t0.Add(3 * day), []string{"lab@r2..2027-01-01T00:00:00Z"}},
		} {
			ws, err := s.WaiversAt(ctx(t), tc.at)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, w := range ws {
				g := w.Name + "@" + w.Revision
				if !w.To.IsZero() {
					g += ".." + w.To.Format(time.RFC3339)
				}
				got = append(got, g)
				if w.Name == "lab" && (len(w.Targets) != 1 || w.Namespace != "region-norr" || w.Policy != "bitlocker") {
					t.Errorf("waiver read back as %+v", w)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("at %s: %v, want %v", tc.at, got, tc.want)
			}
		}
		if err := s.RecordWaivers(ctx(t), t0.Add(4*day), "r4", []store.WaiverPeriod{w2, w2}); err == nil {
			t.Error("a waiver listed twice was recorded")
		}
	}},
	{"prune keeps open periods and recent rows", func(t *testing.T, s store.Store) {
		const n = 2500 // more than one prune batch
		day := 24 * time.Hour
		old, older := t0.Add(-300*day), t0.Add(-400*day)
		var b store.Batch
		for i := range n {
			id := fmt.Sprintf("d%04d", i)
			b.Enrollments = append(b.Enrollments, enrollment(id, "m", older))
		}
		write(t, s, &b)
		b = store.Batch{}
		for i := range n {
			id := fmt.Sprintf("d%04d", i)
			b.Served = append(b.Served, store.Served{DeviceID: id, At: older, Hash: "hA", Revision: "r1", Group: "g"})
		}
		write(t, s, &b)
		b = store.Batch{}
		for i := range n {
			id := fmt.Sprintf("d%04d", i)
			b.Served = append(b.Served, store.Served{DeviceID: id, At: old, Hash: "hB", Revision: "r2", Group: "g"})
			r := newReport(t, id, old, "hB", desired.Unchanged)
			r.Facts = nil
			b.Reports = append(b.Reports, r)
		}
		write(t, s, &b)
		// d0000 fails ten days ago (kept: a recent report), and its facts changed long ago.
		f := enrollment("d0000", "m", old).Facts
		f.OSBuild = "26100"
		facts, _ := store.EncodeFacts(&f)
		r := newReport(t, "d0000", t0.Add(-10*day), "hB", desired.Failed)
		r.Facts = nil
		changed := newReport(t, "d0000", t0.Add(-250*day), "hB", desired.Unchanged)
		changed.Facts = facts
		write(t, s, &store.Batch{Reports: []store.Report{changed}})
		write(t, s, &store.Batch{Reports: []store.Report{r}})
		for _, ev := range []store.RevisionEvent{
			{At: older, Revision: "r1", Event: store.RevisionPublished},
			{At: t0.Add(-100 * day), Revision: "r2", Event: store.RevisionPublished},
		} {
			if err := s.RecordRevision(ctx(t), ev); err != nil {
				t.Fatal(err)
			}
		}
		w := store.WaiverPeriod{Name: "w", Policy: "p", Targets: []string{"Package/x"}, Expires: "2030-01-01"}
		for i, ws := range [][]store.WaiverPeriod{{w}, nil, {w}} {
			if err := s.RecordWaivers(ctx(t), older.Add(time.Duration(i)*50*day), fmt.Sprint("r", i), ws); err != nil {
				t.Fatal(err)
			}
		}

		// Deliveries go with the raw reports: one older than 30 days, one newer.
		for _, at := range []time.Time{t0.Add(-31 * day), t0.Add(-29 * day)} {
			if err := s.RecordDelivery(ctx(t), &store.Delivery{At: at, Sink: "ops", Kind: "revision.published", Event: "e", Attempt: 1,
				Outcome: store.DeliveryDelivered}); err != nil {
				t.Fatal(err)
			}
		}

		got, err := s.Prune(ctx(t), store.Retention{Intervals: 200 * day, Reports: 30 * day}, t0)
		if err != nil {
			t.Fatal(err)
		}
		// Closed more than 200 days ago: every device's first served period, d0000's first
		// facts and the first waiver period. Received more than 30 days ago: every report
		// kept but d0000's failure, and the older delivery.
		want := store.Pruned{Intervals: n + 1 + 1, Reports: n, Revisions: 1, Deliveries: 1}
		if got != want {
			t.Errorf("pruned %+v, want %+v", got, want)
		}
		if again, err := s.Prune(ctx(t), store.Retention{Intervals: 200 * day, Reports: 30 * day}, t0); err != nil || again != (store.Pruned{}) {
			t.Errorf("second pass pruned %+v, %v: want nothing", again, err)
		}
		tl, err := s.DeviceTimeline(ctx(t), "d0000", time.Time{}, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if len(tl.Served) != 1 || tl.Served[0].Hash != "hB" || len(tl.Facts) != 1 || tl.Facts[0].Facts.OSBuild != "26100" ||
			len(tl.Outcomes) != 2 {
			t.Errorf("after prune: %+v", tl)
		}
		if rs, err := s.Reports(ctx(t), "d0000", 10); err != nil || len(rs) != 1 || rs[0].Counts.Failed != 1 {
			t.Errorf("reports after prune: %+v, %v", rs, err)
		}
		d, err := s.DeviceAt(ctx(t), "d0001", t0.Add(-350*day))
		if err != nil || d.Served != nil || d.Facts == nil || d.Report != nil {
			t.Errorf("d0001 350 days ago after prune: %+v, %v", d, err)
		}
		if ws, _ := s.WaiversAt(ctx(t), t0); len(ws) != 1 {
			t.Errorf("open waiver after prune: %+v", ws)
		}
		evs, _ := s.Revisions(ctx(t), store.RevisionQuery{})
		if len(evs) != 1 || evs[0].Revision != "r2" {
			t.Errorf("revisions after prune: %+v", evs)
		}
	}},
}

func ivs[P any](ps []P, iv func(P) store.Interval) []store.Interval {
	out := make([]store.Interval, len(ps))
	for i, p := range ps {
		out[i] = iv(p)
	}
	return out
}

// checkContiguous checks that periods begin at froms, each ending where the next begins and
// the last still open.
func checkContiguous(t *testing.T, what string, got []store.Interval, froms ...time.Time) {
	t.Helper()
	if len(got) != len(froms) {
		t.Errorf("%s: %d periods %+v, want %d from %v", what, len(got), got, len(froms), froms)
		return
	}
	for i, iv := range got {
		var to time.Time
		if i+1 < len(froms) {
			to = froms[i+1]
		}
		if !iv.From.Equal(froms[i]) || !iv.To.Equal(to) {
			t.Errorf("%s: period %d is [%s, %s), want [%s, %s)", what, i, iv.From, iv.To, froms[i], to)
		}
	}
}

// TestTimelineTruncated checks that a timeline with more periods of a kind than the limit
// returns the oldest ones and says so. Not parallel: it lowers a package-wide limit.
func TestTimelineTruncated(t *testing.T) {
	defer store.SetTimelineLimit(2)()
	for _, kind := range storetest.Kinds {
		t.Run(kind, func(t *testing.T) {
			s := storetest.Open(t, kind, store.Options{})
			write(t, s, &store.Batch{Enrollments: []store.Enrollment{enrollment("d1", "m", t0)}})
			for i, o := range []string{desired.Unchanged, desired.Failed, desired.Unchanged} {
				write(t, s, &store.Batch{Reports: []store.Report{factsReport(t, minute(i+1), "h1", nil, o)}})
			}
			tl, err := s.DeviceTimeline(ctx(t), "d1", time.Time{}, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			if !tl.Truncated || len(tl.Outcomes) != 2 || !tl.Outcomes[0].From.Equal(minute(1)) || len(tl.Facts) != 1 {
				t.Errorf("truncated %v, outcomes %+v, facts %d: want the oldest 2 outcomes, the one facts period", tl.Truncated, tl.Outcomes, len(tl.Facts))
			}
			tl, err = s.DeviceTimeline(ctx(t), "d1", minute(2), time.Time{})
			if err != nil || tl.Truncated || len(tl.Outcomes) != 2 {
				t.Errorf("from the second period: %+v, %v", tl, err)
			}
		})
	}
}
