package fleet_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"samverk.io/samverk/engine/desired"
	"samverk.io/samverk/engine/fleet"
	"samverk.io/samverk/engine/store"
	"samverk.io/samverk/engine/store/storetest"
)

// clock is a test clock that moves only when told.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }

func withSerial(f desired.Facts, host, serial string) desired.Facts {
	f.Hostname, f.Serial = host, serial
	return f
}

func (h *harness) poll(dev desired.EnrollResponse) response {
	h.t.Helper()
	return h.do("GET", "/api/v1/devices/"+dev.DeviceID+"/desired", dev.Credential, nil)
}

// TestEnrollmentLimits: each enrollment token has a rate and a quota of its own; a device
// enrolling again does not count against the quota; other tokens are not touched.
func TestEnrollmentLimits(t *testing.T) {
	clk := newClock()
	tok, err := fleet.ParseTokenList("region-norr=" + norrToken + ",kommun-vasterby=" + vasterbyToken + " quota=1")
	if err != nil {
		t.Fatal(err)
	}
	h := start(t, "sqlite", fleet.Options{EnrollTokens: tok, EnrollPerHour: 2, EnrollBurst: 2, EnrollQuota: 3, Now: clk.now})
	enroll := func(token string, f desired.Facts) response {
		return h.do("POST", "/api/v1/enroll", token, desired.EnrollRequest{Facts: f})
	}
	for i := range 2 {
		if r := enroll(norrToken, withSerial(norrFacts, "pc"+strconv.Itoa(i), "SERIAL-"+strconv.Itoa(i))); r.code != http.StatusCreated {
			t.Fatalf("enrollment %d: %d %s", i, r.code, r.body)
		}
	}
	r := enroll(norrToken, withSerial(norrFacts, "pc2", "SERIAL-2"))
	if r.code != http.StatusTooManyRequests || !strings.Contains(r.errorMsg(), "2 devices an hour") {
		t.Fatalf("3rd enrollment in a burst of 2: %d %s, want 429", r.code, r.body)
	}
	if ra, _ := strconv.Atoi(r.header.Get("Retry-After")); ra < 1700 || ra > 1800 {
		t.Errorf("Retry-After %q, want half an hour", r.header.Get("Retry-After"))
	}
	// The other member's token has its own rate, and its own quota of 1.
	if r := enroll(vasterbyToken, withSerial(vasterbyFacts, "vb1", "VB-SERIAL-1")); r.code != http.StatusCreated {
		t.Errorf("other token: %d %s", r.code, r.body)
	}
	if r := enroll(vasterbyToken, withSerial(vasterbyFacts, "vb2", "VB-SERIAL-2")); r.code != http.StatusForbidden || !strings.Contains(r.errorMsg(), "quota of 1 devices") {
		t.Errorf("past the token's own quota: %d %s, want 403", r.code, r.body)
	}
	clk.advance(30 * time.Minute)
	if r := enroll(norrToken, withSerial(norrFacts, "pc2", "SERIAL-2")); r.code != http.StatusCreated {
		t.Fatalf("after half an hour: %d %s", r.code, r.body)
	}
	clk.advance(30 * time.Minute)
	if r := enroll(norrToken, withSerial(norrFacts, "pc3", "SERIAL-3")); r.code != http.StatusForbidden || !strings.Contains(r.errorMsg(), "quota of 3") {
		t.Errorf("past the quota: %d %s, want 403", r.code, r.body)
	}
	clk.advance(30 * time.Minute)
	if r := enroll(norrToken, withSerial(norrFacts, "pc0-reimaged", "SERIAL-0")); r.code != http.StatusCreated {
		t.Errorf("a device enrolling again, quota spent: %d %s, want 201", r.code, r.body)
	}
	// The quota holds across a restart: the store knows which token enrolled each device.
	h2 := startOn(t, h.st, fleet.Options{EnrollTokens: tok, EnrollQuota: 3, Now: clk.now})
	if r := h2.do("POST", "/api/v1/enroll", norrToken, desired.EnrollRequest{Facts: withSerial(norrFacts, "pc4", "SERIAL-4")}); r.code != http.StatusForbidden {
		t.Errorf("past the quota after a restart: %d %s, want 403", r.code, r.body)
	}
}

