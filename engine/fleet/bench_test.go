package fleet

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"samverk.io/samverk/engine/auth"
	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/desired"
	"samverk.io/samverk/engine/store"
	"samverk.io/samverk/engine/store/storetest"
)

// benchDevice is an enrolled device with what a request needs.
type benchDevice struct {
	id, cred, etag string
}

// benchFacts gives device i facts from a realistic spread: 40 members, 4 roles, 10 sites,
// 6 hardware models, 3 OS builds.
func benchFacts(i int) (member string, f desired.Facts) {
	members := []string{"region-norr", "kommun-vasterby"}
	roles := []string{"staff", "student", "lab", "kiosk"}
	models := []string{"Latitude 5450", "Latitude 7450", "OptiPlex Micro 7020", "EliteBook 840 G10", "ThinkPad T14 Gen 5", "Surface Pro 9"}
	builds := []string{"22631", "26100", "22621"}
	member = members[i%2]
	if i%40 >= 2 {
		member = fmt.Sprintf("member-%02d", i%40)
	}
	return member, desired.Facts{
		Hostname: fmt.Sprintf("pc-%07d", i), Vendor: "Dell Inc.", Model: models[i/7%len(models)], OSFamily: "windows",
		OSBuild: builds[i/11%len(builds)], Serial: fmt.Sprintf("SN%07d", i),
		Labels:   map[string]string{"role": roles[i/3%len(roles)], "site": fmt.Sprintf("site-%d", i/5%10)},
		Products: map[string]string{"firefox": "128.10.0", "7zip": "24.08"},
	}
}

// seed enrolls n devices straight into st, as they would be after n enrollments.
func seed(tb testing.TB, st store.Store, n int) []benchDevice {
	tb.Helper()
	devs := make([]benchDevice, n)
	b := &store.Batch{}
	for i := range n {
		k, cred, hash := newDevice()
		member, f := benchFacts(i)
		devs[i] = benchDevice{id: k.String(), cred: cred}
		b.Enrollments = append(b.Enrollments, store.Enrollment{ID: k.String(), Member: member, CredentialHash: hash[:], Facts: f, At: time.Now()})
		if len(b.Enrollments) == 10_000 || i == n-1 {
			if err := st.Write(context.Background(), b); err != nil {
				tb.Fatal(err)
			}
			b.Reset()
		}
	}
	return devs
}

func benchCatalog(tb testing.TB) *catalog.Catalog {
	tb.Helper()
	res, err := catalog.LoadDir("testdata/catalog", catalog.Options{})
	if err != nil || len(res.Findings) > 0 {
		tb.Fatalf("test catalog: %v %v", err, res.Findings)
	}
	return res.Catalog
}

// benchService loads n devices into a Service over SQLite and publishes the test catalog.
func benchService(tb testing.TB, n int) (*Service, *http.ServeMux, []benchDevice) {
	tb.Helper()
	st := storetest.Open(tb, "sqlite", store.Options{})
	devs := seed(tb, st, n)
	svc, err := New(context.Background(), st, Options{DeviceInterval: -1, MaxInFlight: 1 << 20})
	if err != nil {
		tb.Fatal(err)
	}
	if err := svc.Publish(context.Background(), "rev1", benchCatalog(tb)); err != nil {
		tb.Fatal(err)
	}
	for i := range devs {
		k, _ := parseID(devs[i].id)
		devs[i].etag = svc.ix.lookup(k).cur.Load().etag[0]
	}
	mux := http.NewServeMux()
	auth.NewTable(mux, auth.NewGuard(auth.GuardOptions{})).MustAdd(svc.Routes()...)
	// Run writes what the requests record (served states), as the daemon does.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	tb.Cleanup(func() { cancel(); <-done })
	return svc, mux, devs
}

// routed returns the handler the route table mounted for r (the guard and the handler, past
// the mux) and sets r's path values as the mux would: samverk's part of a request.
func routed(tb testing.TB, mux *http.ServeMux, r *http.Request, id string) http.Handler {
	tb.Helper()
	h, pattern := mux.Handler(r)
	if pattern == "" {
		tb.Fatalf("no route for %s", r.URL)
	}
	r.SetPathValue("id", id)
	return h
}

// nullWriter is the cheapest ResponseWriter, so that the benchmark measures the handler.
type nullWriter struct {
	h    http.Header
	code int
}

func (w *nullWriter) Header() http.Header         { return w.h }
func (w *nullWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *nullWriter) WriteHeader(code int)        { w.code = code }

// reportCPU reports requests per second and the processor time per request since cpu (the
// whole process's, so the served log's writes too): on a shared machine a steadier figure.
func reportCPU(b *testing.B, cpu time.Duration) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
	b.ReportMetric(float64((cpuTime()-cpu).Nanoseconds())/float64(b.N), "cpu-ns/op")
}

