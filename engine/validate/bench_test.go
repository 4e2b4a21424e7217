package validate

import (
	"context"
	"testing"

	"samverk.io/samverk/engine/synth"
)

// BenchmarkValidateSynthetic validates the 10,000-document synthetic catalog cold from disk:
// load, schema and references, as `samverk validate --no-policies` does.
func BenchmarkValidateSynthetic(b *testing.B) {
	dir := b.TempDir()
	stats, err := synth.Write(dir, synth.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		res, err := Dir(context.Background(), dir, Options{})
		if err != nil {
			b.Fatal(err)
		}
		if !res.Report.Passed || res.Report.Documents != stats.Documents {
			b.Fatalf("report: passed=%v documents=%d (want %d): %v", res.Report.Passed, res.Report.Documents, stats.Documents, res.Report.Findings)
		}
	}
}
