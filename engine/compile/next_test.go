package compile

import (
	"fmt"
	"slices"
	"testing"

	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/desired"
)

// TestNextMatchesFromScratch: over both synthetic fleets, a sequence of commits that each move
// a package between user-test and approved (the most used product, then it back and a typical
// one at once, then a catalog loaded afresh, then the first catalog again) gives every device
// the very State a compilation from scratch gives.
func TestNextMatchesFromScratch(t *testing.T) {
	if testing.Short() {
		t.Skip("builds two 10,000-document catalogs")
	}
	for _, fl := range []struct {
		name string
		f    func(testing.TB) *synthFleet
	}{
		{"own", func(tb testing.TB) *synthFleet { return newSynthFleet(tb, testFleetDevices, 1) }},
		{"synth", func(tb testing.TB) *synthFleet { return engineSynthFleet(tb, testFleetDevices, 1) }},
	} {
		t.Run(fl.name, func(t *testing.T) {
			f := fl.f(t)
			use := f.productsByUse
			steps := []struct {
				name string
				cat  *catalog.Catalog
			}{
				{"the most used product", f.withChangedPackage(t, use[0])},
				{"it back and a typical one", f.withChangedPackage(t, use[len(use)/2])},
				{"the second most used, loaded afresh", f.withChangedPackageFresh(t, use[1])},
				{"nothing", f.cat},
			}
			c := New(f.cat, "r1")
			serve(c, f.devices, 2)
			// Contents already checked, by hash: an incremental State built from stale parts
			// hashes differently from the one compiled from scratch, which the comparison
			// below catches for every device. The encodings are checked for the first
			// contents each step makes (encoding/json is slow under the race detector; the
			// synthetic fleet's test checks every State).
			checked := map[string]bool{}
			for i, step := range steps {
				rev := fmt.Sprintf("r%d", i+2)
				c = c.Next(step.cat, rev)
				full := New(step.cat, rev)
				fresh := 0
				for _, d := range f.devices {
					a, _ := c.Desired(d)
					b, _ := full.Desired(d)
					// The incremental State hashes to what its content does, and encodes as
					// encoding/json does: equal hashes are then equal States.
					if !checked[a.Hash] && fresh < 200 {
						checked[a.Hash] = true
						fresh++
						if !checkState(t, c, a) {
							t.Fatalf("%s: device %+v", step.name, d)
						}
					}
					if a.Hash != b.Hash || a.Revision != b.Revision {
						t.Fatalf("%s: device %+v: incremental %s at %s, from scratch %s at %s\nincremental: %s\nfrom scratch: %s",
							step.name, d, a.Hash, a.Revision, b.Hash, b.Revision, mustJSON(t, a), mustJSON(t, b))
					}
				}
				if s := c.Stats(); s.Reused == 0 {
					t.Errorf("%s: nothing reused: %+v", step.name, s)
				}
			}
		})
	}
}

