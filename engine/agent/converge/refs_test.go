package converge

import (
	"slices"
	"testing"

	"samverk.io/samverk/engine/desired"
)

// TestResultsCarryRefs checks that a resource's guidance references come back in its result.
func TestResultsCarryRefs(t *testing.T) {
	root := t.TempDir()
	r := fileRes("setting/banner", "/etc/issue.net", "authorised use only\n", "0644")
	r.Refs = []string{"CIS 1.7.5", "MSB MSB-L-004"}
	got := runOne(t, newEngine(t, root), "enforce", r)
	expect(t, got, desired.Corrected, "missing")
	if !slices.Equal(got.Refs, r.Refs) {
		t.Errorf("result refs %v, want %v", got.Refs, r.Refs)
	}
}
