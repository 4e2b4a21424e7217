package fleet_test

import (
	"context"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/desired"
	"samverk.io/samverk/engine/fleet"
)

// withGroupSpec returns cat with the spec of DeviceGroup name changed by edit.
func withGroupSpec(t *testing.T, cat *catalog.Catalog, name string, edit func(spec map[string]any)) *catalog.Catalog {
	t.Helper()
	var docs []*catalog.Document
	for _, d := range cat.Docs {
		if d.Kind == catalog.KindDeviceGroup && d.Name == name {
			c := *d
			spec := map[string]any{}
			for k, v := range d.Object["spec"].(map[string]any) {
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
	out, err := catalog.New(docs)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRingsServeTheirRevision: each ring is served its own revision; a device's ETag changes
// only when its ring's revision changes its state; a device outside its group's maintenance
// window keeps its state (304) until the window opens; an unpublished revision is refused.
func TestRingsServeTheirRevision(t *testing.T) {
	// 2026-12-02 is a Wednesday; 12:00 in Stockholm is 11:00 UTC.
	var now atomic.Int64
	now.Store(time.Date(2026, 12, 2, 11, 0, 0, 0, time.UTC).UnixNano())
	h := start(t, "sqlite", fleet.Options{Now: func() time.Time { return time.Unix(0, now.Load()) }})
	broad := h.enroll(norrToken, norrFacts)         // region-norr/staff, ring broad
	early := h.enroll(vasterbyToken, vasterbyFacts) // kommun-vasterby/everyone, ring early
	ctx := context.Background()

	_, b1 := h.desired(broad, "")
	_, e1 := h.desired(early, "")
	if b1 == nil || e1 == nil || b1.Ring != "broad" || e1.Ring != "early" {
		t.Fatalf("first states: %+v %+v", b1, e1)
	}
	if err := h.svc.ServeRings(ctx, map[string]fleet.RingRevision{"early": {Revision: "rev1"}, "broad": {Revision: "rev1"}}); err != nil {
		t.Fatal(err)
	}

	// rev2 changes both groups and names an evening window for staff; it goes to early only.
	cat2 := withGroupSpec(t, h.cat, "staff", func(s map[string]any) {
		s["mode"] = "detect"
		s["maintenanceWindows"] = []any{map[string]any{"start": "18:00", "end": "06:00"}}
	})
	cat2 = withGroupSpec(t, cat2, "everyone", func(s map[string]any) { s["mode"] = "detect" })
	h.publish("rev2", cat2)
	if err := h.svc.ServeRings(ctx, map[string]fleet.RingRevision{"early": {Revision: "rev2", Previous: "rev1"}}); err != nil {
		t.Fatal(err)
	}
	r, e2 := h.desired(early, strconv.Quote(e1.Hash))
	if r.code != http.StatusOK || e2.Revision != "rev2" || e2.Mode != "detect" {
		t.Fatalf("early after rev2: %d %+v", r.code, e2)
	}
	if r, _ := h.desired(broad, strconv.Quote(b1.Hash)); r.code != http.StatusNotModified {
		t.Fatalf("broad while at rev1: %d, want 304", r.code)
	}
	if r, st := h.desired(broad, ""); st == nil || st.Revision != "rev1" || st.Hash != b1.Hash || r.header.Get("Etag") != strconv.Quote(b1.Hash) {
		t.Fatalf("broad's full state while at rev1: %+v", st)
	}

	// broad is promoted to rev2 at noon: staff's window (18:00-06:00) is shut, so it keeps rev1.
	if err := h.svc.ServeRings(ctx, map[string]fleet.RingRevision{"broad": {Revision: "rev2", Previous: "rev1"}}); err != nil {
		t.Fatal(err)
	}
	if r, _ := h.desired(broad, strconv.Quote(b1.Hash)); r.code != http.StatusNotModified {
		t.Fatalf("broad outside its window: %d, want 304", r.code)
	}
	if r, _ := h.desired(early, strconv.Quote(e2.Hash)); r.code != http.StatusNotModified {
		t.Fatalf("early after broad's promotion: %d, want 304", r.code)
	}
	now.Store(time.Date(2026, 12, 2, 17, 30, 0, 0, time.UTC).UnixNano()) // 18:30 in Stockholm
	r, b2 := h.desired(broad, strconv.Quote(b1.Hash))
	if r.code != http.StatusOK || b2.Revision != "rev2" || b2.Mode != "detect" {
		t.Fatalf("broad in its window: %d %+v", r.code, b2)
	}
	// Once it has the new state, it keeps it when the window shuts.
	now.Store(time.Date(2026, 12, 3, 11, 0, 0, 0, time.UTC).UnixNano())
	if r, _ := h.desired(broad, strconv.Quote(b2.Hash)); r.code != http.StatusNotModified {
		t.Fatalf("broad after its window: %d, want 304", r.code)
	}

	if err := h.svc.ServeRings(ctx, map[string]fleet.RingRevision{"broad": {Revision: "rev9"}}); err == nil {
		t.Error("serving an unpublished revision: no error")
	}
	// Rolled back: broad returns to rev1 at once, window or not (Previous is the revision left).
	if err := h.svc.ServeRings(ctx, map[string]fleet.RingRevision{"broad": {Revision: "rev1"}}); err != nil {
		t.Fatal(err)
	}
	if r, st := h.desired(broad, strconv.Quote(b2.Hash)); r.code != http.StatusOK || st.Hash != b1.Hash {
		t.Fatalf("broad rolled back: %d %+v", r.code, st)
	}

	// A revision that leaves early's state as it was: its device polls 304 and counts as
	// having it; one that changes it does not count.
	if n := h.svc.Unchanged("early"); n != 0 {
		t.Errorf("early devices unchanged by rev2: %d, want 0", n)
	}
	h.publish("rev3", cat2)
	if err := h.svc.ServeRings(ctx, map[string]fleet.RingRevision{"early": {Revision: "rev3", Previous: "rev2"}}); err != nil {
		t.Fatal(err)
	}
	if r, _ := h.desired(early, strconv.Quote(e2.Hash)); r.code != http.StatusNotModified {
		t.Fatalf("early at a revision that leaves its state: %d, want 304", r.code)
	}
	if n := h.svc.Unchanged("early"); n != 1 {
		t.Errorf("early devices unchanged by rev3: %d, want 1", n)
	}
}

// TestRingHourlyBound: past MaxPerHour devices starting the new revision in an hour, the rest
// keep the previous state until the next hour.
func TestRingHourlyBound(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Date(2026, 12, 2, 11, 0, 0, 0, time.UTC).UnixNano())
	h := start(t, "sqlite", fleet.Options{Now: func() time.Time { return time.Unix(0, now.Load()) }})
	var devs []string
	var hash string
	for i := range 3 {
		f := norrFacts
		f.Serial, f.Hostname = "SN-h"+strconv.Itoa(i), "rn-h"+strconv.Itoa(i)
		d := h.enroll(norrToken, f)
		_, st := h.desired(d, "")
		hash = st.Hash
		devs = append(devs, d.DeviceID+" "+d.Credential)
	}
	ctx := context.Background()
	cat2 := withGroupSpec(t, h.cat, "staff", func(s map[string]any) { s["mode"] = "detect" })
	h.publish("rev2", cat2)
	// Publishing alone moved broad to rev2 (no ring was set); set it back, then promote with a bound.
	if err := h.svc.ServeRings(ctx, map[string]fleet.RingRevision{"broad": {Revision: "rev1"}}); err != nil {
		t.Fatal(err)
	}
	if err := h.svc.ServeRings(ctx, map[string]fleet.RingRevision{"broad": {Revision: "rev2", Previous: "rev1", MaxPerHour: 2}}); err != nil {
		t.Fatal(err)
	}
	got := map[int]int{}
	for _, d := range devs {
		id, cred, _ := cut(d)
		r := h.do("GET", "/api/v1/devices/"+id+"/desired", cred, nil, "If-None-Match", strconv.Quote(hash))
		got[r.code]++
	}
	if got[http.StatusOK] != 2 || got[http.StatusNotModified] != 1 {
		t.Fatalf("answers in the first hour: %v, want two 200 and one 304", got)
	}
	now.Add(int64(time.Hour))
	id, cred, _ := cut(devs[2])
	if r := h.do("GET", "/api/v1/devices/"+id+"/desired", cred, nil, "If-None-Match", strconv.Quote(hash)); r.code != http.StatusOK {
		t.Fatalf("third device the next hour: %d, want 200", r.code)
	}
}

func cut(s string) (string, string, bool) {
	for i := range s {
		if s[i] == ' ' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// TestSuspendAndMemberHold: a suspended member's or group's device keeps whatever state it
// has, whatever its ring is served, until the suspension is lifted; a member whose own policy
// holds it keeps its ring's previous state while the other members' devices take the new one.
func TestSuspendAndMemberHold(t *testing.T) {
	h := start(t, "sqlite", fleet.Options{})
	norr := h.enroll(norrToken, norrFacts)             // region-norr/staff, ring broad
	vasterby := h.enroll(vasterbyToken, vasterbyFacts) // kommun-vasterby/everyone, ring early
	ctx := context.Background()
	_, n1 := h.desired(norr, "")
	_, v1 := h.desired(vasterby, "")
	if err := h.svc.ServeRings(ctx, map[string]fleet.RingRevision{"early": {Revision: "rev1"}, "broad": {Revision: "rev1"}}); err != nil {
		t.Fatal(err)
	}

	h.svc.Suspend([]string{"region-norr/staff", "kommun-vasterby"})
	cat2 := withGroupSpec(t, h.cat, "staff", func(s map[string]any) { s["mode"] = "detect" })
	cat2 = withGroupSpec(t, cat2, "everyone", func(s map[string]any) { s["mode"] = "detect" })
	h.publish("rev2", cat2)
	if err := h.svc.ServeRings(ctx, map[string]fleet.RingRevision{"early": {Revision: "rev2", Previous: "rev1"}, "broad": {Revision: "rev2", Previous: "rev1"}}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		dev  desired.EnrollResponse
		etag string
	}{{"group suspended", norr, n1.Hash}, {"member suspended", vasterby, v1.Hash}} {
		if r, _ := h.desired(c.dev, strconv.Quote(c.etag)); r.code != http.StatusNotModified || r.header.Get("Etag") != strconv.Quote(c.etag) {
			t.Fatalf("%s: %d %q, want 304 keeping %s", c.name, r.code, r.header.Get("Etag"), c.etag)
		}
		// Even a state the ring no longer serves is kept.
		if r, _ := h.desired(c.dev, `"some-older-state"`); r.code != http.StatusNotModified {
			t.Fatalf("%s with an older state: %d, want 304", c.name, r.code)
		}
		// A device without a state gets its ring's previous one.
		if _, st := h.desired(c.dev, ""); st == nil || st.Revision != "rev1" {
			t.Fatalf("%s without a state: %+v, want rev1", c.name, st)
		}
	}

	// Lifted: the member's own policy still holds region-norr on rev1; kommun-vasterby takes rev2.
	h.svc.Suspend(nil)
	if err := h.svc.ServeRings(ctx, map[string]fleet.RingRevision{"broad": {Revision: "rev2", Previous: "rev1", Held: map[string]bool{"region-norr": true}}}); err != nil {
		t.Fatal(err)
	}
	if r, _ := h.desired(norr, strconv.Quote(n1.Hash)); r.code != http.StatusNotModified {
		t.Fatalf("held member: %d, want 304", r.code)
	}
	if r, st := h.desired(vasterby, strconv.Quote(v1.Hash)); r.code != http.StatusOK || st.Revision != "rev2" {
		t.Fatalf("member not held after the suspension: %d %+v", r.code, st)
	}
	if err := h.svc.ServeRings(ctx, map[string]fleet.RingRevision{"broad": {Revision: "rev2", Previous: "rev1"}}); err != nil {
		t.Fatal(err)
	}
	if r, st := h.desired(norr, strconv.Quote(n1.Hash)); r.code != http.StatusOK || st.Revision != "rev2" || st.Mode != "detect" {
		t.Fatalf("member released: %d %+v", r.code, st)
	}
}
