package policy

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"

	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/synth"
	"samverk.io/samverk/policies"
)

// TestMockMatchesEngineInput checks that the input policy tests build with
// data.samverk.testing.mock is the input the engine builds, so a rule that passes its tests
// sees the same shapes in production.
func TestMockMatchesEngineInput(t *testing.T) {
	res, err := catalog.LoadDir("testdata/catalog", catalog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cat := res.Catalog
	mods, tests, err := parseFS(policies.FS, "policies", true)
	if err != nil {
		t.Fatal(err)
	}
	all := maps.Clone(mods)
	maps.Copy(all, tests)
	compiler := newCompiler(false)
	if compiler.Compile(all); compiler.Failed() {
		t.Fatal(compiler.Errors)
	}
	docs := make([]any, len(cat.Docs))
	for i, d := range cat.Docs {
		docs[i] = d.Object
	}
	rs, err := rego.New(rego.Query("x := data.samverk.testing.mock(input)"), rego.Compiler(compiler), rego.Input(docs)).Eval(context.Background())
	if err != nil || len(rs) != 1 {
		t.Fatalf("%v %v", rs, err)
	}
	mock := rs[0].Bindings["x"].(map[string]any)

	engine := newInventory(cat, 2).batches(1, time.Now())[0]
	var got map[string]any
	if err := json.Unmarshal([]byte(engine.String()), &got); err != nil {
		t.Fatal(err)
	}
	// Both list each kind's documents in catalog order.
	for _, field := range []string{"documents", "inventory"} {
		a, _ := json.Marshal(got[field])
		b, _ := json.Marshal(mock[field])
		if string(a) != string(b) {
			t.Errorf("input.%s differs:\nengine %s\nmock   %s", field, a, b)
		}
	}
	for _, k := range []string{"now", "today"} {
		if _, ok := got[k].(string); !ok {
			t.Errorf("engine input has no %s", k)
		}
	}
	if keys := slices.Sorted(maps.Keys(got)); !slices.Equal(keys, slices.Sorted(maps.Keys(mock))) {
		t.Errorf("engine input has %v, mock %v", keys, slices.Sorted(maps.Keys(mock)))
	}
}

// TestConverterMatchesOPA holds the inventory's converter to ast.InterfaceToValue over the
// synthetic catalog and the policy tests' catalog, and over the odd values a loader bug could
// leave.
func TestConverterMatchesOPA(t *testing.T) {
	fsys, _, err := synth.FS(synth.Options{Documents: 2_000})
	if err != nil {
		t.Fatal(err)
	}
	var objects []any
	for _, load := range []func() (*catalog.Result, error){
		func() (*catalog.Result, error) { return catalog.Load(fsys, catalog.Options{}) },
		func() (*catalog.Result, error) { return catalog.LoadDir("testdata/catalog", catalog.Options{}) },
	} {
		res, err := load()
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range res.Catalog.Docs {
			objects = append(objects, d.Object)
		}
	}
	objects = append(objects, nil, true, int64(-1), int64(1<<40), 2.5, "x", []any{},
		map[string]any{}, []string{"a", "b"}, map[string]any{"a": []any{map[string]any{"b": nil}}})
	cv := converter{keys: map[string]*ast.Term{}}
	for i, x := range objects {
		want, err := ast.InterfaceToValue(x)
		if err != nil {
			t.Fatal(err)
		}
		if got := cv.value(x); got.Compare(want) != 0 {
			t.Fatalf("value %d: converter gives %v, OPA %v", i, got, want)
		}
	}
}
