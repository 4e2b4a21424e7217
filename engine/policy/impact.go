package policy

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/finding"
)

// ImpactReport is what changing the policy set from base to head does to one catalog: the
// findings head adds, those it no longer reports, and those both report. Findings are matched
// by rule id, document and field path. Its JSON form is a stable contract.
type ImpactReport struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	// Base and Head say where the two policy sets came from (a Git revision or a directory).
	Base      string            `json:"base"`
	Head      string            `json:"head"`
	Documents int               `json:"documents"`
	Summary   ImpactSummary     `json:"summary"`
	New       []finding.Finding `json:"new"`
	Gone      []finding.Finding `json:"gone"`
	Unchanged []finding.Finding `json:"unchanged"`
	// Documents that newly fail: they have a new deny finding no waiver exempts.
	NewlyFailing []finding.DocRef `json:"newlyFailing"`
}

// Rebase makes the findings' files relative to the directory the catalog lies in under prefix
// (e.g. the repository root, with prefix "catalog").
func (r *ImpactReport) Rebase(prefix string) {
	finding.Rebase(r.New, prefix)
	finding.Rebase(r.Gone, prefix)
	finding.Rebase(r.Unchanged, prefix)
}

// ImpactSummary counts a report's findings.
type ImpactSummary struct {
	New       finding.Counts `json:"new"`
	Gone      finding.Counts `json:"gone"`
	Unchanged finding.Counts `json:"unchanged"`
}

// Impact evaluates base and head over the same catalog at the same time and compares their
// findings.
func Impact(ctx context.Context, cat *catalog.Catalog, base, head *Set, now time.Time) (*ImpactReport, error) {
	bf, err := base.Evaluate(ctx, cat, now)
	if err != nil {
		return nil, fmt.Errorf("policy: impact: base: %w", err)
	}
	hf, err := head.Evaluate(ctx, cat, now)
	if err != nil {
		return nil, fmt.Errorf("policy: impact: head: %w", err)
	}
	rep := CompareFindings(bf, hf)
	rep.Documents = cat.Len()
	return rep, nil
}

type impactKey struct {
	rule string
	doc  finding.DocRef
	path string
}

func keyOf(f finding.Finding) impactKey {
	k := impactKey{rule: f.Rule, path: f.Path}
	if f.Document != nil {
		k.doc = *f.Document
	} else {
		k.doc = finding.DocRef{Name: f.File}
	}
	return k
}

// CompareFindings matches head's findings against base's by (rule id, document, path). Where
// one key has several findings, equal messages pair up first; the rest are new or gone.
func CompareFindings(base, head []finding.Finding) *ImpactReport {
	rep := &ImpactReport{APIVersion: "samverk.io/v1", Kind: "PolicyImpact",
		New: []finding.Finding{}, Gone: []finding.Finding{}, Unchanged: []finding.Finding{}, NewlyFailing: []finding.DocRef{}}
	byKey := map[impactKey][]finding.Finding{}
	for _, f := range base {
		k := keyOf(f)
		byKey[k] = append(byKey[k], f)
	}
	var rest []finding.Finding
	for _, f := range head {
		k := keyOf(f)
		olds := byKey[k]
		if i := slices.IndexFunc(olds, func(o finding.Finding) bool { return o.Message == f.Message }); i >= 0 {
			byKey[k] = slices.Delete(olds, i, i+1)
			rep.Unchanged = append(rep.Unchanged, f)
			continue
		}
		rest = append(rest, f)
	}
	for _, f := range rest {
		k := keyOf(f)
		if olds := byKey[k]; len(olds) > 0 {
			byKey[k] = olds[1:]
			rep.Unchanged = append(rep.Unchanged, f)
			continue
		}
		rep.New = append(rep.New, f)
	}
	for _, olds := range byKey {
		rep.Gone = append(rep.Gone, olds...)
	}
	rep.New = finding.Sort(rep.New)
	rep.Gone = finding.Sort(rep.Gone)
	rep.Unchanged = finding.Sort(rep.Unchanged)
	rep.Summary = ImpactSummary{New: finding.Count(rep.New), Gone: finding.Count(rep.Gone), Unchanged: finding.Count(rep.Unchanged)}
	seen := map[finding.DocRef]bool{}
	for _, f := range rep.New {
		if f.Document != nil && f.Failing(finding.Deny) && !seen[*f.Document] {
			seen[*f.Document] = true
			rep.NewlyFailing = append(rep.NewlyFailing, *f.Document)
		}
	}
	slices.SortFunc(rep.NewlyFailing, func(a, b finding.DocRef) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	return rep
}

// NewDeny is the number of new deny findings no waiver exempts: a change with any tightens
// the policy for today's catalog.
func (r *ImpactReport) NewDeny() int { return r.Summary.New.Deny }

// WriteText writes the report for people: new findings, gone findings, then a summary. With
// verbose, unchanged findings are listed too.
func (r *ImpactReport) WriteText(w io.Writer, verbose bool) error {
	b := &strings.Builder{}
	section := func(title string, fs []finding.Finding) {
		fmt.Fprintf(b, "%s (%d):\n", title, len(fs))
		for _, f := range fs {
			fmt.Fprintf(b, "  %s\n", f.String())
		}
	}
	fmt.Fprintf(b, "policy impact: %s -> %s over %d documents\n", r.Base, r.Head, r.Documents)
	section("new", r.New)
	section("gone", r.Gone)
	if verbose {
		section("unchanged", r.Unchanged)
	} else {
		fmt.Fprintf(b, "unchanged (%d)\n", len(r.Unchanged))
	}
	if len(r.NewlyFailing) > 0 {
		fmt.Fprintf(b, "newly failing documents (%d):\n", len(r.NewlyFailing))
		for _, d := range r.NewlyFailing {
			fmt.Fprintf(b, "  %s\n", d)
		}
	}
	n := r.Summary.New
	fmt.Fprintf(b, "summary: %d new (%d deny, %d warn, %d info, %d waived), %d gone, %d unchanged\n",
		len(r.New), n.Deny, n.Warn, n.Info, n.Waived, len(r.Gone), len(r.Unchanged))
	_, err := io.WriteString(w, b.String())
	return err
}
