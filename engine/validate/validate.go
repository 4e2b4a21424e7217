// Package validate is the one pipeline a catalog goes through: load, schema, references and
// policies. `samverk validate` and the daemon both call it, so they agree on every commit.
package validate

import (
	"context"
	"fmt"
	"io/fs"
	"time"

	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/finding"
	"samverk.io/samverk/engine/refs"
	"samverk.io/samverk/engine/resultcache"
	"samverk.io/samverk/engine/schema"
)

// Policies evaluates policy rules over a loaded catalog, waivers applied.
type Policies interface {
	Evaluate(ctx context.Context, cat *catalog.Catalog, now time.Time) ([]finding.Finding, error)
	Rules() []finding.Rule
}

// Options configure a run. The zero value validates load, schema and references only.
type Options struct {
	Load catalog.Options
	// Policies, when set, adds policy findings.
	Policies Policies
	// Now is the time waivers and support dates are judged against (default time.Now).
	Now func() time.Time
	// FailOn is the lowest severity that fails the run (default deny).
	FailOn finding.Severity
	// Cache, when set, carries parsed files and schema results from one run to the next, so a
	// commit that changes a few files costs little more than those files. Policies and
	// references, which look across documents, always run over the whole catalog.
	Cache *Cache
	// Results, when set, keeps each file's schema results on disk by its path and content, so
	// a later run (another process: the next CI job) checks only the files that changed. The
	// caller opens it with a salt naming the schemas and samverk's build, and saves it.
	Results *resultcache.Cache
}

// Cache keeps what one run can reuse from the previous: parsed files and schema findings.
// Reuse one Cache across runs of the same schemas; it holds at most the last two runs' files.
type Cache struct {
	files  *catalog.Cache
	schema *schema.Cache
}

// NewCache returns an empty cache.
func NewCache() *Cache {
	return &Cache{files: catalog.NewCache(), schema: schema.NewCache()}
}

// Result is a run's report and, for later stages such as compilation, the loaded catalog.
type Result struct {
	Report  *Report
	Catalog *catalog.Catalog
}

// Dir validates the catalog in a directory.
func Dir(ctx context.Context, dir string, opt Options) (*Result, error) {
	start := time.Now()
	lr, err := catalog.LoadDir(dir, opt.loadOptions())
	if err != nil {
		return nil, err
	}
	return run(ctx, lr, opt, start)
}

// FS validates the catalog in fsys (e.g. a Git snapshot).
func FS(ctx context.Context, fsys fs.FS, opt Options) (*Result, error) {
	start := time.Now()
	lr, err := catalog.Load(fsys, opt.loadOptions())
	if err != nil {
		return nil, err
	}
	return run(ctx, lr, opt, start)
}

func (o Options) loadOptions() catalog.Options {
	lo := o.Load
	if o.Cache != nil && lo.Cache == nil {
		lo.Cache = o.Cache.files
	}
	if o.Results != nil {
		lo.Sums = true
	}
	return lo
}

// SchemaValid returns the documents of cat that have no schema finding. Policies see only
// these: a rule may rely on a field's type, and a document that failed its schema already
// fails the run, so a policy finding about it could only be false (a string where a number
// belongs, printed through a number's format).
func SchemaValid(cat *catalog.Catalog, schemaFindings []finding.Finding) *catalog.Catalog {
	bad := map[finding.DocRef]bool{}
	for _, f := range schemaFindings {
		if f.Document != nil {
			bad[*f.Document] = true
		}
	}
	if len(bad) == 0 {
		return cat
	}
	docs := make([]*catalog.Document, 0, cat.Len())
	for _, d := range cat.Docs {
		if !bad[d.Ref()] {
			docs = append(docs, d)
		}
	}
	valid, _ := catalog.New(docs)
	return valid
}

