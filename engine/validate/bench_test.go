package validate

import (
	"context"
	"testing"

	"samverk.io/samverk/engine/resultcache"
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

// BenchmarkValidateSyntheticCached validates the synthetic catalog through a result cache the
// first run filled: what a CI run over an unchanged catalog costs (compare with
// BenchmarkValidateSynthetic for a cold run).
func BenchmarkValidateSyntheticCached(b *testing.B) {
	dir := b.TempDir()
	if _, err := synth.Write(dir, synth.Options{}); err != nil {
		b.Fatal(err)
	}
	cacheDir := b.TempDir()
	run := func() *Report {
		rc, err := resultcache.Open(cacheDir, "bench", resultcache.Options{})
		if err != nil {
			b.Fatal(err)
		}
		res, err := Dir(context.Background(), dir, Options{Results: rc})
		if err != nil {
			b.Fatal(err)
		}
		if err := rc.Save(); err != nil {
			b.Fatal(err)
		}
		return res.Report
	}
	run()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if rep := run(); !rep.Passed {
			b.Fatalf("report did not pass: %v", rep.Findings)
		}
	}
}
