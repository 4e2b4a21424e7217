package rollout

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"samverk.io/samverk/engine/catalog"
)

// Policy is the consortium's RolloutPolicy, decoded.
type Policy struct {
	Name string
	// Rings in order; a new revision goes to Rings[0].
	Rings []string
	// Steps gate each ring after the first, by the ring they lead to.
	Steps map[string]Step
	// NewRevision is supersede or wait.
	NewRevision   string
	MemberMayHold bool
}

// Step is the gate a revision passes to reach ring To from the ring before it.
type Step struct {
	To                string
	Soak              time.Duration
	MinDevices        int
	MinAppliedPercent float64
	SuccessPercent    float64
	MaxPerHour        int
	OnFailure         string
}

// PolicyOf returns the consortium's RolloutPolicy of cat (the shared one first by name; policy
// SV-RO-002 denies any other), and false when cat has none: then every revision goes to every
// ring at once, as without rollout.
func PolicyOf(cat *catalog.Catalog) (*Policy, bool, error) {
	var shared []*catalog.Document
	for _, d := range cat.OfKind(catalog.KindRolloutPolicy) {
		if d.Namespace == "" {
			shared = append(shared, d)
		}
	}
	if len(shared) == 0 {
		return nil, false, nil
	}
	slices.SortFunc(shared, func(a, b *catalog.Document) int { return strings.Compare(a.Name, b.Name) })
	p, err := decodePolicy(shared[0])
	if err != nil {
		return nil, false, err
	}
	return p, true, nil
}

// MemberPolicies returns the members' own RolloutPolicies of cat, by member (the first by
// name where a member has several, which SV-RO-002 denies). Policy SV-RO-001 denies one that
// is faster than the consortium's in any way, so a member's policy only ever holds its own
// devices back longer. A policy that cannot be decoded is left out and reported in errs.
func MemberPolicies(cat *catalog.Catalog) (out map[string]*Policy, errs []error) {
	docs := slices.Clone(cat.OfKind(catalog.KindRolloutPolicy))
	slices.SortFunc(docs, func(a, b *catalog.Document) int { return strings.Compare(a.Name, b.Name) })
	for _, d := range docs {
		if d.Namespace == "" {
			continue
		}
		if out[d.Namespace] != nil {
			continue
		}
		p, err := decodePolicy(d)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if out == nil {
			out = map[string]*Policy{}
		}
		out[d.Namespace] = p
	}
	return out, errs
}

func decodePolicy(d *catalog.Document) (*Policy, error) {
	var spec catalog.RolloutPolicySpec
	if err := d.DecodeSpec(&spec); err != nil {
		return nil, err
	}
	p := &Policy{Name: d.Name, Rings: spec.Rings, Steps: map[string]Step{}, NewRevision: spec.NewRevision, MemberMayHold: spec.MemberMayHold}
	if p.NewRevision == "" {
		p.NewRevision = catalog.NewRevisionSupersede
	}
	for i, s := range spec.Steps {
		soak, err := time.ParseDuration(s.Soak)
		if err != nil {
			return nil, fmt.Errorf("%s: spec.steps[%d].soak: %w", d.Ref(), i, err)
		}
		st := Step{To: s.To, Soak: soak, MinDevices: s.MinDevices, MinAppliedPercent: s.MinAppliedPercent,
			SuccessPercent: s.SuccessPercent, MaxPerHour: s.MaxPerHour, OnFailure: s.OnFailure}
		if st.OnFailure == "" {
			st.OnFailure = catalog.OnFailureHalt
		}
		p.Steps[s.To] = st
	}
	return p, nil
}

// Next returns the ring after ring, or "" for the last ring or one not in the policy.
func (p *Policy) Next(ring string) string {
	i := slices.Index(p.Rings, ring)
	if i < 0 || i+1 >= len(p.Rings) {
		return ""
	}
	return p.Rings[i+1]
}

// RingRevision is what one ring is served: Revision, while devices that may not take it yet
// (outside their group's maintenance windows, or past MaxPerHour) keep Previous.
type RingRevision struct {
	Revision string
	Previous string
	// MaxPerHour bounds the devices of the ring that start Revision in one hour; 0: no bound.
	MaxPerHour int
	// Held are the members whose own (slower) RolloutPolicy has not yet let Revision into
	// this ring: their devices keep Previous, as outside a maintenance window.
	Held map[string]bool
}
