package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"

	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/schemas"
)

// JSONSchemaDraft is the dialect JSONSchema produces: draft-07, which every editor's YAML
// language server understands.
const JSONSchemaDraft = "http://json-schema.org/draft-07/schema#"

// JSONSchema returns the JSON Schema of documents of kind, derived from its CUE definition:
// types, enums, required fields, patterns, bounds and doc comments as descriptions. With a
// "# yaml-language-server: $schema=<file>" comment, an editor completes and checks a document.
func JSONSchema(kind string) ([]byte, error) {
	defs, err := buildDefinitions(cuecontext.New(), schemas.FS, false)
	if err != nil {
		return nil, err
	}
	return jsonSchema(defs, kind)
}

// JSONSchemas returns the JSON Schema of every kind, by kind.
func JSONSchemas() (map[string][]byte, error) {
	defs, err := buildDefinitions(cuecontext.New(), schemas.FS, false)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]byte, len(catalog.Kinds))
	for _, kind := range catalog.Kinds {
		b, err := jsonSchema(defs, kind)
		if err != nil {
			return nil, err
		}
		out[kind] = b
	}
	return out, nil
}

func jsonSchema(defs *definitions, kind string) ([]byte, error) {
	def, ok := defs.defs[kind]
	if !ok {
		return nil, fmt.Errorf("schema: no definition #%s for kind %q", kind, kind)
	}
	s := (&converter{ctx: def.Context(), root: defs.root}).convert(def)
	s["$schema"] = JSONSchemaDraft
	s["$id"] = "https://samverk.io/schemas/v1/" + strings.ToLower(kind) + ".json"
	s["title"] = kind
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(s); err != nil {
		return nil, fmt.Errorf("schema: encode JSON Schema of %s: %w", kind, err)
	}
	return b.Bytes(), nil
}

type converter struct {
	ctx  *cue.Context
	root cue.Value
}

// convert renders one CUE constraint as a JSON Schema object.
func (c *converter) convert(v cue.Value) map[string]any {
	s := map[string]any{}
	if d := c.description(v); d != "" {
		s["description"] = d
	}
	ev := v.Eval()
	kind := ev.IncompleteKind()
	if kind == cue.BottomKind {
		// A struct whose comprehensions depend on fields not yet set (if type == ...) is
		// incomplete on its own, yet has fields.
		if _, err := v.Fields(cue.Optional(true)); err == nil {
			ev, kind = v, cue.StructKind
		}
	}
	if alts, ok := literalValues(ev); ok {
		if len(alts) == 1 {
			s["const"] = alts[0]
		} else {
			s["enum"] = alts
		}
		if t := jsonTypes(kind); len(t) == 1 {
			s["type"] = t[0]
		}
		return s
	}
	if op, args := ev.Expr(); op == cue.OrOp {
		var branches []any
		var types []string
		simple := true
		for _, a := range args {
			b := c.convert(a)
			delete(b, "description")
			if t, ok := b["type"].(string); ok && len(b) == 1 {
				types = append(types, t)
			} else {
				simple = false
			}
			branches = append(branches, b)
		}
		if simple {
			s["type"] = types
		} else {
			s["anyOf"] = branches
		}
		return s
	}
	switch t := jsonTypes(kind); len(t) {
	case 0:
		return s // top: anything
	case 1:
		s["type"] = t[0]
	default:
		s["type"] = t
	}
	switch {
	case kind == cue.StructKind:
		// The value as written still has its defaults; evaluated, they are decided.
		if field, def, ok := boolDefault(v); ok {
			c.switched(v, field, def, s)
		} else {
			c.object(ev, s)
		}
	case kind == cue.ListKind:
		c.array(ev, s)
	default:
		scalarConstraints(ev, s)
	}
	return s
}

// switched renders a struct whose conditionals read a boolean with a default (source.allowHTTP:
// *false | bool, with "if !allowHTTP { url: #HTTPSURL }"): the struct as it is with the other
// value, plus what the default adds unless the field is set to the other value.
func (c *converter) switched(v cue.Value, field string, def bool, s map[string]any) {
	loose := v.Unify(c.ctx.Encode(map[string]any{field: !def}))
	strict := v.Unify(c.ctx.Encode(map[string]any{field: def}))
	c.object(loose, s)
	props, _ := s["properties"].(map[string]any)
	if props != nil {
		props[field] = c.convert(v.LookupPath(cue.MakePath(cue.Str(field))))
	}
	if req, ok := s["required"].([]string); ok {
		s["required"] = slices.DeleteFunc(req, func(r string) bool { return r == field })
		if len(s["required"].([]string)) == 0 {
			delete(s, "required")
		}
	}
	base := fieldSignatures(loose)
	then := map[string]any{}
	for name, sig := range fieldSignatures(strict) {
		if name == field || base[name].value == sig.value {
			continue
		}
		p := c.convert(strict.LookupPath(cue.MakePath(cue.Str(name))))
		delete(p, "description")
		then[name] = p
	}
	if len(then) == 0 {
		return
	}
	cond := map[string]any{
		"if":   map[string]any{"not": map[string]any{"properties": map[string]any{field: map[string]any{"const": !def}}, "required": []string{field}}},
		"then": map[string]any{"properties": then},
	}
	all, _ := s["allOf"].([]any)
	s["allOf"] = append(all, cond)
}

