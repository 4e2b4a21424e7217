package notice_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"samverk.io/samverk/engine/notice"
)

// nullWriter is the cheapest ResponseWriter, so that the benchmark measures the handler.
type nullWriter struct {
	h    http.Header
	code int
}

func (w *nullWriter) Header() http.Header         { return w.h }
func (w *nullWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *nullWriter) WriteHeader(code int)        { w.code = code }

// BenchmarkPoll measures a device's desired-state poll answered 304 through the fleet's
// handler with the notice board plugged in: with no notice in force, with notices in force
// that reach other devices only, and with one that reaches the device (the header is set).
// Compare with the fleet's BenchmarkRevalidate/handler, which runs without a board.
func BenchmarkPoll(b *testing.B) {
	e := newEnv(b, "sqlite", 1<<20)
	d := e.devices["region-norr/vard"][0]
	var mux http.Handler
	{
		m := http.NewServeMux()
		for _, rt := range e.fleet.Routes() {
			if rt.Pattern == "/api/v1/devices/{id}/desired" {
				m.Handle(rt.Method+" "+rt.Pattern, rt.Handler)
			}
		}
		mux = m
	}
	run := func(b *testing.B, wantHeader bool) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			r := httptest.NewRequest("GET", "/api/v1/devices/"+d.id+"/desired", nil)
			r.Header.Set("Authorization", "Bearer "+d.cred)
			r.Header.Set("If-None-Match", d.etag)
			w := &nullWriter{h: http.Header{}}
			for pb.Next() {
				clear(w.h)
				mux.ServeHTTP(w, r)
				if w.code != http.StatusNotModified || (w.h[notice.Header] != nil) != wantHeader {
					b.Errorf("status %d, header %v", w.code, w.h[notice.Header])
					return
				}
			}
		})
	}
	b.Run("none", func(b *testing.B) { run(b, false) })

	from, to := time.Now().Add(-time.Minute), time.Now().Add(time.Hour)
	for _, target := range []map[string]any{
		{"members": []string{"kommun-vasterby"}},
		{"groups": []map[string]string{{"member": "kommun-vasterby", "group": "early-forvaltning"}}},
		{"devices": []string{e.devices["region-norr/vard"][1].id}},
	} {
		e.send(b, consortiumOp, map[string]any{"title": "T", "body": "B", "severity": "info", "from": from, "to": to, "target": target})
	}
	b.Run("others", func(b *testing.B) { run(b, false) })

	e.send(b, consortiumOp, map[string]any{"title": "T", "body": "B", "severity": "crisis", "from": from, "to": to,
		"target": map[string]any{"members": []string{"region-norr"}}})
	b.Run("reaches", func(b *testing.B) { run(b, true) })
}

// BenchmarkFetch measures GET /api/v1/devices/{id}/notices for a device with one notice in
// force: what each polling agent costs the daemon once, after its poll's header named a new
// notice. With 370,000 agents polling every 5 minutes, a notice to all of them is about 1,250
// of these a second for one poll interval.
func BenchmarkFetch(b *testing.B) {
	e := newEnv(b, "sqlite", 1<<20)
	d := e.devices["region-norr/vard"][0]
	from, to := time.Now().Add(-time.Minute), time.Now().Add(time.Hour)
	e.send(b, consortiumOp, map[string]any{"title": "Kris", "body": "Lämna byggnaden.", "severity": "crisis", "from": from, "to": to,
		"target": map[string]any{"everyone": true}})
	m := http.NewServeMux()
	for _, rt := range e.api.Routes() {
		if rt.Pattern == "/api/v1/devices/{id}/notices" {
			m.Handle(rt.Method+" "+rt.Pattern, rt.Handler)
		}
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		r := httptest.NewRequest("GET", "/api/v1/devices/"+d.id+"/notices?after=0", nil)
		r.Header.Set("Authorization", "Bearer "+d.cred)
		w := &nullWriter{h: http.Header{}}
		for pb.Next() {
			clear(w.h)
			m.ServeHTTP(w, r)
			if w.code != http.StatusOK {
				b.Errorf("status %d", w.code)
				return
			}
		}
	})
}
