package cli

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"samverk.io/samverk/engine/finding"
	"samverk.io/samverk/engine/profile"
	"samverk.io/samverk/engine/report"
	"samverk.io/samverk/engine/resultcache"
	"samverk.io/samverk/engine/validate"
	"samverk.io/samverk/engine/version"
	"samverk.io/samverk/schemas"
)

func newValidateCmd() *cobra.Command {
	var (
		output      string
		failOn      string
		policiesDir string
		noPolicies  bool
		showWaived  bool
		quiet       bool
		prefix      string
		prof        profile.Options
		cacheDir    string
	)
	cmd := &cobra.Command{
		Use:   "validate [DIR...]",
		Short: "Check a catalog: schemas, references and policies, every finding at once",
		Long: `validate loads every YAML and CUE document under each DIR and runs the same checks the
daemon runs on a new commit: load, schema, references and policies. It prints every finding,
sorted by file and line; findings a waiver exempts are counted per rule unless --show-waived is
given (the other formats always list them).

Without DIR it validates the catalog the repository holds: the catalog/ folder of the Git
repository the current directory lies in, else the repository's top level (outside a
repository: ./catalog, else the current directory); it says which on stderr.

Files are named from the top level of the catalog's Git repository in every format, so CI
annotations, SARIF code scanning and JUnit reports point at the real files; --prefix sets
what goes before the catalog-relative paths instead. On a terminal, work that takes longer
than two seconds shows a progress line on stderr; --quiet turns it off.

Exit status: 0 clean, 1 findings that fail the run, 2 usage or I/O error.`,
		Example: `  samverk validate
  samverk validate -o sarif catalog > samverk.sarif
  samverk validate --fail-on warn -o github catalog`,
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			if len(args) == 0 {
				args = []string{defaultCatalog(cmd.ErrOrStderr(), quiet)}
			}
			sev, err := finding.ParseSeverity(failOn)
			if err != nil {
				return usageError("--fail-on: %v", err)
			}
			if !validOutput(output) {
				return usageError("--output %q: must be one of %s", output, strings.Join(report.Formats, ", "))
			}
			stopProfile, err := profile.Start(prof)
			if err != nil {
				return &ExitError{Code: ExitUsage, Err: err}
			}
			defer func() {
				if perr := stopProfile(); perr != nil && err == nil {
					err = &ExitError{Code: ExitUsage, Err: perr}
				}
			}()
			load, err := boundedLoad()
			if err != nil {
				return err
			}
			opt := validate.Options{FailOn: sev, Load: load}
			if !noPolicies {
				pol, err := loadPolicies(policiesDir)
				if err != nil {
					return &ExitError{Code: ExitUsage, Err: err}
				}
				opt.Policies = pol
			}
			if cacheDir != "" {
				rc, err := openResultCache(cacheDir)
				if err != nil {
					return &ExitError{Code: ExitUsage, Err: err}
				}
				if rc.Note != "" && !quiet {
					fmt.Fprintln(cmd.ErrOrStderr(), "samverk:", rc.Note)
				}
				opt.Results = rc
				defer func() {
					if serr := rc.Save(); serr != nil && !quiet {
						fmt.Fprintln(cmd.ErrOrStderr(), "samverk:", serr)
					}
				}()
			}
			failed := false
			for _, dir := range args {
				pre, err := reportPrefix(cmd, prefix, dir)
				if err != nil {
					return err
				}
				stop := startProgress(cmd, quiet, "validating "+dir)
				res, err := validate.Dir(cmd.Context(), dir, opt)
				stop()
				if err != nil {
					return &ExitError{Code: ExitUsage, Err: err}
				}
				res.Report.Rebase(pre)
				if len(args) > 1 && output == "text" && !quiet {
					fmt.Fprintf(cmd.OutOrStdout(), "== %s\n", dir)
				}
				if output == "text" {
					err = report.Text(cmd.OutOrStdout(), res.Report, report.TextOptions{ShowWaived: showWaived, Quiet: quiet})
				} else {
					err = report.Write(cmd.OutOrStdout(), output, res.Report)
				}
				if err != nil {
					return &ExitError{Code: ExitUsage, Err: err}
				}
				failed = failed || !res.Report.Passed
			}
			if failed {
				return findingsExit
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&output, "output", "o", "text", "output format: "+strings.Join(report.Formats, ", "))
	f.StringVar(&failOn, "fail-on", "deny", "lowest severity that fails the run: deny, warn or info")
	completeFlag(cmd, "output", report.Formats...)
	completeFlag(cmd, "fail-on", string(finding.Deny), string(finding.Warn), string(finding.Info))
	f.StringVar(&policiesDir, "policies", "", "directory of Rego policies (default: the bundled policy set)")
	f.BoolVar(&noPolicies, "no-policies", false, "check load, schema and references only")
	f.BoolVarP(&quiet, "quiet", "q", false, "the findings alone: no waiver counts and summary line, no progress line or note on stderr")
	f.BoolVar(&showWaived, "show-waived", false, "text output: list waived findings one by one instead of counting them per rule")
	f.StringVar(&cacheDir, "cache-dir", "", "keep each file's schema results in this directory, keyed by content, so the next run checks only changed files")
	f.StringVar(&prof.CPU, "cpuprofile", "", "write a CPU profile of the run to this file (read it with go tool pprof)")
	f.StringVar(&prof.Mem, "memprofile", "", "write a heap profile (every allocation of the run) to this file when it ends")
	prefixFlag(cmd, &prefix)
	return cmd
}

func validOutput(s string) bool {
	for _, f := range report.Formats {
		if s == f {
			return true
		}
	}
	return false
}

// openResultCache opens the result cache in dir for the bundled schemas and this build.
func openResultCache(dir string) (*resultcache.Cache, error) {
	build := version.Get()
	id := build.String()
	if build.Modified || build.Commit == "unknown" {
		// A build from a changed tree shares its version with other such builds: the binary
		// itself tells them apart.
		if exe, err := os.Executable(); err == nil {
			if info, err := os.Stat(exe); err == nil {
				id += fmt.Sprintf(" %d %d", info.Size(), info.ModTime().UnixNano())
			}
		}
	}
	salt, err := resultcache.Salt(id, schemas.FS)
	if err != nil {
		return nil, err
	}
	return resultcache.Open(dir, salt, resultcache.Options{})
}