// TestNextMatchesFromScratchEveryChange: on the own fleet, each kind of change a commit makes
// to packages (a stage, a dependency added and one that cannot be met, a supersede, a
// retirement) leaves every State Next gives identical, hash and JSON, to the one New gives.
func TestNextMatchesFromScratchEveryChange(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 10,000-document catalog")
	}
	f := newSynthFleet(t, testFleetDevices, 1)
	popular := f.productsByUse[0]
	runtime := synthRuntimes[0]
	const newest = -1
	second := f.productsByUse[1]
	stage := func(s map[string]any) {
		st := "approved"
		if s["lifecycle"].(map[string]any)["stage"] == st {
			st = "user-test"
		}
		s["lifecycle"] = map[string]any{"stage": st}
	}
	supersedes := func(names ...string) func(map[string]any) {
		return func(s map[string]any) {
			old, _ := s["supersedes"].([]any)
			for _, n := range names {
				old = append(slices.Clip(old), n)
			}
			s["supersedes"] = old
		}
	}
	// patched: the commit is one whose bodies Next patches rather than compiles (see
	// slotChange), so both ways are held to a compilation from scratch.
	steps := []struct {
		name    string
		cat     *catalog.Catalog
		patched bool
	}{
		{"the most used product changes stage", f.withChangedPackage(t, popular), true},
		{"it and the second most used change stage at once", f.withEdits(t,
			pkgEdit{popular, newest, stage}, pkgEdit{second, newest, stage}), true},
		{"its newest version needs a runtime", f.withEditedPackage(t, popular, newest, func(s map[string]any) {
			s["dependencies"] = []any{map[string]any{"product": runtime}}
		}), false},
		{"it needs a runtime version that does not exist", f.withEditedPackage(t, popular, newest, func(s map[string]any) {
			s["dependencies"] = []any{map[string]any{"product": runtime, "minVersion": "9999"}}
		}), false},
		{"it supersedes its first version and another product's", f.withEditedPackage(t, popular, newest, func(s map[string]any) {
			s["supersedes"] = []any{popular + "-v0", second + "-v0"}
		}), false},
		{"another product's newest supersedes its first version", f.withEditedPackage(t, second, newest, supersedes(popular+"-v0")), false},
		{"it changes stage and its version before supersedes the newest", f.withEdits(t,
			pkgEdit{popular, newest, stage}, pkgEdit{popular, -2, supersedes(f.packageName(t, popular, newest))}), false},
		{"its newest version is retired", f.withEditedPackage(t, popular, newest, func(s map[string]any) {
			s["lifecycle"] = map[string]any{"stage": "retired"}
		}), false},
		{"the version before it is retired", f.withEditedPackage(t, popular, -2, func(s map[string]any) {
			s["lifecycle"] = map[string]any{"stage": "retired"}
		}), false},
		{"nothing", f.cat, false},
	}
	first := New(f.cat, "r1")
	serve(first, f.devices, 2)
	c := first
	for i, step := range steps {
		rev := fmt.Sprintf("r%d", i+2)
		c = c.Next(step.cat, rev)
		full := New(step.cat, rev)
		checked := map[[2]*desired.State]bool{}
		changed := 0
		for _, d := range f.devices {
			a, _ := c.Desired(d)
			b, _ := full.Desired(d)
			if checked[[2]*desired.State{a, b}] {
				continue
			}
			checked[[2]*desired.State{a, b}] = true
			was, _ := first.Desired(d)
			if was.Hash != b.Hash {
				changed++
			}
			if a.Hash != b.Hash {
				t.Fatalf("%s: device %+v: incremental %s, from scratch %s\nincremental: %s\nfrom scratch: %s",
					step.name, d, a.Hash, b.Hash, mustJSON(t, a), mustJSON(t, b))
			}
			if was.Hash == b.Hash {
				continue // the hash covers the encoding, which tests hold to json.Marshal
			}
			if ja, jb := mustJSON(t, a), mustJSON(t, b); ja != jb {
				t.Fatalf("%s: device %+v: incremental %s, from scratch %s\nincremental: %s\nfrom scratch: %s",
					step.name, d, a.Hash, b.Hash, ja, jb)
			}
		}
		s := c.Stats()
		if s.Reused == 0 || step.cat != f.cat && (s.Compiled == 0 || changed == 0) {
			t.Errorf("%s: %d States changed; %+v", step.name, changed, s)
		}
		if step.patched && s.Patched == 0 {
			t.Errorf("%s: no body patched; %+v", step.name, s)
		}
		t.Logf("%s: %d States changed; %+v", step.name, changed, s)
	}
}

// pkgEdit edits the at-th Package of product (-1: the newest, -2 the one before): edit
// changes a copy of its spec.
type pkgEdit struct {
	product string
	at      int
	edit    func(map[string]any)
}

// withEditedPackage is the fleet's catalog with one Package edited.
func (f *synthFleet) withEditedPackage(tb testing.TB, product string, at int, edit func(map[string]any)) *catalog.Catalog {
	return f.withEdits(tb, pkgEdit{product, at, edit})
}

// withEdits is the fleet's catalog with edits made, in order.
func (f *synthFleet) withEdits(tb testing.TB, edits ...pkgEdit) *catalog.Catalog {
	tb.Helper()
	docs := slices.Clone(f.docs)
	for _, e := range edits {
		doc := f.packageDoc(tb, docs, e.product, e.at)
		docs[slices.Index(docs, doc)] = editedDoc(doc, e.edit)
	}
	cat, _ := catalog.New(docs)
	return cat
}

// packageName is the name of the at-th Package of product.
func (f *synthFleet) packageName(tb testing.TB, product string, at int) string {
	return f.packageDoc(tb, f.docs, product, at).Name
}

func (f *synthFleet) packageDoc(tb testing.TB, docs []*catalog.Document, product string, at int) *catalog.Document {
	tb.Helper()
	var versions []*catalog.Document
	for _, d := range docs {
		if d.Kind == catalog.KindPackage && d.Spec()["product"] == product {
			versions = append(versions, d)
		}
	}
	if len(versions) == 0 {
		tb.Fatalf("no package of %s", product)
	}
	if at < 0 {
		at += len(versions)
	}
	return versions[at]
}
