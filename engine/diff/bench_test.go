package diff

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/synth"
)

// BenchmarkDiffSynthetic compares the 10,000-document synthetic catalog with a copy in which one
// package file changed (a version promoted), counting the effect over 370,000 devices.
func BenchmarkDiffSynthetic(b *testing.B) {
	base, _, err := synth.FS(synth.Options{})
	if err != nil {
		b.Fatal(err)
	}
	head := fstest.MapFS{}
	changed := ""
	for name, f := range base {
		head[name] = f
		if changed == "" && strings.HasPrefix(name, "packages/") && bytes.Contains(f.Data, []byte("stage: user-test")) {
			changed = name
		}
	}
	if changed == "" {
		b.Fatal("no package in user test to promote")
	}
	head[changed] = &fstest.MapFile{Data: bytes.Replace(base[changed].Data, []byte("stage: user-test"), []byte("stage: approved"), 1)}

	lr, err := catalog.Load(base, catalog.Options{})
	if err != nil {
		b.Fatal(err)
	}
	profiles := impliedDevices(lr.Catalog)
	inv := make([]InventoryDevice, 370_000)
	for i := range inv {
		d := profiles[i%len(profiles)]
		inv[i] = InventoryDevice{Member: d.Member}
		inv[i].Facts.Labels, inv[i].Facts.Vendor, inv[i].Facts.Model = d.Labels, d.Vendor, d.Model
		inv[i].Facts.OSFamily, inv[i].Facts.OSBuild = d.OSFamily, d.OSBuild
	}
	opt := Options{Inventory: inv, Now: synth.Reference.Add(12 * time.Hour)}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		rep, err := Compare(context.Background(), Source{FS: base, Label: "base"}, Source{FS: head, Label: "head"}, opt)
		if err != nil {
			b.Fatal(err)
		}
		if len(rep.Documents) != 1 {
			b.Fatalf("%d documents changed, want 1", len(rep.Documents))
		}
	}
}