// BenchmarkRevalidate measures polls answered 304: through the real mux and handler with
// parallel callers, and over loopback HTTP with keep-alive connections.
func BenchmarkRevalidate(b *testing.B) {
	const devices = 20_000
	_, mux, devs := benchService(b, devices)

	b.Run("handler", func(b *testing.B) {
		var next atomic.Int64
		b.ReportAllocs()
		cpu := cpuTime()
		b.RunParallel(func(pb *testing.PB) {
			// Requests are reused by one goroutine at a time: the mux writes into them.
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
		reportCPU(b, cpu)
	})

	// samverk's part alone: the guard and the handler, without the mux's path matching
	// (net/http's, which allocates the path values).
	b.Run("samverk", func(b *testing.B) {
		var next atomic.Int64
		b.ReportAllocs()
		cpu := cpuTime()
		b.RunParallel(func(pb *testing.PB) {
			reqs := make([]*http.Request, 64)
			hs := make([]http.Handler, 64)
			base := int(next.Add(64))
			for j := range reqs {
				d := devs[(base+j)%len(devs)]
				r := httptest.NewRequest("GET", "/api/v1/devices/"+d.id+"/desired", nil)
				r.Header.Set("Authorization", "Bearer "+d.cred)
				r.Header.Set("If-None-Match", d.etag)
				reqs[j], hs[j] = r, routed(b, mux, r, d.id)
			}
			w := &nullWriter{h: http.Header{}}
			for i := 0; pb.Next(); i++ {
				clear(w.h)
				hs[i%len(reqs)].ServeHTTP(w, reqs[i%len(reqs)])
				if w.code != http.StatusNotModified {
					b.Errorf("status %d", w.code)
					return
				}
			}
		})
		reportCPU(b, cpu)
	})

	b.Run("loopback", func(b *testing.B) {
		srv := httptest.NewServer(mux)
		defer srv.Close()
		tr := &http.Transport{MaxIdleConnsPerHost: 1024, MaxConnsPerHost: 1024}
		defer tr.CloseIdleConnections()
		client := &http.Client{Transport: tr}
		var next atomic.Int64
		b.SetParallelism(32)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				d := devs[int(next.Add(1))%len(devs)]
				req, _ := http.NewRequest("GET", srv.URL+"/api/v1/devices/"+d.id+"/desired", nil)
				req.Header.Set("Authorization", "Bearer "+d.cred)
				req.Header.Set("If-None-Match", d.etag)
				resp, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusNotModified {
					b.Errorf("status %d", resp.StatusCode)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
	})
}

// BenchmarkFetch measures polls answered 200 with the whole state (no If-None-Match), each
// recording what it served: samverk's part (guard and handler) and over loopback HTTP. The
// Service runs, so that the served records reach the store as they would in the daemon.
func BenchmarkFetch(b *testing.B) {
	const devices = 20_000
	_, mux, devs := benchService(b, devices)

	b.Run("samverk", func(b *testing.B) {
		var next atomic.Int64
		b.ReportAllocs()
		cpu := cpuTime()
		b.RunParallel(func(pb *testing.PB) {
			reqs := make([]*http.Request, 64)
			hs := make([]http.Handler, 64)
			base := int(next.Add(64))
			for j := range reqs {
				d := devs[(base+j)%len(devs)]
				r := httptest.NewRequest("GET", "/api/v1/devices/"+d.id+"/desired", nil)
				r.Header.Set("Authorization", "Bearer "+d.cred)
				reqs[j], hs[j] = r, routed(b, mux, r, d.id)
			}
			w := &nullWriter{h: http.Header{}}
			for i := 0; pb.Next(); i++ {
				clear(w.h)
				hs[i%len(reqs)].ServeHTTP(w, reqs[i%len(reqs)])
				if w.code != http.StatusOK {
					b.Errorf("status %d", w.code)
					return
				}
			}
		})
		reportCPU(b, cpu)
	})

	b.Run("loopback", func(b *testing.B) {
		srv := httptest.NewServer(mux)
		defer srv.Close()
		tr := &http.Transport{MaxIdleConnsPerHost: 1024, MaxConnsPerHost: 1024}
		defer tr.CloseIdleConnections()
		client := &http.Client{Transport: tr}
		var next atomic.Int64
		b.SetParallelism(32)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				d := devs[int(next.Add(1))%len(devs)]
				req, _ := http.NewRequest("GET", srv.URL+"/api/v1/devices/"+d.id+"/desired", nil)
				req.Header.Set("Authorization", "Bearer "+d.cred)
				resp, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Errorf("status %d", resp.StatusCode)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
	})
}

// BenchmarkIndexMemory measures the in-memory index for 370,000 enrolled devices: the heap it
// holds per device, and how long a publish (compile every class, swap) takes over it.
func BenchmarkIndexMemory(b *testing.B) {
	const devices = 370_000
	cat := benchCatalog(b)
	keys := make([]devKey, devices)
	hashes := make([][32]byte, devices)
	facts := make([]desired.Facts, devices)
	members := make([]string, devices)
	for i := range devices {
		k, _, h := newDevice()
		keys[i], hashes[i] = k, h
		members[i], facts[i] = benchFacts(i)
	}
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		b.StartTimer()
		ix := newIndex(0)
		for i := range devices {
			enc, _ := store.EncodeFacts(&facts[i])
			ix.put(keys[i], hashes[i], members[i], &facts[i], enc.Digest, true)
		}
		start := time.Now()
		_, classes, states := ix.publish(cat, "rev1", nil)
		pub := time.Since(start)
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/devices, "bytes/device")
		b.ReportMetric(float64(classes), "classes")
		b.ReportMetric(float64(states), "states")
		b.ReportMetric(float64(pub.Milliseconds()), "publish-ms")
		runtime.KeepAlive(ix)
		b.StartTimer()
	}
}

// TestBenchFixture keeps the benchmark setup honest: every seeded device revalidates.
func TestBenchFixture(t *testing.T) {
	_, mux, devs := benchService(t, 200)
	for _, d := range devs[:50] {
		r := httptest.NewRequest("GET", "/api/v1/devices/"+d.id+"/desired", nil)
		r.Header.Set("Authorization", "Bearer "+d.cred)
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		var st desired.State
		if w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &st) != nil || strconv.Quote(st.Hash) != d.etag {
			t.Fatalf("device %s: %d %s", d.id, w.Code, w.Body)
		}
		r.Header.Set("If-None-Match", d.etag)
		w = httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		if w.Code != http.StatusNotModified {
			t.Fatalf("device %s revalidation: %d", d.id, w.Code)
		}
	}
}
