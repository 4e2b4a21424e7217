package rollout

import (
	"fmt"
	"math"
	"time"
)

// Evidence is what the devices of one ring show of one revision, from their latest reports.
type Evidence struct {
	Ring     string `json:"ring"`
	Revision string `json:"revision"`
	// Devices in the ring; Applied: those whose latest report is for Revision; Failed: of
	// those, the ones with a failed resource. Devices that never report count in Devices only.
	Devices int `json:"devices"`
	Applied int `json:"applied"`
	Failed  int `json:"failed"`
	// Unchanged of Applied are devices whose state Revision does not change: they count as
	// having applied it without reporting it.
	Unchanged int `json:"unchanged,omitempty"`
	// Since is when the ring got Revision.
	Since time.Time `json:"since"`
}

// Decision of a gate.
type Decision string

const (
	Wait    Decision = "wait"
	Promote Decision = "promote"
	Fail    Decision = "fail"
)

// Verdict is a gate's decision with its arithmetic, kept in the promotion record.
type Verdict struct {
	Decision Decision `json:"decision"`
	Evidence
	// Needed is how many devices must have applied the revision.
	Needed int `json:"needed"`
	// SuccessPercent is the share of Applied without failure, in percent (100 when none
	// applied).
	SuccessPercent float64 `json:"successPercent"`
	// SoakUntil is when the soak time is over.
	SoakUntil time.Time `json:"soakUntil"`
	// Reason says what decided, or what the gate needs next.
	Reason string `json:"reason"`
}

// eps absorbs the error of percent arithmetic in floating point (e.g. 95% of 20 is 19, not
// 19.000000000000004).
const eps = 1e-9

// ceilPercent is the least whole number of devices that is at least pct percent of n.
func ceilPercent(pct float64, n int) int {
	return int(math.Ceil(pct*float64(n)/100 - eps))
}

// Evaluate decides step's gate on ev at now. It is pure: the same inputs give the same verdict.
//
//   - Needed is the larger of MinDevices and MinAppliedPercent of the ring's devices, but never
//     more than the ring has: a ring smaller than MinDevices needs all of its devices.
//   - The gate fails as soon as failure is certain: when Failed exceeds what SuccessPercent of
//     the whole ring allows (no number of further successes could lift the share), or when at
//     least Needed devices have applied and the share of them without failure is below
//     SuccessPercent.
//   - It promotes when the soak time is over, at least Needed devices have applied, and the
//     success share is at least SuccessPercent.
//   - A ring without devices has nothing to show: its gate passes on the soak time alone.
//   - Otherwise it waits, and Reason says for what.
func Evaluate(step Step, ev Evidence, now time.Time) Verdict {
	v := Verdict{Evidence: ev, SoakUntil: ev.Since.Add(step.Soak), SuccessPercent: 100}
	v.Needed = min(max(step.MinDevices, ceilPercent(step.MinAppliedPercent, ev.Devices)), ev.Devices)
	if ev.Applied > 0 {
		v.SuccessPercent = float64(ev.Applied-ev.Failed) * 100 / float64(ev.Applied)
	}
	allowedFailures := ev.Devices - ceilPercent(step.SuccessPercent, ev.Devices)
	switch {
	case ev.Failed > 0 && ev.Failed > allowedFailures:
		v.Decision = Fail
		v.Reason = fmt.Sprintf("%d of %d devices of %s failed: at most %d may fail for %.4g%% success", ev.Failed, ev.Devices, ev.Ring, allowedFailures, step.SuccessPercent)
	case ev.Applied >= v.Needed && ev.Applied > 0 && v.SuccessPercent+eps < step.SuccessPercent:
		v.Decision = Fail
		v.Reason = fmt.Sprintf("%.4g%% of %d devices of %s that applied it succeeded: below %.4g%%", v.SuccessPercent, ev.Applied, ev.Ring, step.SuccessPercent)
	case ev.Applied < v.Needed:
		v.Decision = Wait
		v.Reason = fmt.Sprintf("needs %d more devices of %s to apply it (%d of %d needed)", v.Needed-ev.Applied, ev.Ring, ev.Applied, v.Needed)
	case now.Before(v.SoakUntil):
		v.Decision = Wait
		v.Reason = fmt.Sprintf("soaks in %s until %s", ev.Ring, v.SoakUntil.UTC().Format(time.RFC3339))
	default:
		v.Decision = Promote
		v.Reason = fmt.Sprintf("%d of %d devices of %s applied it, %.4g%% succeeded, soaked %s", ev.Applied, ev.Devices, ev.Ring, v.SuccessPercent, step.Soak)
	}
	return v
}
