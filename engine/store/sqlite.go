package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// SQLite is the embedded store: one database file in WAL mode, written through a single
// connection and read through a small pool. Commits are synchronous (synchronous=FULL), so a
// committed batch survives a crash of the process or the machine. A connection of its own
// checkpoints the WAL in the background, so that copying pages back into the database does
// not stall the writer's commits.
type SQLite struct {
	w, r    *sql.DB
	ckpt    *sql.DB
	history int
	stmts   sqliteStmts
	stop    chan struct{}
	stopped chan struct{}

	closeOnce sync.Once
	closeErr  error
}

// checkpointEvery is how often the background checkpoint runs. The writer checkpoints by
// itself only if the WAL outgrows walBackstop pages, which the background one prevents.
const (
	checkpointEvery = time.Second
	walBackstop     = 100_000
)

var _ Store = (*SQLite)(nil)

// sqliteOutcomeChanged tells, in the report update, that the report ends the device's outcome
// period: its first report, another applied hash (?3) or another judged compliance (?9).
const sqliteOutcomeChanged = `(outcome_from IS NULL OR applied_hash <> ?3 OR compliance <> ?9)`

type sqliteStmts struct {
	insertDevice, insertEvent, served, report, history *sql.Stmt
	reenroll, credential                               *sql.Stmt
	// Opening and closing the periods of history (history.go).
	openFacts, closeFacts, openServed, closeServed, openOutcome, closeOutcome *sql.Stmt
}

// OpenSQLite opens (creating if needed) the database file at path and migrates its schema.
func OpenSQLite(ctx context.Context, path string, opt Options) (*SQLite, error) {
	opt = opt.withDefaults(4)
	if path == "" || strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("open sqlite store: path %q must be a plain file name", path)
	}
	common := url.Values{}
	common.Add("_pragma", "busy_timeout(10000)")
	common.Add("_pragma", "foreign_keys(0)")
	wq := url.Values{"_txlock": {"immediate"}}
	// The writer updates rows all over the table (one per reporting device): a page cache of
	// 128 MiB keeps their pages at hand.
	wq["_pragma"] = append([]string{"journal_mode(WAL)", "synchronous(FULL)", "cache_size(-131072)",
		"journal_size_limit(67108864)", fmt.Sprintf("wal_autocheckpoint(%d)", walBackstop)}, common["_pragma"]...)
	w, err := sql.Open("sqlite", path+"?"+wq.Encode())
	if err != nil {
		return nil, fmt.Errorf("open sqlite store: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	s := &SQLite{w: w, history: opt.History}
	if err := s.migrate(ctx); err != nil {
		w.Close()
		return nil, err
	}
	rq := url.Values{"_pragma": append([]string{"query_only(1)"}, common["_pragma"]...)}
	r, err := sql.Open("sqlite", path+"?"+rq.Encode())
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite store: %w", err)
	}
	r.SetMaxOpenConns(opt.Readers)
	r.SetMaxIdleConns(opt.Readers)
	r.SetConnMaxIdleTime(0)
	s.r = r
	ckpt, err := sql.Open("sqlite", path+"?"+url.Values{"_pragma": common["_pragma"]}.Encode())
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("open sqlite store: %w", err)
	}
	ckpt.SetMaxOpenConns(1)
	s.ckpt = ckpt
	if err := s.prepare(ctx); err != nil {
		s.Close()
		return nil, err
	}
	s.stop, s.stopped = make(chan struct{}), make(chan struct{})
	go s.checkpoints()
	return s, nil
}

// checkpoints copies committed WAL pages into the database file every checkpointEvery, without
// blocking the writer (PASSIVE), until Close.
func (s *SQLite) checkpoints() {
	defer close(s.stopped)
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			// A failed checkpoint is retried on the next tick; past walBackstop pages the
			// writer checkpoints by itself.
			s.ckpt.Exec(`PRAGMA wal_checkpoint(PASSIVE)`)
		}
	}
}

