package blockyaml_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"samverk.io/samverk/engine/blockyaml"
	"samverk.io/samverk/engine/synth"
)

// decodeAll decodes every document of src with yaml.v3, as the catalog loader does; ok is false
// when yaml.v3 refuses src (or panics on it).
func decodeAll(src []byte) (docs []*yaml.Node, ok bool) {
	defer func() {
		if recover() != nil {
			docs, ok = nil, false
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(src))
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return docs, true
		}
		if err != nil {
			return nil, false
		}
		docs = append(docs, &n)
	}
}

// diff describes the first difference between two node trees, comments aside, or is "".
func diff(path string, got, want *yaml.Node) string {
	if got == nil || want == nil {
		if got != want {
			return fmt.Sprintf("%s: got %v, want %v", path, got, want)
		}
		return ""
	}
	type shape struct {
		Kind         yaml.Kind
		Style        yaml.Style
		Tag, Value   string
		Anchor       string
		Alias        bool
		Line, Column int
		Content      int
		ContentIsNil bool
	}
	of := func(n *yaml.Node) shape {
		return shape{n.Kind, n.Style, n.Tag, n.Value, n.Anchor, n.Alias != nil, n.Line, n.Column, len(n.Content), n.Content == nil}
	}
	if g, w := of(got), of(want); g != w {
		return fmt.Sprintf("%s: got %+v, want %+v", path, g, w)
	}
	for i := range got.Content {
		if d := diff(fmt.Sprintf("%s/%d", path, i), got.Content[i], want.Content[i]); d != "" {
			return d
		}
	}
	return ""
}

// agree parses src with both parsers and fails t when Parse handles src but builds other trees
// than yaml.v3 does (or handles what yaml.v3 refuses). It reports whether Parse handled src.
func agree(t testing.TB, name string, src []byte) bool {
	t.Helper()
	got, handled := blockyaml.Parse(src)
	if !handled {
		if got != nil {
			t.Errorf("%s: not handled, yet %d documents returned", name, len(got))
		}
		return false
	}
	want, ok := decodeAll(src)
	if !ok {
		t.Errorf("%s: handled, but yaml.v3 refuses it:\n%s", name, src)
		return true
	}
	if len(got) != len(want) {
		t.Errorf("%s: %d documents, yaml.v3 has %d:\n%s", name, len(got), len(want), src)
		return true
	}
	for i := range got {
		if d := diff(fmt.Sprintf("doc %d", i), got[i], want[i]); d != "" {
			t.Errorf("%s: %s\n%s", name, d, src)
			return true
		}
	}
	return true
}

// referenceFiles reads the YAML files of the reference catalog and the examples.
func referenceFiles(t testing.TB) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	for _, dir := range []string{"../../catalog", "../../examples"} {
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			if ext := filepath.Ext(p); ext != ".yaml" && ext != ".yml" {
				return nil
			}
			b, err := os.ReadFile(p)
			files[p] = b
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(files) < 50 {
		t.Fatalf("%d reference files found; is the repository layout changed?", len(files))
	}
	return files
}

// TestReferenceCatalog parses every YAML file of the reference catalog and the examples.
func TestReferenceCatalog(t *testing.T) {
	handled := 0
	files := referenceFiles(t)
	for name, src := range files {
		if agree(t, name, src) {
			handled++
		}
	}
	t.Logf("%d of %d reference files on the fast path", handled, len(files))
}

// TestSyntheticCatalog parses every file of the synthetic catalog: the trees agree with
// yaml.v3's, and all but a few files (at most 1%) take the fast path.
func TestSyntheticCatalog(t *testing.T) {
	files, _, err := synth.Files(synth.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var fallback []string
	for name, src := range files {
		if !agree(t, name, src) {
			fallback = append(fallback, name)
		}
	}
	slices.Sort(fallback)
	if len(fallback)*100 > len(files) {
		t.Errorf("%d of %d synthetic files fall back to yaml.v3, over 1%%: %s", len(fallback), len(files), strings.Join(fallback, ", "))
	}
}

// TestSubset says which inputs take the fast path and which are left to yaml.v3; the trees of
// the first agree with yaml.v3's.
func TestSubset(t *testing.T) {
	tests := []struct {
		name    string
		src     string
		handled bool
	}{
		{"empty file", "", true},
		{"comments only", "# a\n  # b\n", true},
		{"mapping", "a: 1\nb: x\n", true},
		{"no final newline", "a: 1\nb: x", true},
		{"nested", "a:\n  b:\n    c: d\n  e: f\ng: h\n", true},
		{"sequence", "- a\n- b: 1\n  c: 2\n-\n- - x\n  - y\n", true},
		{"indentless sequence", "a:\n- x\n- y: 1\n  z: 2\nb: 3\n", true},
		{"empty values", "a:\nb:   # none\nc:\n  -\n  - # none\n", true},
		{"empty flow collections", "a: {}\nb: []\nc:\n  - {}\n  - []\n", true},
		{"quoted", "\"a b\": 'c''d'\n'e': \"f\\\\g\\u00e4\\x41\\\"\\t\"\n", true},
		{"tags resolved", "- 1\n- 1.5\n- 0x1f\n- true\n- no\n- null\n- ~\n- 2026-05-01\n- .inf\n- <<\n- -x\n- +1\n", true},
		{"plain with indicators inside", "a: b:c #d\ne: f#g\nh: i [j] {k}, l\n", true},
		{"wide characters", "ä: ö\nå: [x]\n- x\n", false},
		{"wide characters before values", "ä: ö\nåå: 'x'\nääh:\n  - é: ü\n", true},
		{"separators", "---\na: 1\n---\n---\n# c\n--- # c\nb: 2\n", true},
		{"separator after content", "a: 1\n---", true},
		{"document end", "a: 1\n...\n", false},
		{"directive", "%YAML 1.2\n---\na: 1\n", false},
		{"anchor and alias", "a: &x 1\nb: *x\n", false},
		{"tag", "a: !!str 1\n", false},
		{"merge key", "a:\n  <<: {}\n", false},
		{"flow mapping", "a: {b: 1}\n", false},
		{"flow sequence", "a: [1, 2]\n", false},
		{"literal block scalar", "a: |\n  x\n", false},
		{"folded block scalar", "a: >-\n  x\n", false},
		{"multi-line plain", "a: b\n  c\n", false},
		{"multi-line quoted", "a: \"b\n  c\"\n", false},
		{"tab", "a:\tb\n", false},
		{"carriage return", "a: b\r\n", false},
		{"byte order mark", "\ufeffa: b\n", false},
		{"not UTF-8", "a: \xe4\n", false},
		{"root scalar", "hello\n", false},
		{"bad indentation", "a:\n  b: 1\n c: 2\n", false},
		{"scalar with mapping after", "a: b: c\n", false},
		{"unknown escape", "a: \"\\/\"\n", false},
		{"key with space before colon", "a : b\n", false},
		{"long key", strings.Repeat("k", 1025) + ": v\n", false},
		{"deep nesting", strings.Repeat("- ", 2000) + "x\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := agree(t, tt.name, []byte(tt.src)); got != tt.handled {
				t.Errorf("handled = %v, want %v", got, tt.handled)
			}
		})
	}
}
