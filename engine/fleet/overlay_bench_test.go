package fleet

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"samverk.io/samverk/engine/auth"
	"samverk.io/samverk/engine/store"
	"samverk.io/samverk/engine/store/storetest"
)

// bigFleet is a Service with n devices in memory (not in its store: the benchmark measures
// polls and publishes, not loading) and the test catalog published.
func bigFleet(b *testing.B, n int) (*Service, http.Handler, []benchDevice) {
	b.Helper()
	st := storetest.Open(b, "sqlite", store.Options{})
	svc, err := New(context.Background(), st, Options{DeviceInterval: -1, MaxInFlight: 1 << 20})
	if err != nil {
		b.Fatal(err)
	}
	devs := make([]benchDevice, n)
	for i := range n {
		k, cred, hash := newDevice()
		member, f := benchFacts(i)
		enc, _ := store.EncodeFacts(&f)
		svc.ix.put(k, hash, member, &f, enc.Digest, true)
		devs[i] = benchDevice{id: k.String(), cred: cred}
	}
	if err := svc.Publish(context.Background(), "rev1", benchCatalog(b)); err != nil {
		b.Fatal(err)
	}
	mux := http.NewServeMux()
	auth.NewTable(mux, auth.NewGuard(auth.GuardOptions{})).MustAdd(svc.Routes()...)
	return svc, mux, devs
}

// grantsOf gives every step-th device of devs an overlay, from four kinds, up to n devices.
func grantsOf(devs []benchDevice, step, n int) map[string]Overlay {
	kinds := []Overlay{
		{Present: []string{"vpn-client"}},
		{Present: []string{"vpn-client", "firefox"}},
		{Absent: []string{"vpn-client"}},
		{Present: []string{"firefox"}, Absent: []string{"vpn-client"}},
	}
	out := make(map[string]Overlay, n)
	for i := 0; i < len(devs) && len(out) < n; i += step {
		out[devs[i].id] = kinds[i/step%len(kinds)]
	}
	return out
}

// pollAll measures 304 polls of devs through the real mux and handler with parallel callers.
func pollAll(b *testing.B, mux http.Handler, devs []benchDevice) {
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cpuTime()
	defer func() {
		// CPU time shows the work done even when other processes share the machine's cores.
		b.ReportMetric(float64((cpuTime()-cpu).Nanoseconds())/float64(b.N), "cpu-ns/op")
	}()
	b.RunParallel(func(pb *testing.PB) {
		reqs := make([]*http.Request, 64)
		base := int(next.Add(64))
		for j := range reqs {
			d := devs[(base+j)%len(devs)]
			r := httptest.NewRequest("GET", "/api/v1/devices/"+d.id+"/desired", nil)
			r.Header.Set("Authorization", "Bearer "+d.cred)
			r.Header.Set("If-None-Match", d.etag)
			reqs[j] = r
		}
		w := &nullWriter{h: http.Header{}}
		for i := 0; pb.Next(); i++ {
			clear(w.h)
			mux.ServeHTTP(w, reqs[i%len(reqs)])
			if w.code != http.StatusNotModified {
				b.Errorf("status %d", w.code)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

// BenchmarkOverlays is 370,000 devices of which 20,000 have an overlay (one of four kinds):
// the 304 poll of a device without one and of one with one, and the republish when 5,000
// overlays end at once (SetOverlays of 20,000 devices to 15,000).
func BenchmarkOverlays(b *testing.B) {
	const devices, granted, expire = 370_000, 20_000, 5_000
	svc, mux, devs := bigFleet(b, devices)
	const step = devices / granted
	all := grantsOf(devs, step, granted)
	if err := svc.SetOverlays(all); err != nil {
		b.Fatal(err)
	}
	var plain, overlaid []benchDevice
	for i := range devs {
		k, _ := parseID(devs[i].id)
		c, o := svc.ix.lookupOverlay(k)
		devs[i].etag = svc.ix.viewWith(c, o).etag[0]
		if _, ok := all[devs[i].id]; ok {
			overlaid = append(overlaid, devs[i])
		} else {
			plain = append(plain, devs[i])
		}
	}

	b.Run("304 without overlay", func(b *testing.B) { pollAll(b, mux, plain) })
	b.Run("304 with overlay", func(b *testing.B) { pollAll(b, mux, overlaid) })
	b.Run("expire 5000", func(b *testing.B) {
		fewer := grantsOf(devs, step, granted-expire)
		var total time.Duration
		var cpu time.Duration
		for range b.N {
			b.StopTimer()
			if err := svc.SetOverlays(all); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			start, startCPU := time.Now(), cpuTime()
			if err := svc.SetOverlays(fewer); err != nil {
				b.Fatal(err)
			}
			total += time.Since(start)
			cpu += cpuTime() - startCPU
		}
		b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/republish")
		b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/republish")
	})
}
