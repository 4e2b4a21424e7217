package policy

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"

	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/finding"
)

// Ids of the built-in waiver checks. They run with every policy set, so a waiver is judged
// the same way whichever Rego is loaded.
const (
	RuleWaiverExpired  = "SV-WAIVER-001"
	RuleWaiverExpiring = "SV-WAIVER-002"
	RuleWaiverUnused   = "SV-WAIVER-003"
	RuleWaiverScope    = "SV-WAIVER-004"

	waiverPrefix = "SV-WAIVER-"
)

// ExpiryWarning is how long before its expiry date a waiver draws a warning.
const ExpiryWarning = 30 * 24 * time.Hour

const principleG2 = "G2 Work actively with security"

var waiverRules = []finding.Rule{
	{ID: RuleWaiverExpired, Title: "Waiver has expired", Severity: finding.Deny, Principle: principleG2,
		Description: "A waiver counts until 00:00 UTC on its expiry date. From then on it exempts nothing and is itself " +
			"a finding: fix the documents it names, or have the strategy group approve a new expiry date."},
	{ID: RuleWaiverExpiring, Title: "Waiver expires within 30 days", Severity: finding.Warn, Principle: principleG2,
		Description: "The waiver still counts, but expires within 30 days: plan the fix, or ask for an extension in time."},
	{ID: RuleWaiverUnused, Title: "Waiver matches nothing", Severity: finding.Warn, Principle: "G8 Act from the goal, added value and the whole",
		Description: "A waiver target that no finding of the waived policy matches (the document complies, or the policy id is " +
			"wrong) exempts nothing; remove the target so that waivers stay an honest list of exceptions."},
	{ID: RuleWaiverScope, Title: "Member waiver reaches outside its namespace", Severity: finding.Deny, Principle: principleG2,
		Description: "A waiver in a member's namespace may only exempt that member's own documents, and only from rules " +
			"a member may waive. Waivers for shared documents or other members' documents, and waivers of rules marked " +
			"custom.waivers: shared, are shared waivers, granted by the strategy group."},
}

type waiverTarget struct {
	waiver *catalog.Document
	index  int
	expiry time.Time
}

