package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

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
		Example: `  samverk schema export --format jsonschema --out .schemas`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "jsonschema" {
				return usageError("--format %q: only jsonschema is supported", format)
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
	export.Flags().StringVar(&format, "format", "jsonschema", "schema format: jsonschema")
	export.Flags().StringVar(&outDir, "out", "", "write one file per kind into this directory")
	cmd.AddCommand(export)
	return cmd
}
