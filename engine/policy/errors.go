package policy

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// Error is one problem with a Rego file: a syntax error, an unsafe variable, a rule whose
// metadata is missing or wrong. Row and Col are 1-based; zero when unknown.
type Error struct {
	File    string
	Row     int
	Col     int
	Message string
}

func (e Error) String() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Row > 0 {
			fmt.Fprintf(&b, ":%d", e.Row)
			if e.Col > 0 {
				fmt.Fprintf(&b, ":%d", e.Col)
			}
		}
		b.WriteString(": ")
	}
	b.WriteString(e.Message)
	return b.String()
}

// Errors lists every problem found while loading a policy set, each once, sorted by file and
// position. Load and Test return it (wrapped) whenever the Rego does not parse or compile.
type Errors []Error

func (es Errors) Error() string {
	if len(es) == 1 {
		return es[0].String()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d errors:", len(es))
	for _, e := range es {
		b.WriteString("\n  ")
		b.WriteString(e.String())
	}
	return b.String()
}

// add appends the problems in err: OPA's ast.Errors one by one, anything else as it is.
func (es *Errors) add(err error, prefix string) {
	var aerrs ast.Errors
	if errors.As(err, &aerrs) {
		for _, e := range aerrs {
			es.addAST(e, prefix)
		}
		return
	}
	var aerr *ast.Error
	if errors.As(err, &aerr) {
		es.addAST(aerr, prefix)
		return
	}
	*es = append(*es, Error{Message: err.Error()})
}

func (es *Errors) addAST(e *ast.Error, prefix string) {
	out := Error{Message: e.Message}
	if e.Code != "" && e.Code != ast.CompileErr && e.Code != ast.ParseErr {
		out.Message = e.Code + ": " + e.Message
	}
	if e.Location != nil {
		out.File = displayName(prefix, e.Location.File)
		out.Row = e.Location.Row
		out.Col = e.Location.Col
	}
	*es = append(*es, out)
}

// normalize sorts the list and drops repeats (OPA reports some problems once per stage).
func (es Errors) normalize() Errors {
	slices.SortFunc(es, func(a, b Error) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Row, b.Row), cmp.Compare(a.Col, b.Col), cmp.Compare(a.Message, b.Message))
	})
	return slices.Compact(es)
}

// displayName is how a policy file is named in messages: under prefix, when one is set.
func displayName(prefix, file string) string {
	if prefix == "" || file == "" {
		return file
	}
	return strings.TrimSuffix(prefix, "/") + "/" + file
}
