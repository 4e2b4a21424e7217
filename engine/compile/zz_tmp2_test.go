package compile

import (
	"runtime"
	"testing"

	"samverk.io/samverk/engine/desired"
)

var sinkRes [][]desired.Resource

func BenchmarkZZCopy(b *testing.B) {
	f := benchFleet(b)
	base := New(f.cat, "r1")
	serve(base, f.devices, runtime.GOMAXPROCS(0))
	var bodies []*body
	for _, e := range base.ix.bodyMemo {
		bodies = append(bodies, e.body.Load())
	}
	bodies = bodies[:4367]
	b.ReportAllocs()
	cpu := cpuSince()
	for b.Loop() {
		out := make([][]desired.Resource, len(bodies))
		for i, bd := range bodies {
			r := make([]desired.Resource, len(bd.resources))
			copy(r, bd.resources)
			out[i] = r
		}
		sinkRes = out
	}
	reportCPU(b, cpu)
}
