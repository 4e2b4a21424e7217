package schema

import (
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/cue/parser"

	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/schemas"
)

// A fastCheck decides in plain Go that a document is valid, without CUE. It is a tree of
// nodes derived from the CUE definitions when the schemas are compiled: closed structs with
// their fields, types, enums, regular expressions, bounds, lists and [string] patterns, and a
// switch for each field the schema's "if" comprehensions read. Whatever the tree cannot
// represent exactly becomes a node that answers "ask CUE".
//
// It is only ever trusted when it says valid: a document it does not accept goes through
// CUE as before, so every finding keeps its message, position and path.
type fastCheck struct {
	kinds map[string]node
}

// valid reports whether CUE is sure to find d valid. False means "ask CUE".
func (f *fastCheck) valid(d *catalog.Document) bool {
	if f == nil {
		return false
	}
	n, ok := f.kinds[d.Kind]
	return ok && n.ok(d.Object)
}

// node checks one value of a document (map[string]any, []any, string, int64, float64, bool
// or nil) and reports whether CUE accepts it.
type node interface {
	ok(x any) bool
}

var (
	_ node = askCUE{}
	_ node = anyValue{}
	_ node = (*scalar)(nil)
	_ node = stringSet(nil)
	_ node = anyOf(nil)
	_ node = (*object)(nil)
	_ node = (*switchOn)(nil)
	_ node = (*list)(nil)
)

// askCUE stands for a construct the fast check does not represent: a value there is never
// taken as valid.
type askCUE struct{ why string }

func (askCUE) ok(any) bool { return false }

// anyValue is top (_): every value a document holds is concrete, and so accepted.
type anyValue struct{}

func (anyValue) ok(any) bool { return true }

// kinds of scalar a document holds.
const (
	kString = 1 << iota
	kInt
	kFloat
	kBool
	kNull
)

func scalarKind(x any) int {
	switch x := x.(type) {
	case string:
		if !utf8.ValidString(x) {
			return 0
		}
		return kString
	case int64, int:
		return kInt
	case float64:
		return kFloat
	case bool:
		return kBool
	case nil:
		return kNull
	}
	return 0
}

func kindsOf(k cue.Kind) int {
	var out int
	for _, m := range []struct {
		c cue.Kind
		k int
	}{{cue.StringKind, kString}, {cue.IntKind, kInt}, {cue.FloatKind, kFloat}, {cue.BoolKind, kBool}, {cue.NullKind, kNull}} {
		if k&m.c != 0 {
			out |= m.k
		}
	}
	return out
}

// scalar is a type and the conjuncts that narrow it.
type scalar struct {
	kinds  int
	checks []func(any) bool
}

func (s *scalar) ok(x any) bool {
	if scalarKind(x)&s.kinds == 0 {
		return false
	}
	for _, c := range s.checks {
		if !c(x) {
			return false
		}
	}
	return true
}

// stringSet is an enum of strings.
type stringSet map[string]struct{}

func (s stringSet) ok(x any) bool {
	str, isStr := x.(string)
	_, in := s[str]
	return isStr && in
}

// anyOf is a disjunction of scalars: a concrete value that unifies with any branch is valid.
type anyOf []node

func (a anyOf) ok(x any) bool {
	for _, n := range a {
		if n.ok(x) {
			return true
		}
	}
	return false
}

// object is a struct: its fields, those a document must give, and what an unknown field
// must satisfy (nil: the struct is closed).
type object struct {
	fields   map[string]node
	required []string
	// pattern is the [string] constraint, which every field, known or not, must satisfy.
	pattern node
	// open is set for a struct that takes any other field (...).
	open bool
}

func (o *object) ok(x any) bool {
	m, isMap := x.(map[string]any)
	if !isMap {
		return false
	}
	for k, v := range m {
		n, known := o.fields[k]
		switch {
		case known:
			if !n.ok(v) {
				return false
			}
		case o.pattern == nil && !o.open:
			return false
		}
		if o.pattern != nil && !o.pattern.ok(v) {
			return false
		}
	}
	for _, name := range o.required {
		if _, ok := m[name]; !ok {
			return false
		}
	}
	return true
}