// boolDefault finds a boolean field of v with a default, which conditionals may read.
func boolDefault(v cue.Value) (string, bool, bool) {
	it, err := v.Fields(cue.Optional(true))
	if err != nil {
		return "", false, false
	}
	for it.Next() {
		f := it.Value()
		if f.IncompleteKind() != cue.BoolKind || !hasDefault(f) {
			continue
		}
		d, _ := f.Default()
		b, err := d.Bool()
		if err != nil {
			continue
		}
		return it.Selector().Unquoted(), b, true
	}
	return "", false, false
}

func (c *converter) object(v cue.Value, s map[string]any) {
	props := map[string]any{}
	var required []string
	it, err := v.Fields(cue.Optional(true))
	if err != nil {
		return
	}
	var enums []string
	for it.Next() {
		sel := it.Selector()
		if sel.LabelType() != cue.StringLabel {
			continue
		}
		name := sel.Unquoted()
		props[name] = c.convert(it.Value())
		if !it.IsOptional() && !hasDefault(it.Value()) {
			required = append(required, name)
		}
		if alts, ok := literalValues(it.Value().Eval()); ok && len(alts) > 1 {
			enums = append(enums, name)
		}
	}
	if len(props) > 0 {
		s["properties"] = props
	}
	if len(required) > 0 {
		s["required"] = required
	}
	if pat := v.LookupPath(cue.MakePath(cue.AnyString)); pat.Exists() {
		s["additionalProperties"] = c.convert(pat)
	} else {
		// Structs of a definition are closed.
		s["additionalProperties"] = false
	}
	if conds := c.conditionals(v, enums); len(conds) > 0 {
		s["allOf"] = conds
	}
}

// conditionals finds what a value of an enum field adds to its struct (CUE's "if type ==
// "command" {...}"): each such value gives an if/then with the fields it requires and the
// constraints it narrows.
func (c *converter) conditionals(v cue.Value, enums []string) []any {
	var out []any
	base := fieldSignatures(v)
	for _, field := range enums {
		alts, _ := literalValues(v.LookupPath(cue.MakePath(cue.Str(field))).Eval())
		for _, alt := range alts {
			w := v.Unify(c.ctx.Encode(map[string]any{field: alt}))
			if w.Err() != nil {
				continue
			}
			then := map[string]any{}
			props := map[string]any{}
			var required []string
			it, err := w.Fields(cue.Optional(true))
			if err != nil {
				continue
			}
			for it.Next() {
				sel := it.Selector()
				if sel.LabelType() != cue.StringLabel || sel.Unquoted() == field {
					continue
				}
				name := sel.Unquoted()
				b, known := base[name]
				if !it.IsOptional() && (!known || b.optional) {
					required = append(required, name)
				}
				if !known || b.value != fmt.Sprint(it.Value()) {
					p := c.convert(it.Value())
					delete(p, "description")
					props[name] = p
				}
			}
			if len(required) == 0 && len(props) == 0 {
				continue
			}
			if len(required) > 0 {
				then["required"] = required
			}
			if len(props) > 0 {
				then["properties"] = props
			}
			out = append(out, map[string]any{
				"if":   map[string]any{"properties": map[string]any{field: map[string]any{"const": alt}}, "required": []string{field}},
				"then": then,
			})
		}
	}
	return out
}

type fieldSignature struct {
	optional bool
	value    string
}

func fieldSignatures(v cue.Value) map[string]fieldSignature {
	out := map[string]fieldSignature{}
	it, err := v.Fields(cue.Optional(true))
	if err != nil {
		return out
	}
	for it.Next() {
		if sel := it.Selector(); sel.LabelType() == cue.StringLabel {
			out[sel.Unquoted()] = fieldSignature{it.IsOptional(), fmt.Sprint(it.Value())}
		}
	}
	return out
}

func (c *converter) array(v cue.Value, s map[string]any) {
	lo, hi := listBounds(v)
	var prefix []map[string]any
	for i := range lo {
		prefix = append(prefix, c.convert(v.LookupPath(cue.MakePath(cue.Index(i)))))
	}
	var items map[string]any
	if elem := v.LookupPath(cue.MakePath(cue.AnyIndex)); elem.Exists() {
		items = c.convert(elem)
	}
	same := items != nil
	for _, p := range prefix {
		same = same && jsonEqual(p, items)
	}
	switch {
	case same || lo == 0:
		if items != nil {
			s["items"] = items
		}
	default:
		s["items"] = prefix
		if items != nil {
			s["additionalItems"] = items
		} else {
			s["additionalItems"] = false
		}
	}
	if lo > 0 {
		s["minItems"] = lo
	}
	if hi >= 0 {
		s["maxItems"] = hi
	}
}

