package store_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"samverk.io/samverk/engine/desired"
	"samverk.io/samverk/engine/store"
	"samverk.io/samverk/engine/store/storetest"
)

// BenchmarkIngest measures reports ingested per second the way the API ingests them: many
// concurrent requests, each waiting until its report is committed (group commit). Each report
// carries 20 resource results; with "facts" it also carries changed facts, without them it is
// the common case of a device whose inventory did not change.
func BenchmarkIngest(b *testing.B) {
	const devices = 370_000
	for _, bc := range []struct {
		name  string
		facts bool
	}{{"sqlite", false}, {"sqlite/facts", true}, {"postgres", false}, {"postgres/facts", true}} {
		kind, _, _ := strings.Cut(bc.name, "/")
		b.Run(bc.name, func(b *testing.B) {
			s := storetest.Open(b, kind, store.Options{})
			c := context.Background()
			for i := 0; i < devices; i += 10_000 {
				batch := &store.Batch{}
				for j := i; j < i+10_000; j++ {
					batch.Enrollments = append(batch.Enrollments, enrollment(fmt.Sprintf("dev%06d", j), fmt.Sprint("m", j%40), t0))
				}
				if err := s.Write(c, batch); err != nil {
					b.Fatal(err)
				}
			}
			outcomes := make([]string, 20)
			for i := range outcomes {
				outcomes[i] = desired.Unchanged
			}
			reports := make([]store.Report, devices)
			for i := range reports {
				reports[i] = newReport(b, fmt.Sprintf("dev%06d", i), t0, "h1", outcomes...)
				if !bc.facts {
					reports[i].Hostname, reports[i].Facts, reports[i].Labels = "", nil, nil
				}
			}
			bt := store.NewBatcher(s, store.BatcherOptions{})
			runCtx, stop := context.WithCancel(c)
			defer stop()
			go bt.Run(runCtx)
			var next atomic.Int64
			b.SetParallelism(256) // in-flight requests per GOMAXPROCS
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					r := reports[next.Add(1)%devices]
					r.At = time.Now()
					if err := bt.Report(c, r); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "reports/s")
		})
	}
}