// switchOn picks the struct a document's value of field makes: the CUE definition with that
// value filled in, its comprehensions decided.
type switchOn struct {
	field string
	cases map[any]node
	// absent is the case of a document without the field (its default); nil asks CUE.
	absent node
}

func (s *switchOn) ok(x any) bool {
	m, isMap := x.(map[string]any)
	if !isMap {
		return false
	}
	v, set := m[s.field]
	if !set {
		return s.absent != nil && s.absent.ok(x)
	}
	switch v.(type) {
	case string, bool:
		n, known := s.cases[v]
		return known && n.ok(x)
	}
	return false
}

// list holds a fixed prefix of elements and, unless closed, any number of elem after it.
type list struct {
	prefix []node
	elem   node
}

func (l *list) ok(x any) bool {
	xs, isList := x.([]any)
	if !isList || len(xs) < len(l.prefix) || (l.elem == nil && len(xs) > len(l.prefix)) {
		return false
	}
	for i, v := range xs {
		n := l.elem
		if i < len(l.prefix) {
			n = l.prefix[i]
		}
		if !n.ok(v) {
			return false
		}
	}
	return true
}

// defaultFastCheck is the fast check of the embedded schemas, built once.
var defaultFastCheck = sync.OnceValues(func() (*fastCheck, error) { return buildFastCheck(schemas.FS) })

// fastCheckFor returns the fast check of the schemas in fsys; nil, which asks CUE about every
// document, when they do not build (compile then reports why).
func fastCheckFor(fsys fs.FS) *fastCheck {
	var f *fastCheck
	var err error
	if fsys == fs.FS(schemas.FS) {
		f, err = defaultFastCheck()
	} else {
		f, err = buildFastCheck(fsys)
	}
	if err != nil {
		return nil
	}
	return f
}

// buildFastCheck derives the fast check of every kind from the definitions in fsys.
func buildFastCheck(fsys fs.FS) (*fastCheck, error) {
	conds, err := conditionFields(fsys)
	if err != nil {
		return nil, err
	}
	ctx := cuecontext.New()
	defs, err := buildDefinitions(ctx, fsys, false)
	if err != nil {
		return nil, err
	}
	f := &fastCheck{kinds: map[string]node{}}
	b := &fastBuilder{ctx: ctx, conds: conds}
	for kind, def := range defs.defs {
		if conds == nil {
			f.kinds[kind] = askCUE{"the schemas use a construct the fast check does not follow"}
			continue
		}
		f.kinds[kind] = b.value(def, nil)
	}
	return f, nil
}

type fastBuilder struct {
	ctx *cue.Context
	// conds are the names that the schemas' "if" comprehensions read.
	conds map[string]bool
}

// basicTypes are the type names a conjunct may consist of.
var basicTypes = map[string]bool{"string": true, "int": true, "float": true, "number": true, "bool": true, "null": true, "_": true}

// value builds the node of one constraint. decided lists the fields of the enclosing structs
// already fixed by a switch.
func (b *fastBuilder) value(v cue.Value, decided []string) node {
	ev := v.Eval()
	kind := ev.IncompleteKind()
	op, args := ev.Expr()
	if err := ev.Err(); err != nil {
		// A struct whose comprehensions read a field not yet set is incomplete on its own.
		if _, ferr := v.Fields(cue.Optional(true)); ferr == nil && kind&cue.ListKind == 0 && op != cue.OrOp {
			return b.object(v, decided)
		}
		return askCUE{"error: " + err.Error()}
	}
	switch {
	case op == cue.OrOp && kind&(cue.StructKind|cue.ListKind) != 0:
		return askCUE{"disjunction of structs or lists"}
	case kind == cue.TopKind:
		if op == cue.NoOp && fmt.Sprint(ev) == "_" {
			return anyValue{}
		}
		return askCUE{"top with constraints"}
	case kind == cue.StructKind:
		return b.object(v, decided)
	case kind == cue.ListKind:
		return b.list(v)
	case kind&(cue.StructKind|cue.ListKind) != 0 || kind == cue.BottomKind || kind&^(cue.StringKind|cue.NumberKind|cue.BoolKind|cue.NullKind) != 0:
		return askCUE{"kind " + kind.String()}
	case op == cue.OrOp:
		return b.disjunction(args)
	}
	if _, has := ev.Default(); has && op == cue.NoOp && len(args) == 1 {
		// *true | bool: the default only fills in a missing field, which the
		// enclosing struct decides; a value given must be a bool.
		if _, again := args[0].Default(); again {
			return askCUE{"default " + fmt.Sprint(ev)}
		}
		return b.value(args[0], decided)
	}
	return b.scalar(ev, kind)
}

