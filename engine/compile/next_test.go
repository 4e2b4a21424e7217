package compile

import (
	"fmt"
	"testing"

	"samverk.io/samverk/engine/catalog"
)

// TestNextMatchesFromScratch: over both synthetic fleets, a sequence of commits that each move
// a package between user-test and approved (the most used product, then it back and a typical
// one at once, then a catalog loaded afresh, then the first catalog again) gives every device
// the very State a compilation from scratch gives.
func TestNextMatchesFromScratch(t *testing.T) {
	if testing.Short() {
		t.Skip("builds two 10,000-document catalogs")
	}
	for _, fl := range []struct {
		name string
		f    func(testing.TB) *synthFleet
	}{
		{"own", func(tb testing.TB) *synthFleet { return newSynthFleet(tb, 20_000, 1) }},
		{"synth", func(tb testing.TB) *synthFleet { return engineSynthFleet(tb, 20_000, 1) }},
	} {
		t.Run(fl.name, func(t *testing.T) {
			f := fl.f(t)
			use := f.productsByUse
			steps := []struct {
				name string
				cat  *catalog.Catalog
			}{
				{"the most used product", f.withChangedPackage(t, use[0])},
				{"it back and a typical one", f.withChangedPackage(t, use[len(use)/2])},
				{"the second most used, loaded afresh", f.withChangedPackageFresh(t, use[1])},
				{"nothing", f.cat},
			}
			c := New(f.cat, "r1")
			serve(c, f.devices, 2)
			for i, step := range steps {
				rev := fmt.Sprintf("r%d", i+2)
				c = c.Next(step.cat, rev)
				full := New(step.cat, rev)
				for _, d := range f.devices {
					a, _ := c.Desired(d)
					b, _ := full.Desired(d)
					if a.Hash != b.Hash || a.Revision != b.Revision {
						t.Fatalf("%s: device %+v: incremental %s at %s, from scratch %s at %s\nincremental: %s\nfrom scratch: %s",
							step.name, d, a.Hash, a.Revision, b.Hash, b.Revision, mustJSON(t, a), mustJSON(t, b))
					}
				}
				if s := c.Stats(); s.Reused == 0 {
					t.Errorf("%s: nothing reused: %+v", step.name, s)
				}
			}
		})
	}
}
