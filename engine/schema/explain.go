package schema

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	cueerrors "cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/token"

	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/finding"
)

var concrete = []cue.Option{cue.Concrete(true)}

// maxRounds bounds how often an invalid document is re-evaluated to uncover problems that
// CUE does not report while others are present.
const maxRounds = 12

type problemKind int

const (
	valueProblem    problemKind = iota // the value at path violates its constraint
	unknownProblem                     // the field at path is not part of the definition
	requiredProblem                    // the field at path is required but absent
)

type problem struct {
	kind problemKind
	path catalog.Path
	msgs []string // CUE's messages about path, for the fallback
}

// explainer turns one invalid document into one finding per problem.
//
// CUE reports no more than a part of a document's problems at once: while a value is wrong,
// it stays silent about fields not allowed in the same document and about missing ones. So
// the explainer evaluates the document again with every value found wrong replaced by top
// (_) and every field not allowed left out, until no new problem shows up. The last
// evaluation then also gives, at each wrong value's path, the constraint that applies there
// in context (conditionals included), from which the message is derived.
type explainer struct {
	c        *compiled
	defs     *definitions
	d        *catalog.Document
	replaced map[string]bool // printed paths of values found wrong
	removed  map[string]bool // printed paths of fields not allowed
	recorded map[string]bool // printed paths of problems found
	problems []*problem
}

func (c *compiled) explain(d *catalog.Document, defs *definitions, v cue.Value) []finding.Finding {
	x := &explainer{c: c, defs: defs, d: d, replaced: map[string]bool{}, removed: map[string]bool{}, recorded: map[string]bool{}}
	def := defs.defs[d.Kind]
	u := def.Unify(v)
	cur := u
	settled := false
	for round := range maxRounds {
		if round > 0 {
			cur = def.Unify(c.ctx.BuildExpr(x.syntax(d.Object, nil)))
		}
		if !x.collect(cur.Validate()) {
			settled = true
			break
		}
	}
	if !settled {
		cur = def.Unify(c.ctx.BuildExpr(x.syntax(d.Object, nil)))
	}
	x.missing(d.Object, cur, nil)

	out := make([]finding.Finding, 0, len(x.problems))
	for _, p := range x.problems {
		rule, msg := x.describe(p, cur)
		out = append(out, d.Finding(rule, finding.Deny, p.path, "%s", msg))
	}
	if len(out) == 0 {
		// CUE found the document invalid but no problem could be placed: report what it said.
		err := u.Validate(concrete...)
		out = append(out, d.Finding(finding.RuleSchemaInvalid, finding.Deny, nil, "%s", cleanMessages(messages(err))))
	}
	return out
}

// collect records the problems err reports that are not known yet, and reports whether
// there were any.
func (x *explainer) collect(err error) bool {
	if err == nil {
		return false
	}
	byKey := map[string]*problem{}
	var keys []string
	for _, e := range cueerrors.Errors(err) {
		p := x.docPath(e.Path())
		key := p.String()
		if x.recorded[key] || x.covered(key) {
			continue
		}
		format, args := e.Msg()
		msg := fmt.Sprintf(format, args...)
		pr, ok := byKey[key]
		if !ok {
			pr = &problem{path: p}
			byKey[key] = pr
			keys = append(keys, key)
		}
		if msg == "field not allowed" {
			pr.kind = unknownProblem
		}
		if !slices.Contains(pr.msgs, msg) {
			pr.msgs = append(pr.msgs, msg)
		}
	}
	// A problem inside a value is the more precise one: leave its ancestors for a later round,
	// where they show up again if they are problems of their own.
	added := false
	for _, key := range keys {
		if slices.ContainsFunc(keys, func(k string) bool { return k != key && isUnder(k, key) }) {
			continue
		}
		pr := byKey[key]
		switch {
		case key == "":
			// The document as a whole: nothing to set aside, and nothing to look at again.
		case pr.kind == unknownProblem:
			x.removed[key] = true
		default:
			x.replaced[key] = true
		}
		x.recorded[key] = true
		x.problems = append(x.problems, pr)
		added = true
	}
	return added
}

// covered reports whether key is, or lies within, a value already found wrong or a field left out.
func (x *explainer) covered(key string) bool {
	for k := key; ; k = parentKey(k) {
		if x.replaced[k] || x.removed[k] {
			return true
		}
		if k == "" {
			return false
		}
	}
}

