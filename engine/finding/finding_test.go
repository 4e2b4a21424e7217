package finding_test

import (
	"testing"

	"samverk.io/samverk/engine/finding"
)

func TestRebase(t *testing.T) {
	fs := []finding.Finding{
		{Rule: "a", File: "packages/x.yaml", Line: 3},
		{Rule: finding.RuleNoMember}, // about the whole catalog: no file
		{Rule: "b", File: "members/m/member.yaml"},
	}
	finding.Rebase(fs, "catalog")
	want := []string{"catalog/packages/x.yaml", "", "catalog/members/m/member.yaml"}
	for i, f := range fs {
		if f.File != want[i] {
			t.Errorf("finding %d: file %q, want %q", i, f.File, want[i])
		}
	}
	if got := fs[0].Location(); got != "catalog/packages/x.yaml:3" {
		t.Errorf("location %q", got)
	}
	finding.Rebase(fs, "")
	if fs[0].File != "catalog/packages/x.yaml" {
		t.Errorf("an empty prefix changed the file to %q", fs[0].File)
	}
}
