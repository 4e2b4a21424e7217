// Package policy evaluates the strategy group's Rego policies over a catalog: it loads and
// compiles the rules once, runs them in parallel, places findings on fields and applies waivers.
package policy

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"

	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/finding"
)

// Options configure loading and evaluation. The zero value is a working default.
type Options struct {
	// Dir is how the policy directory is named in messages, e.g. "policies"; file names in
	// errors are shown under it. Empty shows paths as they are inside the fs.FS.
	Dir string
	// Workers evaluate shares of the catalog in parallel (default GOMAXPROCS).
	Workers int
	// BatchSize is the least number of documents worth a worker of its own (default 512).
	BatchSize int
}

func (o Options) withDefaults() Options {
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 512
	}
	return o
}

// ruleSets are the names a policy package may give its set of findings; the name is the
// severity of every finding in it.
var ruleSets = []string{string(finding.Deny), string(finding.Warn), string(finding.Info)}

// policyRule is one loaded rule: a package with its metadata and its finding set.
type policyRule struct {
	finding.Rule
	pkg  ast.Ref // data.samverk.policies.x
	file string  // display name of the file with the package METADATA
	// sharedWaivers (METADATA custom.waivers: shared) says only a shared waiver, granted by
	// the strategy group, exempts from the rule: a member cannot waive it for itself.
	sharedWaivers bool
}

// Set is a compiled policy set. It is safe for concurrent use; Evaluate may be called any
// number of times.
type Set struct {
	opt      Options
	rules    []policyRule
	byID     map[string]*policyRule
	modules  map[string]*ast.Module
	query    rego.PreparedEvalQuery
	hasQuery bool
}

// Load reads every .rego file under fsys (test files, *_test.rego, are left out), checks each
// policy package's metadata, compiles them once and prepares the evaluation query. Problems in
// the Rego come back as Errors, each once, with file:row:col.
func Load(fsys fs.FS, opt Options) (*Set, error) {
	opt = opt.withDefaults()
	modules, _, err := parseFS(fsys, opt.Dir, false)
	if err != nil {
		return nil, err
	}
	return compile(modules, opt)
}

func compile(modules map[string]*ast.Module, opt Options) (*Set, error) {
	var errs Errors
	rules, metaErrs := readRules(modules, opt.Dir)
	errs = append(errs, metaErrs...)
	compiler := newCompiler(false)
	if compiler.Compile(modules); compiler.Failed() {
		errs.add(compiler.Errors, opt.Dir)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("policy: load: %w", errs.normalize())
	}
	s := &Set{opt: opt, rules: rules, byID: make(map[string]*policyRule, len(rules)), modules: modules}
	for i := range s.rules {
		s.byID[s.rules[i].ID] = &s.rules[i]
	}
	if len(rules) == 0 {
		return s, nil
	}
	terms := make([]*ast.Term, len(rules))
	for i, r := range rules {
		terms[i] = ast.RefTerm(r.pkg.Append(ast.StringTerm(string(r.Severity)))...)
	}
	body := ast.NewBody(ast.Equality.Expr(ast.VarTerm("x"), ast.ArrayTerm(terms...)))
	q, err := rego.New(rego.ParsedQuery(body), rego.Compiler(compiler)).PrepareForEval(context.Background())
	if err != nil {
		errs.add(err, opt.Dir)
		return nil, fmt.Errorf("policy: prepare: %w", errs.normalize())
	}
	s.query, s.hasQuery = q, true
	return s, nil
}

// forbidden builtins make a policy's outcome depend on something other than the catalog and
// the time passed in: the network, the wall clock, randomness, the environment.
var forbidden = map[string]bool{
	"http.send": true, "net.lookup_ip_addr": true, "opa.runtime": true,
	"time.now_ns": true, "rand.intn": true, "uuid.rfc4122": true,
}

