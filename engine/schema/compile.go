package schema

import (
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strings"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/ast/astutil"
	"cuelang.org/go/cue/build"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/cue/literal"
	"cuelang.org/go/cue/parser"
	"cuelang.org/go/cue/token"

	"samverk.io/samverk/engine/catalog"
)

// definitions is the schema built once in one CUE context.
type definitions struct {
	root cue.Value
	// defs maps a kind to its definition, e.g. "Package" to #Package.
	defs map[string]cue.Value
	// named maps each regular expression or validator a named definition such as #Date
	// consists of (as CUE prints it) to what the definition's doc comment says the definition
	// is: "a calendar date, YYYY-MM-DD".
	named map[string]string
}

// compiled is what one worker validates with: a CUE context of its own (CUE values are not
// safe for concurrent use) and the definitions built in it twice. fast decides whether a
// document is valid; exact, built on first need, explains why one is not.
type compiled struct {
	ctx   *cue.Context
	fsys  fs.FS
	fast  *definitions
	exact *definitions
	// quick, shared by all workers, takes most valid documents without CUE.
	quick *fastCheck
}

func compile(fsys fs.FS) (*compiled, error) {
	ctx := cuecontext.New()
	fast, err := buildDefinitions(ctx, fsys, true)
	if err != nil {
		return nil, err
	}
	return &compiled{ctx: ctx, fsys: fsys, fast: fast}, nil
}

// explaining returns the definitions as written, building them on first use.
func (c *compiled) explaining() (*definitions, error) {
	if c.exact == nil {
		d, err := buildDefinitions(c.ctx, c.fsys, false)
		if err != nil {
			return nil, err
		}
		c.exact = d
	}
	return c.exact, nil
}

// buildDefinitions parses every *.cue file of fsys and builds them as one instance, without
// cue/load (which brings the module registry client along).
//
// With fast set, every disjunction of string literals ("a" | "b") is built as the
// equivalent regular expression (=~"^(?:a|b)$"). Both accept exactly the same concrete
// values, which is all a document holds, but CUE evaluates a disjunction by trying every
// branch, which makes it the largest cost of checking a valid document. Disjunctions with a
// default (*"a" | "b") are left alone: a default fills in a missing field.
func buildDefinitions(ctx *cue.Context, fsys fs.FS, fast bool) (*definitions, error) {
	names, err := fs.Glob(fsys, "*.cue")
	if err != nil {
		return nil, fmt.Errorf("schema: list definitions: %w", err)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("schema: no *.cue files among the definitions")
	}
	slices.Sort(names)
	inst := build.NewContext().NewInstance("", nil)
	for _, name := range names {
		src, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("schema: read %s: %w", name, err)
		}
		f, err := parser.ParseFile(path.Base(name), src, parser.ParseComments)
		if err != nil {
			return nil, fmt.Errorf("schema: parse %s: %w", name, err)
		}
		if fast {
			enumsToRegexps(f)
		}
		if err := inst.AddSyntax(f); err != nil {
			return nil, fmt.Errorf("schema: add %s: %w", name, err)
		}
	}
	root := ctx.BuildInstance(inst)
	if err := root.Err(); err != nil {
		return nil, fmt.Errorf("schema: build definitions: %w", err)
	}
	if err := root.Validate(); err != nil {
		return nil, fmt.Errorf("schema: build definitions: %w", err)
	}
	d := &definitions{root: root, defs: make(map[string]cue.Value, len(catalog.Kinds)), named: map[string]string{}}
	for _, kind := range catalog.Kinds {
		def := root.LookupPath(cue.MakePath(cue.Def(kind)))
		if !def.Exists() {
			continue
		}
		if err := def.Err(); err != nil {
			return nil, fmt.Errorf("schema: definition #%s: %w", kind, err)
		}
		d.defs[kind] = def
	}
	it, err := root.Fields(cue.Definitions(true))
	if err != nil {
		return nil, fmt.Errorf("schema: list definitions: %w", err)
	}
	for it.Next() {
		sel := it.Selector()
		if !sel.IsDefinition() {
			continue
		}
		desc := definitionSummary(sel.String(), it.Value())
		if desc == "" {
			continue
		}
		for _, part := range conjuncts(it.Value().Eval()) {
			if op, _ := part.Expr(); op == cue.RegexMatchOp || op == cue.CallOp {
				d.named[fmt.Sprint(part)] = desc
			}
		}
	}
	return d, nil
}

// enumsToRegexps replaces, in f, every disjunction of plain string literals with the regular
// expression that matches exactly those strings.
func enumsToRegexps(f *ast.File) {
	astutil.Apply(f, func(c astutil.Cursor) bool {
		x, ok := c.Node().(*ast.BinaryExpr)
		if !ok || x.Op != token.OR {
			return true
		}
		var alts []string
		if !stringAlternatives(x, &alts) {
			return true
		}
		for i, a := range alts {
			alts[i] = regexp.QuoteMeta(a)
		}
		c.Replace(&ast.UnaryExpr{Op: token.MAT, X: ast.NewString("^(?:" + strings.Join(alts, "|") + ")$")})
		return false
	}, nil)
}

// stringAlternatives collects the branches of a disjunction into alts, and reports whether
// every branch is a plain string literal.
func stringAlternatives(e ast.Expr, alts *[]string) bool {
	switch e := e.(type) {
	case *ast.ParenExpr:
		return stringAlternatives(e.X, alts)
	case *ast.BinaryExpr:
		return e.Op == token.OR && stringAlternatives(e.X, alts) && stringAlternatives(e.Y, alts)
	case *ast.BasicLit:
		if e.Kind != token.STRING || strings.HasPrefix(e.Value, "'") || strings.HasPrefix(e.Value, "#") {
			return false
		}
		s, err := literal.Unquote(e.Value)
		if err != nil {
			return false
		}
		*alts = append(*alts, s)
		return true
	}
	return false
}

// definitionSummary returns the first sentence of the doc comment of the definition named
// name, without its "#Name is " lead: "#Date is a calendar date, YYYY-MM-DD." gives
// "a calendar date, YYYY-MM-DD". It is empty unless the comment has that form.
func definitionSummary(name string, v cue.Value) string {
	var text strings.Builder
	for _, cg := range v.Doc() {
		text.WriteString(cg.Text())
	}
	s := strings.Join(strings.Fields(text.String()), " ")
	rest, ok := strings.CutPrefix(s, name+" is ")
	if !ok {
		return ""
	}
	if i := strings.Index(rest, ". "); i >= 0 {
		rest = rest[:i]
	}
	return strings.TrimSuffix(rest, ".")
}

// conjuncts flattens the conjunction v is into its parts.
func conjuncts(v cue.Value) []cue.Value {
	op, args := v.Expr()
	if op != cue.AndOp {
		return []cue.Value{v}
	}
	var out []cue.Value
	for _, a := range args {
		out = append(out, conjuncts(a)...)
	}
	return out
}
