package history_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/compile"
	"samverk.io/samverk/engine/desired"
	"samverk.io/samverk/engine/history"
	"samverk.io/samverk/engine/source"
	"samverk.io/samverk/engine/source/gittest"
	"samverk.io/samverk/engine/store"
	"samverk.io/samverk/engine/store/storetest"
)

const (
	groupsFile  = "catalog/members/region-norr/groups.yaml"
	vardLine    = "  services: [standardprogram, microsoft-365, utskrift]\n"
	waiverFile  = "catalog/members/region-norr/waivers.yaml"
	norrWaiver  = "Waiver/region-norr/vard-group-review"
	sharedWaive = "Waiver/region-norr-secpol-commands"
)

// A member waiver of region-norr, added by the third commit, in force until 20 November.
const memberWaiver = `apiVersion: samverk.io/v1
kind: Waiver
metadata:
  name: vard-group-review
  namespace: region-norr
  owner: region-norr
spec:
  policy: SV-DG-001
  targets:
    - kind: DeviceGroup
      name: broad-vard
  reason: The ward group's OS target is reviewed with the clinics in November.
  approvedBy: region-norr IT-styrgrupp 2026-10-30
  expires: 2026-11-20
`

func day(d, h int) time.Time { return time.Date(2026, 11, d, h, 0, 0, 0, time.UTC) }

// fixture is a catalog repository with three commits of the bundled catalog, followed by a
// real source, and a device's life through them recorded with the hashes the work tree of each
// commit compiles to.
type fixture struct {
	svc        *history.Service
	tl         recorder
	src        *source.Source
	repo       *gittest.Repo
	c1, c2, c3 string
	h1, h2     string // the vard device's state at c1 and at c2 (and c3, which changes no state)
	facts      desired.Facts
}

// forEachStore runs f with a recorder of each kind: in memory, SQLite and PostgreSQL.
func forEachStore(t *testing.T, f func(t *testing.T, kind string, rec recorder)) {
	for _, kind := range append([]string{"memory"}, storetest.Kinds...) {
		t.Run(kind, func(t *testing.T) {
			var rec recorder = newMemTimelines()
			if kind != "memory" {
				rec = storeRecorder{storetest.Open(t, kind, store.Options{})}
			}
			f(t, kind, rec)
		})
	}
}

// run is an agent's report of a run that applied hash of revision with n resources unchanged
// and the results given.
func run(revision, hash string, facts desired.Facts, n int, results ...desired.ResourceResult) *desired.Report {
	r := &desired.Report{Revision: revision, Hash: hash, Facts: facts, DurationMs: 900}
	for i := range n {
		r.Resources = append(r.Resources, desired.ResourceResult{ID: fmt.Sprintf("setting/s%d", i), Outcome: desired.Unchanged})
	}
	r.Resources = append(r.Resources, results...)
	return r
}