// isUnder reports whether printed path k lies strictly within printed path anc.
func isUnder(k, anc string) bool {
	if anc == "" {
		return k != ""
	}
	return len(k) > len(anc) && strings.HasPrefix(k, anc) && (k[len(anc)] == '.' || k[len(anc)] == '[')
}

func parentKey(key string) string {
	p := catalog.ParsePath(key)
	if len(p) == 0 {
		return ""
	}
	return p[:len(p)-1].String()
}

// docPath turns a CUE error path ("#Package", "spec", "osReleases", "0") into a document path,
// telling list indices from field names by the document's shape.
func (x *explainer) docPath(els []string) catalog.Path {
	if len(els) > 0 && strings.HasPrefix(els[0], "#") {
		els = els[1:]
	}
	p := make(catalog.Path, 0, len(els))
	var cur any = x.d.Object
	for _, el := range els {
		switch v := cur.(type) {
		case []any:
			if i, err := strconv.Atoi(el); err == nil {
				p = append(p, i)
				cur = nil
				if i >= 0 && i < len(v) {
					cur = v[i]
				}
				continue
			}
		case map[string]any:
			if e, ok := v[el]; ok {
				p = append(p, el)
				cur = e
				continue
			}
			if u, err := strconv.Unquote(el); err == nil {
				if e, ok := v[u]; ok {
					p = append(p, u)
					cur = e
					continue
				}
			}
		}
		if u, err := strconv.Unquote(el); err == nil {
			el = u
		}
		p = append(p, el)
		cur = nil
	}
	return p
}

// syntax renders a document value as CUE, with wrong values replaced by _ and fields not
// allowed left out.
func (x *explainer) syntax(v any, path catalog.Path) ast.Expr {
	if len(x.replaced) > 0 && x.replaced[path.String()] {
		return ast.NewIdent("_")
	}
	switch v := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		fields := make([]any, 0, 2*len(keys))
		for _, k := range keys {
			cp := path.Append(k)
			if x.removed[cp.String()] {
				continue
			}
			fields = append(fields, k, x.syntax(v[k], cp))
		}
		return ast.NewStruct(fields...)
	case []any:
		elems := make([]ast.Expr, len(v))
		for i, e := range v {
			elems[i] = x.syntax(e, path.Append(i))
		}
		return ast.NewList(elems...)
	case string:
		return ast.NewString(v)
	case bool:
		return ast.NewBool(v)
	case nil:
		return ast.NewNull()
	case int64:
		return ast.NewLit(token.INT, strconv.FormatInt(v, 10))
	case int:
		return ast.NewLit(token.INT, strconv.Itoa(v))
	case float64:
		return ast.NewLit(token.FLOAT, floatLiteral(v))
	}
	// Nothing else reaches a document; should it, it is not a value the schema allows.
	return ast.NewIdent("_|_")
}

// missing records every field the definition requires that the document lacks. v is the
// evaluated document at path.
func (x *explainer) missing(doc any, v cue.Value, path catalog.Path) {
	if path != nil && x.covered(path.String()) {
		return
	}
	switch doc := doc.(type) {
	case map[string]any:
		it, err := v.Fields()
		if err != nil {
			return
		}
		for it.Next() {
			sel := it.Selector()
			if sel.LabelType() != cue.StringLabel {
				continue
			}
			name := sel.Unquoted()
			if _, ok := doc[name]; ok {
				x.missing(doc[name], it.Value(), path.Append(name))
				continue
			}
			if p := path.Append(name); !x.recorded[p.String()] && it.Value().Validate(concrete...) != nil {
				x.recorded[p.String()] = true
				x.problems = append(x.problems, &problem{kind: requiredProblem, path: p})
			}
		}
	case []any:
		for i, e := range doc {
			if ev := v.LookupPath(cue.MakePath(cue.Index(i))); ev.Exists() {
				x.missing(e, ev, path.Append(i))
			}
		}
	}
}

