package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/schema"
)

func newSchemaCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "schema",
		Short: "Work with the document schemas",
	}
	var format, outDir string
	export := &cobra.Command{
		Use:   "export [KIND...]",
		Short: "Export the schema of each kind, e.g. as JSON Schema for editors",
		Long: `export writes one JSON Schema per kind. With --out DIR each goes to DIR/<kind>.json,
ready for the YAML language server; without it, a single JSON object keyed by kind is printed.`,
		Example: `  samverk schema export -o jsonschema -f .schemas
  samverk schema export Package HardwareModel`,
		ValidArgsFunction: completeKinds,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(format, schemaFormats...); err != nil {
				return err
			}
			all, err := schema.JSONSchemas()
			if err != nil {
				return err
			}
			kinds := args
			if len(kinds) == 0 {
				for k := range all {
					kinds = append(kinds, k)
				}
				slices.Sort(kinds)
			}
			picked := map[string]json.RawMessage{}
			for _, k := range kinds {
				s, ok := all[k]
				if !ok {
					return usageError("unknown kind %q", k)
				}
				picked[k] = s
			}
			if outDir == "" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(picked)
			}
			if err := os.MkdirAll(outDir, 0o755); err != nil {
				return err
			}
			for _, k := range kinds {
				p := filepath.Join(outDir, strings.ToLower(k)+".json")
				if err := os.WriteFile(p, picked[k], 0o644); err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), p)
			}
			return nil
		},
	}
	outputFlag(export, &format, schemaFormats...)
	export.Flags().StringVar(&format, "format", schemaFormats[0], "schema format")
	deprecatedFlag(export, "format", "--format is deprecated: use -o or --output")
	export.Flags().StringVarP(&outDir, "out", "f", "", "write one file per kind into this directory")
	cmd.AddCommand(export)
	return cmd
}

// schemaFormats are the formats schema export writes.
var schemaFormats = []string{"jsonschema"}

// completeKinds offers the document kinds not yet on the command line.
func completeKinds(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	var kinds []string
	for _, k := range catalog.Kinds {
		if !slices.Contains(args, k) {
			kinds = append(kinds, k)
		}
	}
	return kinds, cobra.ShellCompDirectiveNoFileComp
}
