package resultcache_test

import (
	"crypto/sha256"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"testing/fstest"
	"time"

	"samverk.io/samverk/engine/finding"
	"samverk.io/samverk/engine/resultcache"
)

func key(path, content string) resultcache.Key {
	return resultcache.KeyOf(path, sha256.Sum256([]byte(content)))
}

var entry = resultcache.Entry{
	0: nil,
	2: {{Rule: "schema/enum", Severity: finding.Deny, Message: "must be one of a, b", File: "p.yaml", Line: 7, Column: 3,
		Path: "spec.x", Document: &finding.DocRef{Kind: "Package", Name: "p"}}},
}

func save(t *testing.T, dir, salt string, opt resultcache.Options, put map[resultcache.Key]resultcache.Entry) {
	t.Helper()
	c, err := resultcache.Open(dir, salt, opt)
	if err != nil {
		t.Fatal(err)
	}
	for k, e := range put {
		c.Put(k, e)
	}
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
}

func TestRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	k := key("p.yaml", "content")
	save(t, dir, "s1", resultcache.Options{}, map[resultcache.Key]resultcache.Entry{k: entry})
	c, err := resultcache.Open(dir, "s1", resultcache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Note != "" {
		t.Errorf("note %q", c.Note)
	}
	got, ok := c.Get(k)
	if !ok || !reflect.DeepEqual(got, entry) {
		t.Fatalf("Get = %#v, %v; want %#v", got, ok, entry)
	}
	for name, other := range map[string]resultcache.Key{
		"other content": key("p.yaml", "content2"),
		"other path":    key("q.yaml", "content"),
	} {
		if _, ok := c.Get(other); ok {
			t.Errorf("%s: hit", name)
		}
	}
	// Another salt (other schemas, another build) sees nothing.
	c2, err := resultcache.Open(dir, "s2", resultcache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c2.Get(k); ok {
		t.Error("another salt: hit")
	}
}

// TestSaveKeepsWhatWasUsed: entries the run did not use are dropped, so the file stays the
// size of one catalog's results.
func TestSaveKeepsWhatWasUsed(t *testing.T) {
	dir := t.TempDir()
	a, b := key("a.yaml", "1"), key("b.yaml", "1")
	save(t, dir, "s", resultcache.Options{}, map[resultcache.Key]resultcache.Entry{a: entry, b: entry})
	c, _ := resultcache.Open(dir, "s", resultcache.Options{})
	if _, ok := c.Get(a); !ok {
		t.Fatal("a: miss")
	}
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	c, _ = resultcache.Open(dir, "s", resultcache.Options{})
	if _, ok := c.Get(a); !ok {
		t.Error("a: miss after a run that used it")
	}
	if _, ok := c.Get(b); ok {
		t.Error("b: hit after a run that did not use it")
	}
}

func TestCorruptOrForeignFilesAreIgnored(t *testing.T) {
	for name, content := range map[string]string{
		"garbage":      "{not json",
		"truncated":    `{"format":1,"salt":"s","entries":{"00`,
		"other format": `{"format":99,"salt":"s","entries":{}}`,
		"bad key":      `{"format":1,"salt":"s","entries":{"zz":{}}}`,
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			save(t, dir, "s", resultcache.Options{}, nil)
			files, _ := filepath.Glob(filepath.Join(dir, "results-*.json"))
			if len(files) != 1 {
				t.Fatalf("%d cache files", len(files))
			}
			if err := os.WriteFile(files[0], []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			c, err := resultcache.Open(dir, "s", resultcache.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if c.Note == "" {
				t.Error("no note about the ignored file")
			}
			k := key("a.yaml", "1")
			c.Put(k, entry)
			if err := c.Save(); err != nil {
				t.Fatal(err)
			}
			c, _ = resultcache.Open(dir, "s", resultcache.Options{})
			if _, ok := c.Get(k); !ok || c.Note != "" {
				t.Errorf("after a save: hit %v, note %q", ok, c.Note)
			}
		})
	}
}

func TestBounded(t *testing.T) {
	dir := t.TempDir()
	many := map[resultcache.Key]resultcache.Entry{}
	for i := range 200 {
		many[key("f.yaml", string(rune('a'+i%26))+string(rune(i)))] = entry
	}
	save(t, dir, "s", resultcache.Options{}, many)
	files, _ := filepath.Glob(filepath.Join(dir, "results-*.json"))
	if len(files) != 1 {
		t.Fatalf("%d cache files", len(files))
	}
	// Read with a smaller bound: the file is ignored, and a save too large for the bound
	// leaves no file behind.
	c, _ := resultcache.Open(dir, "s", resultcache.Options{MaxBytes: 1024})
	if c.Note == "" {
		t.Error("an oversized file was read")
	}
	for k, e := range many {
		c.Put(k, e)
	}
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(files[0]); !os.IsNotExist(err) {
		t.Errorf("oversized save left %s: %v", files[0], err)
	}

	// At most Keep files: the least recently written go.
	dir = t.TempDir()
	for i, salt := range []string{"a", "b", "c", "d"} {
		save(t, dir, salt, resultcache.Options{Keep: 2}, map[resultcache.Key]resultcache.Entry{key("x", salt): entry})
		files, _ := filepath.Glob(filepath.Join(dir, "results-*.json"))
		for _, f := range files {
			// Make the order of writes plain to the file system's clock.
			info, _ := os.Stat(f)
			_ = os.Chtimes(f, info.ModTime(), info.ModTime().Add(-time.Duration(4-i)*time.Second))
		}
	}
	files, _ = filepath.Glob(filepath.Join(dir, "results-*.json"))
	if len(files) != 2 {
		t.Errorf("%d cache files, want 2", len(files))
	}
	c, _ = resultcache.Open(dir, "d", resultcache.Options{Keep: 2})
	if _, ok := c.Get(key("x", "d")); !ok {
		t.Error("the newest file was removed")
	}
}

func TestSalt(t *testing.T) {
	a := fstest.MapFS{"x.cue": {Data: []byte("#X: string")}}
	b := fstest.MapFS{"x.cue": {Data: []byte("#X: int")}}
	sa, err := resultcache.Salt("v1", a)
	if err != nil {
		t.Fatal(err)
	}
	sb, _ := resultcache.Salt("v1", b)
	sv, _ := resultcache.Salt("v2", a)
	again, _ := resultcache.Salt("v1", a)
	if sa == sb || sa == sv || sa != again {
		t.Errorf("salts: %q %q %q %q", sa, sb, sv, again)
	}
}
