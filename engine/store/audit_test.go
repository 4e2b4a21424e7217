package store_test

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"

	"samverk.io/samverk/engine/store"
	"samverk.io/samverk/engine/store/storetest"
)

// TestAuditLog runs the audit log's cases against every store: appends number and chain the
// entries, queries filter and page them, and the database itself refuses to change them.
func TestAuditLog(t *testing.T) {
	for _, kind := range storetest.Kinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			dsn := storetest.DSN(t, kind)
			s := storetest.OpenDSN(t, dsn, store.Options{})
			entries := []store.AuditEntry{
				{At: t0.Add(123456 * time.Microsecond), Subject: "oidc-sub-1", SubjectName: "dana@norr.example", AuthMethod: "oidc",
					Role: "operator", SubjectMember: "*", Action: "POST /api/v1/suspend", Target: "/api/v1/suspend", Member: "*",
					Detail: `{"reason":"ändring – fönster"}`, Status: 200, Outcome: "ok", Remote: "192.0.2.1:5000"},
				{At: t0.Add(time.Hour), Subject: "token:ab12", AuthMethod: "token", Role: "admin", SubjectMember: "region-norr",
					Action: "POST /api/v1/tokens", Target: "/api/v1/tokens", Member: "region-norr", Status: 201, Outcome: "ok"},
				{At: t0.Add(2 * time.Hour), Subject: "token:ab12", AuthMethod: "token", Role: "admin", SubjectMember: "region-norr",
					Action: "DELETE /api/v1/tokens/{id}", Target: "/api/v1/tokens/ff00", Member: "kommun-vasterby", Status: 403, Outcome: "denied"},
				{At: t0.Add(3 * time.Hour), Subject: "admin-token", AuthMethod: "admin-token", Role: "admin", SubjectMember: "*",
					Action: "POST /api/v1/devices/{id}/revoke", Target: "/api/v1/devices/d1/revoke", Member: "kommun-vasterby", Status: 200, Outcome: "ok"},
			}
			var prev []byte
			for i := range entries {
				e := entries[i]
				if err := s.AppendAudit(ctx(t), &e); err != nil {
					t.Fatal(err)
				}
				if e.Seq != int64(i+1) {
					t.Errorf("entry %d: seq %d", i, e.Seq)
				}
				if want := store.AuditHash(prev, &e); !bytes.Equal(e.Hash, want) || len(e.Hash) != 32 {
					t.Errorf("entry %d: hash %x, want %x", i, e.Hash, want)
				}
				prev = e.Hash
				entries[i] = e
			}
			if want := t0.Add(123 * time.Millisecond); !entries[0].At.Equal(want) {
				t.Errorf("at = %v, want %v (milliseconds)", entries[0].At, want)
			}

			all, err := s.AuditEntries(ctx(t), store.AuditQuery{})
			if err != nil {
				t.Fatal(err)
			}
			if len(all) != len(entries) {
				t.Fatalf("read %d entries, want %d", len(all), len(entries))
			}
			for i := range all {
				got, want := fmt.Sprintf("%+v", all[i]), fmt.Sprintf("%+v", entries[i])
				if got != want {
					t.Errorf("entry %d read back:\n got %s\nwant %s", i, got, want)
				}
			}

			seqs := func(q store.AuditQuery) []int64 {
				t.Helper()
				es, err := s.AuditEntries(ctx(t), q)
				if err != nil {
					t.Fatal(err)
				}
				out := []int64{}
				for _, e := range es {
					out = append(out, e.Seq)
				}
				return out
			}
			for _, c := range []struct {
				name string
				q    store.AuditQuery
				want []int64
			}{
				{"members", store.AuditQuery{Members: []string{"region-norr"}}, []int64{2}},
				{"members of two", store.AuditQuery{Members: []string{"region-norr", "kommun-vasterby"}}, []int64{2, 3, 4}},
				{"no members", store.AuditQuery{Members: []string{}}, []int64{}},
				{"member", store.AuditQuery{Member: "kommun-vasterby"}, []int64{3, 4}},
				{"member outside members", store.AuditQuery{Members: []string{"region-norr"}, Member: "kommun-vasterby"}, []int64{}},
				{"consortium", store.AuditQuery{Member: "*"}, []int64{1}},
				{"subject", store.AuditQuery{Subject: "token:ab12"}, []int64{2, 3}},
				{"since", store.AuditQuery{Since: t0.Add(time.Hour)}, []int64{2, 3, 4}},
				{"until", store.AuditQuery{Until: t0.Add(2 * time.Hour)}, []int64{1, 2}},
				{"after", store.AuditQuery{After: 2}, []int64{3, 4}},
				{"limit", store.AuditQuery{After: 1, Limit: 2}, []int64{2, 3}},
			} {
				if got := seqs(c.q); fmt.Sprint(got) != fmt.Sprint(c.want) {
					t.Errorf("%s: seqs %v, want %v", c.name, got, c.want)
				}
			}

			// Not even a connection past the store may change or remove an entry.
			for _, q := range []string{
				`UPDATE audit_log SET outcome = 'ok' WHERE seq = 3`,
				`DELETE FROM audit_log WHERE seq = 4`,
				`DELETE FROM audit_log`,
			} {
				if err := storetest.Raw(t, dsn, q); err == nil {
					t.Errorf("%s: the database allowed it", q)
				}
			}
			if kind == "postgres" {
				if err := storetest.Raw(t, dsn, `TRUNCATE audit_log`); err == nil {
					t.Error("TRUNCATE: the database allowed it")
				}
			}
			if got := seqs(store.AuditQuery{}); fmt.Sprint(got) != "[1 2 3 4]" {
				t.Errorf("after the refused changes: %v", got)
			}
			if es, _ := s.AuditEntries(ctx(t), store.AuditQuery{After: 2, Limit: 1}); len(es) != 1 || es[0].Outcome != "denied" {
				t.Errorf("entry 3 changed: %+v", es)
			}
		})
	}
}

// TestAuditLogConcurrentAppends: appends from many goroutines, and on PostgreSQL from two
// stores on one database (two replicas), form one chain without gaps or forks.
func TestAuditLogConcurrentAppends(t *testing.T) {
	for _, kind := range storetest.Kinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			dsn := storetest.DSN(t, kind)
			stores := []store.Store{storetest.OpenDSN(t, dsn, store.Options{})}
			if kind == "postgres" {
				stores = append(stores, storetest.OpenDSN(t, dsn, store.Options{}))
			}
			const workers, each = 8, 10
			var wg sync.WaitGroup
			errs := make(chan error, workers*each)
			for w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					s := stores[w%len(stores)]
					for i := range each {
						e := store.AuditEntry{At: t0, Subject: fmt.Sprintf("w%d", w), Action: "POST /x", Target: fmt.Sprint(i), Status: 200, Outcome: "ok"}
						if err := s.AppendAudit(ctx(t), &e); err != nil {
							errs <- err
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			es, err := stores[0].AuditEntries(ctx(t), store.AuditQuery{Limit: store.MaxLimit})
			if err != nil {
				t.Fatal(err)
			}
			if len(es) != workers*each {
				t.Fatalf("%d entries, want %d", len(es), workers*each)
			}
			var prev []byte
			for i, e := range es {
				if e.Seq != int64(i+1) || !bytes.Equal(e.Hash, store.AuditHash(prev, &e)) {
					t.Fatalf("entry %d (seq %d): the chain breaks", i, e.Seq)
				}
				prev = e.Hash
			}
		})
	}
}