// describe derives the rule and message of a problem from the constraint that applies at its
// path in the evaluated document v.
func (x *explainer) describe(p *problem, v cue.Value) (string, string) {
	switch p.kind {
	case requiredProblem:
		return finding.RuleSchemaRequired, "field is required"
	case unknownProblem:
		msg := "field not allowed"
		if len(p.path) == 0 {
			return finding.RuleSchemaUnknown, msg
		}
		if name, ok := p.path[len(p.path)-1].(string); ok {
			if s := suggest(name, fieldNames(v.LookupPath(cuePath(p.path[:len(p.path)-1])))); s != "" {
				msg += "; did you mean " + s + "?"
			}
		}
		return finding.RuleSchemaUnknown, msg
	}
	val, ok := x.d.Lookup(p.path)
	c := v.LookupPath(cuePath(p.path))
	if !ok || !c.Exists() || c.Err() != nil {
		return finding.RuleSchemaInvalid, cleanMessages(p.msgs)
	}
	if rule, msg, ok := x.explainValue(c, val); ok {
		return rule, msg
	}
	return finding.RuleSchemaInvalid, cleanMessages(p.msgs)
}

// explainValue says why val does not satisfy constraint con.
func (x *explainer) explainValue(con cue.Value, val any) (rule, msg string, ok bool) {
	yaml := strings.HasSuffix(x.d.File, ".yaml") || strings.HasSuffix(x.d.File, ".yml")
	want := con.IncompleteKind()
	have := kindOf(val)
	if want&have == 0 && want != cue.BottomKind {
		msg := "must be " + kindNames(want) + "; got " + describeValue(val)
		if yaml && want&cue.StringKind != 0 && have&(cue.NumberKind|cue.BoolKind) != 0 {
			msg += " (quote it in YAML)"
		}
		return finding.RuleSchemaType, msg, true
	}
	ev := con.Eval()
	if alts, ok := literals(ev); ok {
		if len(alts) == 1 {
			return finding.RuleSchemaEnum, "must be " + alts[0] + "; got " + showValue(val), true
		}
		return finding.RuleSchemaEnum, "must be one of " + strings.Join(alts, ", ") + "; got " + showValue(val), true
	}
	if l, ok := val.([]any); ok {
		if lo, hi := listBounds(ev); len(l) < lo || hi >= 0 && len(l) > hi {
			return finding.RuleSchemaBound, itemsMessage(lo, hi) + "; got " + strconv.Itoa(len(l)), true
		}
	}
	v := x.c.ctx.Encode(val)
	var patterns, bounds []string
	var failed []string
	empty := false
	for _, part := range conjuncts(ev) {
		op, args := part.Expr()
		fails := part.Unify(v).Validate(concrete...) != nil
		if desc, named := x.defs.named[fmt.Sprint(part)]; named && (op == cue.RegexMatchOp || op == cue.CallOp) {
			// Part of a definition such as #Date: say what the definition is.
			if fails && !slices.Contains(patterns, "must be "+desc) {
				patterns = append(patterns, "must be "+desc)
			}
			continue
		}
		switch op {
		case cue.RegexMatchOp, cue.NotRegexMatchOp:
			if !fails || len(args) != 1 {
				continue
			}
			re, _ := args[0].String()
			if op == cue.NotRegexMatchOp {
				patterns = append(patterns, "must not match "+re)
			} else {
				patterns = append(patterns, "must match "+re)
			}
		case cue.LessThanOp, cue.LessThanEqualOp, cue.GreaterThanOp, cue.GreaterThanEqualOp, cue.NotEqualOp:
			if len(args) != 1 {
				continue
			}
			// Every bound of the constraint is named, so the message gives the whole range.
			if s, err := args[0].String(); err == nil && s == "" && op == cue.NotEqualOp {
				bounds = append(bounds, "must not be empty")
				empty = empty || fails
			} else {
				bounds = append(bounds, boundPhrase(op, fmt.Sprint(args[0])))
			}
			if fails {
				failed = append(failed, "bound")
			}
		case cue.CallOp:
			if len(args) != 2 {
				if fails {
					failed = append(failed, fmt.Sprint(part))
				}
				continue
			}
			n, err := args[1].Int64()
			switch name := fmt.Sprint(args[0]); {
			case err != nil:
			case name == "strings.MinRunes":
				if n == 1 {
					bounds = append(bounds, "must not be empty")
				} else {
					bounds = append(bounds, fmt.Sprintf("must be at least %d characters long", n))
				}
				if fails {
					failed = append(failed, "bound")
					if s, _ := val.(string); s == "" {
						empty = true
					}
				}
				continue
			case name == "strings.MaxRunes":
				bounds = append(bounds, fmt.Sprintf("must be at most %d characters long", n))
				if fails {
					failed = append(failed, "bound")
				}
				continue
			}
			if fails {
				failed = append(failed, "must satisfy "+fmt.Sprint(part))
			}
		default:
			if fails {
				failed = append(failed, "")
			}
		}
	}
	switch {
	case empty:
		return finding.RuleSchemaBound, "must not be empty", true
	case len(patterns) > 0:
		return finding.RuleSchemaPattern, strings.Join(patterns, " and ") + "; got " + showValue(val), true
	case slices.Contains(failed, "bound"):
		return finding.RuleSchemaBound, joinPhrases(bounds) + "; got " + showValue(val), true
	}
	for _, f := range failed {
		if strings.HasPrefix(f, "must satisfy ") {
			return finding.RuleSchemaInvalid, f + "; got " + showValue(val), true
		}
	}
	return "", "", false
}

