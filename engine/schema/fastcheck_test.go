package schema

import (
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	bundled "samverk.io/samverk/catalog"
	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/synth"
	"samverk.io/samverk/schemas"
)

// oracle says what CUE says of a document: the fast check is trusted only where it agrees.
type oracle struct {
	c     *compiled
	quick *fastCheck
	// fast counts the documents the fast check accepted, valid those CUE accepts.
	fast, valid, total int
	// refused names, for the first few valid documents the fast check did not take, why.
	refused []string
}

func newOracle(t testing.TB) *oracle {
	t.Helper()
	c, err := compile(schemas.FS)
	if err != nil {
		t.Fatal(err)
	}
	quick, err := buildFastCheck(schemas.FS)
	if err != nil {
		t.Fatal(err)
	}
	return &oracle{c: c, quick: quick}
}

// check compares the fast check of d with CUE: never fast-valid while CUE finds a problem.
func (o *oracle) check(t testing.TB, d *catalog.Document, what string) {
	t.Helper()
	def, ok := o.c.fast.defs[d.Kind]
	if !ok {
		return
	}
	fast := o.quick.valid(d)
	valid := func() (ok bool) {
		defer func() {
			if recover() != nil {
				ok = false
			}
		}()
		return def.Unify(o.c.ctx.Encode(d.Object)).Validate(concrete...) == nil
	}()
	o.total++
	if fast {
		o.fast++
	}
	if valid {
		o.valid++
		if !fast && len(o.refused) < 20 {
			o.refused = append(o.refused, refusal(o.quick.kinds[d.Kind], d.Object, d.Ref().String()))
		}
	}
	if fast && !valid {
		t.Errorf("%s (%s): the fast check accepts a document CUE refuses: %v", d.Ref(), what, d.Object)
	}
}

func (o *oracle) report(t testing.TB, name string) {
	t.Logf("%s: %d documents, %d valid, %d taken by the fast check (%.1f%% of the valid)",
		name, o.total, o.valid, o.fast, 100*float64(o.fast)/float64(max(1, o.valid)))
	for _, r := range o.refused {
		t.Logf("not taken: %s", r)
	}
}

func TestFastCheckAgreesSynthetic(t *testing.T) {
	n := 10_000
	if testing.Short() {
		n = 2_000
	}
	fsys, _, err := synth.FS(synth.Options{Documents: n})
	if err != nil {
		t.Fatal(err)
	}
	agreesOnCatalog(t, fsys, "synthetic")
}

func TestFastCheckAgreesReference(t *testing.T) {
	agreesOnCatalog(t, bundled.FS, "reference")
}

