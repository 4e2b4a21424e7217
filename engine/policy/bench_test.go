package policy_test

import (
	"context"
	"testing"

	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/synth"
)

// BenchmarkPolicies evaluates the bundled policy set, waivers included, over the synthetic
// 10,000-document catalog. Loading and compiling happen once, outside the timer, as in the
// daemon; each iteration is one commit's policy stage.
func BenchmarkPolicies(b *testing.B) {
	fsys, st, err := synth.FS(synth.Options{Documents: 10_000})
	if err != nil {
		b.Fatal(err)
	}
	res, err := catalog.Load(fsys, catalog.Options{})
	if err != nil {
		b.Fatal(err)
	}
	pol := bundled(b)
	var findings int
	b.ReportAllocs()
	cpu := cpuTime()
	for b.Loop() {
		fs, err := pol.Evaluate(context.Background(), res.Catalog, synth.Reference)
		if err != nil {
			b.Fatal(err)
		}
		findings = len(fs)
	}
	// CPU time shows the work done even when other processes share the machine's cores.
	b.ReportMetric(float64((cpuTime()-cpu).Milliseconds())/float64(b.N), "cpu-ms/op")
	b.ReportMetric(float64(st.Documents), "docs")
	b.ReportMetric(float64(findings), "findings")
}

// BenchmarkLoad compiles the bundled policy set.
func BenchmarkLoad(b *testing.B) {
	for b.Loop() {
		bundled(b)
	}
}
