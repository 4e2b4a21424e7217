package store_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"samverk.io/samverk/engine/desired"
	"samverk.io/samverk/engine/store"
	"samverk.io/samverk/engine/store/storetest"
)

// TestStore runs the one store suite against every implementation.
func TestStore(t *testing.T) {
	for _, kind := range storetest.Kinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			for _, tc := range storeCases {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					s := storetest.Open(t, kind, store.Options{History: 3})
					tc.run(t, s)
				})
			}
			t.Run("reopen keeps data and schema", func(t *testing.T) {
				t.Parallel()
				dsn := storetest.DSN(t, kind)
				s := storetest.OpenDSN(t, dsn, store.Options{})
				write(t, s, &store.Batch{Enrollments: []store.Enrollment{enrollment("d1", "m1", t0)}})
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				s = storetest.OpenDSN(t, dsn, store.Options{})
				if _, err := s.Device(ctx(t), "d1", time.Time{}); err != nil {
					t.Fatalf("after reopen: %v", err)
				}
			})
		})
	}
}

var t0 = time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)

type storeCase struct {
	name string
	run  func(t *testing.T, s store.Store)
}

var storeCases = []storeCase{
	{"enroll and read back", func(t *testing.T, s store.Store) {
		e := enrollment("d1", "region-norr", t0)
		write(t, s, &store.Batch{Enrollments: []store.Enrollment{e}})
		d, err := s.Device(ctx(t), "d1", t0)
		if err != nil {
			t.Fatal(err)
		}
		if d.Member != "region-norr" || string(d.CredentialHash) != string(e.CredentialHash) {
			t.Errorf("member %q, credential hash %x: want region-norr, %x", d.Member, d.CredentialHash, e.CredentialHash)
		}
		if d.Facts.Hostname != "pc-d1" || d.Facts.Labels["site"] != "umea" || d.Facts.Products["firefox"] != "128.0" {
			t.Errorf("facts not kept: %+v", d.Facts)
		}
		if !d.EnrolledAt.Equal(t0) || !d.LastSeen.Equal(t0) {
			t.Errorf("enrolled %v, last seen %v: want %v", d.EnrolledAt, d.LastSeen, t0)
		}
		if d.Compliance != store.Stale || d.LastReport != nil {
			t.Errorf("new device: compliance %q, last report %+v: want stale, none", d.Compliance, d.LastReport)
		}
	}},
	{"unknown device is ErrNotFound", func(t *testing.T, s store.Store) {
		_, err := s.Device(ctx(t), "nope", t0)
		if !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("got %v, want ErrNotFound", err)
		}
	}},
	{"compliance follows report and served state", func(t *testing.T, s store.Store) {
		write(t, s, &store.Batch{Enrollments: []store.Enrollment{enrollment("d1", "m", t0)}})
		served := func(hash string, at time.Time) {
			write(t, s, &store.Batch{Served: []store.Served{{DeviceID: "d1", At: at, Profile: "p1", Hash: hash, Revision: "r1", Group: "g", Ring: "broad"}}})
		}
		report := func(hash string, at time.Time, outcomes ...string) {
			write(t, s, &store.Batch{Reports: []store.Report{newReport(t, "d1", at, hash, outcomes...)}})
		}
		served("h1", t0.Add(time.Minute))
		for _, step := range []struct {
			name  string
			do    func()
			stale time.Time
			want  string
		}{
			{"served, not reported", func() {}, t0, store.Stale},
			{"applied what was served", func() { report("h1", t0.Add(2*time.Minute), desired.Unchanged, desired.Corrected) }, t0, store.Compliant},
			{"report older than horizon", func() {}, t0.Add(time.Hour), store.Stale},
			{"failed resource", func() { report("h1", t0.Add(3*time.Minute), desired.Failed, desired.Drifted) }, t0, store.Failed},
			{"drifted in detect mode", func() { report("h1", t0.Add(4*time.Minute), desired.Drifted) }, t0, store.Drifted},
			{"new state served", func() { served("h2", t0.Add(5*time.Minute)) }, t0, store.Stale},
			{"new state applied", func() { report("h2", t0.Add(6*time.Minute), desired.Corrected) }, t0, store.Compliant},
		} {
			step.do()
			d, err := s.Device(ctx(t), "d1", step.stale)
			if err != nil {
				t.Fatal(err)
			}
			if d.Compliance != step.want {
				t.Errorf("%s: compliance %q, want %q", step.name, d.Compliance, step.want)
			}
		}
		d, _ := s.Device(ctx(t), "d1", t0)
		if d.ServedHash != "h2" || d.Group != "g" || d.Ring != "broad" || d.Profile != "p1" || !d.ServedAt.Equal(t0.Add(5*time.Minute)) {
			t.Errorf("served fields: %+v", d)
		}
		want := store.LastReport{At: t0.Add(6 * time.Minute), Revision: "rev-h2", AppliedHash: "h2", Counts: store.Counts{Corrected: 1}}
		if d.LastReport == nil || *d.LastReport != want {
			t.Errorf("last report %+v, want %+v", d.LastReport, want)
		}
		if !d.LastSeen.Equal(t0.Add(6 * time.Minute)) {
			t.Errorf("last seen %v", d.LastSeen)
		}
	}},
	{"history is bounded and newest first", func(t *testing.T, s store.Store) {
		write(t, s, &store.Batch{Enrollments: []store.Enrollment{enrollment("d1", "m", t0), enrollment("d2", "m", t0)}})
		for i := range 5 {
			write(t, s, &store.Batch{Reports: []store.Report{newReport(t, "d1", t0.Add(time.Duration(i)*time.Minute), fmt.Sprint("h", i), desired.Corrected, desired.Unchanged)}})
		}
		rs, err := s.Reports(ctx(t), "d1", 100)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range rs {
			got = append(got, fmt.Sprint(r.Seq, ":", r.Hash))
		}
		if want := []string{"5:h4", "4:h3", "3:h2"}; !slices.Equal(got, want) {
			t.Errorf("history %v, want %v (History 3)", got, want)
		}
		if len(rs) > 0 && (len(rs[0].Resources) != 1 || rs[0].Resources[0].ID != "r0" || rs[0].Counts.Unchanged != 1 ||
			rs[0].Compliance != store.Compliant || rs[0].DurationMs != 1500) {
			t.Errorf("newest report %+v", rs[0])
		}
		if rs, _ := s.Reports(ctx(t), "d2", 10); len(rs) != 0 {
			t.Errorf("d2 has %d reports, want 0", len(rs))
		}
	}},
	{"history keeps what is worth keeping", func(t *testing.T, s store.Store) {
		write(t, s, &store.Batch{Enrollments: []store.Enrollment{enrollment("d1", "m", t0)}})
		for i, r := range []struct {
			hash     string
			outcomes []string
		}{
			{"h1", []string{desired.Unchanged}},                    // first report: kept
			{"h1", []string{desired.Unchanged}},                    // all in line: not kept
			{"h1", []string{desired.Unchanged, desired.Corrected}}, // corrected: kept
			{"h1", nil},                         // not kept
			{"h2", []string{desired.Unchanged}}, // a new state applied: kept
			{"h2", []string{desired.Drifted}},   // kept
		} {
			write(t, s, &store.Batch{Reports: []store.Report{newReport(t, "d1", t0.Add(time.Duration(i)*time.Minute), r.hash, r.outcomes...)}})
		}
		rs, err := s.Reports(ctx(t), "d1", 10)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range rs {
			got = append(got, fmt.Sprintf("%d:%s@%d", r.Seq, r.Hash, r.At.Sub(t0)/time.Minute))
		}
		if want := []string{"4:h2@5", "3:h2@4", "2:h1@2"}; !slices.Equal(got, want) {
			t.Errorf("history %v, want %v (History 3)", got, want)
		}
		d, _ := s.Device(ctx(t), "d1", t0)
		if d.LastReport.AppliedHash != "h2" || d.LastReport.Counts.Drifted != 1 {
			t.Errorf("device %+v", d.LastReport)
		}
	}},
	{"one batch: same device twice, unknown device, facts kept when absent", func(t *testing.T, s store.Store) {
		write(t, s, &store.Batch{Enrollments: []store.Enrollment{enrollment("d1", "m", t0)}})
		noFacts := newReport(t, "d1", t0.Add(3*time.Minute), "h3", desired.Failed)
		noFacts.Facts = nil
		r1 := newReport(t, "d1", t0.Add(time.Minute), "h1", desired.Unchanged)
		r1b, err := store.NewReport("d1", t0.Add(2*time.Minute), &desired.Report{Revision: "rev-h2", Hash: "h2",
			Facts: desired.Facts{Hostname: "renamed", OSBuild: "26100", Labels: map[string]string{"site": "lulea"}}})
		if err != nil {
			t.Fatal(err)
		}
		write(t, s, &store.Batch{Reports: []store.Report{r1, newReport(t, "ghost", t0, "h", desired.Unchanged), r1b, noFacts}})
		rs, err := s.Reports(ctx(t), "d1", 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(rs) != 3 || rs[0].Hash != "h3" || rs[1].Hash != "h2" || rs[2].Hash != "h1" {
			t.Fatalf("history %+v, want h3 h2 h1", rs)
		}
		d, _ := s.Device(ctx(t), "d1", t0)
		if d.Facts.Hostname != "renamed" || d.Facts.OSBuild != "26100" || d.Facts.Labels["site"] != "lulea" {
			t.Errorf("facts %+v: want the last report's that had facts", d.Facts)
		}
		if d.LastReport.AppliedHash != "h3" || d.LastReport.Counts.Failed != 1 {
			t.Errorf("last report %+v", d.LastReport)
		}
		if _, err := s.Device(ctx(t), "ghost", t0); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a report created device ghost: %v", err)
		}
	}},
	{"identities carry what the daemon keeps in memory", func(t *testing.T, s store.Store) {
		a, b := enrollment("a", "m1", t0), enrollment("b", "m2", t0)
		b.Facts.Labels = nil
		write(t, s, &store.Batch{Enrollments: []store.Enrollment{a, b}})
		moved := newReport(t, "a", t0.Add(time.Minute), "h1")
		mf := desired.Facts{Hostname: "pc-a", Vendor: "HP", Model: "EliteBook", OSFamily: "windows", OSBuild: "26100", Labels: map[string]string{"role": "lab"}}
		var err error
		if moved.Facts, err = store.EncodeFacts(&mf); err != nil {
			t.Fatal(err)
		}
		write(t, s, &store.Batch{Reports: []store.Report{moved}})
		got := map[string]store.Identity{}
		if err := s.Identities(ctx(t), func(id *store.Identity) error { got[id.ID] = *id; return nil }); err != nil {
			t.Fatal(err)
		}
		want := map[string]store.Identity{"a": {ID: "a", Member: "m1", CredentialHash: a.CredentialHash, Labels: mf.Labels, Vendor: "HP",
			Model: "EliteBook", OSFamily: "windows", OSBuild: "26100", FactsDigest: moved.Facts.Digest, EnrollToken: "tok-m1"}}
		bf, _ := store.EncodeFacts(&b.Facts)
		want["b"] = store.Identity{ID: "b", Member: "m2", CredentialHash: b.CredentialHash, Vendor: "Dell Inc.", Model: "Latitude 5450",
			OSFamily: "windows", OSBuild: "22631", FactsDigest: bf.Digest, EnrollToken: "tok-m2"}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("identities\n got %+v\nwant %+v", got, want)
		}
		stop := errors.New("stop")
		if err := s.Identities(ctx(t), func(*store.Identity) error { return stop }); !errors.Is(err, stop) {
			t.Errorf("fn's error: got %v", err)
		}
	}},
	{"list filters and pages", func(t *testing.T, s store.Store) {
		seed(t, s)
		for _, tc := range []struct {
			name string
			q    store.Query
			want []string
		}{
			{"all", store.Query{}, []string{"a1", "a2", "a3", "b1", "b2"}},
			{"member", store.Query{Member: "mb"}, []string{"b1", "b2"}},
			{"group", store.Query{Group: "laptops"}, []string{"a1", "a2", "b1"}},
			{"member and group", store.Query{Member: "ma", Group: "laptops"}, []string{"a1", "a2"}},
			{"compliant", store.Query{Compliance: store.Compliant}, []string{"a1", "b1"}},
			{"failed", store.Query{Compliance: store.Failed}, []string{"a2"}},
			{"stale", store.Query{Compliance: store.Stale}, []string{"a3", "b2"}},
			{"stale by horizon", store.Query{Compliance: store.Stale, StaleBefore: t0.Add(time.Hour)}, []string{"a1", "a2", "a3", "b1", "b2"}},
			{"revision", store.Query{Revision: "rev-h1"}, []string{"a1", "a2", "b1"}},
			{"no match", store.Query{Member: "mc"}, nil},
			{"after cursor", store.Query{After: "a3"}, []string{"b1", "b2"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if got := ids(t, s, tc.q); !slices.Equal(got, tc.want) {
					t.Errorf("got %v, want %v", got, tc.want)
				}
			})
		}
		var pages [][]string
		q := store.Query{Limit: 2}
		for {
			p, err := s.Devices(ctx(t), q)
			if err != nil {
				t.Fatal(err)
			}
			var page []string
			for _, d := range p.Devices {
				page = append(page, d.ID)
			}
			pages = append(pages, page)
			if p.Next == "" {
				break
			}
			q.After = p.Next
		}
		if got := fmt.Sprint(pages); got != "[[a1 a2] [a3 b1] [b2]]" {
			t.Errorf("pages %s", got)
		}
	}},
	{"summary counts by member, group and state", func(t *testing.T, s store.Store) {
		seed(t, s)
		cs, err := s.Summary(ctx(t), t0)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, c := range cs {
			got = append(got, fmt.Sprintf("%s/%s/%s=%d", c.Member, c.Group, c.Compliance, c.Devices))
		}
		want := []string{"ma//stale=1", "ma/laptops/compliant=1", "ma/laptops/failed=1", "mb/desktops/stale=1", "mb/laptops/compliant=1"}
		if !slices.Equal(got, want) {
			t.Errorf("summary %v, want %v", got, want)
		}
	}},
	{"batcher: every acknowledged write is committed", func(t *testing.T, s store.Store) {
		b := store.NewBatcher(s, store.BatcherOptions{MaxBatch: 50})
		runCtx, stop := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- b.Run(runCtx) }()
		const devices, perDevice = 40, 5
		var wg sync.WaitGroup
		for i := range devices {
			wg.Go(func() {
				id := fmt.Sprintf("d%03d", i)
				if err := b.Enroll(ctx(t), enrollment(id, "m", t0)); err != nil {
					t.Errorf("enroll %s: %v", id, err)
					return
				}
				b.Served(store.Served{DeviceID: id, At: t0, Hash: "h0", Group: "g"})
				for j := range perDevice {
					if err := b.Report(ctx(t), newReport(t, id, t0.Add(time.Duration(j)*time.Second), "h0", desired.Corrected)); err != nil {
						t.Errorf("report: %v", err)
					}
				}
			})
		}
		wg.Wait()
		stop()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if err := b.Report(ctx(t), newReport(t, "d000", t0, "h0")); !errors.Is(err, store.ErrClosed) {
			t.Errorf("report after stop: %v, want ErrClosed", err)
		}
		p, err := s.Devices(ctx(t), store.Query{Limit: 1000, Compliance: store.Compliant})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Devices) != devices {
			t.Errorf("%d compliant devices, want %d", len(p.Devices), devices)
		}
		rs, _ := s.Reports(ctx(t), "d007", 10)
		if len(rs) != 3 || rs[0].Seq != perDevice {
			t.Errorf("d007 history: %d reports, newest seq %d; want 3, %d", len(rs), rs[0].Seq, perDevice)
		}
	}},
	{"a device no group selects is unmanaged, never compliant", func(t *testing.T, s store.Store) {
		write(t, s, &store.Batch{Enrollments: []store.Enrollment{enrollment("lost", "m", t0), enrollment("kept", "m", t0)}})
		write(t, s, &store.Batch{
			Served:  []store.Served{{DeviceID: "lost", At: t0, Hash: "h1"}, {DeviceID: "kept", At: t0, Hash: "h1", Group: "g"}},
			Reports: []store.Report{newReport(t, "lost", t0.Add(time.Minute), "h1"), newReport(t, "kept", t0.Add(time.Minute), "h1")},
		})
		if d, err := s.Device(ctx(t), "lost", t0); err != nil || d.Compliance != store.Unmanaged {
			t.Errorf("device of no group: %+v, %v; want unmanaged", d, err)
		}
		if got := ids(t, s, store.Query{Compliance: store.Unmanaged, StaleBefore: t0}); !slices.Equal(got, []string{"lost"}) {
			t.Errorf("unmanaged devices %v", got)
		}
		if got := ids(t, s, store.Query{Compliance: store.Compliant, StaleBefore: t0}); !slices.Equal(got, []string{"kept"}) {
			t.Errorf("compliant devices %v", got)
		}
		cs, err := s.Summary(ctx(t), t0)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, c := range cs {
			got = append(got, fmt.Sprintf("%s/%s/%s=%d", c.Member, c.Group, c.Compliance, c.Devices))
		}
		if want := []string{"m//unmanaged=1", "m/g/compliant=1"}; !slices.Equal(got, want) {
			t.Errorf("summary %v, want %v", got, want)
		}
		// The console counts and lists it as unmanaged too.
		census, err := s.Census(ctx(t), t0)
		if err != nil {
			t.Fatal(err)
		}
		got = nil
		for _, c := range census {
			got = append(got, fmt.Sprintf("%s/%s/%s=%d", c.Member, c.Group, c.State, c.Devices))
		}
		slices.Sort(got)
		if want := []string{"m//unmanaged=1", "m/g/compliant=1"}; !slices.Equal(got, want) {
			t.Errorf("census %v, want %v", got, want)
		}
		page, err := s.Browse(ctx(t), store.Browse{State: store.Unmanaged, StaleBefore: t0})
		if err != nil || len(page.Devices) != 1 || page.Devices[0].ID != "lost" {
			t.Errorf("browse unmanaged: %+v, %v", page, err)
		}
	}},
	{"credentials: rotate, revoke, enroll again", func(t *testing.T, s store.Store) {
		write(t, s, &store.Batch{Enrollments: []store.Enrollment{enrollment("d1", "m", t0), enrollment("d2", "m", t0)}})
		if id, err := s.DeviceBySerial(ctx(t), "m", "SN-d2"); err != nil || id != "d2" {
			t.Errorf("by serial: %q, %v", id, err)
		}
		if _, err := s.DeviceBySerial(ctx(t), "other", "SN-d2"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("another member's serial: %v, want ErrNotFound", err)
		}
		identity := func(id string) store.Identity {
			var got store.Identity
			err := s.Identities(ctx(t), func(i *store.Identity) error {
				if i.ID == id {
					got = *i
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			return got
		}
		if i := identity("d1"); i.EnrollToken != "tok-m" || i.Revoked || i.PrevCredentialHash != nil {
			t.Errorf("enrolled: %+v", i)
		}
		old := enrollment("d1", "m", t0).CredentialHash
		next := sha256.Sum256([]byte("next"))
		until := t0.Add(10 * time.Minute)
		write(t, s, &store.Batch{Credentials: []store.CredentialChange{{DeviceID: "d1", At: t0.Add(time.Minute), Hash: next[:], Prev: old, PrevUntil: until}}})
		if i := identity("d1"); string(i.CredentialHash) != string(next[:]) || string(i.PrevCredentialHash) != string(old) || !i.PrevUntil.Equal(until) {
			t.Errorf("rotated: %+v", i)
		}
		var changed []string
		collect := func(since time.Time) []string {
			changed = nil
			if err := s.CredentialsChanged(ctx(t), since, func(i *store.Identity) error { changed = append(changed, i.ID); return nil }); err != nil {
				t.Fatal(err)
			}
			return changed
		}
		// Ending the grace of a credential that is no longer current changes nothing.
		write(t, s, &store.Batch{Credentials: []store.CredentialChange{{DeviceID: "d1", Hash: old, EndGrace: true}}})
		if i := identity("d1"); string(i.PrevCredentialHash) != string(old) {
			t.Errorf("grace ended by a stale credential: %+v", i)
		}
		if got := collect(t0); !slices.Equal(got, []string{"d1"}) {
			t.Errorf("changed since t0: %v", got)
		}
		if got := collect(t0.Add(2 * time.Minute)); len(got) != 0 {
			t.Errorf("changed since later: %v", got)
		}
		write(t, s, &store.Batch{Credentials: []store.CredentialChange{{DeviceID: "d1", Hash: next[:], EndGrace: true}}})
		if i := identity("d1"); i.PrevCredentialHash != nil || !i.PrevUntil.IsZero() {
			t.Errorf("grace not ended: %+v", i)
		}
		write(t, s, &store.Batch{Credentials: []store.CredentialChange{{DeviceID: "d2", At: t0.Add(3 * time.Minute), Hash: store.RevokedHash, Revoked: true}}})
		if i := identity("d2"); !i.Revoked || string(i.CredentialHash) != string(store.RevokedHash) {
			t.Errorf("revoked: %+v", i)
		}
		again := enrollment("d2", "m", t0.Add(4*time.Minute))
		again.CredentialHash, again.Replaces, again.Token = next[:], true, "tok-2"
		again.Facts.Hostname = "pc-d2-reimaged"
		write(t, s, &store.Batch{Enrollments: []store.Enrollment{again}})
		if i := identity("d2"); i.Revoked || string(i.CredentialHash) != string(next[:]) || i.EnrollToken != "tok-2" {
			t.Errorf("enrolled again: %+v", i)
		}
		if d, err := s.Device(ctx(t), "d2", t0); err != nil || d.Facts.Hostname != "pc-d2-reimaged" || !d.EnrolledAt.Equal(t0) {
			t.Errorf("enrolled again: %+v, %v", d, err)
		}
		ghost := enrollment("d9", "m", t0)
		ghost.Replaces = true
		if err := s.Write(ctx(t), &store.Batch{Enrollments: []store.Enrollment{ghost}}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("enrolling a missing device again: %v, want ErrNotFound", err)
		}
	}},
	{"batcher: a write the database refuses fails alone", func(t *testing.T, s store.Store) {
		// A report storm from many devices, queued before the writer starts so that one
		// batch carries it all, with two bad writes inside: an enrollment of an id that
		// exists, and a report whose facts hold a NUL byte (which PostgreSQL refuses in text
		// and jsonb; SQLite stores it).
		const devices = 300
		pre := &store.Batch{}
		for i := range devices {
			pre.Enrollments = append(pre.Enrollments, enrollment(fmt.Sprintf("d%03d", i), "m", t0))
		}
		write(t, s, pre)
		b := store.NewBatcher(s, store.BatcherOptions{MaxBatch: 10 * devices})
		errs := make([]error, devices)
		var dupErr, nulErr error
		var wg sync.WaitGroup
		for i := range devices {
			wg.Go(func() {
				errs[i] = b.Report(ctx(t), newReport(t, fmt.Sprintf("d%03d", i), t0.Add(time.Minute), "h1", desired.Corrected))
			})
			if i == devices/3 {
				wg.Go(func() { dupErr = b.Enroll(ctx(t), enrollment("d007", "m", t0)) })
			}
			if i == 2*devices/3 {
				wg.Go(func() {
					rep := newReport(t, "d100", t0.Add(time.Minute), "h1", desired.Corrected)
					f := desired.Facts{Hostname: "pc-\x00-d100", OSFamily: "windows"}
					enc, err := store.EncodeFacts(&f)
					if err != nil {
						t.Error(err)
						return
					}
					rep.Facts = enc
					nulErr = b.Report(ctx(t), rep)
				})
			}
		}
		for b.Pending() < devices+2 {
			time.Sleep(time.Millisecond) // wait for every writer to queue
		}
		runCtx, stop := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- b.Run(runCtx) }()
		wg.Wait()
		stop()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		for i, err := range errs {
			if err != nil {
				t.Errorf("device d%03d: its report failed with another's bad write: %v", i, err)
			}
		}
		if dupErr == nil {
			t.Error("the enrollment of an existing id committed")
		}
		if _, pg := s.(*store.Postgres); pg && nulErr == nil {
			t.Error("postgres: the report with a NUL byte committed")
		}
		if b.Bisected() == 0 {
			t.Error("the batch never failed: the test did not put a bad write in it")
		}
		p, err := s.Devices(ctx(t), store.Query{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		reported := 0
		for _, d := range p.Devices {
			if d.LastReport != nil && d.LastReport.Counts.Corrected == 1 {
				reported++
			}
		}
		if reported != devices {
			t.Errorf("%d of %d devices have their report stored", reported, devices)
		}
	}},
}

// seed enrolls a1..a3 (member ma) and b1, b2 (mb) in various states.
func seed(t *testing.T, s store.Store) {
	t.Helper()
	b := &store.Batch{}
	for _, id := range []string{"b2", "a1", "a3", "b1", "a2"} {
		b.Enrollments = append(b.Enrollments, enrollment(id, "m"+id[:1], t0))
	}
	for _, v := range []struct{ id, group string }{{"a1", "laptops"}, {"a2", "laptops"}, {"b1", "laptops"}, {"b2", "desktops"}} {
		b.Served = append(b.Served, store.Served{DeviceID: v.id, At: t0, Profile: "p", Hash: "h1", Revision: "r", Group: v.group, Ring: "broad"})
	}
	b.Reports = []store.Report{
		newReport(t, "a1", t0.Add(time.Minute), "h1", desired.Unchanged),
		newReport(t, "a2", t0.Add(time.Minute), "h1", desired.Failed),
		newReport(t, "b1", t0.Add(time.Minute), "h1", desired.Corrected),
		newReport(t, "b2", t0.Add(time.Minute), "h0", desired.Unchanged), // applied an older state
	}
	write(t, s, b)
}

func ids(t *testing.T, s store.Store, q store.Query) []string {
	t.Helper()
	p, err := s.Devices(ctx(t), q)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range p.Devices {
		got = append(got, d.ID)
	}
	return got
}

func enrollment(id, member string, at time.Time) store.Enrollment {
	h := sha256.Sum256([]byte("secret-" + id))
	return store.Enrollment{ID: id, Member: member, CredentialHash: h[:], At: at, Remote: "192.0.2.1", Token: "tok-" + member,
		Facts: desired.Facts{Hostname: "pc-" + id, Vendor: "Dell Inc.", Model: "Latitude 5450", OSFamily: "windows",
			OSBuild: "22631", Serial: "SN-" + id, Labels: map[string]string{"site": "umea"}, Products: map[string]string{"firefox": "128.0"}}}
}

func newReport(t testing.TB, id string, at time.Time, hash string, outcomes ...string) store.Report {
	t.Helper()
	r := &desired.Report{Revision: "rev-" + hash, Hash: hash, StartedAt: at.Add(-2 * time.Second), DurationMs: 1500,
		Facts: desired.Facts{Hostname: "pc-" + id, Vendor: "Dell Inc.", Model: "Latitude 5450", OSFamily: "windows", OSBuild: "22631"}}
	for i, o := range outcomes {
		r.Resources = append(r.Resources, desired.ResourceResult{ID: fmt.Sprint("r", i), Outcome: o, DurationMs: 10})
	}
	rep, err := store.NewReport(id, at, r)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func write(t testing.TB, s store.Store, b *store.Batch) {
	t.Helper()
	if err := s.Write(ctx(t), b); err != nil {
		t.Fatal(err)
	}
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}
