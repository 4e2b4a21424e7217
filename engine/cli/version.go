package cli

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"samverk.io/samverk/engine/version"
)

func newVersionCmd() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print samverk's version, commit and build date",
		Long: `version prints the release, the Git commit and the build date of this binary: stamped by
'make build', or else recorded by 'go build' from the Git checkout. 'samverk --version' prints
the same line.`,
		Example: `  samverk version
  samverk version -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			in := version.Get()
			switch output {
			case "text":
				_, err := fmt.Fprintln(cmd.OutOrStdout(), "samverk", in)
				return err
			case "json":
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(in)
			}
			return usageError("--output %q: want text or json", output)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	completeFlag(cmd, "output", "text", "json")
	return cmd
}
