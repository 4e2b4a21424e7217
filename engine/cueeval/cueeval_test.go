package cueeval

import (
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/finding"
)

// TestMain lets the test binary be its own child, as samverk is.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == ChildCommand {
		os.Exit(RunChild(os.Args[2:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func newEvaluator(t *testing.T, opt Options) *Evaluator {
	t.Helper()
	// The defaults: this very binary, as its own name.
	e, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// doubling is a string doubled n times: 2^(n+1) bytes from a file of a few hundred.
func doubling(n int) string {
	var b strings.Builder
	b.WriteString("apiVersion: \"samverk.io/v1\"\nkind: \"OSRelease\"\nmetadata: name: \"bomb\"\n_s0: \"xx\"\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "_s%d: _s%d + _s%d\n", i, i-1, i-1)
	}
	fmt.Fprintf(&b, "spec: family: _s%d\n", n)
	return b.String()
}

const rangeBomb = `import "list"

apiVersion: "samverk.io/v1"
kind:       "OSRelease"
metadata: name: "bomb"
spec: versions: list.Range(0, 100000000, 1)
`

const twoDocs = `_common: {apiVersion: "samverk.io/v1", metadata: owner: "strategy"}

jammy: _common & {
	kind: "OSRelease"
	metadata: name: "ubuntu-22-04"
	spec: {family: "ubuntu", version: "22.04", build: 22.04, n: 3, ratio: 0.5, tags: ["a", "b"], none: null}
}
noble: _common & {
	kind: "OSRelease"
	metadata: name: "ubuntu-24-04"
	spec: family: "ubuntu"
}
`

// TestSameAsInProcess checks that a document evaluated in the child is the document the loader
// would have built in process: values, number types, identity and positions.
func TestSameAsInProcess(t *testing.T) {
	e := newEvaluator(t, Options{})
	for name, src := range map[string]string{
		"two documents": twoDocs,
		"syntax error":  "apiVersion: \"samverk.io/v1\"\nkind: {\n",
		"not concrete":  "apiVersion: \"samverk.io/v1\"\nkind: \"OSRelease\"\nmetadata: name: string\n",
		"conflict":      "apiVersion: \"samverk.io/v1\"\nkind: \"OSRelease\"\nkind: \"Package\"\n",
	} {
		t.Run(name, func(t *testing.T) {
			got, gotF, err := e.EvalCUE("os/x.cue", []byte(src))
			if err != nil {
				t.Fatal(err)
			}
			want, wantF, _ := catalog.InProcessCUE{}.EvalCUE("os/x.cue", []byte(src))
			if !reflect.DeepEqual(gotF, wantF) {
				t.Errorf("findings\n got %+v\nwant %+v", gotF, wantF)
			}
			if len(got) != len(want) {
				t.Fatalf("%d documents, want %d", len(got), len(want))
			}
			for i := range want {
				if !reflect.DeepEqual(got[i], want[i]) {
					t.Errorf("document %d\n got %#v\nwant %#v", i, got[i], want[i])
				}
				p := catalog.Path{"spec", "family"}
				if got[i].Pos(p) != want[i].Pos(p) {
					t.Errorf("document %d: spec.family at %v, want %v", i, got[i].Pos(p), want[i].Pos(p))
				}
			}
		})
	}
}

// TestBombsRefused evaluates CUE that asks for far more than the budget and expects a finding
// of its own rule at the field that was being evaluated, not a crash of the caller.
func TestBombsRefused(t *testing.T) {
	big := `import "list"

apiVersion: "samverk.io/v1"
kind:       "OSRelease"
metadata: name: "big"
spec: versions: list.Range(0, 2000, 1)
`
	for _, tc := range []struct {
		name string
		src  string
		opt  Options
		says string
	}{
		{name: "list.Range to 10^8", src: rangeBomb},
		// CPU and wall time generous enough that only memory can stop it, however busy the
		// machine is.
		{name: "string doubled 30 times", src: doubling(30), opt: Options{CPU: time.Minute, Timeout: 2 * time.Minute}, says: "memory"},
		{name: "output over the cap", src: big, opt: Options{MaxOutput: 64 << 10}, says: "larger than 64 KiB"},
		{name: "wall time", src: rangeBomb, opt: Options{Timeout: time.Millisecond}, says: "took longer than 1ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEvaluator(t, tc.opt)
			docs, fnd, err := e.EvalCUE("os/bomb.cue", []byte(tc.src))
			if err != nil {
				t.Fatal(err)
			}
			if len(docs) != 0 || len(fnd) != 1 {
				t.Fatalf("%d documents and findings %+v; want one finding", len(docs), fnd)
			}
			f := fnd[0]
			if f.Rule != finding.RuleCUEBudget || f.Severity != finding.Deny || f.File != "os/bomb.cue" || f.Line < 1 || f.Column < 1 {
				t.Errorf("finding %+v; want a deny %s at os/bomb.cue:line:col", f, finding.RuleCUEBudget)
			}
			if tc.says != "" && !strings.Contains(f.Message, tc.says) {
				t.Errorf("message %q does not say %q", f.Message, tc.says)
			}
			if strings.Contains(f.Message, "%!") {
				t.Errorf("message shows a format verb: %q", f.Message)
			}
		})
	}
}

func TestChildThatCannotStart(t *testing.T) {
	e, err := New(Options{Command: []string{"/nonexistent/samverk", ChildCommand}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.EvalCUE("x.cue", []byte("a: 1")); err == nil {
		t.Fatal("no error from an evaluator whose child cannot start")
	}
}

// BenchmarkEvalCUE is what the budget costs a small file: a child process per file against
// evaluating it in process.
func BenchmarkEvalCUE(b *testing.B) {
	e, err := New(Options{})
	if err != nil {
		b.Fatal(err)
	}
	for name, ev := range map[string]catalog.CUEEvaluator{"in-process": catalog.InProcessCUE{}, "child": e} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				docs, fnd, err := ev.EvalCUE("os/x.cue", []byte(twoDocs))
				if err != nil || len(docs) != 2 || len(fnd) != 0 {
					b.Fatalf("%d documents, findings %v, error %v", len(docs), fnd, err)
				}
			}
		})
	}
}
