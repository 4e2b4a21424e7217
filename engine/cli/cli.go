// Package cli is samverk's command line: validate, schema, policy, serve and the commands that
// talk to a running daemon. Commands return errors; only Main turns them into exit codes.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"samverk.io/samverk/engine/cueeval"
	"samverk.io/samverk/engine/version"
)

// Exit codes shared by every command.
const (
	ExitOK       = 0
	ExitFindings = 1 // the command ran and found problems (or, for diff, an effect)
	ExitUsage    = 2 // bad usage, unreadable input, or an internal error
	ExitDeny     = 3 // diff only: the change adds a deny finding no waiver exempts
)

// ExitError carries an exit code out of a command. With Silent set, the command has already
// told the user everything and Main prints nothing more.
type ExitError struct {
	Code   int
	Err    error
	Silent bool
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// findingsExit is the error a command returns when it ran but found problems.
var findingsExit = &ExitError{Code: ExitFindings, Silent: true}

// Main runs the samverk command line with args and returns the exit code.
func Main(args []string) int {
	if len(args) > 0 && args[0] == cueeval.ChildCommand {
		// A child evaluating one CUE file under limits: no command line, no signals.
		return cueeval.RunChild(args[1:], os.Stdin, os.Stdout, os.Stderr)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return run(ctx, args, os.Stdin, os.Stdout, os.Stderr)
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		if !ee.Silent && ee.Err != nil {
			fmt.Fprintln(stderr, "samverk:", ee.Err)
		}
		return ee.Code
	}
	fmt.Fprintln(stderr, "samverk:", err)
	return ExitUsage
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "samverk",
		Short: "GitOps for a shared IT workplace: validate the catalog, serve desired state to PCs",
		Long: `samverk validates a shared catalog of hardware models, packages, baselines and services,
and runs as a daemon that follows the catalog's Git repository and serves each PC its desired state.`,
		SilenceUsage:     true,
		SilenceErrors:    true,
		Version:          version.Get().String(),
		PersistentPreRun: warnDeprecated,
	}
	root.SetVersionTemplate("samverk {{.Version}}\n")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("%w\nRun '%s --help' for usage.", err, c.CommandPath())}
	})
	for _, c := range commands {
		root.AddCommand(c())
	}
	return root
}

// commands are the subcommands, each in its own file. An explicit list, not init() registration.
var commands = []func() *cobra.Command{
	newValidateCmd,
	newSchemaCmd,
	newDiffCmd,
	newCodeownersCmd,
	newPolicyCmd,
	newServeCmd,
	newStatusCmd,
	newTokenCmd,
	newReconcileCmd,
	newSuspendCmd,
	newResumeCmd,
	newDevicesCmd,
	newRequestCmd,
	newAccessCmd,
	newCostsCmd,
	newAuditCmd,
	newRolloutCmd,
	newImpactCmd,
	newServiceStatusCmd,
	newNoticeCmd,
	newUsageCmd,
	newPlanCmd,
	newHistoryCmd,
	newImportCmd,
	newOSCmd,
	newVersionCmd,
}

// completeFlag offers values when a shell completes the flag name of cmd, and no file names.
func completeFlag(cmd *cobra.Command, name string, values ...string) {
	if err := cmd.RegisterFlagCompletionFunc(name, cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp)); err != nil {
		panic(err) // the flag is not defined, or has a completion already: a programming error
	}
}

// usageError marks an error as the user's (exit 2).
func usageError(format string, args ...any) error {
	return &ExitError{Code: ExitUsage, Err: fmt.Errorf(format, args...)}
}
