package fleet

import (
	"runtime"
	"testing"
	"time"

	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/desired"
	"samverk.io/samverk/engine/store"
)

// withLegalNotice returns cat with baseline win11-base's legal notice set to text: a change
// every device's state sees, as a shared baseline change is.
func withLegalNotice(tb testing.TB, cat *catalog.Catalog, text string) *catalog.Catalog {
	tb.Helper()
	var docs []*catalog.Document
	for _, d := range cat.Docs {
		if d.Kind == catalog.KindBaseline && d.Name == "win11-base" {
			c := *d
			spec := map[string]any{}
			for k, v := range d.Spec() {
				spec[k] = v
			}
			settings := append([]any(nil), spec["settings"].([]any)...)
			first := map[string]any{}
			for k, v := range settings[0].(map[string]any) {
				first[k] = v
			}
			first["value"] = text
			settings[0] = first
			spec["settings"] = settings
			obj := map[string]any{}
			for k, v := range d.Object {
				obj[k] = v
			}
			obj["spec"] = spec
			c.Object = obj
			d = &c
		}
		docs = append(docs, d)
	}
	out, err := catalog.New(docs)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// BenchmarkRingsMemory compares the index of 370,000 devices serving one revision with the
// same index serving three at once (broad at rev1, early at rev2, pilot at rev3, each new
// revision changing a baseline every state uses): the heap per device, and the time to
// publish and serve them.
func BenchmarkRingsMemory(b *testing.B) {
	const devices = 370_000
	cat1 := benchCatalog(b)
	cat2 := withLegalNotice(b, cat1, "Authorised use only (rev2)")
	cat3 := withLegalNotice(b, cat1, "Authorised use only (rev3)")
	keys := make([]devKey, devices)
	hashes := make([][32]byte, devices)
	facts := make([]desired.Facts, devices)
	members := make([]string, devices)
	for i := range devices {
		k, _, h := newDevice()
		keys[i], hashes[i] = k, h
		members[i], facts[i] = benchFacts(i)
	}
	for _, tc := range []struct {
		name      string
		revisions int
	}{{"one revision", 1}, {"three revisions", 3}} {
		b.Run(tc.name, func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				ix := newIndex(0)
				for i := range devices {
					enc, _ := store.EncodeFacts(&facts[i])
					ix.put(keys[i], hashes[i], members[i], &facts[i], enc.Digest, true)
				}
				b.StartTimer()
				start := time.Now()
				ix.publish(cat1, "rev1", nil)
				if tc.revisions == 3 {
					if err := ix.serveRings(map[string]RingRevision{"pilot": {Revision: "rev1"}, "early": {Revision: "rev1"}, "broad": {Revision: "rev1"}}); err != nil {
						b.Fatal(err)
					}
					ix.publish(cat2, "rev2", nil)
					if err := ix.serveRings(map[string]RingRevision{"early": {Revision: "rev2", Previous: "rev1"}}); err != nil {
						b.Fatal(err)
					}
					ix.publish(cat3, "rev3", nil)
					if err := ix.serveRings(map[string]RingRevision{"pilot": {Revision: "rev3", Previous: "rev2"}}); err != nil {
						b.Fatal(err)
					}
				}
				elapsed := time.Since(start)
				b.StopTimer()
				if n := len(ix.revs); n != tc.revisions {
					b.Fatalf("%d revisions kept, want %d", n, tc.revisions)
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/devices, "bytes/device")
				b.ReportMetric(float64(elapsed.Milliseconds()), "publish-ms")
				runtime.KeepAlive(ix)
				b.StartTimer()
			}
		})
	}
}
