package rollout_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/desired"
	"samverk.io/samverk/engine/fleet"
	"samverk.io/samverk/engine/rollout"
	"samverk.io/samverk/engine/store"
	"samverk.io/samverk/engine/store/storetest"
)

// referenceWith loads the reference catalog with its RolloutPolicy's spec changed by edit.
func referenceWith(t *testing.T, edit func(spec map[string]any)) *catalog.Catalog {
	t.Helper()
	res, err := catalog.LoadDir("../../catalog", catalog.Options{})
	if err != nil || len(res.Findings) > 0 {
		t.Fatalf("reference catalog: %v %v", err, res.Findings)
	}
	var docs []*catalog.Document
	for _, d := range res.Catalog.Docs {
		if d.Kind == catalog.KindRolloutPolicy && d.Namespace == "" {
			c := *d
			spec := map[string]any{}
			for k, v := range d.Spec() {
				spec[k] = v
			}
			edit(spec)
			obj := map[string]any{}
			for k, v := range d.Object {
				obj[k] = v
			}
			obj["spec"] = spec
			c.Object = obj
			d = &c
		}
		docs = append(docs, d)
	}
	cat, dups := catalog.New(docs)
	if len(dups) > 0 {
		t.Fatalf("duplicates: %v", dups)
	}
	return cat
}

