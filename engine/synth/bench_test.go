package synth

import (
	"path/filepath"
	"testing"

	"samverk.io/samverk/engine/catalog"
)

// BenchmarkFiles generates the default 10,000-document catalog in memory.
func BenchmarkFiles(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Files(Options{Seed: 1}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoadDir loads the default 10,000-document catalog from disk with catalog.LoadDir,
// the way samverk validate reads a checkout.
func BenchmarkLoadDir(b *testing.B) {
	dir := filepath.Join(b.TempDir(), "catalog")
	st, err := Write(dir, Options{Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(st.Bytes)
	b.ReportAllocs()
	for b.Loop() {
		res, err := catalog.LoadDir(dir, catalog.Options{})
		if err != nil {
			b.Fatal(err)
		}
		if res.Catalog.Len() != st.Documents || len(res.Findings) > 0 {
			b.Fatalf("loaded %d documents with %d findings", res.Catalog.Len(), len(res.Findings))
		}
	}
}
