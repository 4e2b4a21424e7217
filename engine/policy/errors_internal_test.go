package policy

import (
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
)

func TestErrorsAreDeduplicatedAndSorted(t *testing.T) {
	loc := func(file string, row, col int) *ast.Location { return &ast.Location{File: file, Row: row, Col: col} }
	in := ast.Errors{
		ast.NewError(ast.UnsafeVarErr, loc("b.rego", 4, 3), "var z is unsafe"),
		ast.NewError(ast.UnsafeVarErr, loc("a.rego", 9, 2), "var y is unsafe"),
		ast.NewError(ast.UnsafeVarErr, loc("b.rego", 4, 3), "var z is unsafe"),
		ast.NewError(ast.CompileErr, loc("a.rego", 2, 1), "rego_compile_error: x"),
	}
	var es Errors
	es.add(in, "policies")
	got := es.normalize().Error()
	want := `3 errors:
  policies/a.rego:2:1: rego_compile_error: x
  policies/a.rego:9:2: rego_unsafe_var_error: var y is unsafe
  policies/b.rego:4:3: rego_unsafe_var_error: var z is unsafe`
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}
