package policy

import (
	"cmp"
	"context"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/cover"
	"github.com/open-policy-agent/opa/v1/tester"
)

// TestOptions configure a run of the Rego unit tests. The zero value is a working default.
type TestOptions struct {
	// Dir is how the policy directory is named in output (see Options.Dir).
	Dir string
	// Run, when set, is a regular expression: only tests whose package.name matches run.
	Run string
	// Timeout bounds one test (default 10 seconds).
	Timeout time.Duration
}

// TestResult is the outcome of one test rule.
type TestResult struct {
	Package  string        `json:"package"`
	Name     string        `json:"name"`
	File     string        `json:"file"`
	Row      int           `json:"row"`
	Passed   bool          `json:"passed"`
	Skipped  bool          `json:"skipped,omitempty"`
	Error    string        `json:"error,omitempty"`
	Output   string        `json:"output,omitempty"`
	Duration time.Duration `json:"duration"`
}

// FileCoverage is the test coverage of one policy file (test files are not measured).
type FileCoverage struct {
	File       string  `json:"file"`
	Covered    int     `json:"covered"`
	NotCovered int     `json:"notCovered"`
	Percent    float64 `json:"percent"`
	// Uncovered lists the line ranges no test reached, e.g. "12-14".
	Uncovered []string `json:"uncovered,omitempty"`
}

// TestReport is the outcome of a test run.
type TestReport struct {
	Results  []TestResult   `json:"results"`
	Passed   int            `json:"passed"`
	Failed   int            `json:"failed"`
	Skipped  int            `json:"skipped"`
	Files    []FileCoverage `json:"files"`
	Coverage float64        `json:"coverage"`
}

// Test runs the Rego unit tests (rules named test_* in any .rego file, by convention in the
// *_test.rego files) of the policy set in fsys, with coverage of the non-test files.
func Test(ctx context.Context, fsys fs.FS, opt TestOptions) (*TestReport, error) {
	mods, tests, err := parseFS(fsys, opt.Dir, true)
	if err != nil {
		return nil, err
	}
	// The rules must load as a policy set: metadata and compilation errors are reported as Load
	// would report them.
	if _, err := compile(mods, Options{Dir: opt.Dir}); err != nil {
		return nil, err
	}
	all := maps.Clone(mods)
	maps.Copy(all, tests)
	timeout := cmp.Or(opt.Timeout, 10*time.Second)
	cov := cover.New()
	runner := tester.NewRunner().
		SetCompiler(newCompiler(true)).
		SetModules(all).
		SetCoverageQueryTracer(cov).
		CapturePrintOutput(true).
		SetTimeout(timeout).
		Filter(opt.Run)
	ch, err := runner.RunTests(ctx, nil)
	if err != nil {
		var errs Errors
		errs.add(err, opt.Dir)
		return nil, fmt.Errorf("policy: test: %w", errs.normalize())
	}
	rep := &TestReport{}
	for r := range ch {
		tr := TestResult{Package: strings.TrimPrefix(r.Package, "data."), Name: r.Name, Duration: r.Duration, Output: string(r.Output)}
		if r.Location != nil {
			tr.File, tr.Row = displayName(opt.Dir, r.Location.File), r.Location.Row
		}
		switch {
		case r.Skip:
			tr.Skipped = true
			rep.Skipped++
		case r.Error != nil:
			tr.Error = r.Error.Error()
			rep.Failed++
		case r.Fail:
			rep.Failed++
		default:
			tr.Passed = true
			rep.Passed++
		}
		rep.Results = append(rep.Results, tr)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("policy: test: %w", err)
	}
	slices.SortFunc(rep.Results, func(a, b TestResult) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Row, b.Row), cmp.Compare(a.Name, b.Name))
	})

	cr := cov.Report(mods)
	var covered, notCovered int
	for _, file := range slices.Sorted(maps.Keys(mods)) {
		fr := cr.Files[file]
		fc := FileCoverage{File: displayName(opt.Dir, file)}
		if fr != nil {
			fc.Covered, fc.NotCovered = fr.CoveredLines, fr.NotCoveredLines
			for _, rg := range fr.NotCovered {
				if rg.Start.Row == rg.End.Row {
					fc.Uncovered = append(fc.Uncovered, fmt.Sprint(rg.Start.Row))
				} else {
					fc.Uncovered = append(fc.Uncovered, fmt.Sprintf("%d-%d", rg.Start.Row, rg.End.Row))
				}
			}
			fc.Uncovered = slices.Compact(fc.Uncovered)
		}
		fc.Percent = percent(fc.Covered, fc.NotCovered)
		covered += fc.Covered
		notCovered += fc.NotCovered
		rep.Files = append(rep.Files, fc)
	}
	rep.Coverage = percent(covered, notCovered)
	return rep, nil
}

func percent(covered, notCovered int) float64 {
	if covered+notCovered == 0 {
		return 100
	}
	return 100 * float64(covered) / float64(covered+notCovered)
}