func boundPhrase(op cue.Op, n string) string {
	switch op {
	case cue.LessThanOp:
		return "must be less than " + n
	case cue.LessThanEqualOp:
		return "must be at most " + n
	case cue.GreaterThanOp:
		return "must be greater than " + n
	case cue.GreaterThanEqualOp:
		return "must be at least " + n
	}
	return "must not be " + n
}

// joinPhrases joins "must be at least 1" and "must be at most 9" into
// "must be at least 1 and at most 9".
func joinPhrases(ps []string) string {
	if len(ps) == 0 {
		return "is out of bounds"
	}
	out := ps[0]
	for _, p := range ps[1:] {
		if rest, ok := strings.CutPrefix(p, "must be "); ok && strings.HasPrefix(out, "must be ") {
			p = rest
		}
		out += " and " + p
	}
	return out
}

func itemsMessage(lo, hi int) string {
	switch {
	case hi >= 0 && lo == hi:
		return fmt.Sprintf("must have exactly %d %s", lo, plural(lo, "item"))
	case hi >= 0 && lo > 0:
		return fmt.Sprintf("must have %d to %d items", lo, hi)
	case hi >= 0:
		return fmt.Sprintf("must have at most %d %s", hi, plural(hi, "item"))
	}
	return fmt.Sprintf("must have at least %d %s", lo, plural(lo, "item"))
}

func plural(n int, s string) string {
	if n == 1 {
		return s
	}
	return s + "s"
}

// listBounds returns the least and greatest length a list constraint admits; hi is -1 for
// an open list.
func listBounds(v cue.Value) (lo, hi int) {
	if v.IncompleteKind() != cue.ListKind {
		return 0, -1
	}
	for lo = 0; v.LookupPath(cue.MakePath(cue.Index(lo))).Exists(); lo++ {
	}
	if v.LookupPath(cue.MakePath(cue.AnyIndex)).Exists() {
		return lo, -1
	}
	return lo, lo
}

// literals returns the values of a constraint that is a disjunction of literals (an enum),
// or a single literal, as they read in a message.
func literals(v cue.Value) ([]string, bool) {
	if v.IsConcrete() && v.Kind()&(cue.StructKind|cue.ListKind) == 0 {
		return []string{literalString(v)}, true
	}
	op, args := v.Expr()
	if op != cue.OrOp {
		return nil, false
	}
	out := make([]string, 0, len(args))
	for _, a := range args {
		if !a.IsConcrete() || a.Kind()&(cue.StructKind|cue.ListKind) != 0 {
			return nil, false
		}
		out = append(out, literalString(a))
	}
	return out, true
}

func literalString(v cue.Value) string {
	if s, err := v.String(); err == nil {
		return s
	}
	return fmt.Sprint(v)
}

func kindOf(v any) cue.Kind {
	switch v.(type) {
	case string:
		return cue.StringKind
	case bool:
		return cue.BoolKind
	case nil:
		return cue.NullKind
	case int64, int:
		return cue.IntKind
	case float64:
		return cue.FloatKind
	case []any:
		return cue.ListKind
	case map[string]any:
		return cue.StructKind
	}
	return cue.BottomKind
}

