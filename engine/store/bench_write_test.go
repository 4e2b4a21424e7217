package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"samverk.io/samverk/engine/desired"
	"samverk.io/samverk/engine/store"
	"samverk.io/samverk/engine/store/storetest"
)

// BenchmarkWriteBatch measures Write alone, one batch of 1,000 reports an operation, from
// 20,000 enrolled devices that have each reported once (20 resource results), in random order;
// it compares store versions with less noise than BenchmarkIngest. cpu-ns/report is the
// process's CPU time (all of it for SQLite; the client's share for PostgreSQL).
//
//	steady     everything in line, facts unchanged
//	corrected  one resource corrected: the report is also kept in history
//	facts      as steady, with changed facts
//	applied    a new state applied: the outcome changes
func BenchmarkWriteBatch(b *testing.B) {
	const devices, batch = 20_000, 1000
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
				wb := &store.Batch{}
				for _, id := range ids[i : i+10_000] {
					wb.Enrollments = append(wb.Enrollments, enrollment(id, "m", t0))
					wb.Reports = append(wb.Reports, newReport(b, id, t0, "h1", unchanged...))
				}
				if err := s.Write(c, wb); err != nil {
					b.Fatal(err)
				}
			}
			corrected := append([]string{desired.Corrected}, unchanged[1:]...)
			at := t0
			for _, v := range []struct {
				name, hash string
				outcomes   []string
				facts      bool
			}{{"steady", "h1", unchanged, false}, {"corrected", "h1", corrected, false}, {"facts", "h1", unchanged, true},
				{"applied", "", unchanged, false}} {
				b.Run(v.name, func(b *testing.B) {
					rng := rand.New(rand.NewPCG(1, 2))
					n := 0
					var cpu time.Duration // the process's CPU time in Write: less noisy than elapsed time on a busy machine
					for b.Loop() {
						b.StopTimer() // only Write is timed
						wb := &store.Batch{}
						for range batch {
							id := ids[rng.IntN(devices)]
							at = at.Add(time.Millisecond)
							n++
							hash := v.hash
							if hash == "" {
								hash = fmt.Sprint("h", n) // a state of its own each time
							}
							r := newReport(b, id, at, hash, v.outcomes...)
							r.Facts = nil
							if v.facts {
								f := desired.Facts{Hostname: fmt.Sprint("renamed-", n), Vendor: "HP", Model: "EliteBook", OSFamily: "windows", OSBuild: "26100"}
								r.Facts, _ = store.EncodeFacts(&f)
							}
							wb.Reports = append(wb.Reports, r)
						}
						b.StartTimer()
						before := cpuTime()
						if err := s.Write(c, wb); err != nil {
							b.Fatal(err)
						}
						cpu += cpuTime() - before
					}
					b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "reports/s")
					b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*batch), "cpu-ns/report")
				})
			}
		})
	}
}

// cpuTime is the user and system CPU time the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