// agreesOnCatalog checks every document of the catalog in fsys against CUE, and that the fast
// check takes every valid one.
func agreesOnCatalog(t *testing.T, fsys fs.FS, name string) {
	t.Helper()
	res, err := catalog.Load(fsys, catalog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	o := newOracle(t)
	for _, d := range res.Catalog.Docs {
		o.check(t, d, name)
	}
	o.report(t, name+" catalog")
	if o.fast != o.valid {
		t.Errorf("the fast check takes %d of %d valid %s documents; want all", o.fast, o.valid, name)
	}
}

// TestFastCheckAgreesFixtures checks the fixtures, valid and with planted errors, and every
// variant of them the mutations make.
func TestFastCheckAgreesFixtures(t *testing.T) {
	o := newOracle(t)
	for _, dir := range []string{"testdata/valid", "testdata/invalid"} {
		for _, d := range loadDir(t, dir).Docs {
			o.check(t, d, "fixture")
			for i := range mutations {
				for at := 0; ; at++ {
					m, ok := mutate(d, i, at, "zz")
					if !ok {
						break
					}
					if m != nil {
						o.check(t, m, fmt.Sprintf("mutation %d at %d", i, at))
					}
				}
			}
		}
	}
	o.report(t, "fixtures and their mutations")
	if o.fast == 0 || o.fast == o.total {
		t.Errorf("the fast check takes %d of %d documents: the mutations do not exercise it", o.fast, o.total)
	}
}

// FuzzFastCheck parses YAML documents, mutates each at one value and checks that the fast
// check never accepts a document CUE refuses. Its seeds, the fixtures mutated in every way at
// several places, run as a unit test.
func FuzzFastCheck(f *testing.F) {
	for _, dir := range []string{"testdata/valid", "testdata/invalid"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
		if err != nil {
			f.Fatal(err)
		}
		for _, file := range files {
			src, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			for op := range mutations {
				for _, at := range []uint16{0, 3, 7, 12, 20} {
					f.Add(src, uint8(op), at, "x")
				}
			}
		}
	}
	o := newOracle(f)
	f.Fuzz(func(t *testing.T, src []byte, op uint8, at uint16, s string) {
		docs, _ := catalog.ParseYAML("fuzz.yaml", src, 1000)
		for _, d := range docs {
			o.check(t, d, "fuzzed")
			if m, _ := mutate(d, int(op), int(at), s); m != nil {
				o.check(t, m, fmt.Sprintf("mutation %d at %d", op, at))
			}
		}
	})
}

// mutations alter one value of a document: each returns the replacement and whether it
// applies to that value. A nil replacement with ok removes the field (or list element).
var mutations = []func(v any, s string) (any, bool){
	// remove
	func(any, string) (any, bool) { return removed{}, true },
	// swap the type
	func(v any, s string) (any, bool) {
		switch v := v.(type) {
		case string:
			return int64(len(v)), true
		case int64:
			return fmt.Sprint(v), true
		case float64:
			return int64(v), true
		case bool:
			return fmt.Sprint(v), true
		case map[string]any:
			return []any{v}, true
		case []any:
			return map[string]any{s: v}, true
		case nil:
			return false, true
		}
		return nil, false
	},
	// change a string: break an enum, a pattern, a bound on length
	func(v any, s string) (any, bool) {
		str, ok := v.(string)
		if !ok {
			return nil, false
		}
		return str + s, true
	},
	func(v any, s string) (any, bool) {
		str, ok := v.(string)
		if !ok {
			return nil, false
		}
		return strings.ToUpper(str), true
	},
	func(v any, s string) (any, bool) {
		if _, ok := v.(string); !ok {
			return nil, false
		}
		return s, true
	},
	func(v any, s string) (any, bool) {
		if _, ok := v.(string); !ok {
			return nil, false
		}
		return "", true
	},
	// numbers: negative, zero, large, fractional
	func(v any, s string) (any, bool) {
		switch v := v.(type) {
		case int64:
			return -v - 1, true
		case float64:
			return v + 0.5, true
		}
		return nil, false
	},
	func(v any, s string) (any, bool) {
		if _, ok := v.(int64); !ok {
			return nil, false
		}
		return int64(1 << 40), true
	},
	func(v any, s string) (any, bool) {
		if _, ok := v.(int64); !ok {
			return nil, false
		}
		return 0.0 + 2.5, true
	},
	// add a field to a struct
	func(v any, s string) (any, bool) {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		out := maps.Clone(m)
		out[s] = s
		return out, true
	},
	// add a field whose name reads as a definition or a hidden field in CUE
	func(v any, s string) (any, bool) {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		out := maps.Clone(m)
		out["#"+s] = s
		out["_"+s] = s
		return out, true
	},
	// empty a list or struct
	func(v any, s string) (any, bool) {
		switch v.(type) {
		case []any:
			return []any{}, true
		case map[string]any:
			return map[string]any{}, true
		}
		return nil, false
	},
	// null
	func(v any, s string) (any, bool) { return nil, v != nil },
	// flip a bool
	func(v any, s string) (any, bool) {
		b, ok := v.(bool)
		return !b, ok
	},
}

// removed, returned by a mutation, takes the value out of its struct or list.
type removed struct{}

// mutate returns a copy of d with mutation i applied to the at-th value of the document, in
// a walk in sorted key order. It reports whether the document has such a value; the copy is
// nil when the mutation does not apply to it.
func mutate(d *catalog.Document, i, at int, s string) (*catalog.Document, bool) {
	n := at
	obj, st := mutateValue(d.Object, mutations[i%len(mutations)], &n, s)
	switch st {
	case unreached:
		return nil, false
	case inapplicable:
		return nil, true
	}
	m, ok := obj.(map[string]any)
	if !ok {
		return nil, true
	}
	c := *d
	c.Object = m
	return &c, true
}

type mutated int

const (
	unreached mutated = iota
	applied
	inapplicable
)

// mutateValue copies v, with the n-th value below it replaced; it counts n down.
func mutateValue(v any, f func(any, string) (any, bool), n *int, s string) (any, mutated) {
	switch v := v.(type) {
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(v)) {
			var r any
			st := applied
			if *n == 0 {
				var ok bool
				if r, ok = f(v[k], s); !ok {
					return nil, inapplicable
				}
			} else {
				*n--
				if r, st = mutateValue(v[k], f, n, s); st != applied {
					if st == inapplicable {
						return nil, st
					}
					continue
				}
			}
			out := maps.Clone(v)
			if _, gone := r.(removed); gone {
				delete(out, k)
			} else {
				out[k] = r
			}
			return out, applied
		}
	case []any:
		for i, e := range v {
			var r any
			st := applied
			if *n == 0 {
				var ok bool
				if r, ok = f(e, s); !ok {
					return nil, inapplicable
				}
			} else {
				*n--
				if r, st = mutateValue(e, f, n, s); st != applied {
					if st == inapplicable {
						return nil, st
					}
					continue
				}
			}
			if _, gone := r.(removed); gone {
				return slices.Delete(slices.Clone(v), i, i+1), applied
			}
			out := slices.Clone(v)
			out[i] = r
			return out, applied
		}
	}
	return nil, unreached
}

