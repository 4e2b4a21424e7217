package rollout

import (
	"testing"
	"time"
)

func TestEvaluate(t *testing.T) {
	since := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	soaked := since.Add(25 * time.Hour)
	step := Step{To: "early", Soak: 24 * time.Hour, MinDevices: 5, MinAppliedPercent: 50, SuccessPercent: 95}
	ev := func(devices, applied, failed int) Evidence {
		return Evidence{Ring: "pilot", Revision: "r2", Devices: devices, Applied: applied, Failed: failed, Since: since}
	}
	tests := []struct {
		name   string
		step   Step
		ev     Evidence
		now    time.Time
		want   Decision
		needed int
	}{
		{"all applied, none failed, soaked", step, ev(20, 20, 0), soaked, Promote, 10},
		{"all applied, not soaked", step, ev(20, 20, 0), since.Add(23 * time.Hour), Wait, 10},
		{"soak ends exactly now", step, ev(20, 20, 0), since.Add(24 * time.Hour), Promote, 10},
		{"half applied is the minimum share", step, ev(20, 10, 0), soaked, Promote, 10},
		{"one short of the share", step, ev(20, 9, 0), soaked, Wait, 10},
		{"share rounds up: 50% of 21 is 11", step, ev(21, 10, 0), soaked, Wait, 11},
		{"minimum count above the share", step, ev(6, 4, 0), soaked, Wait, 5},
		{"ring smaller than the minimum count needs all", step, ev(3, 3, 0), soaked, Promote, 3},
		{"zero devices in the ring pass on soak alone", step, ev(0, 0, 0), soaked, Promote, 0},
		{"zero devices, not soaked", step, ev(0, 0, 0), since, Wait, 0},
		{"devices that never report hold the gate", step, ev(100, 40, 0), soaked, Wait, 50},
		{"success exactly at the threshold: 19 of 20 is 95%", step, ev(20, 20, 1), soaked, Promote, 10},
		{"success below the threshold once enough applied", step, ev(40, 20, 2), soaked, Fail, 20},
		{"one failure among the first few waits", step, ev(40, 3, 1), soaked, Wait, 20},
		{"failure certain before the minimum is reached", step, ev(20, 3, 2), since, Fail, 10},
		{"every pilot failing halts at once, before soak", step, ev(10, 10, 10), since, Fail, 5},
		{"100% success required, one failure", Step{SuccessPercent: 100}, ev(10, 1, 1), soaked, Fail, 0},
		{"no thresholds at all", Step{}, ev(10, 0, 0), since, Promote, 0},
		{"fractional percent", Step{SuccessPercent: 99.5, MinAppliedPercent: 100}, ev(200, 200, 1), soaked, Promote, 200},
		{"fractional percent, one failure too many", Step{SuccessPercent: 99.5, MinAppliedPercent: 100}, ev(200, 200, 2), soaked, Fail, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := Evaluate(tt.step, tt.ev, tt.now)
			if v.Decision != tt.want || v.Needed != tt.needed {
				t.Errorf("decision %s needing %d (%s), want %s needing %d", v.Decision, v.Needed, v.Reason, tt.want, tt.needed)
			}
			if v.Reason == "" {
				t.Error("no reason")
			}
		})
	}
}
