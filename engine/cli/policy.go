package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/gitfs"
	"samverk.io/samverk/engine/policy"
)

func newPolicyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Work with the Rego policies: unit tests, the handbook, the impact of a change",
		Long: `The policy commands serve the people who write the consortium's rules. Each takes a
directory of Rego files (default: the policy set bundled with samverk).`,
	}
	cmd.AddCommand(newPolicyTestCmd(), newPolicyDocCmd(), newPolicyImpactCmd())
	return cmd
}

// policyErr turns a problem in the Rego into exit status 1 (the policies are at fault, and
// each problem is printed once with file:row:col); anything else is exit status 2.
func policyErr(err error) error {
	var errs policy.Errors
	if errors.As(err, &errs) {
		return &ExitError{Code: ExitFindings, Err: err}
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		return err
	}
	return &ExitError{Code: ExitUsage, Err: err}
}

func newPolicyTestCmd() *cobra.Command {
	var (
		minCoverage float64
		run         string
		verbose     bool
		output      string
	)
	cmd := &cobra.Command{
		Use:   "test [DIR]",
		Short: "Run the Rego unit tests with coverage",
		Long: `test runs every test_ rule in the *_test.rego files of DIR (default: the bundled policy set)
and measures which lines of the policies the tests reached. It prints each failing test, the
coverage of every policy file and the total.

Exit status: 0 all tests pass; 1 a test fails, there are no tests, coverage is below
--min-coverage, or the Rego does not compile; 2 usage or I/O error.`,
		Example: `  samverk policy test policies
  samverk policy test --min-coverage 90 -v policies`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "text" && output != "json" {
				return usageError("--output %q: must be text or json", output)
			}
			dir := ""
			if len(args) == 1 {
				dir = args[0]
			}
			fsys, name, err := policySource(dir)
			if err != nil {
				return policyErr(err)
			}
			rep, err := policy.Test(cmd.Context(), fsys, policy.TestOptions{Dir: name, Run: run})
			if err != nil {
				return policyErr(err)
			}
			w := cmd.OutOrStdout()
			if output == "json" {
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				if err := enc.Encode(rep); err != nil {
					return policyErr(err)
				}
			} else if err := writeTestReport(w, rep, verbose); err != nil {
				return policyErr(err)
			}
			var problems []string
			if rep.Passed+rep.Failed == 0 {
				problems = append(problems, "no tests ran: every policy needs a _test.rego")
			}
			if rep.Failed > 0 {
				problems = append(problems, fmt.Sprintf("%d tests failed", rep.Failed))
			}
			if rep.Coverage < minCoverage {
				problems = append(problems, fmt.Sprintf("coverage %.1f%% is below --min-coverage %.1f%%", rep.Coverage, minCoverage))
			}
			if len(problems) > 0 {
				return &ExitError{Code: ExitFindings, Err: errors.New(strings.Join(problems, "; "))}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.Float64Var(&minCoverage, "min-coverage", 0, "fail when total coverage is below this percentage")
	f.StringVar(&run, "run", "", "run only tests whose package.name matches this regular expression")
	f.BoolVarP(&verbose, "verbose", "v", false, "list every test, not only failures, and the lines no test reached")
	f.StringVarP(&output, "output", "o", "text", "output format: text or json")
	completeFlag(cmd, "output", "text", "json")
	return cmd
}

func writeTestReport(w io.Writer, rep *policy.TestReport, verbose bool) error {
	var b strings.Builder
	for _, r := range rep.Results {
		switch {
		case r.Skipped:
			if verbose {
				fmt.Fprintf(&b, "SKIP %s:%d: %s.%s\n", r.File, r.Row, r.Package, r.Name)
			}
		case !r.Passed:
			fmt.Fprintf(&b, "FAIL %s:%d: %s.%s (%s)\n", r.File, r.Row, r.Package, r.Name, r.Duration.Round(time.Microsecond))
			if r.Error != "" {
				fmt.Fprintf(&b, "     %s\n", r.Error)
			}
			for l := range strings.Lines(r.Output) {
				fmt.Fprintf(&b, "     %s", l)
			}
		case verbose:
			fmt.Fprintf(&b, "PASS %s:%d: %s.%s (%s)\n", r.File, r.Row, r.Package, r.Name, r.Duration.Round(time.Microsecond))
		}
	}
	b.WriteString("coverage:\n")
	for _, f := range rep.Files {
		fmt.Fprintf(&b, "  %6.1f%%  %s", f.Percent, f.File)
		if verbose && len(f.Uncovered) > 0 {
			fmt.Fprintf(&b, "  (lines not reached: %s)", strings.Join(f.Uncovered, ", "))
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "  %6.1f%%  total\n", rep.Coverage)
	fmt.Fprintf(&b, "%d passed, %d failed", rep.Passed, rep.Failed)
	if rep.Skipped > 0 {
		fmt.Fprintf(&b, ", %d skipped", rep.Skipped)
	}
	b.WriteString("\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func newPolicyDocCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "doc [DIR]",
		Short: "Write the policy handbook in Markdown, from the policies' METADATA",
		Long: `doc writes a handbook of every rule in DIR (default: the bundled policy set) and of the
built-in waiver checks: grouped by the principle each implements, with id, title, severity,
description and source file.`,
		Example: `  samverk policy doc -f handbook.md policies`,
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := ""
			if len(args) == 1 {
				dir = args[0]
			}
			set, err := loadPolicySet(dir)
			if err != nil {
				return policyErr(err)
			}
			var buf bytes.Buffer
			if err := set.Handbook(&buf); err != nil {
				return policyErr(err)
			}
			if out == "" || out == "-" {
				_, err = cmd.OutOrStdout().Write(buf.Bytes())
				return err
			}
			if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
				return policyErr(err)
			}
			return nil
		},
	}
	fileFlag(cmd, &out, "write the handbook to this file (default: standard output)")
	return cmd
}

func newPolicyImpactCmd() *cobra.Command {
	var (
		base, baseDir, headDir, catDir, output, prefix string
		verbose, quiet                                 bool
	)
	cmd := &cobra.Command{
		Use:   "impact --base REF | --base-policies DIR",
		Short: "Show what a policy change newly flags across a catalog",
		Long: `impact evaluates two policy sets over the same catalog at the same time and lists the
findings that are new, gone and unchanged, matched by rule id, document and field path.

The new set is --policies (default: ./policies). The old set is either that same directory as
it was at Git revision --base (read from the repository it lies in; nothing is checked out), or
the directory --base-policies. The catalog is --catalog, by default the one samverk validate
validates without an argument; files are named from the top level of its Git repository, or
under --prefix.

Exit status: 0 no new deny finding; 1 the change adds deny findings no waiver exempts; 2 usage,
I/O or Rego error.`,
		Example: `  samverk policy impact --base origin/main
  samverk policy impact --base HEAD~1 --catalog ../catalog --output json
  samverk policy impact --base-policies /tmp/old-policies --policies policies`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if (base == "") == (baseDir == "") {
				return usageError("give exactly one of --base REF and --base-policies DIR")
			}
			if output != "text" && output != "json" {
				return usageError("--output %q: must be text or json", output)
			}
			head, err := loadPolicySet(headDir)
			if err != nil {
				return &ExitError{Code: ExitUsage, Err: err}
			}
			var old *policy.Set
			baseName := baseDir
			if base != "" {
				fsys, hash, err := gitfs.DirAt(headDir, base)
				if err != nil {
					return &ExitError{Code: ExitUsage, Err: err}
				}
				baseName = fmt.Sprintf("%s@%s (%s)", headDir, base, hash[:12])
				old, err = policy.Load(fsys, policy.Options{Dir: headDir + "@" + base})
				if err != nil {
					return &ExitError{Code: ExitUsage, Err: err}
				}
			} else if old, err = loadPolicySet(baseDir); err != nil {
				return &ExitError{Code: ExitUsage, Err: err}
			}
			load, err := boundedLoad()
			if err != nil {
				return err
			}
			if catDir == "" {
				catDir = defaultCatalog(cmd.ErrOrStderr(), quiet)
			}
			pre, err := reportPrefix(cmd, prefix, catDir)
			if err != nil {
				return err
			}
			stop := startProgress(cmd, quiet, "evaluating both policy sets over "+catDir)
			lr, err := catalog.LoadDir(catDir, load)
			if err != nil {
				stop()
				return &ExitError{Code: ExitUsage, Err: err}
			}
			rep, err := policy.Impact(cmd.Context(), lr.Catalog, old, head, time.Now())
			stop()
			if err != nil {
				return &ExitError{Code: ExitUsage, Err: err}
			}
			rep.Base, rep.Head = baseName, headDir
			rep.Rebase(pre)
			w := cmd.OutOrStdout()
			if output == "json" {
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				err = enc.Encode(rep)
			} else {
				err = rep.WriteText(w, verbose)
			}
			if err != nil {
				return &ExitError{Code: ExitUsage, Err: err}
			}
			if rep.NewDeny() > 0 {
				return findingsExit
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&base, "base", "", "Git revision of the policies directory to compare against, e.g. origin/main or HEAD~1")
	f.StringVar(&baseDir, "base-policies", "", "directory of the policies to compare against, instead of --base")
	f.StringVar(&headDir, "policies", "policies", "directory of the changed policies")
	f.StringVar(&catDir, "catalog", "", "catalog directory to evaluate both policy sets over (default: the repository's, as for samverk validate)")
	f.StringVarP(&output, "output", "o", "text", "output format: text or json")
	completeFlag(cmd, "output", "text", "json")
	f.BoolVarP(&verbose, "verbose", "v", false, "list unchanged findings too")
	f.BoolVarP(&quiet, "quiet", "q", false, "no progress line or note on stderr")
	prefixFlag(cmd, &prefix)
	return cmd
}