func newCompiler(print bool) *ast.Compiler {
	caps := ast.CapabilitiesForThisVersion()
	caps.Builtins = slices.DeleteFunc(slices.Clone(caps.Builtins), func(b *ast.Builtin) bool { return forbidden[b.Name] })
	return ast.NewCompiler().
		WithCapabilities(caps).
		WithDefaultRegoVersion(ast.RegoV1).
		WithEnablePrintStatements(print).
		SetErrorLimit(0)
}

// parseFS parses the .rego files of fsys. With tests false, *_test.rego files are skipped;
// otherwise they come back as a second map.
func parseFS(fsys fs.FS, prefix string, tests bool) (mods, testMods map[string]*ast.Module, err error) {
	mods = map[string]*ast.Module{}
	testMods = map[string]*ast.Module{}
	var errs Errors
	walkErr := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if p != "." && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return fs.SkipDir
			}
			return nil
		}
		if path.Ext(name) != ".rego" || strings.HasPrefix(name, ".") {
			return nil
		}
		isTest := strings.HasSuffix(name, "_test.rego")
		if isTest && !tests {
			return nil
		}
		src, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		m, err := ast.ParseModuleWithOpts(p, string(src), ast.ParserOptions{ProcessAnnotation: true, RegoVersion: ast.RegoV1})
		if err != nil {
			errs.add(err, prefix)
			return nil
		}
		if isTest {
			testMods[p] = m
		} else {
			mods[p] = m
		}
		return nil
	})
	if walkErr != nil {
		return nil, nil, fmt.Errorf("policy: read: %w", walkErr)
	}
	if len(errs) > 0 {
		return nil, nil, fmt.Errorf("policy: parse: %w", errs.normalize())
	}
	if len(mods) == 0 && len(testMods) == 0 {
		return nil, nil, fmt.Errorf("policy: read: no .rego files")
	}
	return mods, testMods, nil
}

var idRE = regexp.MustCompile(`^[A-Z][A-Z0-9]*(-[A-Z0-9]+)+$`)

