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
	var quiet bool
	cmd := &cobra.Command{
		Use:   "codeowners [DIR]",
		Short: "Write a CODEOWNERS file from the catalog's layout",
		Long: `codeowners derives review ownership from where files live, never from what documents say
about themselves: members/<member>/ belongs to that member, a shared file (outside members/) to
the owners its documents name in metadata.owner (or --fallback), and with --strategy the
policies/ and schemas/ folders of the repository to the strategy group. Without --out the file
goes to standard output.

Without DIR it reads the catalog samverk validate would validate. Paths are written from the
top level of the catalog's Git repository, or under --prefix.`,
		Example: `  samverk codeowners --prefix catalog --handle '@eklient/{owner}' --fallback @eklient/forvaltning \
    --strategy @eklient/strategigruppen -f .github/CODEOWNERS catalog`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var dir string
			if len(args) == 1 {
				dir = args[0]
			} else {
				dir = defaultCatalog(cmd.ErrOrStderr(), quiet)
			}
			prefix, err := reportPrefix(cmd, opt.Prefix, dir)
			if err != nil {
				return err
			}
			opt.Prefix = prefix
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
	f.StringVar(&opt.Prefix, "prefix", "", "the catalog's directory inside the repository, e.g. catalog (default: found from the catalog's Git repository)")
	f.StringVar(&opt.Fallback, "fallback", "", "handle that owns files whose documents name no owner")
	f.StringVar(&opt.Strategy, "strategy", "", "the strategy group's handle, which owns the repository's policies/ and schemas/")
	fileFlag(cmd, &out, "write to this file instead of standard output")
	f.BoolVarP(&quiet, "quiet", "q", false, "no note on stderr of which catalog was read")
	return cmd
}
