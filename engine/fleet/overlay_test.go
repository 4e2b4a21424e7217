package fleet_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"samverk.io/samverk/engine/desired"
	"samverk.io/samverk/engine/fleet"
)

func findResource(st *desired.State, id string) *desired.Resource {
	for i := range st.Resources {
		if st.Resources[i].ID == id {
			return st.Resources[i]
		}
	}
	return nil
}

// TestOverlays: a device with an overlay gets its products on top of its class's state, with
// an ETag of its own; the other devices of its class keep the class's; the overlay holds over
// a publish; set absent, the products become absent resources; unknown products and device ids
// are refused and change nothing; without an overlay the device shares its class's state again.
func TestOverlays(t *testing.T) {
	h := start(t, "sqlite", fleet.Options{})
	a := h.enroll(norrToken, norrFacts)
	bFacts := norrFacts
	bFacts.Hostname, bFacts.Serial = "rn-lap-0002", "SN3"
	b := h.enroll(norrToken, bFacts) // the same class as a
	_, sa := h.desired(a, "")
	_, sb := h.desired(b, "")
	if sa == nil || sb == nil || sa.Hash != sb.Hash {
		t.Fatalf("a and b should share a state: %v %v", sa, sb)
	}
	classTag := strconv.Quote(sa.Hash)

	if err := h.svc.SetOverlays(map[string]fleet.Overlay{a.DeviceID: {Present: []string{"vpn-client"}}}); err != nil {
		t.Fatal(err)
	}
	r, oa := h.desired(a, classTag)
	if r.code != http.StatusOK {
		t.Fatalf("a with an overlay, polling the class's ETag: %d, want 200", r.code)
	}
	vpn := findResource(oa, "package/vpn-client")
	if vpn == nil || vpn.Ensure != "present" || vpn.Package.Version != "6.2" || !strings.Contains(vpn.Why, "granted") {
		t.Fatalf("a's vpn-client: %+v; resources %v", vpn, ids(oa))
	}
	if oa.Hash == sa.Hash || r.header.Get("ETag") != strconv.Quote(oa.Hash) || oa.Group != "staff" || !hasResource(oa, "package/firefox") {
		t.Errorf("a's overlaid state: ETag %s, %+v", r.header.Get("ETag"), oa)
	}
	if r, _ := h.desired(a, strconv.Quote(oa.Hash)); r.code != http.StatusNotModified {
		t.Errorf("a revalidating its own ETag: %d, want 304", r.code)
	}
	if r, _ := h.desired(b, classTag); r.code != http.StatusNotModified {
		t.Errorf("b without an overlay: %d, want 304 on the class's ETag", r.code)
	}
	if got := h.svc.DesiredOf(a.DeviceID); got == nil || got.Hash != oa.Hash {
		t.Errorf("DesiredOf(a) = %v, want the overlaid state", got)
	}
	var dv fleet.DeviceView
	json.Unmarshal(h.do("GET", "/api/v1/devices/"+a.DeviceID, adminToken, nil).body, &dv)
	if dv.DesiredHash != oa.Hash {
		t.Errorf("fleet view of a: desiredHash %s, want %s", dv.DesiredHash, oa.Hash)
	}
	if r, st := h.desired(a, ""); st == nil || st.Hash != oa.Hash || r.code != http.StatusOK {
		t.Fatalf("a's full poll: %d", r.code)
	}
	// The state served is recorded with the overlaid hash (a report commits what was queued).
	rep := desired.Report{Revision: oa.Revision, Hash: oa.Hash, StartedAt: time.Now().UTC(), Facts: norrFacts}
	if r := h.do("POST", "/api/v1/devices/"+a.DeviceID+"/reports", a.Credential, rep); r.code != http.StatusAccepted {
		t.Fatalf("report: %d %s", r.code, r.body)
	}
	d, err := h.st.Device(context.Background(), a.DeviceID, time.Time{})
	if err != nil || d.ServedHash != oa.Hash {
		t.Errorf("served hash %q (%v), want %s", d.ServedHash, err, oa.Hash)
	}

	// Refused: nothing changes.
	for _, bad := range []struct {
		name string
		set  map[string]fleet.Overlay
		want string
	}{
		{"unknown product", map[string]fleet.Overlay{a.DeviceID: {Present: []string{"vpn-client"}}, b.DeviceID: {Present: []string{"nope", "vpn-client"}, Absent: []string{"gone"}}}, "gone, nope"},
		{"malformed device id", map[string]fleet.Overlay{"not-a-device": {Present: []string{"vpn-client"}}}, "not-a-device"},
		{"malformed product id", map[string]fleet.Overlay{b.DeviceID: {Absent: []string{"Bad Id"}}}, "Bad Id"},
	} {
		err := h.svc.SetOverlays(bad.set)
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: error %v, want it to name %q", bad.name, err, bad.want)
		}
	}
	if r, _ := h.desired(a, strconv.Quote(oa.Hash)); r.code != http.StatusNotModified {
		t.Errorf("a after refused overlays: %d, want 304", r.code)
	}
	if r, _ := h.desired(b, classTag); r.code != http.StatusNotModified {
		t.Errorf("b after refused overlays: %d, want 304", r.code)
	}

	// The overlay holds over a publish that changes the class's state.
	h.publish("rev2", withGroupSpec(t, h.cat, "staff", func(s map[string]any) { s["mode"] = "detect" }))
	r, oa2 := h.desired(a, strconv.Quote(oa.Hash))
	if r.code != http.StatusOK || oa2.Revision != "rev2" || oa2.Mode != "detect" || !hasResource(oa2, "package/vpn-client") {
		t.Fatalf("a after rev2: %d %+v", r.code, oa2)
	}
	_, sb2 := h.desired(b, classTag)
	if sb2 == nil || sb2.Mode != "detect" || hasResource(sb2, "package/vpn-client") || sb2.Hash == oa2.Hash {
		t.Fatalf("b after rev2: %+v", sb2)
	}

	// The grant ends: vpn-client is to be absent.
	if err := h.svc.SetOverlays(map[string]fleet.Overlay{a.DeviceID: {Absent: []string{"vpn-client"}}}); err != nil {
		t.Fatal(err)
	}
	r, oa3 := h.desired(a, strconv.Quote(oa2.Hash))
	if r.code != http.StatusOK || hasResource(oa3, "package/vpn-client") {
		t.Fatalf("a with vpn-client absent: %d %v", r.code, ids(oa3))
	}
	gone := findResource(oa3, "package/vpn-client@6.2")
	if gone == nil || gone.Ensure != "absent" || gone.Package == nil || gone.Package.Product != "vpn-client" {
		t.Fatalf("vpn-client removal: %+v; resources %v", gone, ids(oa3))
	}
	if r, _ := h.desired(b, strconv.Quote(sb2.Hash)); r.code != http.StatusNotModified {
		t.Errorf("b after a's grant ended: %d, want 304", r.code)
	}

	// No overlay: a shares the class's state again.
	if err := h.svc.SetOverlays(nil); err != nil {
		t.Fatal(err)
	}
	if r, _ := h.desired(a, strconv.Quote(sb2.Hash)); r.code != http.StatusNotModified {
		t.Errorf("a without an overlay: %d, want 304 on the class's ETag", r.code)
	}
}