// TestControllerWaitAndRollback: with newRevision wait, a revision published mid-rollout
// waits; a failing pilot under halt-and-rollback returns to the revision before and halts,
// which ends the rollout, so the waiting revision goes to pilot; it then advances on its gate.
// Every step is a promotion record, and the ring moves are in the revision timeline.
func TestControllerWaitAndRollback(t *testing.T) {
	ctx := context.Background()
	st := storetest.Open(t, "sqlite", store.Options{})
	t0 := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	now := t0
	clock := func() time.Time { return now }

	// Two pilot devices and one early device, as the store knows them once served.
	var b store.Batch
	for id, ring := range map[string]string{"00000000000000000000000000000001": "pilot", "00000000000000000000000000000002": "pilot", "00000000000000000000000000000003": "early"} {
		b.Enrollments = append(b.Enrollments, store.Enrollment{ID: id, Member: "region-norr", CredentialHash: make([]byte, 32), At: t0,
			Facts: desired.Facts{Hostname: "pc-" + id, Vendor: "Dell Inc.", Model: "Latitude 5450", OSFamily: "windows", OSBuild: "26100"}})
		b.Served = append(b.Served, store.Served{DeviceID: id, At: t0, Profile: "p", Hash: "h", Revision: "r1", Group: "g", Ring: ring})
	}
	if err := st.Write(ctx, &b); err != nil {
		t.Fatal(err)
	}
	report := func(id, rev, outcome string) {
		t.Helper()
		rep, err := store.NewReport(id, now, &desired.Report{Revision: rev, Hash: "h-" + rev, StartedAt: now,
			Resources: []desired.ResourceResult{{ID: "package/x", Outcome: outcome}}})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Write(ctx, &store.Batch{Reports: []store.Report{rep}}); err != nil {
			t.Fatal(err)
		}
	}
	svc, err := fleet.New(ctx, st, fleet.Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	var told []store.PromotionRecord
	ctl, err := rollout.New(rollout.Options{Store: st, Server: svc, Now: clock,
		OnDecision: []func(context.Context, store.PromotionRecord){func(_ context.Context, rec store.PromotionRecord) { told = append(told, rec) }}})
	if err != nil {
		t.Fatal(err)
	}
	cat := referenceWith(t, func(s map[string]any) {
		s["newRevision"] = "wait"
		s["steps"] = []any{
			map[string]any{"to": "early", "soak": "1h", "minDevices": 2, "successPercent": 100, "onFailure": "halt-and-rollback"},
			map[string]any{"to": "broad", "soak": "1h", "successPercent": 100},
		}
	})
	ring := func(name string) store.RingState {
		t.Helper()
		s, err := ctl.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range s.Rings {
			if r.Ring == name {
				return r.RingState
			}
		}
		t.Fatalf("no ring %s", name)
		return store.RingState{}
	}
	tick := func() {
		t.Helper()
		if err := ctl.Tick(ctx); err != nil {
			t.Fatal(err)
		}
	}

	for _, rev := range []string{"r1", "r2", "r3"} {
		if err := ctl.Publish(ctx, rev, cat); err != nil {
			t.Fatal(err)
		}
	}
	if p, e := ring("pilot"), ring("early"); p.Revision != "r2" || p.Previous != "r1" || e.Revision != "r1" {
		t.Fatalf("after r1, r2, r3: pilot %+v, early %+v", p, e)
	}
	if s, _ := ctl.Status(ctx); s.Waiting != "r3" || s.Records[0].Action != rollout.ActionWaiting {
		t.Fatalf("r3 should wait: %+v", s)
	}

	// One pilot fails r2: 100% success is out of reach, pilot returns to r1 and halts; r3 goes on.
	now = t0.Add(10 * time.Minute)
	report("00000000000000000000000000000001", "r2", desired.Failed)
	tick()
	if p := ring("pilot"); p.Revision != "r3" || p.Previous != "r1" || p.Status != store.RingActive {
		t.Fatalf("pilot after the failure: %+v", p)
	}
	recs, err := st.PromotionRecords(ctx, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if recs[0].Action != rollout.ActionPublished || recs[0].Revision != "r3" || recs[1].Action != rollout.ActionRolledBack || recs[1].Revision != "r2" {
		t.Fatalf("records: %+v", recs[:2])
	}

	// Both pilots apply r3; an hour later early gets it, and not before.
	report("00000000000000000000000000000001", "r3", desired.Unchanged)
	report("00000000000000000000000000000002", "r3", desired.Corrected)
	tick()
	if e := ring("early"); e.Revision != "r1" {
		t.Fatalf("early before pilot's soak: %+v", e)
	}
	now = t0.Add(71 * time.Minute)
	tick()
	if e := ring("early"); e.Revision != "r3" || e.Previous != "r1" {
		t.Fatalf("early after pilot's gate: %+v", e)
	}
	evs, err := st.Revisions(ctx, store.RevisionQuery{Ring: "early"})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) == 0 || evs[0].Revision != "r3" || evs[0].Event != store.RevisionPromoted {
		t.Fatalf("early's timeline: %+v", evs)
	}

	// Operators: promote into the first ring is refused; a fast-track needs a reason.
	if err := ctl.Promote(ctx, "oidc:anna", "pilot", "now"); err == nil {
		t.Error("promoting into the first ring: no error")
	}
	if err := ctl.Promote(ctx, "oidc:anna", "", "now"); !errors.Is(err, rollout.ErrInvalid) {
		t.Errorf("promoting into no ring: %v, want ErrInvalid", err)
	}
	if err := ctl.Promote(ctx, "oidc:anna", "moon", "now"); !errors.Is(err, rollout.ErrUnknown) {
		t.Errorf("promoting into an unknown ring: %v, want ErrUnknown", err)
	}
	if err := ctl.FastTrack(ctx, "oidc:anna", " "); err == nil {
		t.Error("a fast-track without a reason: no error")
	}
	if err := ctl.Pause(ctx, "oidc:anna", "moon", ""); err == nil {
		t.Error("pausing an unknown ring: no error")
	}

	// Observers were told of every record, once, in order.
	all, err := st.PromotionRecords(ctx, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(told) != len(all) {
		t.Fatalf("told %d decisions, %d recorded", len(told), len(all))
	}
	for i, rec := range told {
		if w := all[len(all)-1-i]; rec.Action != w.Action || rec.Revision != w.Revision || rec.Ring != w.Ring || !rec.At.Equal(w.At) {
			t.Errorf("told[%d] = %+v, recorded %+v", i, rec, w)
		}
	}
}
