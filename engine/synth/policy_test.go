package synth

import (
	"context"
	"fmt"
	"testing"
	"time"

	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/finding"
	"samverk.io/samverk/engine/policy"
	"samverk.io/samverk/engine/validate"
	"samverk.io/samverk/policies"
)

// TestPolicyClean validates generated catalogs the way `samverk validate` does, with the
// bundled policies and the clock at Reference: nothing may fail or warn, and the planted
// exceptions must be waived, each waiver exempting at least one finding.
func TestPolicyClean(t *testing.T) {
	pol, err := policy.Load(policies.FS, policy.Options{Dir: "policies"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []Options{
		{}, // the default: 10,000 documents, 45 members
		{Documents: 1000, Members: 12, Seed: 7},
		{Documents: 250, Members: 50, Seed: 3},
		{Documents: 400, Members: 6, Seed: 5},
		{Documents: 2000, Seed: 11},
	}
	for _, opt := range tests {
		t.Run(fmt.Sprintf("docs=%d,members=%d,seed=%d", opt.Documents, opt.Members, opt.Seed), func(t *testing.T) {
			if testing.Short() && opt.Documents == 0 {
				t.Skip("10,000 documents: slow in -short")
			}
			dir := t.TempDir()
			st, err := Write(dir, opt)
			if err != nil {
				t.Fatal(err)
			}
			res, err := validate.Dir(context.Background(), dir, validate.Options{
				Policies: pol,
				Now:      func() time.Time { return Reference },
			})
			if err != nil {
				t.Fatal(err)
			}
			rep := res.Report
			var bad int
			waivedBy := map[finding.Waiver]int{}
			for _, f := range rep.Findings {
				switch {
				case f.WaivedBy != nil:
					waivedBy[*f.WaivedBy]++
				case f.Severity != finding.Info:
					if bad++; bad <= 10 {
						t.Error(f)
					}
				}
			}
			if bad > 10 {
				t.Errorf("... %d findings of severity warn or deny in all", bad)
			}
			if !rep.Passed {
				t.Error("report did not pass")
			}
			if rep.Documents != st.Documents {
				t.Errorf("validated %d documents, generated %d", rep.Documents, st.Documents)
			}
			if n := st.ByKind[catalog.KindWaiver]; len(waivedBy) != n {
				t.Errorf("%d of %d waivers exempt a finding", len(waivedBy), n)
			}
		})
	}
}
