package store_test

import (
	"context"
	"fmt"
	"testing"

	"samverk.io/samverk/engine/store"
	"samverk.io/samverk/engine/store/storetest"
)

// BenchmarkAuditAppend measures appends to the audit log, one at a time as the guard makes
// them (each durable before the next), with entries the size of a token creation's. It
// reports the database's growth per entry (SQLite: pages in use; PostgreSQL: the table with
// its indexes).
func BenchmarkAuditAppend(b *testing.B) {
	for _, kind := range storetest.Kinds {
		b.Run(kind, func(b *testing.B) {
			dsn := storetest.DSN(b, kind)
			s := storetest.OpenDSN(b, dsn, store.Options{})
			c := context.Background()
			size := func() int64 {
				q := `SELECT pg_total_relation_size('audit_log')`
				if kind == "sqlite" {
					q = `SELECT sum(pgsize) FROM dbstat WHERE name LIKE 'audit_log%' OR name LIKE 'sqlite_autoindex_audit_log%'`
				}
				return storetest.Int(b, dsn, q)
			}
			before := size()
			b.ResetTimer()
			for i := range b.N {
				e := store.AuditEntry{Subject: "token:3f2a9c0d1e4b5a67", SubjectName: "ci pipeline of region-norr", AuthMethod: "token",
					Role: "admin", SubjectMember: "region-norr", Action: "POST /api/v1/tokens", Target: "/api/v1/tokens", Member: "region-norr",
					Detail: fmt.Sprintf(`{"expires":"2027-03-03T08:00:00Z","name":"grafana","role":"viewer","token":"%016x"}`, i),
					Status: 201, Outcome: "ok", Remote: "192.0.2.17:53412"}
				if err := s.AppendAudit(c, &e); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if b.N >= 1000 {
				b.ReportMetric(float64(size()-before)/float64(b.N), "bytes/entry")
			}
		})
	}
}
