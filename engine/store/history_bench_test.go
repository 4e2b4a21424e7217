package store_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"samverk.io/samverk/engine/desired"
	"samverk.io/samverk/engine/store"
	"samverk.io/samverk/engine/store/storetest"
)

// BenchmarkHistoryYear writes a year of simulated history and measures what it costs to keep
// and to read: SAMVERK_BENCH_DEVICES devices (default 10,000) each report once a day (20
// resources, all in line), are served a new state once a week and apply it in that day's
// report, and change facts (an OS build) once a month. Devices are spread over the day and
// their weekly change over the week. It logs the bytes the history tables (periods, their
// indexes) and the whole database take per device, and the time of DeviceAt at random
// instants of the year; figures for a larger fleet scale linearly with devices (docs/history.md).
func BenchmarkHistoryYear(b *testing.B) {
	if testing.Short() {
		b.Skip("a year of history takes minutes")
	}
	devices := 10_000
	if v := os.Getenv("SAMVERK_BENCH_DEVICES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			b.Fatalf("SAMVERK_BENCH_DEVICES=%q: want a positive number", v)
		}
		devices = n
	}
	const days = 365
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, kind := range storetest.Kinds {
		b.Run(kind, func(b *testing.B) {
			dsn := storetest.DSN(b, kind)
			s := storetest.OpenDSN(b, dsn, store.Options{})
			c := context.Background()
			ids := make([]string, devices)
			var batch store.Batch
			for i := range ids {
				// Ids, hashes and revisions as long as real ones: 32 and 64 hex digits, a Git SHA-1.
				ids[i] = hexOf("device", i)[:32]
				batch.Enrollments = append(batch.Enrollments, enrollment(ids[i], fmt.Sprint("m", i%20), start))
				if len(batch.Enrollments) == 1000 {
					write(b, s, &batch)
					batch.Reset()
				}
			}
			write(b, s, &batch)
			batch.Reset()
			unchanged := make([]string, 20)
			for i := range unchanged {
				unchanged[i] = desired.Unchanged
			}
			facts := make([]*store.EncodedFacts, days/30+2)
			for m := range facts {
				f := enrollment("x", "m", start).Facts
				f.OSBuild = fmt.Sprint(22631 + m)
				facts[m], _ = store.EncodeFacts(&f)
			}
			hashes, revs := make([]string, days/7+2), make([]string, days/7+2)
			for w := range hashes {
				hashes[w], revs[w] = hexOf("state", w), hexOf("revision", w)[:40]
			}
			began := time.Now()
			reports := 0
			for day := range days {
				for i, id := range ids {
					at := start.Add(time.Duration(day)*24*time.Hour + time.Duration(i)*(24*time.Hour/time.Duration(devices)))
					week := (day + i%7) / 7
					hash, rev := hashes[week], revs[week]
					if (day+i)%7 == 0 {
						batch.Served = append(batch.Served, store.Served{DeviceID: id, At: at.Add(-time.Minute), Profile: "default",
							Hash: hash, Revision: rev, Group: "workstations", Ring: "broad"})
					}
					r := newReport(b, id, at, hash, unchanged...)
					r.Revision, r.Facts = rev, nil
					if (day+i)%30 == 0 {
						r.Facts = facts[(day+i%30)/30]
					}
					batch.Reports = append(batch.Reports, r)
					if len(batch.Reports) == 1000 {
						write(b, s, &batch)
						reports += len(batch.Reports)
						batch.Reset()
					}
				}
			}
			reports += len(batch.Reports)
			write(b, s, &batch)
			b.Logf("%s: wrote %d reports of %d devices in %s (%.0f reports/s)", kind, reports, devices, time.Since(began).Round(time.Second),
				float64(reports)/time.Since(began).Seconds())
			hist, total := storeSize(b, kind, dsn, s)
			b.Logf("%s: history tables %d B (%.0f B/device/year), whole database %d B (%.0f B/device)",
				kind, hist, float64(hist)/float64(devices), total, float64(total)/float64(devices))
			b.Run("DeviceAt", func(b *testing.B) {
				rng := rand.New(rand.NewPCG(1, 2))
				for b.Loop() {
					id := ids[rng.IntN(devices)]
					at := start.Add(time.Duration(rng.Int64N(int64(days * 24 * time.Hour))))
					d, err := s.DeviceAt(c, id, at)
					if err != nil {
						b.Fatal(err)
					}
					if d.Served == nil && at.After(start.Add(8*24*time.Hour)) {
						b.Fatalf("%s at %s: no served state", id, at)
					}
				}
				b.ReportMetric(float64(hist)/float64(devices), "history-B/device/year")
			})
			// A retention pass at the year's end that keeps eleven months: it deletes about a
			// month of closed periods and every raw report older than 90 days.
			end := start.Add(days * 24 * time.Hour)
			t := time.Now()
			p, err := s.Prune(c, store.Retention{Intervals: 334 * 24 * time.Hour}, end)
			if err != nil {
				b.Fatal(err)
			}
			b.Logf("%s: prune pass over %d devices: %+v in %s", kind, devices, p, time.Since(t).Round(time.Millisecond))
		})
	}
}