// readRules finds the policy packages: those that define a deny, warn or info set. Each must
// carry a package METADATA block with custom.id and custom.severity naming that set.
func readRules(modules map[string]*ast.Module, prefix string) ([]policyRule, Errors) {
	type pkgInfo struct {
		path  ast.Ref
		annot *ast.Annotations
		sets  map[string]*ast.Location
		first *ast.Location
	}
	pkgs := map[string]*pkgInfo{}
	var errs Errors
	at := func(loc *ast.Location, format string, args ...any) {
		e := Error{Message: fmt.Sprintf(format, args...)}
		if loc != nil {
			e.File, e.Row, e.Col = displayName(prefix, loc.File), loc.Row, loc.Col
		}
		errs = append(errs, e)
	}
	for _, file := range slices.Sorted(maps.Keys(modules)) {
		m := modules[file]
		key := m.Package.Path.String()
		p := pkgs[key]
		if p == nil {
			p = &pkgInfo{path: m.Package.Path, sets: map[string]*ast.Location{}, first: m.Package.Location}
			pkgs[key] = p
		}
		for _, a := range m.Annotations {
			if a.Scope != "package" {
				continue
			}
			if p.annot != nil {
				at(a.Location, "package %s has a second package METADATA block (the first is at %s)", key, a.Location.String())
				continue
			}
			p.annot = a
		}
		for _, r := range m.Rules {
			ref := r.Head.Ref()
			if len(ref) != 1 {
				continue
			}
			name := ref[0].Value.String()
			if slices.Contains(ruleSets, name) {
				if _, seen := p.sets[name]; !seen {
					p.sets[name] = r.Location
				}
				if r.Head.RuleKind() != ast.MultiValue {
					at(r.Location, "%s must be a set of findings: write `%s contains f if { ... }`", name, name)
				}
			}
		}
	}
	var rules []policyRule
	seen := map[string]string{}
	for _, key := range slices.Sorted(maps.Keys(pkgs)) {
		p := pkgs[key]
		if len(p.sets) == 0 {
			continue
		}
		sets := slices.Sorted(maps.Keys(p.sets))
		loc := p.sets[sets[0]]
		if p.annot == nil {
			at(loc, "package %s defines %s but has no package METADATA block with custom.id, custom.severity and title", key, sets[0])
			continue
		}
		if len(sets) > 1 {
			at(p.sets[sets[1]], "package %s defines both %s and %s: one policy package is one rule with one severity", key, sets[0], sets[1])
			continue
		}
		id, _ := p.annot.Custom["id"].(string)
		sev, _ := p.annot.Custom["severity"].(string)
		principle, _ := p.annot.Custom["principle"].(string)
		waivers, hasWaivers := p.annot.Custom["waivers"].(string)
		switch {
		case hasWaivers && waivers != "shared" || !hasWaivers && p.annot.Custom["waivers"] != nil:
			at(p.annot.Location, "package %s: METADATA custom.waivers must be \"shared\" (only shared waivers count) or absent", key)
			continue
		case id == "":
			at(p.annot.Location, "package %s: METADATA custom.id is missing (a stable id such as SV-PKG-001)", key)
			continue
		case !idRE.MatchString(id):
			at(p.annot.Location, "package %s: METADATA custom.id %q must look like SV-PKG-001 (upper case, dash-separated)", key, id)
			continue
		case strings.HasPrefix(id, waiverPrefix):
			at(p.annot.Location, "package %s: id %s: the %s* ids belong to the built-in waiver checks", key, id, waiverPrefix)
			continue
		case seen[id] != "":
			at(p.annot.Location, "package %s: id %s is already used by package %s", key, id, seen[id])
			continue
		case strings.TrimSpace(p.annot.Title) == "":
			at(p.annot.Location, "package %s: METADATA title is missing", key)
			continue
		}
		if _, err := finding.ParseSeverity(sev); err != nil {
			at(p.annot.Location, "package %s: METADATA custom.severity: %v", key, err)
			continue
		}
		if sev != sets[0] {
			at(loc, "package %s: METADATA custom.severity is %s, but the rule set is %s: name the set after the severity", key, sev, sets[0])
			continue
		}
		seen[id] = key
		rules = append(rules, policyRule{
			Rule: finding.Rule{
				ID: id, Title: strings.TrimSpace(p.annot.Title), Description: strings.TrimSpace(p.annot.Description),
				Severity: finding.Severity(sev), Principle: principle,
			},
			pkg:           p.path,
			file:          displayName(prefix, p.annot.Location.File),
			sharedWaivers: waivers == "shared",
		})
	}
	slices.SortFunc(rules, func(a, b policyRule) int { return strings.Compare(a.ID, b.ID) })
	return rules, errs
}