func (s *SQLite) migrate(ctx context.Context) error {
	ms, err := loadMigrations("sqlite")
	if err != nil {
		return fmt.Errorf("migrate sqlite store: %w", err)
	}
	tx, err := s.w.BeginTx(ctx, nil) // _txlock=immediate: no other writer can interleave
	if err != nil {
		return fmt.Errorf("migrate sqlite store: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("migrate sqlite store: %w", err)
	}
	var cur int
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_version`).Scan(&cur); err != nil {
		return fmt.Errorf("migrate sqlite store: %w", err)
	}
	if n := len(ms); n > 0 && cur > ms[n-1].version {
		return fmt.Errorf("migrate sqlite store: database schema version %d is newer than this build's %d", cur, ms[n-1].version)
	}
	for _, m := range pending(ms, cur) {
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return fmt.Errorf("migrate sqlite store: %s: %w", m.name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version, applied_at) VALUES (?, ?)`, m.version, ms64(time.Now())); err != nil {
			return fmt.Errorf("migrate sqlite store: %w", err)
		}
	}
	// A smaller History than before leaves slots nobody overwrites: drop them.
	if _, err := tx.ExecContext(ctx, `DELETE FROM reports WHERE slot >= ?`, s.history); err != nil {
		return fmt.Errorf("migrate sqlite store: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate sqlite store: %w", err)
	}
	return nil
}