// applyWaivers marks the findings valid waivers match (setting WaivedBy) and returns the
// findings about the waivers themselves.
func applyWaivers(cat *catalog.Catalog, findings []finding.Finding, rules map[string]*policyRule, now time.Time) []finding.Finding {
	var out []finding.Finding
	type key struct {
		rule string
		doc  finding.DocRef
	}
	targets := map[key][]*waiverTarget{}
	var all []*waiverTarget
	for _, w := range cat.OfKind(catalog.KindWaiver) {
		var spec catalog.WaiverSpec
		if err := w.DecodeSpec(&spec); err != nil {
			continue // the schema check reports a malformed waiver
		}
		expires, err := time.Parse(time.DateOnly, spec.Expires)
		if err != nil {
			continue // the schema check reports a malformed date
		}
		expiresPath := catalog.Path{"spec", "expires"}
		switch left := expires.Sub(now); {
		case left <= 0:
			out = append(out, w.Finding(RuleWaiverExpired, finding.Deny, expiresPath,
				"waiver of %s expired on %s: it exempts nothing any more; fix the documents it names or have a new expiry approved",
				spec.Policy, spec.Expires))
			continue
		case left <= ExpiryWarning:
			out = append(out, w.Finding(RuleWaiverExpiring, finding.Warn, expiresPath,
				"waiver of %s expires on %s, in %d days", spec.Policy, spec.Expires, int(math.Ceil(left.Hours()/24))))
		}
		rule, ok := rules[spec.Policy]
		if ok && rule.sharedWaivers && w.Namespace != "" {
			out = append(out, w.Finding(RuleWaiverScope, finding.Deny, catalog.Path{"spec", "policy"},
				"%s can only be waived by a shared waiver, granted by the strategy group: a waiver in namespace %s exempts nothing from it",
				spec.Policy, w.Namespace))
			continue
		}
		if !ok {
			msg := fmt.Sprintf("no loaded policy has id %q, so the waiver exempts nothing", spec.Policy)
			if _, builtin := finding.Builtin(spec.Policy); builtin {
				msg = fmt.Sprintf("%s is a built-in check, not a policy: built-in checks cannot be waived", spec.Policy)
			}
			out = append(out, w.Finding(RuleWaiverUnused, finding.Warn, catalog.Path{"spec", "policy"}, "%s", msg))
			continue
		}
		for i, t := range spec.Targets {
			ref := targetRef(cat, w, t)
			if w.Namespace != "" && ref.Namespace != w.Namespace {
				p := catalog.Path{"spec", "targets", i, "name"}
				if t.Namespace != "" {
					p = catalog.Path{"spec", "targets", i, "namespace"}
				}
				what := "shared document " + ref.String()
				if ref.Namespace != "" {
					what = ref.String() + " of member " + ref.Namespace
				}
				out = append(out, w.Finding(RuleWaiverScope, finding.Deny, p,
					"a waiver in namespace %s may only exempt %s's own documents, not %s: ask the strategy group for a shared waiver",
					w.Namespace, w.Namespace, what))
				continue
			}
			wt := &waiverTarget{waiver: w, index: i, expiry: expires}
			k := key{spec.Policy, ref}
			targets[k] = append(targets[k], wt)
			all = append(all, wt)
		}
	}
	used := map[*waiverTarget]bool{}
	for i := range findings {
		f := &findings[i]
		if f.Document == nil {
			continue
		}
		cands := targets[key{f.Rule, *f.Document}]
		if len(cands) == 0 {
			continue
		}
		for _, c := range cands {
			used[c] = true
		}
		// The waiver that lasts longest is the one that says how long the finding is exempt.
		best := slices.MaxFunc(cands, func(a, b *waiverTarget) int {
			return cmp.Or(a.expiry.Compare(b.expiry), cmp.Compare(b.waiver.Ref().String(), a.waiver.Ref().String()))
		})
		f.WaivedBy = &finding.Waiver{Name: best.waiver.Name, Namespace: best.waiver.Namespace, Expires: best.expiry.Format(time.DateOnly)}
	}
	for _, t := range all {
		if used[t] {
			continue
		}
		var spec catalog.WaiverSpec
		_ = t.waiver.DecodeSpec(&spec)
		ref := targetRef(cat, t.waiver, spec.Targets[t.index])
		out = append(out, t.waiver.Finding(RuleWaiverUnused, finding.Warn, catalog.Path{"spec", "targets", t.index},
			"%s has no %s finding to waive: remove this target (or the waiver)", ref, spec.Policy))
	}
	return out
}

// TargetRef is the document target of waiver w names in cat, as policies judge it: history
// lists what a waiver exempted with it.
func TargetRef(cat *catalog.Catalog, w *catalog.Document, t catalog.WaiverTarget) finding.DocRef {
	return targetRef(cat, w, t)
}

// targetRef is the document a waiver target names. Without a namespace, a member-scoped kind
// means the waiver's own namespace; other kinds are looked up there first, then among shared
// documents, as references from member-scoped documents are.
func targetRef(cat *catalog.Catalog, w *catalog.Document, t catalog.WaiverTarget) finding.DocRef {
	if t.Namespace != "" {
		return finding.DocRef{Kind: t.Kind, Namespace: t.Namespace, Name: t.Name}
	}
	if scope, _ := catalog.ScopeOf(t.Kind); scope == catalog.MemberScoped {
		return finding.DocRef{Kind: t.Kind, Namespace: w.Namespace, Name: t.Name}
	}
	if w.Namespace != "" && cat.Get(t.Kind, w.Namespace, t.Name) != nil {
		return finding.DocRef{Kind: t.Kind, Namespace: w.Namespace, Name: t.Name}
	}
	return finding.DocRef{Kind: t.Kind, Name: t.Name}
}
