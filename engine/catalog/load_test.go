package catalog

import (
	"crypto/sha256"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"samverk.io/samverk/engine/finding"
)

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

const osRelease = `apiVersion: samverk.io/v1
kind: OSRelease
metadata:
  name: windows-11-24h2
spec:
  family: windows
  version: 24H2
  build: "26100"
`

func TestLoadRefusals(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		rule  string
		file  string
		line  int
		col   int
		msg   string
	}{
		{
			name:  "unknown kind",
			files: map[string]string{"a.yaml": "apiVersion: samverk.io/v1\nkind: Pakage\nmetadata:\n  name: x\n"},
			rule:  finding.RuleUnknownKind, file: "a.yaml", line: 2, col: 1, msg: `unknown kind "Pakage"`,
		},
		{
			name:  "unknown apiVersion",
			files: map[string]string{"a.yaml": "apiVersion: samverk.io/v2\nkind: Package\nmetadata:\n  name: x\n"},
			rule:  finding.RuleAPIVersion, file: "a.yaml", line: 1, col: 1, msg: `got "samverk.io/v2"`,
		},
		{
			name:  "invalid name",
			files: map[string]string{"a.yaml": "apiVersion: samverk.io/v1\nkind: Package\nmetadata:\n  name: Firefox_ESR\n"},
			rule:  finding.RuleInvalidName, file: "a.yaml", line: 4, col: 3, msg: `"Firefox_ESR" is not a valid name`,
		},
		{
			name:  "duplicate name across files",
			files: map[string]string{"a.yaml": osRelease, "b/c.yaml": "# again\n" + osRelease},
			rule:  finding.RuleDuplicateName, file: "b/c.yaml", line: 5, col: 3, msg: "already defined at a.yaml:1",
		},
		{
			name:  "namespace on a shared kind",
			files: map[string]string{"a.yaml": "apiVersion: samverk.io/v1\nkind: Package\nmetadata:\n  name: x\n  namespace: region-norr\n"},
			rule:  finding.RuleNamespace, file: "a.yaml", line: 5, col: 3, msg: "shared kind",
		},
		{
			name:  "member-scoped kind without namespace",
			files: map[string]string{"a.yaml": "apiVersion: samverk.io/v1\nkind: DeviceGroup\nmetadata:\n  name: x\n"},
			rule:  finding.RuleNamespace, file: "a.yaml", line: 3, col: 1, msg: "member-scoped",
		},
		{
			name:  "yaml syntax",
			files: map[string]string{"a.yaml": "apiVersion: samverk.io/v1\nkind: Package: x\n"},
			rule:  finding.RuleYAMLSyntax, file: "a.yaml", line: 2, msg: "mapping values are not allowed",
		},
		{
			name:  "duplicate key",
			files: map[string]string{"a.yaml": "apiVersion: samverk.io/v1\nkind: Package\nkind: Package\nmetadata:\n  name: x\n"},
			rule:  finding.RuleDuplicateKey, file: "a.yaml", line: 3, col: 1, msg: `key "kind" is already set at line 2`,
		},
		{
			name:  "not a mapping",
			files: map[string]string{"a.yaml": "- a\n- b\n"},
			rule:  finding.RuleYAMLSyntax, file: "a.yaml", line: 1, col: 1, msg: "must be a mapping",
		},
		{
			name:  "too large",
			files: map[string]string{"big.yaml": "# " + strings.Repeat("x", 2<<20) + "\n"},
			rule:  finding.RuleTooLarge, file: "big.yaml", msg: "over the limit",
		},
		{
			name: "alias bomb",
			files: map[string]string{"bomb.yaml": `apiVersion: samverk.io/v1
kind: Package
metadata: {name: bomb}
a: &a ["x","x","x","x","x","x","x","x","x","x"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]
`},
			rule: finding.RuleAliasBomb, file: "bomb.yaml", line: 1, col: 1, msg: "through aliases",
		},
		{
			name:  "cue syntax",
			files: map[string]string{"a.cue": "kind: \"OSRelease\"\nmetadata: {name: \n"},
			rule:  finding.RuleCUESyntax, file: "a.cue", line: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, tt.files)
			res, err := LoadDir(dir, Options{})
			if err != nil {
				t.Fatal(err)
			}
			var got *finding.Finding
			for i, f := range res.Findings {
				if f.Rule == tt.rule {
					got = &res.Findings[i]
				}
			}
			if got == nil {
				t.Fatalf("no %s finding; got %v", tt.rule, res.Findings)
			}
			if got.File != tt.file || (tt.line != 0 && got.Line != tt.line) || (tt.col != 0 && got.Column != tt.col) {
				t.Errorf("at %s, want %s:%d:%d", got.Location(), tt.file, tt.line, tt.col)
			}
			if !strings.Contains(got.Message, tt.msg) {
				t.Errorf("message %q does not contain %q", got.Message, tt.msg)
			}
			if got.Severity != finding.Deny {
				t.Errorf("severity %s, want deny", got.Severity)
			}
		})
	}
}