func (b *fastBuilder) disjunction(args []cue.Value) node {
	set := stringSet{}
	for _, a := range args {
		if s, err := a.String(); err == nil && a.IsConcrete() {
			set[s] = struct{}{}
		} else {
			set = nil
			break
		}
	}
	if set != nil {
		return set
	}
	var out anyOf
	for _, a := range args {
		if a.IncompleteKind()&(cue.StructKind|cue.ListKind) != 0 {
			return askCUE{"disjunction of structs or lists"}
		}
		out = append(out, b.value(a, nil))
	}
	return out
}

func (b *fastBuilder) scalar(v cue.Value, kind cue.Kind) node {
	s := &scalar{kinds: kindsOf(kind)}
	for _, part := range conjuncts(v) {
		op, args := part.Expr()
		var check func(any) bool
		switch op {
		case cue.NoOp:
			if !part.IsConcrete() {
				if !basicTypes[fmt.Sprint(part)] {
					return askCUE{"constraint " + fmt.Sprint(part)}
				}
				continue // the type: kind has it
			}
			lit, ok := docLiteral(part)
			if !ok {
				return askCUE{"literal " + fmt.Sprint(part)}
			}
			check = func(x any) bool { return x == lit }
		case cue.OrOp:
			n := b.disjunction(args)
			check = n.ok
		case cue.RegexMatchOp, cue.NotRegexMatchOp:
			src, err := args[0].String()
			if err != nil {
				return askCUE{"regexp"}
			}
			re, err := regexp.Compile(src)
			if err != nil {
				return askCUE{"regexp"}
			}
			want := op == cue.RegexMatchOp
			check = func(x any) bool {
				str, isStr := x.(string)
				return isStr && re.MatchString(str) == want
			}
		case cue.NotEqualOp:
			lit, ok := docLiteral(args[0])
			if !ok {
				return askCUE{"!= " + fmt.Sprint(args[0])}
			}
			if _, isInt := lit.(int64); isInt {
				return askCUE{"!= number"}
			}
			check = func(x any) bool { return x != lit }
		case cue.GreaterThanEqualOp, cue.GreaterThanOp, cue.LessThanEqualOp, cue.LessThanOp:
			if args[0].Kind() != cue.IntKind {
				return askCUE{"bound " + fmt.Sprint(args[0])}
			}
			n, err := args[0].Int64()
			if err != nil || n > 1<<53 || n < -(1<<53) {
				return askCUE{"bound " + fmt.Sprint(args[0])}
			}
			check = bound(op, n)
		case cue.CallOp:
			if check = call(args); check == nil {
				return askCUE{"call " + fmt.Sprint(part)}
			}
		default:
			return askCUE{"operator " + fmt.Sprint(part)}
		}
		s.checks = append(s.checks, check)
	}
	return s
}

// docLiteral returns a concrete string, bool, null or int as a document holds it.
func docLiteral(v cue.Value) (any, bool) {
	if !v.IsConcrete() {
		return nil, false
	}
	switch v.Kind() {
	case cue.StringKind:
		s, err := v.String()
		return s, err == nil
	case cue.BoolKind:
		x, err := v.Bool()
		return x, err == nil
	case cue.NullKind:
		return nil, true
	case cue.IntKind:
		n, err := v.Int64()
		return n, err == nil
	}
	return nil, false
}

func bound(op cue.Op, n int64) func(any) bool {
	cmp := func(x any) (int, bool) {
		switch x := x.(type) {
		case int64:
			return compare(x, n), true
		case int:
			return compare(int64(x), n), true
		case float64:
			return compare(x, float64(n)), true
		}
		return 0, false
	}
	return func(x any) bool {
		c, isNum := cmp(x)
		if !isNum {
			return false
		}
		switch op {
		case cue.GreaterThanEqualOp:
			return c >= 0
		case cue.GreaterThanOp:
			return c > 0
		case cue.LessThanEqualOp:
			return c <= 0
		default:
			return c < 0
		}
	}
}