// TestCredentialRotation: a device trades its credential for a new one; the old one works
// until the new one is used or the grace ends, and the new one survives a restart.
func TestCredentialRotation(t *testing.T) {
	for _, kind := range storetest.Kinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			st := storetest.Open(t, kind, store.Options{})
			h := startOn(t, st, fleet.Options{Now: clk.now, CredentialGrace: 10 * time.Minute})
			old := h.enroll(norrToken, norrFacts)
			rotate := func(dev desired.EnrollResponse) (desired.EnrollResponse, response) {
				r := h.do("POST", "/api/v1/devices/"+dev.DeviceID+"/credential", dev.Credential, nil)
				var cr desired.CredentialResponse
				json.Unmarshal(r.body, &cr)
				return desired.EnrollResponse{DeviceID: cr.DeviceID, Credential: cr.Credential, Member: dev.Member}, r
			}
			next, r := rotate(old)
			if r.code != http.StatusOK || next.DeviceID != old.DeviceID || next.Credential == old.Credential || next.Credential == "" {
				t.Fatalf("rotate: %d %s", r.code, r.body)
			}
			if r := h.poll(old); r.code != http.StatusOK {
				t.Errorf("the old credential in its grace: %d %s", r.code, r.body)
			}
			if r := h.poll(next); r.code != http.StatusOK {
				t.Errorf("the new credential: %d %s", r.code, r.body)
			}
			if r := h.poll(old); r.code != http.StatusUnauthorized {
				t.Errorf("the old credential after the new one was used: %d, want 401", r.code)
			}
			if _, r := rotate(old); r.code != http.StatusUnauthorized {
				t.Errorf("rotating with the old credential: %d, want 401", r.code)
			}
			// Rotated again and never used, the previous one ends with its grace.
			third, r := rotate(next)
			if r.code != http.StatusOK {
				t.Fatalf("rotate again: %d %s", r.code, r.body)
			}
			// A restart keeps the new credential and the grace of the previous one.
			h2 := startOn(t, st, fleet.Options{Now: clk.now, CredentialGrace: 10 * time.Minute})
			if r := h2.poll(next); r.code != http.StatusOK {
				t.Errorf("after a restart, the previous credential in its grace: %d %s", r.code, r.body)
			}
			clk.advance(11 * time.Minute)
			if r := h2.poll(next); r.code != http.StatusUnauthorized {
				t.Errorf("after the grace: %d, want 401", r.code)
			}
			if r := h2.poll(third); r.code != http.StatusOK {
				t.Errorf("after a restart, the new credential: %d %s", r.code, r.body)
			}
			if got := metricValues(t, h.reg, "samverk_fleet_credential_changes_total"); got["change=rotated"] != 2 {
				t.Errorf("credential changes %v", got)
			}
		})
	}
}