// kindNames says what kinds k admits: "a string", "an integer", "a string, a number or a boolean".
func kindNames(k cue.Kind) string {
	var names []string
	if k&cue.StringKind != 0 {
		names = append(names, "a string")
	}
	switch {
	case k&cue.NumberKind == cue.NumberKind:
		names = append(names, "a number")
	case k&cue.IntKind != 0:
		names = append(names, "an integer")
	case k&cue.FloatKind != 0:
		names = append(names, "a decimal number")
	}
	if k&cue.BoolKind != 0 {
		names = append(names, "a boolean")
	}
	if k&cue.ListKind != 0 {
		names = append(names, "a list")
	}
	if k&cue.StructKind != 0 {
		names = append(names, "a mapping")
	}
	if k&cue.NullKind != 0 {
		names = append(names, "null")
	}
	if k&cue.BytesKind != 0 {
		names = append(names, "bytes")
	}
	switch len(names) {
	case 0:
		return "absent"
	case 1:
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// describeValue renders a document value for a message, the way it reads in YAML.
func describeValue(v any) string {
	switch v := v.(type) {
	case string:
		return strconv.Quote(v)
	case bool:
		return "boolean " + strconv.FormatBool(v)
	case nil:
		return "null"
	case int64:
		return "number " + strconv.FormatInt(v, 10)
	case int:
		return "number " + strconv.Itoa(v)
	case float64:
		return "number " + floatLiteral(v)
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	}
	return fmt.Sprintf("%T", v)
}

// showValue renders a document value that has the expected type for a message.
func showValue(v any) string {
	switch v.(type) {
	case string, []any, map[string]any:
		return describeValue(v)
	}
	return strings.TrimPrefix(strings.TrimPrefix(describeValue(v), "number "), "boolean ")
}

// floatLiteral formats f so that it reads as a decimal number: 1 as "1.0".
func floatLiteral(f float64) string {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if !strings.ContainsAny(s, ".e") {
		s += ".0"
	}
	return s
}

// cuePath turns a document path into a CUE path.
func cuePath(p catalog.Path) cue.Path {
	sels := make([]cue.Selector, 0, len(p))
	for _, el := range p {
		switch el := el.(type) {
		case int:
			sels = append(sels, cue.Index(el))
		case string:
			sels = append(sels, cue.Str(el))
		}
	}
	return cue.MakePath(sels...)
}

// fieldNames lists the regular and optional fields a struct constraint declares.
func fieldNames(v cue.Value) []string {
	it, err := v.Fields(cue.Optional(true))
	if err != nil {
		return nil
	}
	var out []string
	for it.Next() {
		if sel := it.Selector(); sel.LabelType() == cue.StringLabel {
			out = append(out, sel.Unquoted())
		}
	}
	return out
}

// suggest returns the candidate closest to name if it is close enough to be a typo.
func suggest(name string, candidates []string) string {
	best, bestDist := "", math.MaxInt
	for _, c := range candidates {
		if d := editDistance(strings.ToLower(name), strings.ToLower(c)); d < bestDist {
			best, bestDist = c, d
		}
	}
	if best == "" || bestDist > max(1, min(3, len(name)/3)) {
		return ""
	}
	return best
}

// editDistance is the optimal string alignment distance: insertions, deletions,
// substitutions and transpositions of adjacent letters each cost one.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range rb {
		d[0][j+1] = j + 1
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

func messages(err error) []string {
	var out []string
	for _, e := range cueerrors.Errors(err) {
		format, args := e.Msg()
		out = append(out, fmt.Sprintf(format, args...))
	}
	return out
}

// cleanMessages makes CUE's messages about one path readable: the "N errors in empty
// disjunction" headers go, as do definition names in paths; repeats are dropped.
func cleanMessages(msgs []string) string {
	var out []string
	for _, m := range msgs {
		if strings.HasSuffix(m, "errors in empty disjunction:") {
			continue
		}
		m = defRE.ReplaceAllString(m, "")
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	if len(out) == 0 {
		return "does not satisfy the schema"
	}
	return strings.Join(out, "; ")
}

// defRE matches a definition name at the start of a path in a message, "#Package.".
var defRE = regexp.MustCompile(`#[A-Z][A-Za-z0-9]*\.`)
