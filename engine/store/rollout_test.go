package store_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"samverk.io/samverk/engine/desired"
	"samverk.io/samverk/engine/store"
	"samverk.io/samverk/engine/store/storetest"
)

// TestRollout runs the rollout state cases against every store: ring states are replaced
// whole, records are kept in order with their evidence, and devices are counted by ring and
// their latest report's revision and failure.
func TestRollout(t *testing.T) {
	for _, kind := range storetest.Kinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			s := storetest.Open(t, kind, store.Options{})
			if got, err := s.Rings(ctx(t)); err != nil || len(got) != 0 {
				t.Fatalf("rings of an empty store = %v, %v", got, err)
			}
			pilot := store.RingState{Ring: "pilot", Revision: "r2", Previous: "r1", Since: t0, Status: store.RingActive, UpdatedAt: t0, UpdatedBy: "controller"}
			early := store.RingState{Ring: "early", Revision: "r1", Since: t0.Add(-time.Hour), Status: store.RingActive, UpdatedAt: t0, UpdatedBy: "controller"}
			rec := &store.PromotionRecord{At: t0, Revision: "r2", Ring: "pilot", Action: "published", Actor: "controller",
				Evidence: json.RawMessage(`{"devices": 3}`)}
			if err := s.SaveRollout(ctx(t), []store.RingState{pilot, early}, rec); err != nil {
				t.Fatal(err)
			}
			early2 := early
			early2.Revision, early2.Previous, early2.Since, early2.UpdatedBy = "r2", "r1", t0.Add(time.Hour), "oidc:anna"
			rec2 := &store.PromotionRecord{At: t0.Add(time.Hour), Revision: "r2", Ring: "early", Action: "fast-tracked", Actor: "oidc:anna", Reason: "CVE-2026-1234"}
			if err := s.SaveRollout(ctx(t), []store.RingState{early2}, rec2); err != nil {
				t.Fatal(err)
			}
			if rec.Seq <= 0 || rec2.Seq <= rec.Seq {
				t.Errorf("seqs %d %d, want increasing from 1", rec.Seq, rec2.Seq)
			}
			rings, err := s.Rings(ctx(t))
			if err != nil {
				t.Fatal(err)
			}
			if len(rings) != 2 || rings[0] != early2 || rings[1] != pilot {
				t.Errorf("rings = %+v\nwant %+v and %+v", rings, early2, pilot)
			}
			recs, err := s.PromotionRecords(ctx(t), "r2", 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != 2 || recs[0].Seq != rec2.Seq || recs[0].Reason != "CVE-2026-1234" || recs[1].Action != "published" {
				t.Fatalf("records = %+v", recs)
			}
			var ev map[string]int
			if err := json.Unmarshal(recs[1].Evidence, &ev); err != nil || ev["devices"] != 3 {
				t.Errorf("evidence = %s, %v", recs[1].Evidence, err)
			}
			if other, err := s.PromotionRecords(ctx(t), "r9", 0); err != nil || len(other) != 0 {
				t.Errorf("records of another revision = %v, %v", other, err)
			}

			// Devices: p1..p3 in pilot (p1 reported r2 fine, p2 reported r2 with a failure, p3
			// never reported), e1 in early reported r1.
			var b store.Batch
			for _, id := range []string{"p1", "p2", "p3", "e1"} {
				b.Enrollments = append(b.Enrollments, enrollment(id, "region-norr", t0))
				ring := "pilot"
				if id == "e1" {
					ring = "early"
				}
				b.Served = append(b.Served, store.Served{DeviceID: id, At: t0, Profile: "p", Hash: "h", Revision: "r", Group: "g", Ring: ring})
			}
			write(t, s, &b)
			report := func(id, rev string, outcomes ...string) store.Report {
				r := &desired.Report{Revision: rev, Hash: "h-" + rev, StartedAt: t0, DurationMs: 10}
				for i, o := range outcomes {
					r.Resources = append(r.Resources, desired.ResourceResult{ID: fmt.Sprint("r", i), Outcome: o})
				}
				rep, err := store.NewReport(id, t0.Add(time.Minute), r)
				if err != nil {
					t.Fatal(err)
				}
				return rep
			}
			write(t, s, &store.Batch{Reports: []store.Report{
				report("p1", "r2", desired.Unchanged),
				report("p2", "r2", desired.Failed, desired.Unchanged),
				report("e1", "r1", desired.Corrected),
			}})
			counts, err := s.RingCounts(ctx(t))
			if err != nil {
				t.Fatal(err)
			}
			want := []store.RingCount{
				{Ring: "early", Revision: "r1", Devices: 1},
				{Ring: "pilot", Revision: "", Devices: 1},
				{Ring: "pilot", Revision: "r2", Devices: 2, Failed: 1},
			}
			if fmt.Sprint(counts) != fmt.Sprint(want) {
				t.Errorf("ring counts = %+v\nwant %+v", counts, want)
			}
		})
	}
}