func TestLoadKeepsPositions(t *testing.T) {
	src := `# leading comment
apiVersion: samverk.io/v1
kind: HardwareModel
metadata:
  name: dell-latitude-5450
spec:
  vendor: Dell Inc.
  certifications:
    - osRelease: windows-11-23h2
      status: certified
    - osRelease: windows-11-24h2
      status: testing
      evidence: https://example.org/x
---
apiVersion: samverk.io/v1
kind: OSRelease
metadata: {name: windows-11-24h2}
spec: {family: windows, build: "26100", releaseDate: 2024-10-01}
`
	docs, fs := ParseYAML("hw.yaml", []byte(src), 0)
	if len(fs) != 0 {
		t.Fatal(fs)
	}
	if len(docs) != 2 {
		t.Fatalf("got %d documents, want 2", len(docs))
	}
	hw, osr := docs[0], docs[1]
	tests := []struct {
		doc       *Document
		path      string
		line, col int
	}{
		{hw, "spec.vendor", 7, 3},
		{hw, "spec.certifications[1].evidence", 13, 7},
		{hw, "spec.certifications[1]", 11, 7},
		{hw, "spec.certifications[1].missing.deeper", 11, 7},
		{hw, "spec.nothing", 6, 1},
		{osr, "spec.build", 18, 25},
		{osr, "", 15, 1},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			p := tt.doc.Pos(ParsePath(tt.path))
			if p.Line != tt.line || p.Column != tt.col {
				t.Errorf("Pos(%s) = %d:%d, want %d:%d", tt.path, p.Line, p.Column, tt.line, tt.col)
			}
		})
	}
	if got := osr.Object["spec"].(map[string]any)["releaseDate"]; got != "2024-10-01" {
		t.Errorf("dates stay as written; got %#v", got)
	}
	if hw.Index != 0 || osr.Index != 1 {
		t.Errorf("indices %d %d", hw.Index, osr.Index)
	}
}