// Rules describes every rule the set can report: the loaded policies and the built-in waiver
// checks, sorted by id.
func (s *Set) Rules() []finding.Rule {
	out := make([]finding.Rule, 0, len(s.rules)+len(waiverRules))
	for _, r := range s.rules {
		out = append(out, r.Rule)
	}
	out = append(out, waiverRules...)
	slices.SortFunc(out, func(a, b finding.Rule) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// RuleFiles maps each policy rule id to the file that declares it.
func (s *Set) RuleFiles() map[string]string {
	out := make(map[string]string, len(s.rules))
	for _, r := range s.rules {
		out[r.ID] = r.file
	}
	return out
}

// Evaluate runs every policy over cat and applies the catalog's waivers: a finding a valid
// waiver matches comes back with WaivedBy set. Support dates and waiver expiry are judged at
// now. Findings are sorted.
func (s *Set) Evaluate(ctx context.Context, cat *catalog.Catalog, now time.Time) ([]finding.Finding, error) {
	findings, err := s.evaluate(ctx, cat, now)
	if err != nil {
		return nil, err
	}
	findings = append(findings, applyWaivers(cat, findings, s.byID, now)...)
	return finding.Sort(findings), nil
}

// evaluate runs the policies without waivers.
func (s *Set) evaluate(ctx context.Context, cat *catalog.Catalog, now time.Time) ([]finding.Finding, error) {
	if !s.hasQuery {
		return nil, nil
	}
	workers := max(1, min(s.opt.Workers, cat.Len()/s.opt.BatchSize))
	inv := newInventory(cat, s.opt.Workers)
	batches := inv.batches(workers, now)

	results := make([][]finding.Finding, len(batches))
	errs := make([]error, len(batches))
	var wg sync.WaitGroup
	for i, input := range batches {
		wg.Go(func() {
			results[i], errs[i] = s.evalBatch(ctx, cat, input)
		})
	}
	wg.Wait()
	var out []finding.Finding
	for i := range batches {
		if errs[i] != nil {
			return nil, errs[i]
		}
		out = append(out, results[i]...)
	}
	return finding.Sort(out), nil
}

func (s *Set) evalBatch(ctx context.Context, cat *catalog.Catalog, input ast.Value) ([]finding.Finding, error) {
	rs, err := s.query.Eval(ctx, rego.EvalParsedInput(input))
	if err != nil {
		return nil, fmt.Errorf("policy: evaluate: %w", err)
	}
	if len(rs) != 1 {
		return nil, fmt.Errorf("policy: evaluate: %d results, want 1", len(rs))
	}
	sets, ok := rs[0].Bindings["x"].([]any)
	if !ok || len(sets) != len(s.rules) {
		return nil, fmt.Errorf("policy: evaluate: unexpected result %T", rs[0].Bindings["x"])
	}
	var out []finding.Finding
	for i, set := range sets {
		r := &s.rules[i]
		elems, _ := set.([]any)
		for _, e := range elems {
			f, err := r.toFinding(cat, e)
			if err != nil {
				return nil, err
			}
			out = append(out, f)
		}
	}
	return out, nil
}

// toFinding turns one element of a rule's set, {"doc": {kind, namespace, name}, "path": [...],
// "msg": "..."}, into a finding placed on the field the path names.
func (r *policyRule) toFinding(cat *catalog.Catalog, v any) (finding.Finding, error) {
	bad := func(format string, args ...any) (finding.Finding, error) {
		b, _ := json.Marshal(v)
		return finding.Finding{}, fmt.Errorf("policy: %s (%s): finding %s: %s", r.ID, r.file, b, fmt.Sprintf(format, args...))
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return bad("must be an object {doc, path, msg}")
	}
	msg, ok := obj["msg"].(string)
	if !ok || msg == "" {
		return bad(`"msg" must be a non-empty string`)
	}
	ref, ok := obj["doc"].(map[string]any)
	if !ok {
		return bad(`"doc" must be an object {kind, namespace, name}: use lib.finding(doc, path, msg)`)
	}
	kind, _ := ref["kind"].(string)
	ns, _ := ref["namespace"].(string)
	name, _ := ref["name"].(string)
	d := cat.Get(kind, ns, name)
	if d == nil {
		return bad("document %s/%s/%s is not in the catalog", kind, ns, name)
	}
	var p catalog.Path
	if raw, present := obj["path"]; present {
		els, ok := raw.([]any)
		if !ok {
			return bad(`"path" must be an array of field names and list indices`)
		}
		p = make(catalog.Path, 0, len(els))
		for _, el := range els {
			switch x := el.(type) {
			case string:
				p = append(p, x)
			case json.Number:
				n, err := x.Int64()
				if err != nil || n < 0 {
					return bad("path element %s is not a list index", x)
				}
				p = append(p, int(n))
			default:
				return bad("path element %v is neither a field name nor a list index", el)
			}
		}
	}
	return d.Finding(r.ID, r.Severity, p, "%s", msg), nil
}
