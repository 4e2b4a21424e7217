package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// The command line's conventions, as in flux, argocd and gh: -o/--output names the output
// format everywhere, --out/-f the file (or directory) written instead of standard output.

// outputFlag adds -o/--output: the formats a command writes, the first the default, completed
// by shells.
func outputFlag(cmd *cobra.Command, p *string, formats ...string) {
	cmd.Flags().StringVarP(p, "output", "o", formats[0], "output format: "+strings.Join(formats, ", "))
	completeFlag(cmd, "output", formats...)
}

// checkOutput refuses an output format the command does not write.
func checkOutput(output string, formats ...string) error {
	if contains(formats, output) {
		return nil
	}
	return usageError("--output %q: must be one of %s", output, strings.Join(formats, ", "))
}

// fileFlag adds --out/-f, where a command writes instead of standard output, for a command
// whose -o named that file before -o meant a format everywhere: -o still works, hidden, and
// says so on stderr.
func fileFlag(cmd *cobra.Command, p *string, usage string) {
	f := cmd.Flags()
	f.StringVarP(p, "out", "f", "", usage)
	f.StringVarP(p, "out-o", "o", "", usage)
	deprecatedFlag(cmd, "out-o", "-o for the file is deprecated: use -f or --out; -o names an output format")
}

// deprecatedFlag hides a flag kept for an old spelling; using it still works and prints note on
// stderr (pflag's own deprecation notes go to standard output, into the command's output).
func deprecatedFlag(cmd *cobra.Command, name, note string) {
	f := cmd.Flags()
	if err := f.MarkHidden(name); err != nil {
		panic(err)
	}
	if err := f.SetAnnotation(name, deprecatedNote, []string{note}); err != nil {
		panic(err)
	}
}

const deprecatedNote = "samverk/deprecated"

// warnDeprecated prints the note of each deprecated flag the command line used.
func warnDeprecated(cmd *cobra.Command, _ []string) {
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if note := f.Annotations[deprecatedNote]; len(note) > 0 {
			fmt.Fprintln(cmd.ErrOrStderr(), "samverk:", note[0])
		}
	})
}