// scalarConstraints adds what the conjuncts of a string or number constraint require.
func scalarConstraints(v cue.Value, s map[string]any) {
	var patterns []string
	for _, part := range conjuncts(v) {
		op, args := part.Expr()
		switch op {
		case cue.RegexMatchOp:
			if re, err := args[0].String(); err == nil {
				patterns = append(patterns, re)
			}
		case cue.NotRegexMatchOp:
			if re, err := args[0].String(); err == nil {
				s["not"] = map[string]any{"pattern": re}
			}
		case cue.NotEqualOp:
			if str, err := args[0].String(); err == nil && str == "" {
				s["minLength"] = 1
			} else if x, ok := jsonValue(args[0]); ok {
				s["not"] = map[string]any{"const": x}
			}
		case cue.GreaterThanEqualOp, cue.GreaterThanOp, cue.LessThanEqualOp, cue.LessThanOp:
			x, ok := jsonValue(args[0])
			if !ok {
				continue
			}
			s[map[cue.Op]string{
				cue.GreaterThanEqualOp: "minimum", cue.GreaterThanOp: "exclusiveMinimum",
				cue.LessThanEqualOp: "maximum", cue.LessThanOp: "exclusiveMaximum",
			}[op]] = x
		case cue.CallOp:
			if len(args) != 2 {
				continue
			}
			if layout, err := args[1].String(); err == nil && fmt.Sprint(args[0]) == "time.Format" && layout == "2006-01-02" {
				s["format"] = "date"
				continue
			}
			n, err := args[1].Int64()
			if err != nil {
				continue
			}
			switch fmt.Sprint(args[0]) {
			case "strings.MinRunes":
				s["minLength"] = n
			case "strings.MaxRunes":
				s["maxLength"] = n
			}
		}
	}
	switch len(patterns) {
	case 0:
	case 1:
		s["pattern"] = patterns[0]
	default:
		var all []any
		for _, p := range patterns {
			all = append(all, map[string]any{"pattern": p})
		}
		s["allOf"] = all
	}
}

// description is a field's doc comment or, lacking one, that of the definition it refers to
// ("#Stage is ..." reads "Stage is ...").
func (c *converter) description(v cue.Value) string {
	text := docText(v)
	if text == "" {
		if _, p := v.ReferencePath(); len(p.Selectors()) == 1 && p.Selectors()[0].IsDefinition() {
			text = strings.TrimPrefix(docText(c.root.LookupPath(p)), "#")
		}
	}
	return strings.TrimPrefix(text, "#")
}

func docText(v cue.Value) string {
	var parts []string
	for _, cg := range v.Doc() {
		if t := strings.Join(strings.Fields(cg.Text()), " "); t != "" {
			parts = append(parts, t)
		}
	}
	return strings.Join(parts, " ")
}

// literalValues returns the values of an enum (or a single literal) as JSON values.
func literalValues(v cue.Value) ([]any, bool) {
	if v.IsConcrete() && v.Kind()&(cue.StructKind|cue.ListKind) == 0 {
		x, ok := jsonValue(v)
		return []any{x}, ok
	}
	op, args := v.Expr()
	if op != cue.OrOp {
		return nil, false
	}
	out := make([]any, 0, len(args))
	for _, a := range args {
		if !a.IsConcrete() || a.Kind()&(cue.StructKind|cue.ListKind) != 0 {
			return nil, false
		}
		x, ok := jsonValue(a)
		if !ok {
			return nil, false
		}
		out = append(out, x)
	}
	return out, true
}

func jsonValue(v cue.Value) (any, bool) {
	var x any
	if err := v.Decode(&x); err != nil {
		return nil, false
	}
	return x, true
}

func jsonTypes(k cue.Kind) []string {
	var out []string
	for _, t := range []struct {
		k    cue.Kind
		name string
	}{{cue.NullKind, "null"}, {cue.BoolKind, "boolean"}, {cue.StringKind, "string"}, {cue.ListKind, "array"}, {cue.StructKind, "object"}} {
		if k&t.k != 0 {
			out = append(out, t.name)
		}
	}
	switch {
	case k&cue.NumberKind == cue.NumberKind:
		out = append(out, "number")
	case k&cue.IntKind != 0:
		out = append(out, "integer")
	case k&cue.FloatKind != 0:
		out = append(out, "number")
	}
	if k == cue.TopKind {
		return nil
	}
	return out
}

func jsonEqual(a, b map[string]any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}

// hasDefault reports whether v is a disjunction with a default (*false | bool): a document may
// leave such a field out.
func hasDefault(v cue.Value) bool {
	d, ok := v.Default()
	return ok && d.IsConcrete() && d.Kind()&(cue.ListKind|cue.StructKind) == 0
}