// refusal says where n refuses x, to name the cause when a valid document is not taken.
func refusal(n node, x any, at string) string {
	switch n := n.(type) {
	case *object:
		m, _ := x.(map[string]any)
		for _, k := range slices.Sorted(maps.Keys(m)) {
			if f, ok := n.fields[k]; ok && !f.ok(m[k]) {
				return refusal(f, m[k], at+"."+k)
			}
		}
		for _, k := range n.required {
			if _, ok := m[k]; !ok {
				return at + "." + k + ": required"
			}
		}
	case *switchOn:
		m, _ := x.(map[string]any)
		v, set := m[n.field]
		if !set {
			if n.absent == nil {
				return at + ": no " + n.field
			}
			return refusal(n.absent, x, at)
		}
		if c, ok := n.cases[v]; ok {
			return refusal(c, x, fmt.Sprintf("%s(%s=%v)", at, n.field, v))
		}
	case *list:
		xs, _ := x.([]any)
		for i, e := range xs {
			f := n.elem
			if i < len(n.prefix) {
				f = n.prefix[i]
			}
			if f != nil && !f.ok(e) {
				return refusal(f, e, fmt.Sprintf("%s[%d]", at, i))
			}
		}
	case askCUE:
		return at + ": " + n.why
	}
	return fmt.Sprintf("%s: %T refuses %v", at, n, x)
}

