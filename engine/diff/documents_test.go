package diff

import (
	"testing"

	"samverk.io/samverk/engine/catalog"
)

func parse(t *testing.T, src string) *catalog.Catalog {
	t.Helper()
	docs, fs := catalog.ParseYAML("c.yaml", []byte(src), 0)
	if len(fs) > 0 {
		t.Fatal(fs)
	}
	c, _ := catalog.New(docs)
	return c
}

func TestDocuments(t *testing.T) {
	base := parse(t, `apiVersion: samverk.io/v1
kind: Package
metadata: {name: firefox-128-6}
spec:
  version: 128.6.0
  lifecycle: {stage: user-test}
  osReleases: [w10, w11]
---
apiVersion: samverk.io/v1
kind: Baseline
metadata: {name: win}
spec:
  settings:
    - {id: a, value: 1}
    - {id: b, value: 2}
---
apiVersion: samverk.io/v1
kind: OSRelease
metadata: {name: gone}
`)
	head := parse(t, `apiVersion: samverk.io/v1
kind: Package
metadata: {name: firefox-128-6}
spec:
  version: 128.6.0
  lifecycle: {stage: approved}
  osReleases: [w11]
---
apiVersion: samverk.io/v1
kind: Baseline
metadata: {name: win}
spec:
  settings:
    - {id: c, value: 3}
    - {id: b, value: 5}
---
apiVersion: samverk.io/v1
kind: OSRelease
metadata: {name: new}
`)
	got := Documents(base, head)
	want := map[string]struct {
		change string
		fields []string
	}{
		"Baseline/win":          {Changed, []string{"spec.settings[0]", "spec.settings[1].value", "spec.settings[0] (id a)"}},
		"OSRelease/gone":        {Removed, nil},
		"OSRelease/new":         {Added, nil},
		"Package/firefox-128-6": {Changed, []string{"spec.lifecycle.stage", "spec.osReleases[0]", "spec.osReleases[1]"}},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d changes, want %d: %+v", len(got), len(want), got)
	}
	for _, c := range got {
		w, ok := want[c.Document.String()]
		if !ok || w.change != c.Change {
			t.Errorf("%s: change %s, want %+v", c.Document, c.Change, w)
			continue
		}
		if len(c.Fields) != len(w.fields) {
			t.Errorf("%s: fields %+v, want %v", c.Document, c.Fields, w.fields)
			continue
		}
		for i, f := range c.Fields {
			if f.Path != w.fields[i] {
				t.Errorf("%s: field %d is %s, want %s", c.Document, i, f.Path, w.fields[i])
			}
		}
	}
}
