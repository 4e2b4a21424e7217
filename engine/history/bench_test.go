package history_test

import (
	"context"
	"testing"
	"time"

	"samverk.io/samverk/engine/history"
	"samverk.io/samverk/engine/store"
	"samverk.io/samverk/engine/store/storetest"
)

// BenchmarkAt reconstructs the ward PC of the bundled catalog at one instant, its periods read
// from memory, SQLite or PostgreSQL: warm, with the revision's compiled catalog cached; cold,
// loading it from Git and compiling it each time. "pending" also compiles the ring's newer
// revision for the device.
func BenchmarkAt(b *testing.B) {
	ctx := context.Background()
	for _, kind := range append([]string{"memory"}, storetest.Kinds...) {
		b.Run(kind, func(b *testing.B) {
			var rec recorder = newMemTimelines()
			if kind != "memory" {
				rec = storeRecorder{storetest.Open(b, kind, store.Options{})}
			}
			fx := newFixture(b, rec)
			for _, bc := range []struct {
				name string
				at   time.Time
				cold bool
			}{
				{"warm", day(1, 12), false},
				{"cold", day(1, 12), true},
				{"warm-pending", day(5, 13), false},
				{"cold-pending", day(5, 13), true},
			} {
				b.Run(bc.name, func(b *testing.B) {
					var svc *history.Service
					newService := func() {
						var err error
						svc, err = history.New(history.Options{Timelines: rec, Devices: rec, Revisions: fx.src, Path: "catalog",
							Now: func() time.Time { return day(30, 0) }})
						if err != nil {
							b.Fatal(err)
						}
					}
					newService()
					if _, err := svc.At(ctx, "vard", bc.at); err != nil {
						b.Fatal(err)
					}
					b.ReportAllocs()
					for b.Loop() {
						if bc.cold {
							b.StopTimer()
							newService()
							b.StartTimer()
						}
						s, err := svc.At(ctx, "vard", bc.at)
						if err != nil || !s.Recompiled.Verified {
							b.Fatalf("%v %+v", err, s)
						}
					}
				})
			}
		})
	}
}
