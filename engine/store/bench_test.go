package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"samverk.io/samverk/engine/desired"
	"samverk.io/samverk/engine/store"
	"samverk.io/samverk/engine/store/storetest"
)

// BenchmarkIngest measures reports ingested per second the way the API ingests them: many
// concurrent requests, each waiting until its report is committed (group commit), from 370,000
// enrolled devices that have each reported once, reporting again in random order. Each report
// has 20 resource results.
//
//	steady     everything in line, facts unchanged: the device row is updated
//	corrected  one resource corrected: the report is also kept in history
//	facts      as steady, with changed facts written too
func BenchmarkIngest(b *testing.B) {
	const devices = 370_000
	for _, kind := range storetest.Kinds {
		b.Run(kind, func(b *testing.B) {
			s := storetest.Open(b, kind, store.Options{})
			c := context.Background()
			ids := make([]string, devices)
			for i := range ids {
				ids[i] = fmt.Sprintf("dev%06d", i)
			}
			unchanged := make([]string, 20)
			for i := range unchanged {
				unchanged[i] = desired.Unchanged
			}
			for i := 0; i < devices; i += 10_000 {
				batch := &store.Batch{}
				for _, id := range ids[i : i+10_000] {
					batch.Enrollments = append(batch.Enrollments, enrollment(id, "m", t0))
				}
				for _, id := range ids[i : i+10_000] {
					batch.Reports = append(batch.Reports, newReport(b, id, t0, "h1", unchanged...))
				}
				if err := s.Write(c, batch); err != nil {
					b.Fatal(err)
				}
			}
			corrected := append([]string{desired.Corrected}, unchanged[1:]...)
			for _, v := range []struct {
				name     string
				outcomes []string
				facts    bool
			}{{"steady", unchanged, false}, {"corrected", corrected, false}, {"facts", unchanged, true}} {
				b.Run(v.name, func(b *testing.B) {
					reports := make([]store.Report, devices)
					for i, id := range ids {
						reports[i] = newReport(b, id, t0, "h1", v.outcomes...)
						if v.facts {
							f := desired.Facts{Hostname: "renamed-" + id, Vendor: "HP", Model: "EliteBook", OSFamily: "windows", OSBuild: "26100"}
							reports[i].Facts, _ = store.EncodeFacts(&f)
						} else {
							reports[i].Facts = nil
						}
					}
					order := rand.Perm(devices)
					bt := store.NewBatcher(s, store.BatcherOptions{})
					runCtx, stop := context.WithCancel(c)
					done := make(chan struct{})
					go func() { bt.Run(runCtx); close(done) }()
					defer func() { stop(); <-done }()
					var next atomic.Int64
					b.SetParallelism(256) // in-flight requests per GOMAXPROCS
					b.ResetTimer()
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							r := reports[order[next.Add(1)%devices]]
							r.At = time.Now()
							if err := bt.Report(c, r); err != nil {
								b.Error(err)
								return
							}
						}
					})
					b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reports/s")
				})
			}
		})
	}
}