func run(ctx context.Context, lr *catalog.Result, opt Options, start time.Time) (*Result, error) {
	now := time.Now
	if opt.Now != nil {
		now = opt.Now
	}
	findings := lr.Findings
	var sopt schema.Options
	if opt.Cache != nil {
		sopt.Cache = opt.Cache.schema
	}
	sf, err := checkSchemas(lr, opt.Results, sopt)
	if err != nil {
		return nil, fmt.Errorf("validate: %w", err)
	}
	findings = append(findings, sf...)
	findings = append(findings, refs.Check(lr.Catalog)...)
	if len(lr.Catalog.OfKind(catalog.KindMember)) == 0 {
		// An empty or gutted tree would otherwise pass and take every device's state away.
		findings = append(findings, finding.Finding{Rule: finding.RuleNoMember, Severity: finding.Deny,
			Message: fmt.Sprintf("the catalog has no Member document (%d documents in %d files): an empty or gutted tree is not a catalog; each member lives in %s/<member>/member.yaml",
				lr.Catalog.Len(), lr.Files, catalog.MembersDir)})
	}
	rules := finding.BuiltinRules()
	if opt.Policies != nil && ctx.Err() == nil {
		pf, err := opt.Policies.Evaluate(ctx, SchemaValid(lr.Catalog, sf), now())
		if err != nil {
			return nil, fmt.Errorf("validate: %w", err)
		}
		findings = append(findings, pf...)
		rules = append(rules, opt.Policies.Rules()...)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("validate: %w", err)
	}
	findings = finding.Sort(findings)
	failOn := opt.FailOn
	if failOn == "" {
		failOn = finding.Deny
	}
	rep := &Report{
		APIVersion: ReportAPIVersion,
		Kind:       ReportKind,
		Files:      lr.Files,
		Documents:  lr.Catalog.Len(),
		FailOn:     failOn,
		Summary:    finding.Count(findings),
		Findings:   findings,
		Duration:   Duration(time.Since(start)),
		rules:      rules,
	}
	rep.Passed = true
	for _, f := range findings {
		if f.Failing(failOn) {
			rep.Passed = false
			break
		}
	}
	if rep.Findings == nil {
		rep.Findings = []finding.Finding{}
	}
	return &Result{Report: rep, Catalog: lr.Catalog}, nil
}

// checkSchemas checks the catalog's documents against their schemas, taking the results of
// unchanged files from rc when it is set and recording those of the others in it.
func checkSchemas(lr *catalog.Result, rc *resultcache.Cache, sopt schema.Options) ([]finding.Finding, error) {
	if rc == nil {
		return schema.Validate(lr.Catalog, sopt)
	}
	// A CUE file whose evaluation ran out of budget may load whole on another run.
	unsure := map[string]bool{}
	for _, f := range lr.Findings {
		if f.Rule == finding.RuleCUEBudget {
			unsure[f.File] = true
		}
	}
	var files []string
	byFile := map[string][]*catalog.Document{}
	for _, d := range lr.Catalog.Docs {
		if byFile[d.File] == nil {
			files = append(files, d.File)
		}
		byFile[d.File] = append(byFile[d.File], d)
	}
	var out []finding.Finding
	var todo []*catalog.Document
	keys := map[string]resultcache.Key{}
	for _, file := range files {
		docs := byFile[file]
		sum, ok := lr.Sums[file]
		if !ok || unsure[file] {
			todo = append(todo, docs...)
			continue
		}
		k := resultcache.KeyOf(file, sum)
		if e, hit := rc.Get(k); hit && covers(e, docs) {
			for _, d := range docs {
				out = append(out, e[d.Index]...)
			}
			continue
		}
		keys[file] = k
		todo = append(todo, docs...)
	}
	if len(todo) == 0 {
		return finding.Sort(out), nil
	}
	sub, _ := catalog.New(todo)
	fresh, err := schema.Validate(sub, sopt)
	if err != nil {
		return nil, err
	}
	entries := make(map[string]resultcache.Entry, len(keys))
	for file := range keys {
		e := resultcache.Entry{}
		for _, d := range byFile[file] {
			e[d.Index] = nil
		}
		entries[file] = e
	}
	for _, f := range fresh {
		var d *catalog.Document
		if f.Document != nil {
			d = sub.Get(f.Document.Kind, f.Document.Namespace, f.Document.Name)
		}
		if d == nil || d.File != f.File {
			// A finding that names no document of its file cannot be filed under one:
			// the file is not cached.
			delete(entries, f.File)
			if d != nil {
				delete(entries, d.File)
			}
			continue
		}
		if e, ok := entries[d.File]; ok {
			e[d.Index] = append(e[d.Index], f)
		}
	}
	for file, e := range entries {
		rc.Put(keys[file], e)
	}
	return finding.Sort(append(out, fresh...)), nil
}

// covers reports whether e holds the results of every document of docs.
func covers(e resultcache.Entry, docs []*catalog.Document) bool {
	for _, d := range docs {
		if _, ok := e[d.Index]; !ok {
			return false
		}
	}
	return true
}
