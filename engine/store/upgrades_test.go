package store_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"samverk.io/samverk/engine/store"
	"samverk.io/samverk/engine/store/storetest"
)

// TestOSUpgrades runs the OS upgrade cases against every store.
func TestOSUpgrades(t *testing.T) {
	for _, kind := range storetest.Kinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			s := storetest.Open(t, kind, store.Options{})
			phase := func(dev, member, group, ph string, attempt int, at time.Duration) *store.UpgradePhase {
				return &store.UpgradePhase{Device: dev, Member: member, Group: group, Release: "ubuntu-24-04", From: "ubuntu-22-04",
					Phase: ph, Attempt: attempt, At: t0.Add(at), ReceivedAt: t0.Add(at + time.Second), Build: "22.04"}
			}
			reports := []*store.UpgradePhase{
				phase("d1", "region-norr", "lab", "pending", 1, 0),
				phase("d1", "region-norr", "lab", "installing", 1, time.Minute),
				phase("d2", "region-norr", "lab", "pending", 1, 0),
				phase("d2", "region-norr", "lab", "installing", 1, time.Minute),
				phase("d2", "region-norr", "lab", "failed", 1, 2*time.Minute),
				nil, // the failed phase again, as an agent whose upgrade failed for good asks for a reset
				phase("d3", "kommun-vasterby", "skola", "done", 1, 3*time.Minute),
			}
			reports[4].LogTail = "E: Unable to fetch some archives\n"
			reports[4].Message = "installer: sh exited with 100"
			again := *reports[4]
			again.ReceivedAt = again.ReceivedAt.Add(time.Hour)
			reports[5] = &again
			for _, p := range reports {
				if reset, err := s.RecordUpgrade(ctx(t), p); err != nil || reset != 0 {
					t.Fatalf("record %s %s: reset %d, %v", p.Device, p.Phase, reset, err)
				}
			}
			counts, err := s.UpgradeCounts(ctx(t), nil)
			if err != nil {
				t.Fatal(err)
			}
			want := []store.UpgradeCount{
				{Member: "kommun-vasterby", Group: "skola", Release: "ubuntu-24-04", Phase: "done", Devices: 1},
				{Member: "region-norr", Group: "lab", Release: "ubuntu-24-04", Phase: "failed", Devices: 1},
				{Member: "region-norr", Group: "lab", Release: "ubuntu-24-04", Phase: "installing", Devices: 1},
			}
			if len(counts) != len(want) {
				t.Fatalf("counts %+v, want %+v", counts, want)
			}
			for i := range want {
				if counts[i] != want[i] {
					t.Errorf("count %d = %+v, want %+v", i, counts[i], want[i])
				}
			}
			// Members see their own only.
			if c, _ := s.UpgradeCounts(ctx(t), []string{"kommun-vasterby"}); len(c) != 1 || c[0].Member != "kommun-vasterby" {
				t.Errorf("counts of kommun-vasterby = %+v", c)
			}
			if c, _ := s.UpgradeCounts(ctx(t), []string{}); len(c) != 0 {
				t.Errorf("counts of no member = %+v", c)
			}
			failed, err := s.Upgrades(ctx(t), store.UpgradeQuery{Phases: []string{"failed", "rolled-back"}})
			if err != nil {
				t.Fatal(err)
			}
			if len(failed) != 1 || failed[0].Device != "d2" || !strings.Contains(failed[0].LogTail, "Unable to fetch") ||
				!failed[0].At.Equal(t0.Add(2*time.Minute)) {
				t.Fatalf("failed = %+v", failed)
			}
			if l, _ := s.Upgrades(ctx(t), store.UpgradeQuery{Members: []string{"kommun-vasterby"}, Phases: []string{"failed"}}); len(l) != 0 {
				t.Errorf("kommun-vasterby sees failed %+v", l)
			}
			if one, err := s.Upgrades(ctx(t), store.UpgradeQuery{Device: "d3"}); err != nil || len(one) != 1 || one[0].Phase != "done" {
				t.Errorf("device d3 = %+v, %v", one, err)
			}
			ev, err := s.UpgradeEvents(ctx(t), "d2", 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(ev) != 3 || ev[0].Phase != "failed" || ev[2].Phase != "pending" {
				t.Errorf("events of d2 = %+v, want failed, installing, pending (the heartbeat not repeated)", ev)
			}

			// A reset raises the generation the next report is answered with.
			u, err := s.ResetUpgrade(ctx(t), "d2", t0.Add(time.Hour), "oidc:anna")
			if err != nil {
				t.Fatal(err)
			}
			if u.Reset != 1 || u.ResetBy != "oidc:anna" || u.ResetAt == nil || !u.ResetAt.Equal(t0.Add(time.Hour)) || u.Phase != "failed" {
				t.Errorf("after reset: %+v", u)
			}
			if reset, err := s.RecordUpgrade(ctx(t), phase("d2", "region-norr", "lab", "failed", 1, 2*time.Minute)); err != nil || reset != 1 {
				t.Errorf("report after reset answered %d, %v; want 1", reset, err)
			}
			if _, err := s.ResetUpgrade(ctx(t), "nope", t0, "x"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("reset of an unknown device: %v, want ErrNotFound", err)
			}
		})
	}
}