func compare[T int64 | float64](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// call returns the check of the builtin validators the schemas use, nil for any other.
func call(args []cue.Value) func(any) bool {
	if len(args) != 2 {
		return nil
	}
	switch fmt.Sprint(args[0]) {
	case "time.Format":
		layout, err := args[1].String()
		if err != nil {
			return nil
		}
		return func(x any) bool {
			s, isStr := x.(string)
			if !isStr {
				return false
			}
			_, err := time.ParseInLocation(layout, s, time.UTC)
			return err == nil
		}
	case "strings.MinRunes", "strings.MaxRunes":
		n, err := args[1].Int64()
		if err != nil {
			return nil
		}
		least := fmt.Sprint(args[0]) == "strings.MinRunes"
		return func(x any) bool {
			s, isStr := x.(string)
			if !isStr {
				return false
			}
			c := int64(utf8.RuneCountInString(s))
			return (least && c >= n) || (!least && c <= n)
		}
	}
	return nil
}

// probe is a field name no schema declares, to ask whether a struct takes unknown fields.
const probe = "\x00samverk-probe"

func (b *fastBuilder) object(v cue.Value, decided []string) node {
	if n, ok := b.switched(v, decided); ok {
		return n
	}
	if v.Err() != nil {
		return askCUE{"struct: " + v.Err().Error()}
	}
	// Fields and FillPath read v as written: once evaluated, its optional fields are gone.
	ev := v.Eval()
	if op, args := ev.Expr(); op == cue.AndOp {
		for _, a := range args {
			if o, _ := a.Expr(); o != cue.NoOp || a.IncompleteKind()&^cue.StructKind != 0 && a.IncompleteKind() != cue.TopKind {
				return askCUE{"struct conjunct " + fmt.Sprint(a)}
			}
		}
	} else if op != cue.NoOp {
		return askCUE{"struct " + op.String()}
	}
	it, err := v.Fields(cue.Optional(true), cue.Patterns(true))
	if err != nil {
		return askCUE{"fields"}
	}
	o := &object{fields: map[string]node{}}
	for it.Next() {
		sel, ft, fv := it.Selector(), it.FieldType(), it.Value()
		if ft&cue.PatternConstraint != 0 {
			if sel.String() != "[string]" || o.pattern != nil {
				return askCUE{"pattern " + sel.String()}
			}
			o.pattern = b.value(fv, nil)
			continue
		}
		if sel.LabelType() != cue.StringLabel {
			return askCUE{"label " + sel.String()}
		}
		name := sel.Unquoted()
		n := b.value(fv, nil)
		o.fields[name] = n
		switch {
		case ft&cue.RequiredConstraint != 0:
			o.required = append(o.required, name)
		case it.IsOptional():
		default:
			// A regular field may be left out when its value, or its default, is a
			// concrete scalar, which CUE fills in; or a list or struct that is concrete when
			// empty ([...#Name], {labels?: ...}).
			d, _ := fv.Default()
			switch k := fv.IncompleteKind(); {
			case d.IsConcrete() && d.Kind()&(cue.StructKind|cue.ListKind) == 0:
			case k == cue.ListKind && n.ok([]any{}):
			case k == cue.StructKind && n.ok(map[string]any{}):
			default:
				o.required = append(o.required, name)
			}
		}
	}
	o.open = o.pattern == nil && ev.Allows(cue.Str(probe))
	return o
}

// switched builds, for a struct with a field that comprehensions read, one struct per value of
// that field. A field whose values cannot be listed (not an enum, not a bool) makes the whole
// struct ask CUE.
func (b *fastBuilder) switched(v cue.Value, decided []string) (node, bool) {
	it, err := v.Fields(cue.Optional(true))
	if err != nil {
		return askCUE{"fields"}, true
	}
	for it.Next() {
		name := it.Selector().Unquoted()
		if it.Selector().LabelType() != cue.StringLabel || !b.conds[name] || slices.Contains(decided, name) {
			continue
		}
		fv := it.Value()
		alts, ok := domain(fv)
		if !ok {
			return askCUE{"comprehension reads " + name}, true
		}
		sw := &switchOn{field: name, cases: map[any]node{}}
		for _, alt := range alts {
			w := v.FillPath(cue.MakePath(cue.Str(name)), alt)
			if w.Err() != nil {
				sw.cases[alt] = askCUE{"conflict"}
				continue
			}
			sw.cases[alt] = b.value(w, append(slices.Clip(decided), name))
		}
		if !it.IsOptional() && it.FieldType()&cue.RequiredConstraint == 0 {
			if d, has := fv.Default(); has {
				if x, ok := docLiteral(d); ok {
					sw.absent = sw.cases[x]
				}
			}
		}
		return sw, true
	}
	return nil, false
}

// domain lists the values a field may take, when they are a few strings or a bool.
func domain(v cue.Value) ([]any, bool) {
	ev := v.Eval()
	if ev.IncompleteKind() == cue.BoolKind {
		return []any{true, false}, true
	}
	op, args := ev.Expr()
	if op != cue.OrOp {
		args = []cue.Value{ev}
	}
	var out []any
	for _, a := range args {
		s, err := a.String()
		if err != nil || !a.IsConcrete() {
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

func (b *fastBuilder) list(v cue.Value) node {
	if op, _ := v.Eval().Expr(); op != cue.NoOp {
		return askCUE{"list " + op.String()}
	}
	lo, hi := listBounds(v)
	l := &list{}
	for i := range lo {
		l.prefix = append(l.prefix, b.value(v.LookupPath(cue.MakePath(cue.Index(i))), nil))
	}
	if hi < 0 {
		l.elem = b.value(v.LookupPath(cue.MakePath(cue.AnyIndex)), nil)
	}
	return l
}

// conditionFields returns the names the "if" comprehensions of the schemas in fsys read. It
// returns nil when the schemas use a construct the fast check does not follow: a "for" or
// "let" clause, or a reference to a field outside a comprehension's condition (b: a), whose
// value would depend on the document.
func conditionFields(fsys fs.FS) (map[string]bool, error) {
	names, err := fs.Glob(fsys, "*.cue")
	if err != nil {
		return nil, fmt.Errorf("schema: list definitions: %w", err)
	}
	conds := map[string]bool{}
	supported := true
	for _, name := range names {
		src, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("schema: read %s: %w", name, err)
		}
		f, err := parser.ParseFile(path.Base(name), src)
		if err != nil {
			return nil, fmt.Errorf("schema: parse %s: %w", name, err)
		}
		imports := map[string]bool{}
		for spec := range f.ImportSpecs() {
			p, _ := strconv.Unquote(spec.Path.Value)
			imports[path.Base(p)] = true
			if spec.Name != nil {
				imports[spec.Name.Name] = true
			}
		}
		var walk func(n ast.Node, cond bool)
		walk = func(n ast.Node, cond bool) {
			ast.Walk(n, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.Package, *ast.ImportDecl:
					return false
				case *ast.Field:
					switch l := n.Label.(type) {
					case *ast.Ident, *ast.BasicLit:
					case *ast.ListLit:
						walk(l, false)
					default:
						supported = false // a dynamic label, (x): ...
					}
					walk(n.Value, cond)
					return false
				case *ast.SelectorExpr:
					walk(n.X, cond)
					return false
				case *ast.Comprehension:
					for _, c := range n.Clauses {
						ic, ok := c.(*ast.IfClause)
						if !ok {
							supported = false
							return false
						}
						walk(ic.Condition, true)
					}
					walk(n.Value, cond)
					return false
				case *ast.LetClause, *ast.Alias, *ast.Interpolation:
					supported = false
					return false
				case *ast.Ident:
					switch {
					case n.Name == "" || n.Name[0] == '#' || predeclared[n.Name] || imports[n.Name]:
					case cond:
						conds[n.Name] = true
					default:
						supported = false
					}
				}
				return true
			}, nil)
		}
		walk(f, false)
	}
	if !supported {
		return nil, nil
	}
	return conds, nil
}

// predeclared are the identifiers of CUE's universe.
var predeclared = map[string]bool{
	"_": true, "string": true, "int": true, "float": true, "number": true, "bool": true, "null": true,
	"bytes": true, "true": true, "false": true, "len": true, "close": true, "and": true, "or": true,
	"div": true, "mod": true, "quo": true, "rem": true,
}