func TestLoadFS(t *testing.T) {
	fsys := fstest.MapFS{
		"os/win.yaml":               {Data: []byte(osRelease)},
		"os/.hidden.yaml":           {Data: []byte("not: [yaml")},
		"_drafts/x.yaml":            {Data: []byte("not: [yaml")},
		"README.md":                 {Data: []byte("# hi")},
		"members/region-norr/m.cue": {Data: []byte("apiVersion: \"samverk.io/v1\"\nkind: \"Member\"\nmetadata: name: \"region-norr\"\nspec: type: \"region\"\n")},
		"hardware/multi.cue":        {Data: []byte("_base: {apiVersion: \"samverk.io/v1\", kind: \"HardwareModel\"}\na: _base & {metadata: name: \"model-a\"}\nb: _base & {metadata: name: \"model-b\"}\n")},
	}
	res, err := Load(fsys, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Findings) != 0 {
		t.Fatalf("findings: %v", res.Findings)
	}
	if res.Catalog.Len() != 4 || res.Files != 3 {
		t.Fatalf("got %d documents in %d files, want 4 in 3", res.Catalog.Len(), res.Files)
	}
	m := res.Catalog.Get(KindMember, "", "region-norr")
	if m == nil {
		t.Fatal("CUE member not loaded")
	}
	if p := m.Pos(ParsePath("spec.type")); p.Line != 4 {
		t.Errorf("CUE position of spec.type = %d:%d, want line 4", p.Line, p.Column)
	}
	if res.Catalog.Get(KindHardwareModel, "", "model-b") == nil {
		t.Error("second document of a multi-document CUE file not loaded")
	}
}