func (s *SQLite) prepare(ctx context.Context) error {
	for _, p := range []struct {
		st **sql.Stmt
		q  string
	}{
		{&s.stmts.insertDevice, `INSERT INTO devices (id, member, credential_hash, hostname, facts, labels, vendor, model,
			os_family, os_build, facts_digest, enrolled_at, last_seen, enroll_token, serial, facts_from)
			VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12, ?13, ?14, ?12)`},
		{&s.stmts.insertEvent, `INSERT INTO enrollments (device_id, member, at, hostname, serial, remote, enroll_token, replaced) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`},
		{&s.stmts.reenroll, `UPDATE devices SET credential_hash = ?2, hostname = ?3, facts = ?4, labels = ?5, vendor = ?6, model = ?7,
			os_family = ?8, os_build = ?9, facts_digest = ?10, last_seen = max(last_seen, ?11), enroll_token = ?12, serial = ?13,
			prev_credential_hash = NULL, prev_credential_until = NULL, revoked_at = NULL, credential_at = ?11,
			facts_closed = CASE WHEN facts_digest <> ?10 THEN coalesce(facts_from, ?11) END,
			facts_from = CASE WHEN facts_digest <> ?10 THEN max(?11, coalesce(facts_from, ?11)) ELSE facts_from END
			WHERE id = ?1 RETURNING facts_from, facts_closed`},
		{&s.stmts.credential, `UPDATE devices SET credential_hash = ?2, prev_credential_hash = ?3, prev_credential_until = ?4,
			revoked_at = CASE WHEN ?5 THEN ?6 END, credential_at = ?6 WHERE id = ?1`},
		{&s.stmts.served, `UPDATE devices SET last_seen = max(last_seen, ?1), served_at = ?1, profile = ?2, served_hash = ?3,
			served_revision = ?4, group_name = ?5, ring = ?6, os_target = ?8,
			served_closed = CASE WHEN served_from IS NULL OR served_hash <> ?3 THEN coalesce(served_from, ?1) END,
			served_from = CASE WHEN served_from IS NULL OR served_hash <> ?3 THEN max(?1, coalesce(served_from, ?1)) ELSE served_from END
			WHERE id = ?7 RETURNING served_from, served_closed`},
		{&s.stmts.report, `UPDATE devices SET last_seen = max(last_seen, ?1), report_at = ?1, report_revision = ?2,
			applied_hash = ?3, unchanged = ?4, corrected = ?5, failed = ?6, skipped = ?7, drifted = ?8, compliance = ?9,
			facts = coalesce(?10, facts), labels = coalesce(?11, labels), hostname = coalesce(?12, hostname),
			vendor = coalesce(?13, vendor), model = coalesce(?14, model), os_family = coalesce(?15, os_family),
			os_build = coalesce(?16, os_build), facts_digest = coalesce(?17, facts_digest), reports = reports + 1,
			hash_streak = CASE WHEN applied_hash = ?3 THEN hash_streak + 1 ELSE 1 END,
			history_seq = history_seq + CASE WHEN ?19 OR applied_hash <> ?3 THEN 1 ELSE 0 END,
			facts_closed = CASE WHEN ?17 <> facts_digest THEN coalesce(facts_from, ?1) END,
			facts_from = CASE WHEN ?17 <> facts_digest THEN max(?1, coalesce(facts_from, ?1)) ELSE facts_from END,
			outcome_closed = CASE WHEN ` + sqliteOutcomeChanged + ` THEN coalesce(outcome_from, ?1) END,
			outcome_closed_reports = CASE WHEN ` + sqliteOutcomeChanged + ` THEN outcome_reports END,
			outcome_from = CASE WHEN ` + sqliteOutcomeChanged + ` THEN max(?1, coalesce(outcome_from, ?1)) ELSE outcome_from END,
			outcome_reports = CASE WHEN ` + sqliteOutcomeChanged + ` THEN 1 ELSE outcome_reports + 1 END
			WHERE id = ?18 RETURNING history_seq, hash_streak, facts_from, facts_closed, outcome_from, outcome_closed, outcome_closed_reports`},
		{&s.stmts.history, `INSERT INTO reports (device_id, slot, seq, received_at, revision, hash, started_at, duration_ms,
			noop, unchanged, corrected, failed, skipped, drifted, compliance, results)
			VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)
			ON CONFLICT (device_id, slot) DO UPDATE SET seq = excluded.seq, received_at = excluded.received_at,
			revision = excluded.revision, hash = excluded.hash, started_at = excluded.started_at,
			duration_ms = excluded.duration_ms, noop = excluded.noop, unchanged = excluded.unchanged,
			corrected = excluded.corrected, failed = excluded.failed, skipped = excluded.skipped,
			drifted = excluded.drifted, compliance = excluded.compliance, results = excluded.results`},
		{&s.stmts.openFacts, `INSERT INTO facts_periods (device_id, from_at, facts) VALUES (?1, ?2, ?3)
			ON CONFLICT (device_id, from_at) DO UPDATE SET facts = excluded.facts`},
		{&s.stmts.closeFacts, `UPDATE facts_periods SET to_at = ?3 WHERE device_id = ?1 AND from_at = ?2`},
		{&s.stmts.openServed, `INSERT INTO served_periods (device_id, from_at, hash, revision, group_name, ring, profile)
			VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
			ON CONFLICT (device_id, from_at) DO UPDATE SET hash = excluded.hash, revision = excluded.revision,
			group_name = excluded.group_name, ring = excluded.ring, profile = excluded.profile`},
		{&s.stmts.closeServed, `UPDATE served_periods SET to_at = ?3 WHERE device_id = ?1 AND from_at = ?2`},
		{&s.stmts.openOutcome, `INSERT INTO outcome_periods (device_id, from_at, revision, hash, compliance,
			unchanged, corrected, failed, skipped, drifted, results) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
			ON CONFLICT (device_id, from_at) DO UPDATE SET revision = excluded.revision, hash = excluded.hash,
			compliance = excluded.compliance, unchanged = excluded.unchanged, corrected = excluded.corrected,
			failed = excluded.failed, skipped = excluded.skipped, drifted = excluded.drifted, results = excluded.results`},
		{&s.stmts.closeOutcome, `UPDATE outcome_periods SET to_at = ?3, reports = ?4 WHERE device_id = ?1 AND from_at = ?2`},
	} {
		st, err := s.w.PrepareContext(ctx, p.q)
		if err != nil {
			return fmt.Errorf("prepare sqlite store: %w", err)
		}
		*p.st = st
	}
	return nil
}

