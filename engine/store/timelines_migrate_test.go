package store_test

import (
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"samverk.io/samverk/engine/store"
	"samverk.io/samverk/engine/store/storetest"
)

// TestHistoryBackfill migrates a store that predates history, with a device enrolled, served
// and reported, and checks that the device gets open periods from its row, beginning when the
// row last changed (never earlier), and that the next changes close them.
func TestHistoryBackfill(t *testing.T) {
	enrolled, served, reported := t0, t0.Add(time.Minute), t0.Add(2*time.Minute)
	for _, kind := range storetest.Kinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			dsn := storetest.DSN(t, kind)
			// The schema as it was before history: migrations 1 to 4, and a device written the
			// way those versions wrote it.
			var pre []string
			files, err := filepath.Glob(filepath.Join("migrations", kind, "000[1-4]_*.sql"))
			if err != nil || len(files) != 4 {
				t.Fatalf("migrations before history: %v, %v", files, err)
			}
			for _, f := range files {
				b, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				pre = append(pre, string(b))
			}
			const facts = `{"hostname":"pc-d1","vendor":"Dell Inc.","model":"Latitude 5450","osFamily":"windows","osBuild":"22631"}`
			switch kind {
			case "sqlite":
				db, err := sql.Open("sqlite", strings.TrimPrefix(dsn, "sqlite:"))
				if err != nil {
					t.Fatal(err)
				}
				defer db.Close()
				stmts := append([]string{`CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`}, pre...)
				stmts = append(stmts, `INSERT INTO schema_version VALUES (1, 0), (2, 0), (3, 0), (4, 0)`)
				for _, q := range stmts {
					if _, err := db.Exec(q); err != nil {
						t.Fatalf("%.60s: %v", q, err)
					}
				}
				if _, err := db.Exec(`INSERT INTO devices (id, member, credential_hash, facts, enrolled_at, last_seen, group_name, ring,
					profile, served_hash, served_revision, served_at, report_at, report_revision, applied_hash, failed, compliance,
					reports, hash_streak, history_seq) VALUES ('d1', 'm', x'00', ?, ?, ?, 'g', 'pilot', 'p', 'hA', 'r1', ?, ?, 'rev-hA',
					'hA', 1, 'failed', 1, 1, 1)`, facts, enrolled.UnixMilli(), reported.UnixMilli(), served.UnixMilli(), reported.UnixMilli()); err != nil {
					t.Fatal(err)
				}
				if _, err := db.Exec(`INSERT INTO reports VALUES ('d1', 1, 1, ?, 'rev-hA', 'hA', ?, 10, 0, 0, 0, 1, 0, 0, 'failed',
					'[{"id":"r0","outcome":"failed"}]')`, reported.UnixMilli(), reported.UnixMilli()); err != nil {
					t.Fatal(err)
				}
			case "postgres":
				c := ctx(t)
				conn, err := pgx.Connect(c, dsn)
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close(c)
				stmts := append([]string{`CREATE TABLE schema_version (version integer PRIMARY KEY, applied_at timestamptz NOT NULL)`}, pre...)
				stmts = append(stmts, `INSERT INTO schema_version VALUES (1, now()), (2, now()), (3, now()), (4, now())`)
				for _, q := range stmts {
					if _, err := conn.Exec(c, q); err != nil {
						t.Fatalf("%.60s: %v", q, err)
					}
				}
				if _, err := conn.Exec(c, `INSERT INTO devices (id, member, credential_hash, facts, enrolled_at, last_seen, group_name, ring,
					profile, served_hash, served_revision, served_at, report_at, report_revision, applied_hash, failed, compliance,
					reports, hash_streak, history_seq) VALUES ('d1', 'm', '\x00', $1, $2, $3, 'g', 'pilot', 'p', 'hA', 'r1', $4, $3, 'rev-hA',
					'hA', 1, 'failed', 1, 1, 1)`, facts, enrolled, reported, served); err != nil {
					t.Fatal(err)
				}
				if _, err := conn.Exec(c, `INSERT INTO reports VALUES ('d1', 1, 1, $1, 'rev-hA', 'hA', $1, 10, false, 0, 0, 1, 0, 0, 'failed',
					'[{"id":"r0","outcome":"failed"}]')`, reported); err != nil {
					t.Fatal(err)
				}
			}

			s := storetest.OpenDSN(t, dsn, store.Options{History: 3})
			d, err := s.DeviceAt(ctx(t), "d1", reported)
			if err != nil {
				t.Fatal(err)
			}
			if d.Facts == nil || !d.Facts.From.Equal(reported) || d.Facts.Facts.OSBuild != "22631" || d.Facts.Member != "m" {
				t.Errorf("facts %+v: want open from %s (last seen)", d.Facts, reported)
			}
			if d.Served == nil || !d.Served.From.Equal(served) || d.Served.Hash != "hA" || d.Served.Revision != "r1" || d.Served.Ring != "pilot" {
				t.Errorf("served %+v: want hA open from %s", d.Served, served)
			}
			if o := d.Outcome; o == nil || !o.From.Equal(reported) || o.Compliance != store.Failed || o.Reports != 1 || len(o.Resources) != 1 {
				t.Errorf("outcome %+v: want the failure open from %s with its resource", d.Outcome, reported)
			}
			if d, err := s.DeviceAt(ctx(t), "d1", enrolled); err != nil || d.Facts != nil || d.Served != nil || d.Outcome != nil {
				t.Errorf("before the row last changed: %+v, %v: want nothing claimed", d, err)
			}

			next := t0.Add(time.Hour)
			r := newReport(t, "d1", next, "hB")
			write(t, s, &store.Batch{
				Served:  []store.Served{{DeviceID: "d1", At: next, Hash: "hB", Revision: "r2", Group: "g", Ring: "pilot"}},
				Reports: []store.Report{r},
			})
			tl, err := s.DeviceTimeline(ctx(t), "d1", time.Time{}, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			checkContiguous(t, "facts", ivs(tl.Facts, func(p store.FactsPeriod) store.Interval { return p.Interval }), reported, next)
			checkContiguous(t, "served", ivs(tl.Served, func(p store.ServedPeriod) store.Interval { return p.Interval }), served, next)
			checkContiguous(t, "outcomes", ivs(tl.Outcomes, func(p store.OutcomePeriod) store.Interval { return p.Interval }), reported, next)
		})
	}
}
