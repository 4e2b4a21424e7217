package refs

import (
	"testing"

	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/synth"
)

// BenchmarkCheck resolves the references of a synthetic consortium-sized catalog: 10,000
// documents, about 6,000 of them packages and 3,000 device groups.
func BenchmarkCheck(b *testing.B) {
	fsys, st, err := synth.FS(synth.Options{Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	res, err := catalog.Load(fsys, catalog.Options{})
	if err != nil {
		b.Fatal(err)
	}
	if len(res.Findings) > 0 {
		b.Fatalf("synthetic catalog does not load cleanly: %s", res.Findings[0])
	}
	b.ReportMetric(float64(st.Documents), "docs")
	b.ReportAllocs()
	for b.Loop() {
		if fs := Check(res.Catalog); len(fs) > 0 {
			b.Fatalf("synthetic catalog has reference findings: %s", fs[0])
		}
	}
}
