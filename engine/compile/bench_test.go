package compile

import (
	"encoding/json"
	"fmt"
	"runtime"
	"testing"

	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/desired"
)

// Benchmarks run over two fleets of 370,000 devices and 10,000-document catalogs: "own", the
// generator of fleet_test.go (which makes devices and catalog together), and "synth", the
// catalog of engine/synth with devices made from its groups. cpu-ms/op is the processor time
// the process used, a steadier figure than the wall clock on a shared machine.

func fleets(b *testing.B) []struct {
	name string
	f    func(*testing.B) *synthFleet
} {
	return []struct {
		name string
		f    func(*testing.B) *synthFleet
	}{{"own", benchFleet}, {"synth", benchEngineSynthFleet}}
}

// retained is how much heap a Compiler holds once it has served every device.
func retained(newCompiler func() *Compiler, devs []Device) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	c := newCompiler()
	serve(c, devs, runtime.GOMAXPROCS(0))
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(c)
	return after.HeapAlloc - min(after.HeapAlloc, before.HeapAlloc)
}

func reportCPU(b *testing.B, since func() int64) {
	b.ReportMetric(float64(since())/1e6/float64(b.N), "cpu-ms/op")
}

func cpuSince() func() int64 {
	start := cpuTime()
	return func() int64 { return int64(cpuTime() - start) }
}

// BenchmarkCompileFleet compiles the desired state of 370,000 devices from scratch: indexing
// the catalog, then every device, on one or all processors.
func BenchmarkCompileFleet(b *testing.B) {
	for _, fl := range fleets(b) {
		for _, workers := range []int{1, runtime.GOMAXPROCS(0)} {
			b.Run(fmt.Sprintf("catalog=%s/workers=%d", fl.name, workers), func(b *testing.B) {
				f := fl.f(b)
				b.ReportAllocs()
				var c *Compiler
				cpu := cpuSince()
				for b.Loop() {
					c = New(f.cat, "r1")
					serve(c, f.devices, workers)
				}
				reportCPU(b, cpu)
				b.ReportMetric(float64(c.Stats().Compiled), "states")
				b.ReportMetric(float64(c.Stats().Bodies), "bodies")
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(f.devices)), "ns/device")
				if workers > 1 {
					b.ReportMetric(float64(retained(func() *Compiler { return New(f.cat, "r1") }, f.devices))/(1<<20), "heap-MB")
				}
			})
		}
	}
}

// BenchmarkRecompileOnePackage measures the commit of a packager: the newest version of one
// product moves between user-test and approved. Each iteration builds the next Compiler from
// the last (hashing and indexing the new catalog, carrying over what the change does not
// touch) and compiles again every State the fleet uses, by asking for one device of each.
// "typical" changes a product a median number of groups name, "popular" the one most groups
// name; both share unchanged documents with the previous catalog, as the daemon's loads
// through a catalog.Cache do. "typical-uncached" loads every document afresh, so every one
// is hashed.
func BenchmarkRecompileOnePackage(b *testing.B) {
	for _, fl := range fleets(b) {
		for _, which := range []string{"typical", "typical-uncached", "popular"} {
			b.Run(fmt.Sprintf("catalog=%s/%s", fl.name, which), func(b *testing.B) {
				f := fl.f(b)
				var cat *catalog.Catalog
				switch which {
				case "typical":
					cat = f.withChangedPackage(b, f.productsByUse[len(f.productsByUse)/2])
				case "typical-uncached":
					cat = f.withChangedPackageFresh(b, f.productsByUse[len(f.productsByUse)/2])
				case "popular":
					cat = f.withChangedPackage(b, f.productsByUse[0])
				}
				base := New(f.cat, "r1")
				serve(base, f.devices, runtime.GOMAXPROCS(0))
				// One device per State: asking for it compiles the State again if the change
				// touched it. (Every other device's lookup costs what BenchmarkServeCompiled
				// measures, whether or not anything changed.)
				seen := map[outcome]bool{}
				var reps []Device
				for _, d := range f.devices {
					if o := base.ix.outcomeOf(base.ix.profileOf(d)); !seen[o] {
						seen[o] = true
						reps = append(reps, d)
					}
				}
				b.ReportAllocs()
				var next *Compiler
				cpu := cpuSince()
				for b.Loop() {
					next = base.Next(cat, "r2")
					serve(next, reps, runtime.GOMAXPROCS(0))
				}
				reportCPU(b, cpu)
				s := next.Stats()
				b.ReportMetric(float64(s.Compiled), "recompiled")
				b.ReportMetric(float64(s.Reused), "reused")
				b.ReportMetric(float64(s.Bodies), "bodies")
				b.ReportMetric(float64(s.Patched), "patched")
			})
		}
	}
}

// BenchmarkServeCompiled is the steady state: every device's State is compiled already.
func BenchmarkServeCompiled(b *testing.B) {
	f := benchFleet(b)
	c := New(f.cat, "r1")
	serve(c, f.devices, runtime.GOMAXPROCS(0))
	b.ReportAllocs()
	cpu := cpuSince()
	for b.Loop() {
		serve(c, f.devices, runtime.GOMAXPROCS(0))
	}
	reportCPU(b, cpu)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(f.devices)), "ns/device")
}

// BenchmarkIndex decodes and indexes the 10,000-document catalog: the fixed cost of a commit,
// from scratch and from the previous index.
func BenchmarkIndex(b *testing.B) {
	f := benchFleet(b)
	b.Run("new", func(b *testing.B) {
		b.ReportAllocs()
		cpu := cpuSince()
		for b.Loop() {
			newIndex(f.cat, nil)
		}
		reportCPU(b, cpu)
	})
	b.Run("next-uncached", func(b *testing.B) {
		prev := newIndex(f.cat, nil)
		cat := f.withChangedPackageFresh(b, f.productsByUse[len(f.productsByUse)/2])
		b.ReportAllocs()
		cpu := cpuSince()
		for b.Loop() {
			newIndex(cat, prev)
		}
		reportCPU(b, cpu)
	})
}

// BenchmarkEncodeStates encodes every distinct State of the fleet, as a publish does: with
// encoding/json, and from the encodings the Compiler keeps.
func BenchmarkEncodeStates(b *testing.B) {
	f := benchFleet(b)
	c := New(f.cat, "r1")
	serve(c, f.devices, runtime.GOMAXPROCS(0))
	var states []*desired.State
	for st := range c.bodies {
		states = append(states, st)
	}
	for _, enc := range []struct {
		name string
		f    func(*desired.State) []byte
	}{
		{"json", func(st *desired.State) []byte { b, _ := json.Marshal(st); return b }},
		{"compiler", c.Encode},
	} {
		b.Run(enc.name, func(b *testing.B) {
			b.ReportAllocs()
			cpu := cpuSince()
			for b.Loop() {
				for _, st := range states {
					enc.f(st)
				}
			}
			reportCPU(b, cpu)
			b.ReportMetric(float64(len(states)), "states")
		})
	}
}
