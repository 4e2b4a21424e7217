package catalog

import (
	"os"
	"testing"
)

// BenchmarkLoadDir loads the catalog in $SAMVERK_BENCH_CATALOG (e.g. `make synth` output).
func BenchmarkLoadDir(b *testing.B) {
	dir := os.Getenv("SAMVERK_BENCH_CATALOG")
	if dir == "" {
		b.Skip("set SAMVERK_BENCH_CATALOG to a catalog directory")
	}
	b.ReportAllocs()
	for b.Loop() {
		res, err := LoadDir(dir, Options{})
		if err != nil {
			b.Fatal(err)
		}
		if len(res.Findings) > 0 {
			b.Fatal(res.Findings[0])
		}
	}
}
