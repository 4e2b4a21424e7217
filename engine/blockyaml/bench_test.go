package blockyaml_test

import (
	"testing"

	"samverk.io/samverk/engine/blockyaml"
	"samverk.io/samverk/engine/synth"
)

// BenchmarkParse parses the files of a synthetic catalog of 2,000 documents with one Parser, as
// a loader's worker does; BenchmarkDecode has yaml.v3 do the same, for comparison.
func BenchmarkParse(b *testing.B) {
	files := synthFiles(b)
	var p blockyaml.Parser
	b.ReportAllocs()
	for b.Loop() {
		for _, src := range files {
			if _, ok := p.Parse(src); !ok {
				b.Fatal("not handled")
			}
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	files := synthFiles(b)
	b.ReportAllocs()
	for b.Loop() {
		for _, src := range files {
			if _, ok := decodeAll(src); !ok {
				b.Fatal("refused")
			}
		}
	}
}

func synthFiles(b *testing.B) [][]byte {
	m, _, err := synth.Files(synth.Options{Documents: 2000})
	if err != nil {
		b.Fatal(err)
	}
	var files [][]byte
	for _, src := range m {
		files = append(files, src)
	}
	return files
}
