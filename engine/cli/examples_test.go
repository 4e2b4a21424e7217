package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestExamplePipelines checks that the CI examples are valid YAML and that every samverk
// command they run exists and accepts the flags it is given.
func TestExamplePipelines(t *testing.T) {
	files, err := filepath.Glob("../../examples/ci/*.yaml")
	if err != nil || len(files) < 2 {
		t.Fatalf("example pipelines: %v %v", files, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var doc map[string]any
			if err := yaml.Unmarshal(src, &doc); err != nil {
				t.Fatalf("not valid YAML: %v", err)
			}
			found := 0
			for _, m := range exampleCommandRE.FindAllStringSubmatch(string(src), -1) {
				line := strings.ReplaceAll(m[1], "\\\n", " ")
				args := strings.Fields(line)
				cmd, rest, err := newRootCmd().Find(args)
				if err != nil || cmd.Name() == "samverk" {
					t.Errorf("samverk %s: no such command (%v)", line, err)
					continue
				}
				if err := cmd.ParseFlags(rest); err != nil {
					t.Errorf("samverk %s: %v", line, err)
				}
				found++
			}
			if found < 2 {
				t.Errorf("found %d samverk commands, want validate and diff at least", found)
			}
		})
	}
}
