package store_test

import (
	"testing"
	"time"

	"samverk.io/samverk/engine/desired"
	"samverk.io/samverk/engine/store"
	"samverk.io/samverk/engine/store/storetest"
)

// TestOSCompliance runs the OS compliance cases against every store: a device whose state
// tells it to upgrade its OS is os-pending until its upgrade starts, os-upgrading while it
// runs, os-failed when it failed or rolled back, and judged by its report again once done; a
// device told to stay is judged by its report alone. The device list, its compliance filter,
// the summary, the console's census and the done upgrades by model all agree.
func TestOSCompliance(t *testing.T) {
	for _, kind := range storetest.Kinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			s := storetest.Open(t, kind, store.Options{})
			const target = "win11-24h2"
			devs := map[string]struct {
				target, phase, want string
			}{
				"os1": {target, "", store.OSPending},
				"os2": {target, desired.PhasePending, store.OSPending},
				"os3": {target, desired.PhaseInstalling, store.OSUpgrading},
				"os4": {target, desired.PhaseFailed, store.OSFailed},
				"os5": {target, desired.PhaseRolledBack, store.OSFailed},
				"os6": {target, desired.PhaseDone, store.Compliant},
				"os7": {"", "", store.Compliant},
				// An upgrade to another release than the state's target counts for nothing.
				"os8": {target, "", store.OSPending},
			}
			var b store.Batch
			for id, d := range devs {
				b.Enrollments = append(b.Enrollments, enrollment(id, "region-norr", t0))
				b.Served = append(b.Served, store.Served{DeviceID: id, At: t0, Profile: "p", Hash: "h1", Revision: "rev-h1", Group: "staff", Ring: "broad", OSTarget: d.target})
			}
			write(t, s, &b)
			var reps store.Batch
			for id := range devs {
				reps.Reports = append(reps.Reports, newReport(t, id, t0.Add(time.Minute), "h1", desired.Unchanged))
			}
			write(t, s, &reps)
			for id, d := range devs {
				if d.phase == "" {
					continue
				}
				p := &store.UpgradePhase{Device: id, Member: "region-norr", Group: "staff", Release: target, From: "win11-23h2", Phase: d.phase,
					Attempt: 1, At: t0.Add(2 * time.Minute), ReceivedAt: t0.Add(2 * time.Minute)}
				if _, err := s.RecordUpgrade(ctx(t), p); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := s.RecordUpgrade(ctx(t), &store.UpgradePhase{Device: "os8", Member: "region-norr", Group: "staff", Release: "win11-25h2",
				Phase: desired.PhaseDone, Attempt: 1, At: t0, ReceivedAt: t0}); err != nil {
				t.Fatal(err)
			}
			stale := t0.Add(-time.Hour)
			want := map[string]int{}
			for id, d := range devs {
				want[d.want]++
				got, err := s.Device(ctx(t), id, stale)
				if err != nil {
					t.Fatal(err)
				}
				if got.Compliance != d.want {
					t.Errorf("%s (target %q, phase %q): %s, want %s", id, d.target, d.phase, got.Compliance, d.want)
				}
			}
			for _, st := range []string{store.OSPending, store.OSUpgrading, store.OSFailed, store.Compliant} {
				page, err := s.Devices(ctx(t), store.Query{Compliance: st, StaleBefore: stale})
				if err != nil {
					t.Fatal(err)
				}
				if len(page.Devices) != want[st] {
					t.Errorf("?compliance=%s: %d devices, want %d", st, len(page.Devices), want[st])
				}
			}
			sum, err := s.Summary(ctx(t), stale)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]int{}
			for _, c := range sum {
				got[c.Compliance] += c.Devices
			}
			for st, n := range want {
				if got[st] != n {
					t.Errorf("summary %s: %d, want %d (%v)", st, got[st], n, got)
				}
			}
			census, err := s.Census(ctx(t), stale)
			if err != nil {
				t.Fatal(err)
			}
			got = map[string]int{}
			for _, c := range census {
				got[c.State] += c.Devices
			}
			for st, n := range want {
				if got[st] != n {
					t.Errorf("census %s: %d, want %d (%v)", st, got[st], n, got)
				}
			}
			done, err := s.UpgradesDone(ctx(t))
			if err != nil {
				t.Fatal(err)
			}
			if len(done) != 2 || done[0].Release != target || done[0].Devices != 1 || done[0].Model != "Latitude 5450" || done[1].Release != "win11-25h2" {
				t.Errorf("done upgrades: %+v", done)
			}
		})
	}
}
