package validate_test

import (
	"context"
	"strings"
	"testing"
	"testing/fstest"

	"samverk.io/samverk/engine/finding"
	"samverk.io/samverk/engine/validate"
)

const (
	osRelease = "apiVersion: samverk.io/v1\nkind: OSRelease\nmetadata: {name: windows-11-24h2}\nspec: {family: windows, version: 24H2, build: \"26100\", releaseDate: \"2024-10-01\", endOfSupport: \"2027-10-12\"}\n"
	member    = "apiVersion: samverk.io/v1\nkind: Member\nmetadata: {name: region-norr}\nspec:\n  type: region\n  displayName: Region Norr\n  contacts: [{role: operations, name: Drift, email: drift@example.org}]\n"
)

// TestEmptyTreeIsRefused: a commit that deletes every file, or keeps only shared documents,
// would leave every device without its member; it is not a valid catalog.
func TestEmptyTreeIsRefused(t *testing.T) {
	tests := []struct {
		name   string
		files  map[string]string
		passed bool
	}{
		{"empty tree", map[string]string{}, false},
		{"only a README", map[string]string{"README.md": "# gone\n"}, false},
		{"shared documents only", map[string]string{"os/windows.yaml": osRelease}, false},
		{"one member", map[string]string{"os/windows.yaml": osRelease, "members/region-norr/member.yaml": member}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for name, src := range tt.files {
				fsys[name] = &fstest.MapFile{Data: []byte(src)}
			}
			res, err := validate.FS(context.Background(), fsys, validate.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if res.Report.Passed != tt.passed {
				t.Fatalf("passed = %v, want %v: %v", res.Report.Passed, tt.passed, res.Report.Findings)
			}
			var hit *finding.Finding
			for i, f := range res.Report.Findings {
				if f.Rule == finding.RuleNoMember {
					hit = &res.Report.Findings[i]
				}
			}
			if tt.passed != (hit == nil) {
				t.Fatalf("%s finding = %v, want one only when refused", finding.RuleNoMember, hit)
			}
			if hit != nil && (hit.Severity != finding.Deny || !strings.Contains(hit.Message, "no Member document")) {
				t.Errorf("finding = %s", hit)
			}
		})
	}
}
