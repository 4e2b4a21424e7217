package reconcile

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/finding"
	"samverk.io/samverk/engine/repopath"
)

// Enrollment counts the devices enrolled per member. Before it publishes, the reconciler asks
// it whether a commit takes the Member or the last device group away from enrolled devices.
type Enrollment interface {
	EnrolledByMember(ctx context.Context) (map[string]int, error)
}

// ReasonRemovalRefused: the commit drops a Member, or all of a member's device groups, while
// devices of that member are enrolled, and its message does not allow it.
const ReasonRemovalRefused = "RemovalRefused"

// AllowRemovalTrailer is the commit-message trailer that allows a commit to remove a member's
// Member document or all its device groups while its devices are enrolled:
//
//	Samverk-Allow-Removal: kommun-vasterby the municipality left the consortium on 2026-12-31
//
// One trailer per member; the reason is required and is recorded with the attempt.
const AllowRemovalTrailer = "Samverk-Allow-Removal"

// Ids of the findings the removal guard adds to a commit's report.
const (
	RuleRemovalRefused = "removal/refused"
	RuleRemovalAllowed = "removal/allowed"
)

// Removal is what a commit takes away from the enrolled devices of one member.
type Removal struct {
	Member string
	// Devices is the number enrolled.
	Devices int
	// What was removed: "Member" (the Member document) or "DeviceGroups" (every device group).
	What string
}

func (r Removal) String() string {
	if r.What == catalog.KindMember {
		return fmt.Sprintf("the commit removes Member %s, which has %d enrolled device(s)", r.Member, r.Devices)
	}
	return fmt.Sprintf("the commit removes every device group of member %s, which has %d enrolled device(s)", r.Member, r.Devices)
}

// Removals compares the published catalog with the next one: a member with enrolled devices
// whose Member document, or whose last device group, the next one no longer has.
func Removals(published, next *catalog.Catalog, enrolled map[string]int) []Removal {
	var out []Removal
	groups := func(c *catalog.Catalog) map[string]int {
		n := map[string]int{}
		for _, g := range c.OfKind(catalog.KindDeviceGroup) {
			n[g.Namespace]++
		}
		return n
	}
	before, after := groups(published), groups(next)
	for _, m := range slices.Sorted(maps.Keys(enrolled)) {
		devices := enrolled[m]
		if devices <= 0 {
			continue
		}
		switch {
		case published.Get(catalog.KindMember, "", m) != nil && next.Get(catalog.KindMember, "", m) == nil:
			out = append(out, Removal{Member: m, Devices: devices, What: catalog.KindMember})
		case before[m] > 0 && after[m] == 0:
			out = append(out, Removal{Member: m, Devices: devices, What: "DeviceGroups"})
		}
	}
	return out
}

var trailerRE = regexp.MustCompile(`(?im)^` + AllowRemovalTrailer + `:[ \t]*([a-z0-9-]+)[ \t]+(\S.*?)[ \t]*$`)

// AllowedRemovals reads the AllowRemovalTrailer lines of a commit message: member → reason.
// A trailer without a reason allows nothing.
func AllowedRemovals(message string) map[string]string {
	out := map[string]string{}
	for _, m := range trailerRE.FindAllStringSubmatch(message, -1) {
		out[m[1]] = m[2]
	}
	return out
}

// guardRemovals refuses a commit that takes a Member or its last device group away from
// enrolled devices, unless the commit message allows it per member; what it allows is recorded
// as an info finding of the report. Without an Enrollment, or before anything is published,
// there is nothing to compare with.
func (r *Reconciler) guardRemovals(ctx context.Context, a *attempt) error {
	prev := r.current.Load()
	if r.opt.Enrollment == nil || prev == nil || a.result == nil {
		return nil
	}
	enrolled, err := r.opt.Enrollment.EnrolledByMember(ctx)
	if err != nil {
		return failed(ReasonValidationError, fmt.Errorf("reconcile: count enrolled devices: %w", err))
	}
	removals := Removals(prev.Catalog, a.result.Catalog, enrolled)
	if len(removals) == 0 {
		return nil
	}
	msg, err := r.opt.Source.Message(a.hash)
	if err != nil {
		return failed(ReasonSnapshotFailed, err)
	}
	allowed := AllowedRemovals(msg)
	rep := a.result.Report
	var refusedOnes []string
	for _, rm := range removals {
		f := finding.Finding{Rule: RuleRemovalRefused, Severity: finding.Deny, File: repopath.Join(r.opt.Path, catalog.MembersDir+"/"+rm.Member) + "/"}
		if reason, ok := allowed[rm.Member]; ok {
			f.Rule, f.Severity = RuleRemovalAllowed, finding.Info
			f.Message = fmt.Sprintf("%s; allowed by the commit's %s trailer: %s", rm, AllowRemovalTrailer, reason)
			r.log.Warn("removal allowed by commit trailer", "revision", a.revision, "member", rm.Member,
				"devices", rm.Devices, "removed", rm.What, "reason", reason)
		} else {
			f.Message = fmt.Sprintf("%s; refused: their devices would lose their desired state. If this is meant, add the trailer %q to the commit message",
				rm, AllowRemovalTrailer+": "+rm.Member+" <reason>")
			refusedOnes = append(refusedOnes, rm.Member)
		}
		rep.Findings = append(rep.Findings, f)
	}
	rep.Findings = finding.Sort(rep.Findings)
	rep.Summary = finding.Count(rep.Findings)
	if len(refusedOnes) == 0 {
		return nil
	}
	rep.Passed = false
	return refused(ReasonRemovalRefused, fmt.Errorf("commit %s removes what enrolled devices of %s rely on; add a %s trailer to allow it",
		fmtRev(a.revision), strings.Join(refusedOnes, ", "), AllowRemovalTrailer))
}
