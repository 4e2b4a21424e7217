package compile

import (
	"fmt"
	"runtime"
	"testing"
)

// retained is how much heap a Compiler holds once it has served every device.
func retained(newCompiler func() any, devs []Device) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	c := newCompiler().(*Compiler)
	serve(c, devs, runtime.GOMAXPROCS(0))
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(c)
	return after.HeapAlloc - min(after.HeapAlloc, before.HeapAlloc)
}

// BenchmarkCompileFleet compiles the desired state of 370,000 devices over a 10,000-document
// catalog from scratch: indexing the catalog, then every device, on all processors.
func BenchmarkCompileFleet(b *testing.B) {
	f := benchFleet(b)
	for _, workers := range []int{1, runtime.GOMAXPROCS(0)} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			b.ReportAllocs()
			var c *Compiler
			cpu := cpuTime()
			for b.Loop() {
				c = New(f.cat, "r1")
				serve(c, f.devices, workers)
			}
			b.ReportMetric(float64((cpuTime()-cpu).Milliseconds())/float64(b.N), "cpu-ms/op")
			b.ReportMetric(float64(c.Stats().Compiled), "states")
			b.ReportMetric(float64(retained(func() any { return New(f.cat, "r1") }, f.devices))/(1<<20), "heap-MB")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(f.devices)), "ns/device")
		})
	}
}

// BenchmarkRecompileOnePackage measures the commit of a packager: one package's stage changes.
// Each iteration builds the next Compiler from the last (hashing and re-indexing the catalog,
// carrying over untouched states) and compiles again every state the fleet was using, by
// asking for one device of each profile. "typical" changes a product named by a median number
// of groups; "popular" one named by the most.
func BenchmarkRecompileOnePackage(b *testing.B) {
	f := benchFleet(b)
	base := New(f.cat, "r1")
	serve(base, f.devices, runtime.GOMAXPROCS(0))
	seen := map[Profile]bool{}
	var reps []Device
	for _, d := range f.devices {
		if p := base.ProfileOf(d); !seen[p] {
			seen[p] = true
			reps = append(reps, d)
		}
	}
	for _, tc := range []struct {
		name    string
		product string
	}{
		{"typical", f.productsByUse[len(f.productsByUse)/2]},
		{"popular", f.productsByUse[0]},
	} {
		cat := f.withChangedPackage(b, tc.product)
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			var next *Compiler
			cpu := cpuTime()
			for b.Loop() {
				next = base.Next(cat, "r2")
				serve(next, reps, runtime.GOMAXPROCS(0))
			}
			b.ReportMetric(float64((cpuTime()-cpu).Milliseconds())/float64(b.N), "cpu-ms/op")
			s := next.Stats()
			b.ReportMetric(float64(s.Compiled), "recompiled")
			b.ReportMetric(float64(s.Reused), "reused")
		})
	}
}

// BenchmarkServeCompiled is the steady state: every device's state is compiled already.
func BenchmarkServeCompiled(b *testing.B) {
	f := benchFleet(b)
	c := New(f.cat, "r1")
	serve(c, f.devices, runtime.GOMAXPROCS(0))
	b.ReportAllocs()
	cpu := cpuTime()
	for b.Loop() {
		serve(c, f.devices, runtime.GOMAXPROCS(0))
	}
	b.ReportMetric(float64((cpuTime()-cpu).Milliseconds())/float64(b.N), "cpu-ms/op")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(f.devices)), "ns/device")
}

// BenchmarkIndex decodes and indexes the 10,000-document catalog: the fixed cost of a commit.
func BenchmarkIndex(b *testing.B) {
	f := benchFleet(b)
	b.Run("new", func(b *testing.B) {
		b.ReportAllocs()
		cpu := cpuTime()
		for b.Loop() {
			newIndex(f.cat, nil)
		}
		b.ReportMetric(float64((cpuTime()-cpu).Milliseconds())/float64(b.N), "cpu-ms/op")
	})
	b.Run("next", func(b *testing.B) {
		prev := newIndex(f.cat, nil)
		cat := f.withChangedPackage(b, f.productsByUse[len(f.productsByUse)/2])
		b.ReportAllocs()
		cpu := cpuTime()
		for b.Loop() {
			newIndex(cat, prev)
		}
		b.ReportMetric(float64((cpuTime()-cpu).Milliseconds())/float64(b.N), "cpu-ms/op")
	})
}
