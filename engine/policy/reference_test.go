package policy_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"samverk.io/samverk/engine/finding"
	"samverk.io/samverk/engine/validate"
)

// TestReferenceCatalogPasses runs the whole pipeline with the bundled policies over the
// reference catalog: no deny finding may remain unwaived.
func TestReferenceCatalogPasses(t *testing.T) {
	dir := filepath.Join("..", "..", "catalog")
	if _, err := os.Stat(dir); err != nil {
		t.Skip("no reference catalog")
	}
	at := time.Date(2026, time.November, 23, 12, 0, 0, 0, time.UTC)
	res, err := validate.Dir(context.Background(), dir, validate.Options{Policies: bundled(t), Now: func() time.Time { return at }})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range res.Report.Findings {
		if f.Failing(finding.Deny) {
			t.Errorf("%s", f)
		} else {
			t.Logf("%s", f)
		}
	}
	if !res.Report.Passed {
		t.Errorf("the reference catalog fails validation: %+v", res.Report.Summary)
	}
}