// hashOnDisk compiles the work tree's catalog for facts: the state the daemon would serve.
func hashOnDisk(t testing.TB, dir string, member string, f desired.Facts) string {
	t.Helper()
	lr, err := catalog.LoadDir(filepath.Join(dir, "catalog"), catalog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(lr.Findings) > 0 {
		t.Fatalf("the test catalog has findings: %v", lr.Findings)
	}
	st, _ := compile.New(lr.Catalog, "work-tree").Desired(compile.FromFacts(member, f))
	return st.Hash
}

func newFixture(t testing.TB, rec recorder) *fixture {
	t.Helper()
	repo := gittest.New(t)
	repo.CopyDir(filepath.Join("..", "..", "catalog"), "catalog")
	fx := &fixture{tl: rec, repo: repo}
	fx.facts = desired.Facts{Hostname: "vard-pc-1", Vendor: "Dell Inc.", Model: "Latitude 5450", OSFamily: "windows",
		OSBuild: "26100", Labels: map[string]string{"department": "vard"}}
	fx.c1 = repo.Commit("bundled catalog", nil).String()
	fx.h1 = hashOnDisk(t, repo.Dir, "region-norr", fx.facts)

	b, err := os.ReadFile(filepath.Join(repo.Dir, groupsFile))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), vardLine) {
		t.Fatalf("%s no longer has the line the test edits", groupsFile)
	}
	repo.Write(map[string]string{groupsFile: strings.Replace(string(b), vardLine, vardLine+"  products: [7zip]\n", 1)})
	fx.c2 = repo.Commit("broad-vard: 7-Zip on the ward PCs", nil).String()
	fx.h2 = hashOnDisk(t, repo.Dir, "region-norr", fx.facts)
	if fx.h1 == fx.h2 {
		t.Fatal("the second commit should change the ward device's state")
	}
	repo.Write(map[string]string{waiverFile: memberWaiver})
	fx.c3 = repo.Commit("waive SV-DG-001 for broad-vard until the review", nil).String()
	if h3 := hashOnDisk(t, repo.Dir, "region-norr", fx.facts); h3 != fx.h2 {
		t.Fatal("the third commit should leave the ward device's state as it is")
	}

	src, err := source.Open(source.Options{URL: repo.Dir, Dir: filepath.Join(t.TempDir(), "clone")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.Fetch(context.Background()); err != nil {
		t.Fatal(err)
	}
	fx.src = src
	fx.svc, err = history.New(history.Options{Timelines: rec, Devices: rec, Revisions: src, Path: "catalog",
		Now: func() time.Time { return day(30, 0) }})
	if err != nil {
		t.Fatal(err)
	}

	// The ward PC's life, as the daemon records it.
	tl := fx.tl
	tl.publish(t, day(1, 8), store.AllRings, fx.c1, store.RevisionPublished)
	tl.enroll(t, "vard", day(1, 9), "region-norr", fx.facts)
	tl.serve(t, "vard", day(1, 9), store.ServedPeriod{Hash: fx.h1, Revision: fx.c1, Group: "broad-vard", Ring: "broad", Profile: "p1"})
	tl.report(t, "vard", day(1, 10), run(fx.c1, fx.h1, fx.facts, 12))
	tl.publish(t, day(5, 12), store.AllRings, fx.c2, store.RevisionPublished)
	tl.serve(t, "vard", day(5, 15), store.ServedPeriod{Hash: fx.h2, Revision: fx.c2, Group: "broad-vard", Ring: "broad", Profile: "p2"})
	tl.report(t, "vard", day(5, 16), run(fx.c2, fx.h2, fx.facts, 12,
		desired.ResourceResult{ID: "package/7zip", Outcome: desired.Failed, Reason: "msiexec exited 1603"}))
	tl.publish(t, day(10, 12), store.AllRings, fx.c3, store.RevisionPublished)
	// The third commit changes nothing for the device: the same state is served again.
	tl.serve(t, "vard", day(10, 13), store.ServedPeriod{Hash: fx.h2, Revision: fx.c3, Group: "broad-vard", Ring: "broad", Profile: "p2"})
	// A label compilation does not read: new facts, the same state.
	moved := fx.facts
	moved.Labels = map[string]string{"department": "vard", "site": "lycksele"}
	tl.report(t, "vard", day(15, 10), run(fx.c2, fx.h2, moved, 13))
	return fx
}

func TestAt(t *testing.T) { forEachStore(t, testAt) }

func testAt(t *testing.T, _ string, rec recorder) {
	fx := newFixture(t, rec)
	ctx := context.Background()
	at := func(t *testing.T, when time.Time) *history.Snapshot {
		t.Helper()
		s, err := fx.svc.At(ctx, "vard", when)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	waiverRefs := func(s *history.Snapshot) []string {
		var out []string
		for _, w := range s.Waivers {
			out = append(out, w.Ref())
		}
		return out
	}
	verified := func(t *testing.T, s *history.Snapshot, revision, hash string) {
		t.Helper()
		if s.Served == nil || s.Served.Revision != revision || s.Served.Hash != hash {
			t.Fatalf("served %+v, want revision %s hash %s", s.Served, revision, hash)
		}
		rc := s.Recompiled
		if rc == nil || !rc.Verified || rc.RecompiledHash != hash || rc.Reason != "" {
			t.Fatalf("recompiled %+v, want verified %s", rc, hash)
		}
		if rc.State == nil || compile.HashOf(rc.State) != hash {
			t.Fatalf("the state returned does not hash to %s", hash)
		}
	}

	t.Run("before enrollment", func(t *testing.T) {
		s := at(t, day(1, 8))
		if s.Facts != nil || s.Served != nil || s.Recompiled != nil || s.Outcome != nil {
			t.Fatalf("a device not yet enrolled has a past: %+v", s)
		}
		if s.Waivers == nil || s.Grants == nil {
			t.Fatal("waivers and grants must be empty lists, not null")
		}
	})
	t.Run("first state, applied", func(t *testing.T) {
		s := at(t, day(1, 12))
		verified(t, s, fx.c1, fx.h1)
		if s.Pending != nil {
			t.Fatalf("nothing was pending: %+v", s.Pending)
		}
		if d := s.Difference; d == nil || !d.Applied || d.AppliedHash != fx.h1 || len(d.Failed) > 0 {
			t.Fatalf("difference %+v, want the served state applied", d)
		}
		if s.Outcome.Compliance != store.Compliant {
			t.Fatalf("compliance %s", s.Outcome.Compliance)
		}
		// The shared waiver exempts the ward group's baseline; kommun-vasterby's waiver is
		// not region-norr's to see, and the member waiver does not exist yet.
		if got := waiverRefs(s); !slices.Equal(got, []string{sharedWaive}) {
			t.Fatalf("waivers %v", got)
		}
		if c := s.Waivers[0].Concerns; !slices.Equal(c, []string{"Baseline/region-norr/windows-11-vard"}) {
			t.Fatalf("the shared waiver concerns %v of the device's state", c)
		}
		if s.Recompiled.Summary.Settings == 0 || s.Recompiled.Summary.Packages == 0 {
			t.Fatalf("summary %+v", s.Recompiled.Summary)
		}
	})
	t.Run("new revision not yet fetched", func(t *testing.T) {
		s := at(t, day(5, 13))
		verified(t, s, fx.c1, fx.h1)
		if s.Ring == nil || s.Ring.Revision != fx.c2 {
			t.Fatalf("ring %+v, want %s", s.Ring, fx.c2)
		}
		if p := s.Pending; p == nil || p.Revision != fx.c2 || p.Hash != fx.h2 || !p.Since.Equal(day(5, 12)) {
			t.Fatalf("pending %+v, want %s → %s", s.Pending, fx.c2, fx.h2)
		}
	})
	t.Run("a date is the end of that day", func(t *testing.T) {
		when, err := history.ParseInstant("2026-11-05", true)
		if err != nil {
			t.Fatal(err)
		}
		s := at(t, when)
		verified(t, s, fx.c2, fx.h2)
		if !slices.Contains(s.Recompiled.Summary.PackageList, "7zip 24.09") {
			t.Fatalf("the second commit's 7-Zip is not in %v", s.Recompiled.Summary.PackageList)
		}
		d := s.Difference
		if d == nil || !d.Applied || len(d.Failed) != 1 || d.Failed[0].ID != "package/7zip" {
			t.Fatalf("difference %+v, want package/7zip failed", d)
		}
		if s.Outcome.Compliance != store.Failed || s.Report == nil || !s.Report.At.Equal(day(5, 16)) {
			t.Fatalf("outcome %+v, report %+v", s.Outcome, s.Report)
		}
	})
	t.Run("a revision that changes nothing for the device", func(t *testing.T) {
		s := at(t, day(12, 0))
		verified(t, s, fx.c2, fx.h2)
		if s.Ring == nil || s.Ring.Revision != fx.c3 || s.Pending != nil {
			t.Fatalf("ring %+v pending %+v: the third commit changed nothing for the device", s.Ring, s.Pending)
		}
		// The waivers are those of the revision in force, the third commit's.
		if got := waiverRefs(s); !slices.Equal(got, []string{sharedWaive, norrWaiver}) {
			t.Fatalf("waivers %v", got)
		}
		if c := s.Waivers[1].Concerns; !slices.Equal(c, []string{"DeviceGroup/region-norr/broad-vard"}) {
			t.Fatalf("the member waiver concerns %v", c)
		}
	})
	t.Run("facts changed since the state was served", func(t *testing.T) {
		s := at(t, day(16, 0))
		verified(t, s, fx.c2, fx.h2)
		if !s.Recompiled.FactsFrom.Equal(day(1, 9)) {
			t.Fatalf("compiled with the facts of %s, want those the state was served with (%s)", s.Recompiled.FactsFrom, day(1, 9))
		}
		if s.Facts.Facts.Labels["site"] != "lycksele" {
			t.Fatalf("the facts at the instant are %+v", s.Facts)
		}
		if s.Outcome.Compliance != store.Compliant || !s.Difference.Applied || len(s.Difference.Failed) > 0 {
			t.Fatalf("outcome %+v, difference %+v: the device was compliant", s.Outcome, s.Difference)
		}
	})
	t.Run("the waiver expired", func(t *testing.T) {
		s := at(t, day(20, 0))
		if got := waiverRefs(s); !slices.Equal(got, []string{sharedWaive}) {
			t.Fatalf("waivers %v on its expiry date", got)
		}
		s = at(t, day(19, 23))
		if got := waiverRefs(s); !slices.Equal(got, []string{sharedWaive, norrWaiver}) {
			t.Fatalf("waivers %v the day before expiry", got)
		}
	})
	t.Run("later than now is now", func(t *testing.T) {
		s := at(t, day(30, 0).Add(24*time.Hour))
		if !s.At.Equal(day(30, 0)) {
			t.Fatalf("at %s", s.At)
		}
	})
	t.Run("unknown device", func(t *testing.T) {
		_, err := fx.svc.At(ctx, "nosuch", day(12, 0))
		if !errors.Is(err, history.ErrNotFound) {
			t.Fatalf("err %v, want ErrNotFound", err)
		}
	})
}

// TestCertification: a hardware certification lets a pilot PC's OS upgrade. Its history shows
// it staying on its OS, then the upgrade pending, served, and the state of the new OS, each
// recompiled with the facts the device had when it was served.
func TestCertification(t *testing.T) { forEachStore(t, testCertification) }

func testCertification(t *testing.T, _ string, tl recorder) {
	fx := newFixture(t, tl)
	ctx := context.Background()
	const hwFile = "catalog/hardware/dell-latitude-7450.yaml"
	const testing25h2 = "    - osRelease: windows-11-25h2\n      status: testing\n"
	pilot := desired.Facts{Hostname: "it-pc-7", Vendor: "Dell Inc.", Model: "Latitude 7450", OSFamily: "windows",
		OSBuild: "26100", Labels: map[string]string{"ring": "pilot"}}

	stay := hashOnDisk(t, fx.repo.Dir, "region-norr", pilot)
	tl.enroll(t, "pilot", day(11, 9), "region-norr", pilot)
	tl.serve(t, "pilot", day(11, 9), store.ServedPeriod{Hash: stay, Revision: fx.c3, Group: "pilot-it", Ring: "pilot", Profile: "p"})

	b, err := os.ReadFile(filepath.Join(fx.repo.Dir, hwFile))
	if err != nil || !strings.Contains(string(b), testing25h2) {
		t.Fatalf("%s no longer has the certification the test completes (%v)", hwFile, err)
	}
	fx.repo.Write(map[string]string{hwFile: strings.Replace(string(b), testing25h2,
		"    - osRelease: windows-11-25h2\n      status: certified\n", 1)})
	c4 := fx.repo.Commit("dell-latitude-7450: certified for Windows 11 25H2", nil).String()
	if _, err := fx.src.Fetch(ctx); err != nil {
		t.Fatal(err)
	}
	upgrade := hashOnDisk(t, fx.repo.Dir, "region-norr", pilot)
	upgraded := pilot
	upgraded.OSBuild = "26200"
	onNew := hashOnDisk(t, fx.repo.Dir, "region-norr", upgraded)
	if upgrade == stay || onNew == upgrade {
		t.Fatal("the certification should change the pilot PC's state, and so should its upgrade")
	}
	tl.publish(t, day(21, 12), store.AllRings, c4, store.RevisionPublished)
	tl.serve(t, "pilot", day(21, 14), store.ServedPeriod{Hash: upgrade, Revision: c4, Group: "pilot-it", Ring: "pilot", Profile: "p"})
	tl.report(t, "pilot", day(22, 9), run(c4, upgrade, upgraded, 70))
	tl.serve(t, "pilot", day(22, 10), store.ServedPeriod{Hash: onNew, Revision: c4, Group: "pilot-it", Ring: "pilot", Profile: "p"})

	for _, tc := range []struct {
		name      string
		at        time.Time
		hash, rev string
		os        string
		factsFrom time.Time
		pending   string
	}{
		{"not certified yet", day(15, 0), stay, fx.c3, "stay windows-11-24h2", day(11, 9), ""},
		{"certified, not fetched", day(21, 13), stay, fx.c3, "stay windows-11-24h2", day(11, 9), upgrade},
		{"upgrade served", day(21, 20), upgrade, c4, "upgrade windows-11-25h2", day(11, 9), ""},
		{"upgraded", day(23, 0), onNew, c4, "stay windows-11-25h2", day(22, 9), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := fx.svc.At(ctx, "pilot", tc.at)
			if err != nil {
				t.Fatal(err)
			}
			rc := s.Recompiled
			if s.Served.Hash != tc.hash || s.Served.Revision != tc.rev || rc == nil || !rc.Verified || rc.RecompiledHash != tc.hash {
				t.Fatalf("served %+v, recompiled %+v; want %s of %s verified", s.Served, rc, tc.hash, tc.rev)
			}
			if !strings.HasPrefix(rc.Summary.OS, tc.os) || !rc.FactsFrom.Equal(tc.factsFrom) {
				t.Fatalf("OS %q from the facts of %s; want %q from %s", rc.Summary.OS, rc.FactsFrom, tc.os, tc.factsFrom)
			}
			pending := ""
			if s.Pending != nil {
				pending = s.Pending.Hash
			}
			if pending != tc.pending {
				t.Fatalf("pending %+v, want %q", s.Pending, tc.pending)
			}
		})
	}
}

// TestUnverified: a state that does not recompile to what was served is reported as such.
func TestUnverified(t *testing.T) { forEachStore(t, testUnverified) }

func testUnverified(t *testing.T, kind string, tl recorder) {
	fx := newFixture(t, tl)
	ctx := context.Background()
	admin := fx.facts
	admin.Labels = map[string]string{"department": "administration"}
	// The store says the device was an administration PC when it was served the ward state:
	// its facts were changed behind the store's back.
	tl.enroll(t, "tampered", day(1, 9), "region-norr", admin)
	tl.serve(t, "tampered", day(1, 9), store.ServedPeriod{Hash: fx.h1, Revision: fx.c1, Group: "broad-vard", Ring: "broad"})
	// A revision the repository does not hold (history rewritten, or another repository).
	tl.enroll(t, "lost", day(1, 9), "region-norr", fx.facts)
	tl.serve(t, "lost", day(1, 9), store.ServedPeriod{Hash: fx.h1, Revision: strings.Repeat("ab", 20), Group: "broad-vard", Ring: "broad"})
	if kind == "memory" {
		// A served state with no facts on record, which only a damaged store holds.
		tl.serve(t, "nofacts", day(1, 9), store.ServedPeriod{Hash: fx.h1, Revision: fx.c1, Group: "broad-vard", Ring: "broad"})
	}

	for _, tc := range []struct {
		id, reason string
		recompiled bool
	}{
		{"tampered", "not to the state " + fx.h1[:12], true},
		{"lost", "cannot be read from the repository", false},
		{"nofacts", "no facts", false},
	} {
		t.Run(tc.id, func(t *testing.T) {
			if tc.id == "nofacts" && kind != "memory" {
				t.Skip("a store cannot hold a served state of a device that never enrolled")
			}
			s, err := fx.svc.At(ctx, tc.id, day(2, 0))
			if err != nil {
				t.Fatal(err)
			}
			rc := s.Recompiled
			if rc == nil || rc.Verified || !strings.Contains(rc.Reason, tc.reason) || rc.ServedHash != fx.h1 {
				t.Fatalf("recompiled %+v, want unverified because %q", rc, tc.reason)
			}
			if tc.recompiled && (rc.RecompiledHash == "" || rc.RecompiledHash == fx.h1) {
				t.Fatalf("recompiled hash %q", rc.RecompiledHash)
			}
			var text strings.Builder
			if err := history.WriteText(&text, s); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(text.String(), "verified  NO: ") {
				t.Fatalf("the text does not say the state is not verified:\n%s", text.String())
			}
		})
	}
}

func TestParseInstant(t *testing.T) {
	for _, tc := range []struct {
		in       string
		endOfDay bool
		want     time.Time
	}{
		{"2026-11-01", true, time.Date(2026, 11, 1, 23, 59, 59, 999999999, time.UTC)},
		{"2026-11-01", false, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)},
		{"2026-11-01T12:30:00Z", true, time.Date(2026, 11, 1, 12, 30, 0, 0, time.UTC)},
		{"2026-11-01T13:30:00+01:00", false, time.Date(2026, 11, 1, 12, 30, 0, 0, time.UTC)},
	} {
		got, err := history.ParseInstant(tc.in, tc.endOfDay)
		if err != nil || !got.Equal(tc.want) || got.Location() != time.UTC {
			t.Errorf("ParseInstant(%q, %v) = %s, %v; want %s", tc.in, tc.endOfDay, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "yesterday", "2026-13-01", "2026-11-01 12:00", "1 November"} {
		if _, err := history.ParseInstant(bad, true); err == nil {
			t.Errorf("ParseInstant(%q) took it", bad)
		}
	}
}

func FuzzParseInstant(f *testing.F) {
	f.Add("2026-11-01")
	f.Add("2026-11-01T12:30:00.5+02:00")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := history.ParseInstant(s, true)
		if err == nil && got.Location() != time.UTC {
			t.Fatalf("%q gave %s, not UTC", s, got)
		}
	})
}