// TestRevokeAndEnrollAgain: the admin revokes a device's credential; it stops working at once
// and after a restart; the same hardware enrolling again keeps its id and history and gets a
// credential that works, and the revoked one stays refused.
func TestRevokeAndEnrollAgain(t *testing.T) {
	for _, kind := range storetest.Kinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			st := storetest.Open(t, kind, store.Options{})
			h := startOn(t, st, fleet.Options{})
			f := withSerial(norrFacts, "rn-lap-0001", "CZC1234XYZ")
			dev := h.enroll(norrToken, f)
			other := h.enroll(norrToken, withSerial(norrFacts, "rn-lap-0002", "CZC9999XYZ"))
			if r := h.do("POST", "/api/v1/devices/"+dev.DeviceID+"/reports", dev.Credential, desired.Report{Revision: "rev1", Hash: "h"}); r.code != http.StatusAccepted {
				t.Fatalf("report: %d %s", r.code, r.body)
			}
			for _, c := range []struct {
				name, token, id string
				want            int
			}{
				{"device revokes itself", dev.Credential, dev.DeviceID, http.StatusUnauthorized},
				{"member read token", norrRead, dev.DeviceID, http.StatusForbidden},
				{"unknown device", adminToken, strings.Repeat("0", 32), http.StatusNotFound},
			} {
				if r := h.do("POST", "/api/v1/devices/"+c.id+"/revoke", c.token, nil); r.code != c.want {
					t.Errorf("%s: %d %s, want %d", c.name, r.code, r.body, c.want)
				}
			}
			if r := h.do("POST", "/api/v1/devices/"+dev.DeviceID+"/revoke", adminToken, nil); r.code != http.StatusOK {
				t.Fatalf("revoke: %d %s", r.code, r.body)
			}
			r := h.poll(dev)
			if r.code != http.StatusUnauthorized || !strings.Contains(r.errorMsg(), "revoked") {
				t.Errorf("revoked credential: %d %s, want 401 naming the revocation", r.code, r.body)
			}
			if r := h.poll(other); r.code != http.StatusOK {
				t.Errorf("another device: %d", r.code)
			}
			h2 := startOn(t, st, fleet.Options{})
			if r := h2.poll(dev); r.code != http.StatusUnauthorized {
				t.Errorf("revoked credential after a restart: %d, want 401", r.code)
			}
			// The same hardware enrolls again (say, after reinstalling).
			f.Hostname = "rn-lap-0001-new"
			again := h2.enroll(norrToken, f)
			if again.DeviceID != dev.DeviceID || again.Credential == dev.Credential {
				t.Fatalf("enrolled again as %s, want the same id %s with a new credential", again.DeviceID, dev.DeviceID)
			}
			if r := h2.poll(again); r.code != http.StatusOK {
				t.Errorf("the new credential: %d %s", r.code, r.body)
			}
			if r := h2.poll(dev); r.code != http.StatusUnauthorized {
				t.Errorf("the revoked credential after enrolling again: %d, want 401", r.code)
			}
			var hist struct{ Reports []store.StoredReport }
			json.Unmarshal(h2.do("GET", "/api/v1/devices/"+dev.DeviceID+"/reports", adminToken, nil).body, &hist)
			if len(hist.Reports) != 1 {
				t.Errorf("history after enrolling again: %d reports, want 1", len(hist.Reports))
			}
			// Enrolling again revokes the credential the device had, without an admin.
			third := h2.enroll(norrToken, f)
			if third.DeviceID != dev.DeviceID {
				t.Fatalf("enrolled a third time as %s", third.DeviceID)
			}
			if r := h2.poll(again); r.code != http.StatusUnauthorized {
				t.Errorf("the credential of the previous enrollment: %d, want 401", r.code)
			}
			// Placeholder serials never identify a device.
			a := h2.enroll(norrToken, withSerial(norrFacts, "vm1", "To Be Filled By O.E.M."))
			b := h2.enroll(norrToken, withSerial(norrFacts, "vm2", "To Be Filled By O.E.M."))
			if a.DeviceID == b.DeviceID {
				t.Error("two devices with a placeholder serial were taken for one")
			}
		})
	}
}

// TestReplicasLearnCredentialChanges: a revocation and a rotation through one replica reach
// another sharing the store, which had the device in memory.
func TestReplicasLearnCredentialChanges(t *testing.T) {
	st := storetest.Open(t, "sqlite", store.Options{})
	h1 := startOn(t, st, fleet.Options{})
	h2 := startOn(t, st, fleet.Options{MetricsInterval: 10 * time.Millisecond, DeviceInterval: -1})
	a := h1.enroll(norrToken, withSerial(norrFacts, "a", "SERIAL-A"))
	b := h1.enroll(norrToken, withSerial(norrFacts, "b", "SERIAL-B"))
	for _, d := range []desired.EnrollResponse{a, b} {
		if r := h2.poll(d); r.code != http.StatusOK {
			t.Fatalf("replica 2 before: %d %s", r.code, r.body)
		}
	}
	if r := h1.do("POST", "/api/v1/devices/"+a.DeviceID+"/revoke", adminToken, nil); r.code != http.StatusOK {
		t.Fatalf("revoke: %d", r.code)
	}
	r := h1.do("POST", "/api/v1/devices/"+b.DeviceID+"/credential", b.Credential, nil)
	var cr desired.CredentialResponse
	if r.code != http.StatusOK || json.Unmarshal(r.body, &cr) != nil {
		t.Fatalf("rotate: %d %s", r.code, r.body)
	}
	nb := desired.EnrollResponse{DeviceID: b.DeviceID, Credential: cr.Credential}
	deadline := time.Now().Add(20 * time.Second)
	for h2.poll(a).code != http.StatusUnauthorized || h2.poll(nb).code != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatal("replica 2 never learnt of the revocation and the rotation")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