// TestFastCheckFallsBack gives the fast check schemas with constructs it does not follow: it
// must leave the document to CUE rather than guess, and the document stays valid.
func TestFastCheckFallsBack(t *testing.T) {
	const head = "package schemas\n\n#Member: {\n\tapiVersion: string\n\tkind: \"Member\"\n\tmetadata: name: string\n\tspec: {\n"
	const doc = "apiVersion: samverk.io/v1\nkind: Member\nmetadata:\n  name: m\nspec:\n"
	for _, tc := range []struct {
		name, spec, doc, want string
	}{
		{"disjunction of structs", "x: {a: int} | {b: string}", "  x: {a: 1}", "Member.spec.x: disjunction of structs or lists"},
		{"reference to another field", "lo: int\nhi: int & >=lo", "  lo: 1\n  hi: 2", "Member: the schemas use a construct"},
		{"for comprehension", "xs: [...string]\nys: [for x in xs {x}]", "  xs: [a]\n  ys: [a]", "Member: the schemas use a construct"},
		{"let clause", "let n = 3\nx: int & <n", "  x: 1", "Member: the schemas use a construct"},
		{"unknown builtin", "x: strings.HasPrefix(\"a\")", "  x: ab", "Member.spec.x: call"},
		{"comprehension reading a string", "name: string\nif name == \"a\" {extra: int}", "  name: b", "Member.spec: comprehension reads name"},
		{"pattern other than [string]", "[=~\"^x\"]: int", "  xa: 1", "Member.spec: pattern"},
		{"fractional bound", "r: number & <=0.5", "  r: 0.25", "Member.spec.r: bound"},
		{"struct validator", "x: {a?: int} & struct.MinFields(1)", "  x: {a: 1}", "Member.spec.x: struct"},
		{"list validator", "x: [...int] & list.MinItems(1)", "  x: [1]", "does not satisfy list.MinItems(1)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := head + tc.spec + "\n\t}\n}\n"
			for _, pkg := range []string{"list", "strings", "struct"} {
				if strings.Contains(tc.spec, pkg+".") {
					src = strings.Replace(src, "package schemas\n", "package schemas\n\nimport \""+pkg+"\"\n", 1)
				}
			}
			fsys := fstest.MapFS{"member.cue": {Data: []byte(src)}}
			quick, err := buildFastCheck(fsys)
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Join(fallbacks(quick.kinds["Member"], "Member"), "\n")
			if !strings.Contains(got, tc.want) {
				t.Errorf("fallbacks:\n%s\nwant one with %q", got, tc.want)
			}
			d := parseDoc(t, "m.yaml", doc+tc.doc+"\n")
			if quick.valid(d) {
				t.Errorf("the fast check took the document")
			}
			cat, _ := catalog.New([]*catalog.Document{d})
			fs, err := Validate(cat, Options{Schemas: fsys})
			if err != nil {
				t.Fatal(err)
			}
			if len(fs) > 0 {
				t.Errorf("CUE finds the document invalid, so the case proves nothing: %v", fs)
			}
		})
	}
}

// fallbacks lists, as "path: why", where the fast check of n asks CUE.
func fallbacks(n node, at string) []string {
	var out []string
	switch n := n.(type) {
	case askCUE:
		out = append(out, at+": "+n.why)
	case anyOf:
		for _, b := range n {
			out = append(out, fallbacks(b, at)...)
		}
	case *object:
		for _, name := range slices.Sorted(maps.Keys(n.fields)) {
			out = append(out, fallbacks(n.fields[name], at+"."+name)...)
		}
		if n.pattern != nil {
			out = append(out, fallbacks(n.pattern, at+".*")...)
		}
	case *switchOn:
		for _, k := range slices.SortedFunc(maps.Keys(n.cases), func(a, b any) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) }) {
			out = append(out, fallbacks(n.cases[k], fmt.Sprintf("%s(%s=%v)", at, n.field, k))...)
		}
	case *list:
		for i, e := range n.prefix {
			out = append(out, fallbacks(e, fmt.Sprintf("%s[%d]", at, i))...)
		}
		if n.elem != nil {
			out = append(out, fallbacks(n.elem, at+"[*]")...)
		}
	}
	return out
}

// TestFastCheckCoversSchemas lists what of samverk's own schemas the fast check leaves to
// CUE: nothing, or validating a catalog costs CUE's time again for every document there.
func TestFastCheckCoversSchemas(t *testing.T) {
	quick, err := buildFastCheck(schemas.FS)
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range catalog.Kinds {
		n, ok := quick.kinds[kind]
		if !ok {
			t.Errorf("no fast check for %s", kind)
			continue
		}
		for _, f := range fallbacks(n, kind) {
			t.Errorf("left to CUE: %s", f)
		}
	}
}
