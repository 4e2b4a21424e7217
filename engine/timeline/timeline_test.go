package timeline_test

import (
	"context"
	"errors"
	"testing"
	"testing/fstest"
	"time"

	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/reconcile"
	"samverk.io/samverk/engine/store"
	"samverk.io/samverk/engine/store/storetest"
	"samverk.io/samverk/engine/timeline"
)

const waiverYAML = `apiVersion: samverk.io/v1
kind: Waiver
metadata:
  name: legacy-java
  namespace: region-norr
  owner: region-norr
spec:
  policy: package-must-be-supported
  targets:
    - kind: Package
      name: java-8
  reason: a clinical system needs it until spring
  approvedBy: strategy-group
  expires: "2026-03-01"
`

func loadCatalog(t *testing.T, files map[string]string) *catalog.Catalog {
	t.Helper()
	fsys := fstest.MapFS{}
	for name, content := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(content)}
	}
	res, err := catalog.Load(fsys, catalog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Findings) > 0 {
		t.Fatalf("load: %v", res.Findings)
	}
	return res.Catalog
}

// flaky is the real store, refusing writes while down is set: a database outage.
type flaky struct {
	store.Timelines
	down bool
}

var errDown = errors.New("the database is unreachable")

func (f *flaky) RecordRevision(ctx context.Context, ev store.RevisionEvent) error {
	if f.down {
		return errDown
	}
	return f.Timelines.RecordRevision(ctx, ev)
}

func (f *flaky) RecordWaivers(ctx context.Context, at time.Time, rev string, ws []store.WaiverPeriod) error {
	if f.down {
		return errDown
	}
	return f.Timelines.RecordWaivers(ctx, at, rev, ws)
}

func TestRecorder(t *testing.T) {
	for _, kind := range storetest.Kinds {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			st := storetest.Open(t, kind, store.Options{}).(store.Timelines)
			db := &flaky{Timelines: st}
			now := time.Date(2026, 1, 10, 8, 0, 0, 0, time.UTC)
			rec, err := timeline.New(timeline.Options{Store: db, Now: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			withWaiver := loadCatalog(t, map[string]string{"members/region-norr/waivers.yaml": waiverYAML})
			without := loadCatalog(t, map[string]string{})

			// r1 published with a waiver; r2 refused; r3 published without it, while the
			// database is down: kept, and written in order once it is back.
			rec.Outcome(ctx, reconcile.Attempt{Revision: "r1", Outcome: reconcile.OutcomePublished},
				&reconcile.Published{Revision: "r1", Time: now, Catalog: withWaiver})
			now = now.Add(24 * time.Hour)
			rec.Outcome(ctx, reconcile.Attempt{Revision: "r2", Outcome: reconcile.OutcomeRefused,
				Reason: reconcile.ReasonValidationFailed, Message: "commit r2 fails validation"}, nil)
			now = now.Add(24 * time.Hour)
			db.down = true
			rec.Outcome(ctx, reconcile.Attempt{Revision: "r3", Outcome: reconcile.OutcomePublished},
				&reconcile.Published{Revision: "r3", Time: now, Catalog: without})
			if rec.Pending() != 1 {
				t.Fatalf("pending = %d, want r3 kept for a retry", rec.Pending())
			}
			db.down = false
			now = now.Add(time.Hour)
			rec.Outcome(ctx, reconcile.Attempt{Revision: "r3", Trigger: reconcile.TriggerRestore, Outcome: reconcile.OutcomePublished},
				&reconcile.Published{Revision: "r3", Time: now, Catalog: without})
			if rec.Pending() != 0 {
				t.Fatalf("pending = %d after the database came back", rec.Pending())
			}

			evs, err := st.Revisions(ctx, store.RevisionQuery{})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range evs {
				got = append(got, e.Revision+":"+e.Event)
			}
			want := []string{"r3:restored", "r3:published", "r2:refused", "r1:published"}
			if len(got) != len(want) {
				t.Fatalf("events = %v, want %v", got, want)
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("events = %v, want %v", got, want)
				}
			}
			if evs[2].Reason != reconcile.ReasonValidationFailed || evs[2].Message == "" {
				t.Errorf("refusal = %+v, want its reason and message", evs[2])
			}

			// On day two r1 was served (r2 never was) and its waiver was in force; on day
			// three r3 was, and the waiver had gone with it.
			day2 := time.Date(2026, 1, 11, 12, 0, 0, 0, time.UTC)
			if ev, err := st.RevisionAt(ctx, "broad", day2); err != nil || ev.Revision != "r1" {
				t.Errorf("revision on day two = %+v, %v; want r1", ev, err)
			}
			ws, err := st.WaiversAt(ctx, day2)
			if err != nil || len(ws) != 1 || ws[0].Name != "legacy-java" || ws[0].Namespace != "region-norr" ||
				ws[0].Revision != "r1" || len(ws[0].Targets) != 1 || ws[0].Targets[0] != "Package/java-8" {
				t.Errorf("waivers on day two = %+v, %v", ws, err)
			}
			day3 := time.Date(2026, 1, 12, 12, 0, 0, 0, time.UTC)
			if ev, err := st.RevisionAt(ctx, "broad", day3); err != nil || ev.Revision != "r3" {
				t.Errorf("revision on day three = %+v, %v; want r3", ev, err)
			}
			if ws, err := st.WaiversAt(ctx, day3); err != nil || len(ws) != 0 {
				t.Errorf("waivers on day three = %+v, %v; want none", ws, err)
			}
			before := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			if _, err := st.RevisionAt(ctx, "broad", before); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("revision before any: %v, want ErrNotFound", err)
			}
		})
	}
}

func TestParseAge(t *testing.T) {
	for in, want := range map[string]time.Duration{"7y": 7 * 365 * 24 * time.Hour, "90d": 90 * 24 * time.Hour, "36h": 36 * time.Hour} {
		if got, err := timeline.ParseAge(in); err != nil || got != want {
			t.Errorf("ParseAge(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "0d", "-1y", "seven years", "7x"} {
		if _, err := timeline.ParseAge(bad); err == nil {
			t.Errorf("ParseAge(%q) accepted", bad)
		}
	}
}
