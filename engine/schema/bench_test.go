package schema

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"samverk.io/samverk/engine/catalog"
)

// benchMix says how many of every 20 generated documents are of each kind; packages
// dominate a real catalog, one document per product version.
var benchMix = []struct {
	file  string
	share int
}{
	{"package.yaml", 8},
	{"hardwaremodel.yaml", 3},
	{"baseline.yaml", 2}, // two documents per copy
	{"service.yaml", 2},
	{"devicegroup.yaml", 2},
	{"osrelease.yaml", 1},
	{"member.yaml", 1},
}

var metadataNameRE = regexp.MustCompile(`(?m)^(metadata:\n(?:  .*\n)*?  name: )(\S+)`)

// generate builds n valid documents of mixed kinds from the fixtures in testdata/valid, each
// under a name of its own, parsed the way the loader parses YAML.
func generate(tb testing.TB, n int) *catalog.Catalog {
	tb.Helper()
	var files, templates []string
	for _, m := range benchMix {
		src, err := os.ReadFile(filepath.Join("testdata", "valid", m.file))
		if err != nil {
			tb.Fatal(err)
		}
		for range m.share {
			files = append(files, m.file)
			templates = append(templates, string(src))
		}
	}
	var docs []*catalog.Document
	for i := 0; len(docs) < n; i++ {
		src := metadataNameRE.ReplaceAllString(templates[i%len(templates)], fmt.Sprintf("${1}${2}-%d", i))
		file := fmt.Sprintf("gen/%05d-%s", i, files[i%len(files)])
		parsed, findings := catalog.ParseYAML(file, []byte(src), 0)
		if len(findings) > 0 {
			tb.Fatalf("generated document %s: %v", file, findings)
		}
		docs = append(docs, parsed...)
	}
	cat, dups := catalog.New(docs[:n])
	if len(dups) > 0 {
		tb.Fatalf("generated %d duplicate documents", len(dups))
	}
	return cat
}

func BenchmarkValidate(b *testing.B) {
	for _, n := range []int{10_000} {
		b.Run(fmt.Sprintf("docs=%d", n), func(b *testing.B) {
			cat := generate(b, n)
			b.ReportAllocs()
			cpu0 := cpuTime()
			b.ResetTimer()
			for b.Loop() {
				fs, err := Validate(cat, Options{})
				if err != nil {
					b.Fatal(err)
				}
				if len(fs) > 0 {
					b.Fatalf("generated documents are invalid: %v", fs[0])
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "docs/s")
			// CPU time says more than wall time on a machine other work shares.
			b.ReportMetric((cpuTime()-cpu0).Seconds()/float64(b.N), "cpu-s/op")
		})
	}
}

// BenchmarkValidateInvalid measures the cost of explaining: every document of
// testdata/invalid, each with several problems.
func BenchmarkValidateInvalid(b *testing.B) {
	res, err := catalog.LoadDir(filepath.Join("testdata", "invalid"), catalog.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Validate(res.Catalog, Options{Workers: 1}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*res.Catalog.Len()), "µs/doc")
}