// Close stops the checkpoints and closes the connections. Closing again does nothing.
func (s *SQLite) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.close() })
	return s.closeErr
}

func (s *SQLite) close() error {
	if s.stop != nil {
		close(s.stop)
		<-s.stopped
	}
	var errs []error
	for _, st := range []*sql.Stmt{s.stmts.insertDevice, s.stmts.insertEvent, s.stmts.served, s.stmts.report, s.stmts.history,
		s.stmts.reenroll, s.stmts.credential, s.stmts.openFacts, s.stmts.closeFacts, s.stmts.openServed, s.stmts.closeServed,
		s.stmts.openOutcome, s.stmts.closeOutcome} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	for _, db := range []*sql.DB{s.ckpt, s.r} {
		if db != nil {
			errs = append(errs, db.Close())
		}
	}
	errs = append(errs, s.w.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close sqlite store: %w", err)
	}
	return nil
}

// Write applies b in one immediate transaction on the writer connection.
func (s *SQLite) Write(ctx context.Context, b *Batch) error {
	if b.Len() == 0 {
		return nil
	}
	if err := s.write(ctx, b); err != nil {
		return fmt.Errorf("write batch of %d: %w", b.Len(), err)
	}
	return nil
}

func (s *SQLite) write(ctx context.Context, b *Batch) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if len(b.Enrollments) > 0 {
		ins, ev := tx.StmtContext(ctx, s.stmts.insertDevice), tx.StmtContext(ctx, s.stmts.insertEvent)
		for i := range b.Enrollments {
			e := &b.Enrollments[i]
			f, err := EncodeFacts(&e.Facts)
			if err != nil {
				return err
			}
			at := ms64(e.At)
			if e.Replaces {
				var p sqlitePeriod
				err := tx.StmtContext(ctx, s.stmts.reenroll).QueryRowContext(ctx, e.ID, e.CredentialHash, f.Hostname, f.JSON, f.Labels,
					f.Vendor, f.Model, f.OSFamily, f.OSBuild, int64(f.Digest), at, e.Token, e.Facts.Serial).Scan(&p.from, &p.closed)
				if errors.Is(err, sql.ErrNoRows) {
					return fmt.Errorf("enroll device %s again: %w", e.ID, ErrNotFound)
				}
				if err != nil {
					return fmt.Errorf("enroll device %s again: %w", e.ID, err)
				}
				if err := p.apply(ctx, tx, s.stmts.closeFacts, s.stmts.openFacts, e.ID, nil, string(f.JSON)); err != nil {
					return fmt.Errorf("facts of %s: %w", e.ID, err)
				}
			} else {
				if _, err := ins.ExecContext(ctx, e.ID, e.Member, e.CredentialHash, f.Hostname, f.JSON, f.Labels, f.Vendor, f.Model,
					f.OSFamily, f.OSBuild, int64(f.Digest), at, e.Token, e.Facts.Serial); err != nil {
					return fmt.Errorf("insert device: %w", err)
				}
				if _, err := tx.StmtContext(ctx, s.stmts.openFacts).ExecContext(ctx, e.ID, at, string(f.JSON)); err != nil {
					return fmt.Errorf("facts of %s: %w", e.ID, err)
				}
			}
			if _, err := ev.ExecContext(ctx, e.ID, e.Member, at, e.Facts.Hostname, e.Facts.Serial, e.Remote, e.Token, e.Replaces); err != nil {
				return fmt.Errorf("insert enrollment: %w", err)
			}
		}
	}
	if len(b.Credentials) > 0 {
		st := tx.StmtContext(ctx, s.stmts.credential)
		for i := range b.Credentials {
			c := &b.Credentials[i]
			var until any
			if c.Prev != nil {
				until = ms64(c.PrevUntil)
			}
			if c.EndGrace {
				if _, err := tx.ExecContext(ctx, `UPDATE devices SET prev_credential_hash = NULL, prev_credential_until = NULL
					WHERE id = ? AND credential_hash = ?`, c.DeviceID, c.Hash); err != nil {
					return fmt.Errorf("end credential grace of %s: %w", c.DeviceID, err)
				}
				continue
			}
			if _, err := st.ExecContext(ctx, c.DeviceID, c.Hash, c.Prev, until, c.Revoked, ms64(c.At)); err != nil {
				return fmt.Errorf("change credential of %s: %w", c.DeviceID, err)
			}
		}
	}
	if len(b.Served) > 0 {
		st := tx.StmtContext(ctx, s.stmts.served)
		for i := range b.Served {
			v := &b.Served[i]
			var p sqlitePeriod
			err := st.QueryRowContext(ctx, ms64(v.At), v.Profile, v.Hash, v.Revision, v.Group, v.Ring, v.DeviceID, v.OSTarget).Scan(&p.from, &p.closed)
			if errors.Is(err, sql.ErrNoRows) {
				continue // the device is gone
			}
			if err != nil {
				return fmt.Errorf("update served: %w", err)
			}
			if err := p.apply(ctx, tx, s.stmts.closeServed, s.stmts.openServed, v.DeviceID, nil,
				v.Hash, v.Revision, v.Group, v.Ring, v.Profile); err != nil {
				return fmt.Errorf("served period of %s: %w", v.DeviceID, err)
			}
		}
	}
	if len(b.Reports) > 0 {
		up, hist := tx.StmtContext(ctx, s.stmts.report), tx.StmtContext(ctx, s.stmts.history)
		for i := range b.Reports {
			r := &b.Reports[i]
			judged := r.Counts.Judge()
			var (
				seq, streak    int64
				facts, outcome sqlitePeriod
				outcomeReports sql.NullInt64
				f              [8]any // all nil: the row's facts stay
			)
			if e := r.Facts; e != nil {
				f = [8]any{string(e.JSON), string(e.Labels), e.Hostname, e.Vendor, e.Model, e.OSFamily, e.OSBuild, int64(e.Digest)}
			}
			err := up.QueryRowContext(ctx, ms64(r.At), r.Revision, r.Hash, r.Counts.Unchanged, r.Counts.Corrected,
				r.Counts.Failed, r.Counts.Skipped, r.Counts.Drifted, judged, f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7],
				r.DeviceID, r.Counts.noteworthy()).Scan(&seq, &streak, &facts.from, &facts.closed, &outcome.from, &outcome.closed, &outcomeReports)
			if errors.Is(err, sql.ErrNoRows) {
				continue // the device is gone; its report has nothing to attach to
			}
			if err != nil {
				return fmt.Errorf("update device report: %w", err)
			}
			if facts.closed.Valid && r.Facts != nil {
				if err := facts.apply(ctx, tx, s.stmts.closeFacts, s.stmts.openFacts, r.DeviceID, nil, string(r.Facts.JSON)); err != nil {
					return fmt.Errorf("facts of %s: %w", r.DeviceID, err)
				}
			}
			if outcome.closed.Valid {
				if err := outcome.apply(ctx, tx, s.stmts.closeOutcome, s.stmts.openOutcome, r.DeviceID, []any{outcomeReports.Int64},
					r.Revision, r.Hash, judged, r.Counts.Unchanged, r.Counts.Corrected, r.Counts.Failed, r.Counts.Skipped,
					r.Counts.Drifted, string(r.Results)); err != nil {
					return fmt.Errorf("outcome of %s: %w", r.DeviceID, err)
				}
			}
			if streak > 1 && !r.Counts.noteworthy() {
				continue // the same state, all in line: nothing for the history
			}
			if _, err := hist.ExecContext(ctx, r.DeviceID, seq%int64(s.history), seq, ms64(r.At), r.Revision, r.Hash,
				ms64(r.StartedAt), r.DurationMs, r.Noop, r.Counts.Unchanged, r.Counts.Corrected, r.Counts.Failed,
				r.Counts.Skipped, r.Counts.Drifted, judged, string(r.Results)); err != nil {
				return fmt.Errorf("insert report: %w", err)
			}
		}
	}
	return tx.Commit()
}

