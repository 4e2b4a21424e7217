package diff

import (
	"context"
	"fmt"
	"io/fs"
	"time"

	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/finding"
	"samverk.io/samverk/engine/policy"
	"samverk.io/samverk/engine/refs"
	"samverk.io/samverk/engine/repopath"
	"samverk.io/samverk/engine/schema"
	"samverk.io/samverk/engine/validate"
)

// Options configure a comparison. The zero value compares documents and desired state only.
type Options struct {
	// Policies are evaluated over both catalogs; their findings are compared.
	Policies validate.Policies
	// Now is when waivers and support dates are judged (default time.Now).
	Now time.Time
	// Inventory counts the effect in devices; without it, in profiles.
	Inventory []InventoryDevice
	// Load bounds the loader.
	Load catalog.Options
}

// Report is everything a change does. Its JSON form is stable within apiVersion.
type Report struct {
	APIVersion string      `json:"apiVersion"`
	Kind       string      `json:"kind"`
	Base       string      `json:"base"`
	Head       string      `json:"head"`
	Documents  []DocChange `json:"documents"`
	Findings   Findings    `json:"findings"`
	Effect     *Effect     `json:"effect"`
}

// Findings are the findings of head against those of base, matched by rule, document and path.
type Findings struct {
	New       []finding.Finding `json:"new"`
	Fixed     []finding.Finding `json:"fixed"`
	Unchanged int               `json:"unchanged"`
}

// HasEffect reports whether the change does anything: a document differs, a finding appears
// or goes, or some device's desired state changes.
func (r *Report) HasEffect() bool {
	return len(r.Documents) > 0 || len(r.Findings.New) > 0 || len(r.Findings.Fixed) > 0 || r.Effect.Affected > 0
}

// AddsDeny reports whether head has a deny finding base does not, and no waiver exempts it.
func (r *Report) AddsDeny() bool {
	for _, f := range r.Findings.New {
		if f.Severity == finding.Deny && f.WaivedBy == nil {
			return true
		}
	}
	return false
}

// Rebase makes every file the report names relative to the directory the catalog lies in
// under prefix (e.g. the repository root, with prefix "catalog").
func (r *Report) Rebase(prefix string) {
	for i := range r.Documents {
		r.Documents[i].File = repopath.Join(prefix, r.Documents[i].File)
	}
	finding.Rebase(r.Findings.New, prefix)
	finding.Rebase(r.Findings.Fixed, prefix)
}

// Source is one side of a comparison: a catalog file tree and what to call it.
type Source struct {
	FS    fs.FS
	Label string
}

// Compare loads both catalogs and tells what changes from base to head: load, schema,
// reference and policy findings are compared. As in samverk validate, policies see only the
// documents that passed their schema.
func Compare(ctx context.Context, base, head Source, opt Options) (*Report, error) {
	if opt.Now.IsZero() {
		opt.Now = time.Now()
	}
	if opt.Load.Cache == nil {
		// Head usually shares most files with base: parse those once.
		opt.Load.Cache = catalog.NewCache()
	}
	// Schema results of the files both sides share are reused too.
	sc := schema.NewCache()
	bc, bf, err := loadSide(ctx, base, opt, sc)
	if err != nil {
		return nil, fmt.Errorf("diff: base %s: %w", base.Label, err)
	}
	hc, hf, err := loadSide(ctx, head, opt, sc)
	if err != nil {
		return nil, fmt.Errorf("diff: head %s: %w", head.Label, err)
	}
	cmp := policy.CompareFindings(bf, hf)
	rep := &Report{
		APIVersion: "samverk.io/v1",
		Kind:       "CatalogDiff",
		Base:       base.Label,
		Head:       head.Label,
		Documents:  Documents(bc, hc),
		Findings:   Findings{New: cmp.New, Fixed: cmp.Gone, Unchanged: len(cmp.Unchanged)},
		Effect:     Effects(bc, hc, opt.Inventory),
	}
	if rep.Documents == nil {
		rep.Documents = []DocChange{}
	}
	return rep, nil
}

func loadSide(ctx context.Context, src Source, opt Options, sc *schema.Cache) (*catalog.Catalog, []finding.Finding, error) {
	lr, err := catalog.Load(src.FS, opt.Load)
	if err != nil {
		return nil, nil, err
	}
	sf, err := schema.Validate(lr.Catalog, schema.Options{Cache: sc})
	if err != nil {
		return nil, nil, err
	}
	fs := append(lr.Findings, sf...)
	fs = append(fs, refs.Check(lr.Catalog)...)
	if opt.Policies != nil {
		pf, err := opt.Policies.Evaluate(ctx, validate.SchemaValid(lr.Catalog, sf), opt.Now)
		if err != nil {
			return nil, nil, err
		}
		fs = append(fs, pf...)
	}
	return lr.Catalog, fs, nil
}