// historyTables are the tables the timelines add; their size grows with time, the rest of
// the store's with devices only.
var historyTables = []string{"facts_periods", "served_periods", "outcome_periods", "revision_events", "waiver_periods"}

// storeSize returns the bytes the history tables and their indexes take, and the whole
// database.
func storeSize(b *testing.B, kind, dsn string, s store.Store) (history, total int64) {
	b.Helper()
	c := context.Background()
	switch kind {
	case "sqlite":
		path := strings.TrimPrefix(dsn, "sqlite:")
		db, err := sql.Open("sqlite", path)
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		if _, err := db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
			b.Fatal(err)
		}
		q := `SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name IN ('` + strings.Join(historyTables, "','") + `')
			OR name IN (SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name IN ('` + strings.Join(historyTables, "','") + `'))`
		if err := db.QueryRow(q).Scan(&history); err != nil {
			b.Fatal(err)
		}
		logSizes(b, db.QueryContext, `SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC`)
		fi, err := os.Stat(path)
		if err != nil {
			b.Fatal(err)
		}
		return history, fi.Size()
	case "postgres":
		conn, err := pgx.Connect(c, dsn)
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close(c)
		if _, err := conn.Exec(c, `VACUUM ANALYZE`); err != nil {
			b.Fatal(err)
		}
		if err := conn.QueryRow(c, `SELECT sum(pg_total_relation_size(t::regclass)) FROM unnest($1::text[]) AS t`, historyTables).Scan(&history); err != nil {
			b.Fatal(err)
		}
		rows, err := conn.Query(c, `SELECT relname::text, pg_relation_size(oid) FROM pg_class
			WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'i', 't') ORDER BY 2 DESC`)
		if err != nil {
			b.Fatal(err)
		}
		var sizes []string
		for rows.Next() {
			var (
				name string
				n    int64
			)
			if err := rows.Scan(&name, &n); err != nil {
				b.Fatal(err)
			}
			sizes = append(sizes, fmt.Sprintf("%s %d", name, n))
		}
		rows.Close()
		b.Logf("postgres relations: %s", strings.Join(sizes, ", "))
		if err := conn.QueryRow(c, `SELECT pg_database_size(current_database())`).Scan(&total); err != nil {
			b.Fatal(err)
		}
		// Closing a period leaves a dead row version until vacuum makes its space reusable: a
		// year written in minutes leaves more of them than autovacuum would over a year. The
		// compacted size is the floor.
		var compact int64
		if _, err := conn.Exec(c, `VACUUM FULL `+strings.Join(historyTables, ", ")); err != nil {
			b.Fatal(err)
		}
		if err := conn.QueryRow(c, `SELECT sum(pg_total_relation_size(t::regclass)) FROM unnest($1::text[]) AS t`, historyTables).Scan(&compact); err != nil {
			b.Fatal(err)
		}
		b.Logf("postgres: history tables after VACUUM FULL %d B", compact)
		return history, total
	}
	b.Fatalf("unknown kind %s", kind)
	return 0, 0
}

// logSizes logs the name and size of each row of q.
func logSizes(b *testing.B, query func(context.Context, string, ...any) (*sql.Rows, error), q string) {
	b.Helper()
	rows, err := query(context.Background(), q)
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	var sizes []string
	for rows.Next() {
		var (
			name string
			n    int64
		)
		if err := rows.Scan(&name, &n); err != nil {
			b.Fatal(err)
		}
		sizes = append(sizes, fmt.Sprintf("%s %d", name, n))
	}
	b.Logf("sqlite tables and indexes: %s", strings.Join(sizes, ", "))
}

// hexOf is the hex SHA-256 of what and i.
func hexOf(what string, i int) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "%s-%d", what, i))
	return hex.EncodeToString(sum[:])
}