const sqliteDeviceCols = `id, member, credential_hash, facts, enrolled_at, last_seen, group_name, ring, profile,
	served_hash, served_revision, served_at, report_at, report_revision, applied_hash,
	unchanged, corrected, failed, skipped, drifted`

var sqliteStale = fmt.Sprintf(staleExpr, "?")

// Device returns one device.
func (s *SQLite) Device(ctx context.Context, id string, staleBefore time.Time) (*Device, error) {
	row := s.r.QueryRowContext(ctx, `SELECT `+sqliteDeviceCols+`, `+sqliteStale+` FROM devices WHERE id = ?`, ms64(staleBefore), id)
	d, err := scanSQLiteDevice(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("device %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read device: %w", err)
	}
	return d, nil
}

// Devices returns a page of devices.
func (s *SQLite) Devices(ctx context.Context, q Query) (*Page, error) {
	var where strings.Builder
	args := []any{ms64(q.StaleBefore), q.After}
	where.WriteString(` WHERE id > ?`)
	for _, f := range []struct{ col, val string }{
		{"member", q.Member}, {"group_name", q.Group}, {"report_revision", q.Revision}, {sqliteStale, q.Compliance},
	} {
		if f.val == "" {
			continue
		}
		where.WriteString(" AND " + f.col + " = ?")
		if f.col == sqliteStale {
			args = append(args, ms64(q.StaleBefore))
		}
		args = append(args, f.val)
	}
	limit := q.limit()
	args = append(args, limit+1)
	rows, err := s.r.QueryContext(ctx, `SELECT `+sqliteDeviceCols+`, `+sqliteStale+` FROM devices`+where.String()+` ORDER BY id LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	defer rows.Close()
	return collectPage(rows, limit, func() (*Device, error) { return scanSQLiteDevice(rows) })
}

// Summary counts devices by member, group and compliance.
func (s *SQLite) Summary(ctx context.Context, staleBefore time.Time) ([]Count, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT member, group_name, `+sqliteStale+` AS state, count(*) FROM devices
		GROUP BY member, group_name, state ORDER BY member, group_name, state`, ms64(staleBefore))
	if err != nil {
		return nil, fmt.Errorf("summarise devices: %w", err)
	}
	defer rows.Close()
	var cs []Count
	for rows.Next() {
		var c Count
		if err := rows.Scan(&c.Member, &c.Group, &c.Compliance, &c.Devices); err != nil {
			return nil, fmt.Errorf("summarise devices: %w", err)
		}
		cs = append(cs, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("summarise devices: %w", err)
	}
	return cs, nil
}

// Reports returns a device's most recent reports, newest first.
func (s *SQLite) Reports(ctx context.Context, deviceID string, limit int) ([]StoredReport, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT seq, received_at, revision, hash, started_at, duration_ms, noop,
		unchanged, corrected, failed, skipped, drifted, compliance, results
		FROM reports WHERE device_id = ? ORDER BY seq DESC LIMIT ?`, deviceID, max(limit, 1))
	if err != nil {
		return nil, fmt.Errorf("read reports: %w", err)
	}
	defer rows.Close()
	var rs []StoredReport
	for rows.Next() {
		var (
			r         StoredReport
			at, start int64
			results   string
		)
		if err := rows.Scan(&r.Seq, &at, &r.Revision, &r.Hash, &start, &r.DurationMs, &r.Noop, &r.Counts.Unchanged,
			&r.Counts.Corrected, &r.Counts.Failed, &r.Counts.Skipped, &r.Counts.Drifted, &r.Compliance, &results); err != nil {
			return nil, fmt.Errorf("read reports: %w", err)
		}
		r.At, r.StartedAt = fromMs(at), fromMs(start)
		if err := json.Unmarshal([]byte(results), &r.Resources); err != nil {
			return nil, fmt.Errorf("read reports: decode results: %w", err)
		}
		rs = append(rs, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read reports: %w", err)
	}
	return rs, nil
}

var sqliteIdentityCols = fmt.Sprintf(identityCols, "labels", "coalesce(prev_credential_until, 0)")

// Identities streams every device's identity, in table order.
func (s *SQLite) Identities(ctx context.Context, fn func(*Identity) error) error {
	rows, err := s.r.QueryContext(ctx, `SELECT `+sqliteIdentityCols+` FROM devices`)
	if err != nil {
		return fmt.Errorf("read identities: %w", err)
	}
	defer rows.Close()
	return scanIdentities(rows, fn)
}

// CredentialsChanged streams the identities of devices whose credential changed since.
func (s *SQLite) CredentialsChanged(ctx context.Context, since time.Time, fn func(*Identity) error) error {
	rows, err := s.r.QueryContext(ctx, `SELECT `+sqliteIdentityCols+` FROM devices WHERE credential_at >= ?`, ms64(since))
	if err != nil {
		return fmt.Errorf("read changed credentials: %w", err)
	}
	defer rows.Close()
	return scanIdentities(rows, fn)
}

// DeviceBySerial returns the id of member's latest device with serial.
func (s *SQLite) DeviceBySerial(ctx context.Context, member, serial string) (string, error) {
	var id string
	err := s.r.QueryRowContext(ctx, `SELECT id FROM devices WHERE member = ? AND serial = ? AND serial <> ''
		ORDER BY enrolled_at DESC LIMIT 1`, member, serial).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("device of %s with serial %q: %w", member, serial, ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("find device by serial: %w", err)
	}
	return id, nil
}

type scanner interface{ Scan(dest ...any) error }

func scanSQLiteDevice(sc scanner) (*Device, error) {
	var (
		d                  Device
		facts              string
		enrolled, seen     int64
		servedAt, reportAt sql.NullInt64
		revision, applied  string
		c                  Counts
	)
	if err := sc.Scan(&d.ID, &d.Member, &d.CredentialHash, &facts, &enrolled, &seen, &d.Group, &d.Ring, &d.Profile,
		&d.ServedHash, &d.ServedRevision, &servedAt, &reportAt, &revision, &applied,
		&c.Unchanged, &c.Corrected, &c.Failed, &c.Skipped, &c.Drifted, &d.Compliance); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(facts), &d.Facts); err != nil {
		return nil, fmt.Errorf("decode facts of %s: %w", d.ID, err)
	}
	d.EnrolledAt, d.LastSeen = fromMs(enrolled), fromMs(seen)
	if servedAt.Valid {
		d.ServedAt = fromMs(servedAt.Int64)
	}
	if reportAt.Valid {
		d.LastReport = &LastReport{At: fromMs(reportAt.Int64), Revision: revision, AppliedHash: applied, Counts: c}
	}
	return &d, nil
}

// trim cuts a page fetched with limit+1 rows to limit and sets Next.
func (p *Page) trim(limit int) *Page {
	if len(p.Devices) > limit {
		p.Devices = p.Devices[:limit]
		p.Next = p.Devices[limit-1].ID
	}
	return p
}

func ms64(t time.Time) int64 { return t.UnixMilli() }

func fromMs(ms int64) time.Time { return time.UnixMilli(ms).UTC() }
