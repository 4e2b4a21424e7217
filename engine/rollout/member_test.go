package rollout_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/desired"
	"samverk.io/samverk/engine/fleet"
	"samverk.io/samverk/engine/rollout"
	"samverk.io/samverk/engine/store"
	"samverk.io/samverk/engine/store/storetest"
)

// withMemberPolicy returns cat with member's own RolloutPolicy: the consortium's, with spec
// changed by edit.
func withMemberPolicy(t *testing.T, cat *catalog.Catalog, member string, edit func(spec map[string]any)) *catalog.Catalog {
	t.Helper()
	docs := slices.Clone(cat.Docs)
	for _, d := range cat.OfKind(catalog.KindRolloutPolicy) {
		if d.Namespace != "" {
			continue
		}
		c := *d
		c.Namespace = member
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
		docs = append(docs, &c)
	}
	out, dups := catalog.New(docs)
	if len(dups) > 0 {
		t.Fatalf("duplicates: %v", dups)
	}
	return out
}

// TestMemberPolicyHoldsItsOwnDevices: a ring is promoted for the consortium, but a member whose
// own policy soaks longer is held on the ring's previous revision until its own gate passes;
// that is a promotion record; after a restart the member is held until the next tick
// evaluates its gate again.
func TestMemberPolicyHoldsItsOwnDevices(t *testing.T) {
	ctx := context.Background()
	st := storetest.Open(t, "sqlite", store.Options{})
	t0 := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	now := t0
	clock := func() time.Time { return now }
	var b store.Batch
	for id, ring := range map[string]string{"00000000000000000000000000000001": "pilot", "00000000000000000000000000000002": "pilot", "00000000000000000000000000000003": "early"} {
		b.Enrollments = append(b.Enrollments, store.Enrollment{ID: id, Member: "region-norr", CredentialHash: make([]byte, 32), At: t0,
			Facts: desired.Facts{Hostname: "pc-" + id, Vendor: "Dell Inc.", Model: "Latitude 5450", OSFamily: "windows", OSBuild: "26100"}})
		b.Served = append(b.Served, store.Served{DeviceID: id, At: t0, Profile: "p", Hash: "h", Revision: "r1", Group: "g", Ring: ring})
	}
	if err := st.Write(ctx, &b); err != nil {
		t.Fatal(err)
	}
	steps := func(earlySoak string) []any {
		return []any{
			map[string]any{"to": "early", "soak": earlySoak, "minDevices": 2, "successPercent": 100},
			map[string]any{"to": "broad", "soak": "1h", "successPercent": 100},
		}
	}
	cat := referenceWith(t, func(s map[string]any) { s["steps"] = steps("1h") })
	cat = withMemberPolicy(t, cat, "region-norr", func(s map[string]any) { s["steps"] = steps("3h") })
	open := func() *rollout.Controller {
		t.Helper()
		svc, err := fleet.New(ctx, st, fleet.Options{Now: clock})
		if err != nil {
			t.Fatal(err)
		}
		ctl, err := rollout.New(rollout.Options{Store: st, Server: svc, Now: clock})
		if err != nil {
			t.Fatal(err)
		}
		return ctl
	}
	ctl := open()
	for _, rev := range []string{"r1", "r2"} {
		if err := ctl.Publish(ctx, rev, cat); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"00000000000000000000000000000001", "00000000000000000000000000000002"} {
		rep, err := store.NewReport(id, now, &desired.Report{Revision: "r2", Hash: "h-r2", StartedAt: now,
			Resources: []desired.ResourceResult{{ID: "package/x", Outcome: desired.Unchanged}}})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Write(ctx, &store.Batch{Reports: []store.Report{rep}}); err != nil {
			t.Fatal(err)
		}
	}
	held := func(c *rollout.Controller) []string {
		t.Helper()
		s, err := c.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range s.Rings {
			if r.Ring == "early" {
				if r.Revision != "r2" {
					t.Fatalf("early: %+v, want r2", r.RingState)
				}
				return r.Held
			}
		}
		return nil
	}
	tick := func(c *rollout.Controller, at time.Duration) {
		t.Helper()
		now = t0.Add(at)
		if err := c.Tick(ctx); err != nil {
			t.Fatal(err)
		}
	}

	tick(ctl, 61*time.Minute) // the consortium's gate passes: early gets r2, region-norr is held
	if h := held(ctl); !slices.Equal(h, []string{"region-norr"}) {
		t.Fatalf("held after early's promotion: %v", h)
	}
	tick(ctl, 2*time.Hour)
	if h := held(ctl); len(h) != 1 {
		t.Fatalf("held before the member's soak ends: %v", h)
	}
	tick(ctl, 3*time.Hour+time.Minute)
	if h := held(ctl); len(h) != 0 {
		t.Fatalf("held after the member's gate passed: %v", h)
	}
	recs, err := st.PromotionRecords(ctx, "r2", 1)
	if err != nil || len(recs) != 1 || recs[0].Action != rollout.ActionMemberPromoted || recs[0].Ring != "early" {
		t.Fatalf("last record: %+v, %v", recs, err)
	}

	// A restart: held until the gate is evaluated again, then released.
	ctl = open()
	if err := ctl.Publish(ctx, "r2", cat); err != nil {
		t.Fatal(err)
	}
	if h := held(ctl); !slices.Equal(h, []string{"region-norr"}) {
		t.Fatalf("held after a restart: %v", h)
	}
	tick(ctl, 3*time.Hour+2*time.Minute)
	if h := held(ctl); len(h) != 0 {
		t.Fatalf("held after the first tick since the restart: %v", h)
	}
}
