package blockyaml_test

import (
	"testing"

	"samverk.io/samverk/engine/synth"
)

// FuzzParse holds Parse to its promise: it never panics, and whatever it handles, yaml.v3
// reads into the same trees.
func FuzzParse(f *testing.F) {
	for _, src := range referenceFiles(f) {
		f.Add(src)
	}
	files, _, err := synth.Files(synth.Options{Documents: 200, Members: 5})
	if err != nil {
		f.Fatal(err)
	}
	n := 0
	for _, src := range files {
		if n++; n > 40 {
			break
		}
		f.Add(src)
	}
	for _, s := range []string{
		"", "\n", "---", "--- \n", "---\n---\n", "a: 1\n---", "# c\n---\n  \n",
		"a:\n- b\n- c: d\n  e:\n  - f\ng: h\n",
		"- - - a\n    - b\n  - c\n-\n",
		"a:\n  b:\n    -\n    - x\n  c:\n",
		"  a: 1\n  b: 2\n",
		"a: \"x\" # c\nb: 'y'#c\nc: z#c\n",
		"\"a\": \"\\x41\\u00e4\\U0001F600\\N\\_\\L\\P\\0\\e\\ \\/\"\n",
		"a: 'it''s'\n'b''c': d\n",
		"? a\n: b\n", "a: &x b\nc: *x\n", "a: !t b\n", "a: [b, {c: d}]\n",
		"a: |\n  b\n  c\n", "a: >\n  b\n\n  c\n",
		"a: b\n  c\n", "- a\n  b\n", "a:\n  - b\n  c: d\n",
		"ä: ö\nöö: [x]\n", "-x: -1\n+y: .5\n~: ~\n",
		"a: 2026-05-01\nb: 1_000\nc: 0o17\nd: 0b101\ne: 1e3\nf: .nan\ng: -.inf\n",
		"a:\tb\n", "a: b\r\n", "\ufeffa: b\n", "a: \u0085\n", "a: \u2028\n",
		"a:b\n", "a :b\n", ":a: b\n", "-: a\n", "---a: b\n", "...: a\n",
		"a: {}\nb: []\nc: { }\n- {}\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		agree(t, "input", src)
	})
}
