package fleet_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"samverk.io/samverk/engine/desired"
	"samverk.io/samverk/engine/fleet"
	"samverk.io/samverk/engine/servedlog"
	"samverk.io/samverk/engine/store"
	"samverk.io/samverk/engine/store/storetest"
)

// TestServedRecords: a 200 records what it served in memory only; the device's report
// writes it first, so the device is compliant at once; a record lost with its daemon (here:
// a replica whose served log never flushed) is restored by the report another daemon takes.
func TestServedRecords(t *testing.T) {
	for _, kind := range storetest.Kinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			st := storetest.Open(t, kind, store.Options{})
			never := fleet.Options{Served: servedlog.Options{Interval: time.Hour}}
			h1 := startOn(t, st, never)
			stored := func(id string) *store.Device {
				t.Helper()
				d, err := st.Device(context.Background(), id, time.Time{})
				if err != nil {
					t.Fatal(err)
				}
				return d
			}
			report := func(h *harness, dev desired.EnrollResponse, s *desired.State) {
				t.Helper()
				rep := desired.Report{Revision: s.Revision, Hash: s.Hash, Facts: norrFacts}
				if r := h.do("POST", "/api/v1/devices/"+dev.DeviceID+"/reports", dev.Credential, rep); r.code != http.StatusAccepted {
					t.Fatalf("report: %d %s", r.code, r.body)
				}
			}

			a := h1.enroll(norrToken, norrFacts)
			_, sa := h1.desired(a, "")
			if d := stored(a.DeviceID); d.ServedHash != "" {
				t.Fatalf("served hash %q stored on the request path; want it in memory only", d.ServedHash)
			}
			report(h1, a, sa)
			// The norr laptop's group targets an OS it does not run yet: the served log carries
			// the upgrade the state asks for, so the device is os-pending, not compliant.
			if d := stored(a.DeviceID); d.ServedHash != sa.Hash || d.Compliance != store.OSPending {
				t.Errorf("after the report: served %q, compliance %q; want %s, os-pending", d.ServedHash, d.Compliance, sa.Hash)
			}

			// Device b is served by h1, whose record is never written (as if h1 crashed), and
			// reports to h2.
			b := h1.enroll(vasterbyToken, vasterbyFacts)
			_, sb := h1.desired(b, "")
			h2 := startOn(t, st, never)
			if d := stored(b.DeviceID); d.ServedHash != "" || d.Compliance == store.Compliant {
				t.Fatalf("before the report: served %q, compliance %q", d.ServedHash, d.Compliance)
			}
			rep := desired.Report{Revision: sb.Revision, Hash: sb.Hash, Facts: vasterbyFacts}
			if r := h2.do("POST", "/api/v1/devices/"+b.DeviceID+"/reports", b.Credential, rep); r.code != http.StatusAccepted {
				t.Fatalf("report: %d %s", r.code, r.body)
			}
			if d := stored(b.DeviceID); d.ServedHash != sb.Hash || d.ServedRevision != sb.Revision || d.Group != sb.Group || d.Compliance != store.Compliant {
				t.Errorf("after a report to another daemon: served %q (%s, %s), compliance %q; want %s, compliant",
					d.ServedHash, d.ServedRevision, d.Group, d.Compliance, sb.Hash)
			}
			// A report of a state the device is not being served restores nothing.
			c := h2.enroll(norrToken, desired.Facts{Hostname: "rn-lap-0002", Vendor: "Dell Inc.", Model: "Latitude 5450",
				OSFamily: "windows", OSBuild: "22631", Serial: "SN3", Labels: map[string]string{"role": "staff", "site": "umea"}})
			rep = desired.Report{Revision: "r0", Hash: "not-served", Facts: norrFacts}
			rep.Facts.Serial, rep.Facts.Hostname = "SN3", "rn-lap-0002"
			if r := h2.do("POST", "/api/v1/devices/"+c.DeviceID+"/reports", c.Credential, rep); r.code != http.StatusAccepted {
				t.Fatalf("report: %d %s", r.code, r.body)
			}
			if d := stored(c.DeviceID); d.ServedHash != "" || d.Compliance == store.Compliant {
				t.Errorf("a report of a state never served: served %q, compliance %q", d.ServedHash, d.Compliance)
			}
		})
	}
}