// TestOverlayBeforeLoad: an overlay set for a device another replica enrolled applies once the
// device is read into memory, and one set before the first publish once it is published.
func TestOverlayBeforeLoad(t *testing.T) {
	one := start(t, "sqlite", fleet.Options{})
	// A second Service on the same store, started before the device enrolls.
	other, err := fleet.New(context.Background(), one.st, fleet.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dev := one.enroll(norrToken, norrFacts)
	_, base := one.desired(dev, "")
	if err := other.SetOverlays(map[string]fleet.Overlay{dev.DeviceID: {Present: []string{"vpn-client"}}}); err != nil {
		t.Fatal(err)
	}
	if err := other.Publish(context.Background(), "rev1", one.cat); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	for _, rt := range other.Routes() {
		if rt.Pattern == "/api/v1/devices/{id}/desired" {
			mux.Handle(rt.Method+" "+rt.Pattern, rt.Handler)
		}
	}
	req, _ := http.NewRequest("GET", "/api/v1/devices/"+dev.DeviceID+"/desired", nil)
	req.Header.Set("Authorization", "Bearer "+dev.Credential)
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, req)
	var st desired.State
	if w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &st) != nil {
		t.Fatalf("desired from the second service: %d %s", w.Code, w.Body)
	}
	if !hasResource(&st, "package/vpn-client") || st.Hash == base.Hash {
		t.Errorf("the overlay set before the device was loaded is missing: %v", ids(&st))
	}
}

// TestOverlayFollowsRing: a device with an overlay is served its ring's revision with the
// overlay on top, and outside its group's maintenance window keeps the overlaid state of the
// ring's previous revision, as the devices without one keep theirs.
func TestOverlayFollowsRing(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Date(2026, 12, 2, 11, 0, 0, 0, time.UTC).UnixNano()) // 12:00 in Stockholm
	h := start(t, "sqlite", fleet.Options{Now: func() time.Time { return time.Unix(0, now.Load()) }})
	ctx := context.Background()
	a := h.enroll(norrToken, norrFacts) // region-norr/staff, ring broad
	if err := h.svc.SetOverlays(map[string]fleet.Overlay{a.DeviceID: {Present: []string{"vpn-client"}}}); err != nil {
		t.Fatal(err)
	}
	if err := h.svc.ServeRings(ctx, map[string]fleet.RingRevision{"broad": {Revision: "rev1"}}); err != nil {
		t.Fatal(err)
	}
	_, a1 := h.desired(a, "")
	if a1 == nil || a1.Revision != "rev1" || !hasResource(a1, "package/vpn-client") {
		t.Fatalf("a at rev1: %+v", a1)
	}
	h.publish("rev2", withGroupSpec(t, h.cat, "staff", func(s map[string]any) {
		s["mode"] = "detect"
		s["maintenanceWindows"] = []any{map[string]any{"start": "18:00", "end": "06:00"}}
	}))
	if r, _ := h.desired(a, strconv.Quote(a1.Hash)); r.code != http.StatusNotModified {
		t.Fatalf("a while broad is at rev1: %d, want 304", r.code)
	}
	if err := h.svc.ServeRings(ctx, map[string]fleet.RingRevision{"broad": {Revision: "rev2", Previous: "rev1"}}); err != nil {
		t.Fatal(err)
	}
	if r, _ := h.desired(a, strconv.Quote(a1.Hash)); r.code != http.StatusNotModified {
		t.Fatalf("a outside its window: %d, want 304 on its overlaid rev1 state", r.code)
	}
	now.Store(time.Date(2026, 12, 2, 17, 30, 0, 0, time.UTC).UnixNano()) // 18:30 in Stockholm
	r, a2 := h.desired(a, strconv.Quote(a1.Hash))
	if r.code != http.StatusOK || a2.Revision != "rev2" || a2.Mode != "detect" || !hasResource(a2, "package/vpn-client") {
		t.Fatalf("a in its window: %d %+v", r.code, a2)
	}
}
