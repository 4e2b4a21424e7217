package cli

import (
	"bytes"
	"os"

	"github.com/spf13/cobra"

	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/codeowners"
)

func newCodeownersCmd() *cobra.Command {
	var opt codeowners.Options
	var out string
	cmd := &cobra.Command{
		Use:   "codeowners [DIR]",
		Short: "Write a CODEOWNERS file from the catalog's layout",
		Long: `codeowners derives review ownership from where files live, never from what documents say
about themselves: members/<member>/ belongs to that member, a shared file (outside members/) to
the owners its documents name in metadata.owner (or --fallback), and with --strategy the
policies/ and schemas/ folders of the repository to the strategy group. Without --out the file
goes to standard output.`,
		Example: `  samverk codeowners --prefix catalog --handle '@eklient/{owner}' --fallback @eklient/forvaltning \
    --strategy @eklient/strategigruppen --out .github/CODEOWNERS catalog`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := "."
			if len(args) == 1 {
				dir = args[0]
			}
			load, err := boundedLoad()
			if err != nil {
				return err
			}
			res, err := catalog.LoadDir(dir, load)
			if err != nil {
				return &ExitError{Code: ExitUsage, Err: err}
			}
			var b bytes.Buffer
			if err := codeowners.Write(&b, res.Catalog, opt); err != nil {
				return err
			}
			if out == "" {
				_, err = cmd.OutOrStdout().Write(b.Bytes())
				return err
			}
			return os.WriteFile(out, b.Bytes(), 0o644)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opt.Handle, "handle", "@{owner}", "review handle for an owner; {owner} is replaced by the member name")
	f.StringVar(&opt.Prefix, "prefix", "", "the catalog's directory inside the repository, e.g. catalog")
	f.StringVar(&opt.Fallback, "fallback", "", "handle that owns files whose documents name no owner")
	f.StringVar(&opt.Strategy, "strategy", "", "the strategy group's handle, which owns the repository's policies/ and schemas/")
	f.StringVarP(&out, "out", "o", "", "write to this file instead of standard output")
	return cmd
}