func TestLoadDirSymlinks(t *testing.T) {
	outside := t.TempDir()
	writeFiles(t, outside, map[string]string{"secret.yaml": osRelease})
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"inside/os.yaml": osRelease})
	if err := os.Symlink(filepath.Join(outside, "secret.yaml"), filepath.Join(dir, "escape.yaml")); err != nil {
		t.Skip("symlinks not supported:", err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "escape-dir")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("inside", filepath.Join(dir, "alias")); err != nil {
		t.Fatal(err)
	}
	res, err := LoadDir(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	escapes := map[string]bool{}
	for _, f := range res.Findings {
		if f.Rule == finding.RuleSymlink {
			escapes[f.File] = true
		}
	}
	if !escapes["escape.yaml"] || !escapes["escape-dir"] || len(escapes) != 2 {
		t.Errorf("symlink findings for %v, want escape.yaml and escape-dir", escapes)
	}
}

func TestPathRoundTrip(t *testing.T) {
	for _, s := range []string{"spec.certifications[2].evidence", "metadata.labels[\"a.b\"]", "spec", "", "spec.settings[0]"} {
		if got := ParsePath(s).String(); got != s {
			t.Errorf("ParsePath(%q).String() = %q", s, got)
		}
	}
}

func FuzzParseYAML(f *testing.F) {
	f.Add([]byte(osRelease))
	f.Add([]byte("a: &a [1,2]\nb: *a\n<<: {c: 1}\n"))
	f.Add([]byte("---\n---\nkind: x\n...\n"))
	f.Add([]byte("a: !!binary aGVsbG8=\nb: .inf\nc: 0o17\nd: 1_000\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		docs, fs := ParseYAML("f.yaml", src, 1000)
		for _, d := range docs {
			if d.Object == nil {
				t.Fatal("document without object")
			}
			_ = d.Pos(Path{"spec", "x", 0})
			if err := d.DecodeSpec(&PackageSpec{}); err != nil && strings.Contains(err.Error(), "unsupported value") {
				t.Fatalf("value that cannot be encoded as JSON: %v", err)
			}
		}
		for _, f := range fs {
			if f.Rule == "" || f.File != "f.yaml" {
				t.Fatalf("malformed finding %+v", f)
			}
		}
	})
}

func TestMergeKeys(t *testing.T) {
	src := "base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  y: 3\n"
	docs, fs := ParseYAML("m.yaml", []byte(src), 0)
	if len(fs) != 0 {
		t.Fatalf("an explicit key overriding a merged one is no duplicate: %v", fs)
	}
	m := docs[0].Object["m"].(map[string]any)
	if m["x"] != int64(1) || m["y"] != int64(3) {
		t.Errorf("merged mapping = %v, want x=1 y=3", m)
	}
	if p := docs[0].Pos(ParsePath("m.y")); p.Line != 4 {
		t.Errorf("m.y at line %d, want 4", p.Line)
	}
}

// TestPositionPaths records positions where a path is easy to get wrong: quoted keys, keys of
// merged mappings and their overrides, aliases, duplicates, and a file whose second document
// follows a duplicate in the first.
func TestPositionPaths(t *testing.T) {
	src := `"q k": [1, {"x.y": 2}]
m:
  <<: [{a: 1, b: {c: 2}}, {b: 3, d: 4}]
  b: {e: 5}
  a: 6
  a: 7
r: &r {p: [1, {q: 3}]}
s: *r
---
t:
  u: [x, {v: 1}]
  u: 2
`
	docs, fs := ParseYAML("p.yaml", []byte(src), 0)
	if len(docs) != 2 {
		t.Fatalf("got %d documents, want 2", len(docs))
	}
	var got []string
	for _, f := range fs {
		got = append(got, f.String())
	}
	want := []string{
		`p.yaml:6:3: deny load/duplicate-key: m.a: key "a" is already set at line 5`,
		`p.yaml:12:3: deny load/duplicate-key: t.u: key "u" is already set at line 11`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("findings %q, want %q", got, want)
	}
	tests := []struct {
		doc       int
		path      Path
		line, col int
	}{
		{0, Path{"q k", 1, "x.y"}, 1, 13},
		{0, Path{"m", "b"}, 4, 3},       // the explicit key replaces the merged one
		{0, Path{"m", "b", "c"}, 3, 19}, // what was merged is still found
		{0, Path{"m", "b", "e"}, 4, 7},
		{0, Path{"m", "d"}, 3, 34},
		{0, Path{"m", "a"}, 5, 3},
		{0, Path{"s", "p", 1, "q"}, 7, 16}, // an alias points at what it stands for
		{1, Path{"t", "u", 1, "v"}, 11, 11},
		{1, Path{"t", "u", 2}, 11, 3}, // the duplicate's list is not kept: the first u stands
	}
	for _, tt := range tests {
		t.Run(tt.path.String(), func(t *testing.T) {
			if p := docs[tt.doc].Pos(tt.path); p.Line != tt.line || p.Column != tt.col {
				t.Errorf("Pos(%s) = %d:%d, want %d:%d", tt.path, p.Line, p.Column, tt.line, tt.col)
			}
		})
	}
}

func TestLoadCache(t *testing.T) {
	v1 := fstest.MapFS{
		"a.yaml":   {Data: []byte(osRelease)},
		"b.yaml":   {Data: []byte("apiVersion: samverk.io/v1\nkind: HardwareModel\nmetadata: {name: region-norr}\n")},
		"bad.yaml": {Data: []byte("kind: [x\n")},
	}
	cache := NewCache()
	first, err := Load(v1, Options{Cache: cache})
	if err != nil {
		t.Fatal(err)
	}
	v2 := fstest.MapFS{"a.yaml": v1["a.yaml"], "bad.yaml": v1["bad.yaml"],
		"b.yaml": {Data: []byte("apiVersion: samverk.io/v1\nkind: HardwareModel\nmetadata: {name: region-syd}\n")}}
	second, err := Load(v2, Options{Cache: cache})
	if err != nil {
		t.Fatal(err)
	}
	if first.Catalog.Get(KindOSRelease, "", "windows-11-24h2") != second.Catalog.Get(KindOSRelease, "", "windows-11-24h2") {
		t.Error("an unchanged file was parsed again")
	}
	if second.Catalog.Get(KindHardwareModel, "", "region-syd") == nil || second.Catalog.Get(KindHardwareModel, "", "region-norr") != nil {
		t.Error("a changed file was not parsed again")
	}
	if len(second.Findings) != 1 || second.Findings[0].File != "bad.yaml" {
		t.Errorf("findings of a cached file are lost: %v", second.Findings)
	}
	// A third load without b.yaml's old content keeps only what the second used.
	if _, ok := cache.get(cacheKey{path: "b.yaml", sum: sha256.Sum256(v1["b.yaml"].Data)}); ok {
		t.Error("the cache keeps files no recent load used")
	}
}
