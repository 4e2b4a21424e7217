package servedlog_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"samverk.io/samverk/engine/desired"
	"samverk.io/samverk/engine/servedlog"
	"samverk.io/samverk/engine/store"
	"samverk.io/samverk/engine/store/storetest"
)

var t0 = time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)

// enrolled opens a store of kind with n devices and returns their keys.
func enrolled(t *testing.T, kind string, n int) (store.Store, []servedlog.Key) {
	t.Helper()
	st := storetest.Open(t, kind, store.Options{})
	keys := make([]servedlog.Key, n)
	b := &store.Batch{}
	for i := range keys {
		keys[i][0], keys[i][1], keys[i][15] = byte(i), byte(i>>8), 0xaa
		b.Enrollments = append(b.Enrollments, store.Enrollment{ID: keys[i].String(), Member: "region-norr",
			CredentialHash: make([]byte, 32), At: t0,
			Facts: desired.Facts{Hostname: fmt.Sprintf("pc-%d", i), OSFamily: "windows"}})
	}
	if err := st.Write(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	return st, keys
}

func servedHash(t *testing.T, st store.Store, k servedlog.Key) (string, time.Time) {
	t.Helper()
	d, err := st.Device(context.Background(), k.String(), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return d.ServedHash, d.ServedAt
}

func what(hash string) *servedlog.What {
	return &servedlog.What{Profile: "p1", Hash: hash, Revision: "rev-" + hash, Group: "staff", Ring: "broad"}
}

func TestLog(t *testing.T) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			st, keys := enrolled(t, kind, 300)
			l := servedlog.New(st, servedlog.Options{MaxBatch: 64})

			t.Run("latest wins, one write per device", func(t *testing.T) {
				var wg sync.WaitGroup
				for g := range 4 {
					wg.Go(func() {
						for i, k := range keys {
							if i%4 == g {
								l.Record(k, what("h1"), t0.Add(time.Minute))
								l.Record(k, what("h2"), t0.Add(2*time.Minute))
							}
						}
					})
				}
				wg.Wait()
				if n := l.Pending(); n != len(keys) {
					t.Fatalf("pending %d, want %d", n, len(keys))
				}
				if err := l.Flush(context.Background()); err != nil {
					t.Fatal(err)
				}
				if l.Pending() != 0 || l.Written() != int64(len(keys)) {
					t.Fatalf("pending %d written %d, want 0 and %d", l.Pending(), l.Written(), len(keys))
				}
				for _, k := range keys {
					if h, at := servedHash(t, st, k); h != "h2" || !at.Equal(t0.Add(2*time.Minute)) {
						t.Fatalf("device %s: served %s at %s, want h2 at %s", k, h, at, t0.Add(2*time.Minute))
					}
				}
			})

			t.Run("an unreachable store keeps the records", func(t *testing.T) {
				for _, k := range keys[:100] {
					l.Record(k, what("h3"), t0.Add(3*time.Minute))
				}
				gone, cancel := context.WithCancel(context.Background())
				cancel()
				if err := l.Flush(gone); err == nil {
					t.Fatal("flush with an ended context: no error")
				}
				if n := l.Pending(); n != 100 {
					t.Fatalf("pending %d after a failed flush, want 100", n)
				}
				// A newer record that came in meanwhile is kept over the one given back.
				l.Record(keys[0], what("h4"), t0.Add(4*time.Minute))
				if err := l.Flush(context.Background()); err != nil {
					t.Fatal(err)
				}
				if h, _ := servedHash(t, st, keys[0]); h != "h4" {
					t.Errorf("device 0 served %s, want h4", h)
				}
				if h, _ := servedHash(t, st, keys[99]); h != "h3" {
					t.Errorf("device 99 served %s, want h3", h)
				}
				if h, _ := servedHash(t, st, keys[100]); h != "h2" {
					t.Errorf("device 100 served %s, want h2 (untouched)", h)
				}
			})

			t.Run("take and put back", func(t *testing.T) {
				l.Record(keys[5], what("h5"), t0.Add(5*time.Minute))
				sv, ok := l.Take(keys[5])
				if !ok || sv.Hash != "h5" || sv.DeviceID != keys[5].String() || sv.Revision != "rev-h5" {
					t.Fatalf("take = %+v %v", sv, ok)
				}
				if _, ok := l.Take(keys[5]); ok {
					t.Fatal("taken twice")
				}
				l.Put(keys[5], sv)
				l.Record(keys[6], what("h6"), t0.Add(6*time.Minute))
				l.Put(keys[6], sv) // older than the record held: ignored
				if err := l.Flush(context.Background()); err != nil {
					t.Fatal(err)
				}
				if h, _ := servedHash(t, st, keys[5]); h != "h5" {
					t.Errorf("device 5 served %s, want h5", h)
				}
				if h, _ := servedHash(t, st, keys[6]); h != "h6" {
					t.Errorf("device 6 served %s, want h6", h)
				}
			})

			t.Run("run flushes on shutdown", func(t *testing.T) {
				l := servedlog.New(st, servedlog.Options{Interval: time.Hour})
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan error, 1)
				go func() { done <- l.Run(ctx) }()
				l.Record(keys[7], what("h7"), t0.Add(7*time.Minute))
				cancel()
				if err := <-done; err != nil {
					t.Fatal(err)
				}
				if h, _ := servedHash(t, st, keys[7]); h != "h7" {
					t.Errorf("device 7 served %s after shutdown, want h7", h)
				}
				if err := l.Run(context.Background()); err == nil {
					t.Error("second Run: no error")
				}
			})
		})
	}
}

// BenchmarkRecord is the request path's part: one record per 200.
func BenchmarkRecord(b *testing.B) {
	l := servedlog.New(nil, servedlog.Options{})
	keys := make([]servedlog.Key, 20_000)
	for i := range keys {
		keys[i][0], keys[i][1], keys[i][2] = byte(i), byte(i>>8), byte(i>>16)
	}
	w := what("h1")
	for _, k := range keys {
		l.Record(k, w, t0)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for i := 0; pb.Next(); i++ {
			l.Record(keys[i%len(keys)], w, t0)
		}
	})
}
