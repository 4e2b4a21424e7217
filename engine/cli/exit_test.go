package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestValidateExitCodes pins the contract CI systems rely on: 0 clean, 1 findings, 2 usage or I/O.
func TestValidateExitCodes(t *testing.T) {
	clean := t.TempDir()
	if err := copyTree("../../catalog", clean); err != nil {
		t.Fatal(err)
	}
	dirty := t.TempDir()
	if err := os.WriteFile(filepath.Join(dirty, "x.yaml"), []byte("apiVersion: samverk.io/v1\nkind: Nope\nmetadata: {name: x}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want int
	}{
		{"clean catalog", []string{"validate", clean}, ExitOK},
		{"findings", []string{"validate", dirty}, ExitFindings},
		{"missing directory", []string{"validate", filepath.Join(clean, "nope")}, ExitUsage},
		{"unknown output", []string{"validate", "--output", "yaml", clean}, ExitUsage},
		{"unknown flag", []string{"validate", "--frobnicate", clean}, ExitUsage},
		{"unknown command", []string{"frobnicate"}, ExitUsage},
		{"schema export", []string{"schema", "export", "--format", "jsonschema", "Package"}, ExitOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if got := run(context.Background(), tt.args, nil, &out, &errOut); got != tt.want {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", got, tt.want, out.String(), errOut.String())
			}
		})
	}
}
