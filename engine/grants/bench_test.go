package grants_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"samverk.io/samverk/engine/desired"
	"samverk.io/samverk/engine/grants"
	"samverk.io/samverk/engine/store"
)

// BenchmarkExpire measures one look of the schedule that expires 5,000 active grants at once
// (each on its own device) and delivers the overlays that remove their products, on SQLite.
// Run it with -benchtime=1x: each iteration needs 5,000 grants set up anew.
func BenchmarkExpire(b *testing.B) {
	const n = 5000
	ctx := context.Background()
	b.StopTimer()
	for range b.N {
		f := newFixture(b, "sqlite")
		var batch store.Batch
		for i := range n {
			id := fmt.Sprintf("%016x", i+1)
			h := sha256.Sum256([]byte(id))
			batch.Enrollments = append(batch.Enrollments, store.Enrollment{ID: id, Member: "kommun-vasterby", CredentialHash: h[:], At: t0,
				Facts: desired.Facts{Hostname: id, OSFamily: "windows"}})
		}
		if err := f.st.Write(ctx, &batch); err != nil {
			b.Fatal(err)
		}
		for i := range n {
			id := fmt.Sprintf("%016x", i+1)
			r := &store.ServiceRequest{Service: "fjarratkomst", Member: "kommun-vasterby", Requester: anna.Subject, Devices: []string{id},
				Justification: "bench", Days: 1, CreatedAt: t0, State: string(grants.Approved)}
			g := &store.Grant{Service: "fjarratkomst", Member: "kommun-vasterby", Requester: anna.Subject, Devices: []string{id},
				Products: []string{"cisco-secure-client"}, ApprovedAt: t0, Until: t0.Add(24 * time.Hour), State: string(grants.Approved)}
			if err := f.st.CreateRequest(ctx, r, g, nil); err != nil {
				b.Fatal(err)
			}
		}
		if err := f.l.Tick(ctx); err != nil {
			b.Fatal(err)
		}
		if len(f.last()) != n {
			b.Fatalf("%d overlays after the start, want %d", len(f.last()), n)
		}
		f.advance(25 * time.Hour)
		b.StartTimer()
		if err := f.l.Tick(ctx); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		b.ReportMetric(float64(n), "grants/op")
		if o := f.last()["0000000000000001"]; len(o.Absent) != 1 || len(o.Present) != 0 {
			b.Fatalf("overlay after the end = %+v", o)
		}
	}
}
