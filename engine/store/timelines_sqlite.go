package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

var _ Timelines = (*SQLite)(nil)

// sqlitePeriod is what an update of the device row returned of one kind of period: the start
// of the open period, and the start of the one the update closed (equal to from when it only
// opened one; NULL when nothing changed).
type sqlitePeriod struct{ from, closed sql.NullInt64 }

// apply writes the change p describes: the closed period ends where the new one begins
// (closeSt takes device, from, to and closeArgs), and the new one is inserted (openSt takes
// device, from and content). A period that begins at the same instant as the one before
// replaces it.
func (p sqlitePeriod) apply(ctx context.Context, tx *sql.Tx, closeSt, openSt *sql.Stmt, id string, closeArgs []any, content ...any) error {
	if !p.closed.Valid || !p.from.Valid {
		return nil
	}
	if p.closed.Int64 < p.from.Int64 {
		args := append([]any{id, p.closed.Int64, p.from.Int64}, closeArgs...)
		if _, err := tx.StmtContext(ctx, closeSt).ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("close period: %w", err)
		}
	}
	args := append([]any{id, p.from.Int64}, content...)
	if _, err := tx.StmtContext(ctx, openSt).ExecContext(ctx, args...); err != nil {
		return fmt.Errorf("open period: %w", err)
	}
	return nil
}

// RecordRevision appends a revision event.
func (s *SQLite) RecordRevision(ctx context.Context, ev RevisionEvent) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("record revision %s: %w", ev.Revision, err)
	}
	defer tx.Rollback()
	if err := sqliteFence(ctx, tx); err != nil {
		return fmt.Errorf("record revision %s: %w", ev.Revision, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO revision_events (at, ring, revision, event, reason, message, by_whom)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, ms64(ev.At), ev.Ring, ev.Revision, ev.Event, ev.Reason, ev.Message, ev.By); err != nil {
		return fmt.Errorf("record revision %s: %w", ev.Revision, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("record revision %s: %w", ev.Revision, err)
	}
	return nil
}

const sqliteRevisionCols = `at, ring, revision, event, reason, message, by_whom`

func scanSQLiteRevision(sc scanner) (*RevisionEvent, error) {
	var (
		ev RevisionEvent
		at int64
	)
	if err := sc.Scan(&at, &ev.Ring, &ev.Revision, &ev.Event, &ev.Reason, &ev.Message, &ev.By); err != nil {
		return nil, err
	}
	ev.At = fromMs(at)
	return &ev, nil
}

// Revisions returns revision events, newest first.
func (s *SQLite) Revisions(ctx context.Context, q RevisionQuery) ([]RevisionEvent, error) {
	var (
		where []string
		args  []any
	)
	if q.Ring != "" {
		where, args = append(where, "ring = ?"), append(args, q.Ring)
	}
	if !q.Since.IsZero() {
		where, args = append(where, "at >= ?"), append(args, ms64(q.Since))
	}
	if !q.Until.IsZero() {
		where, args = append(where, "at < ?"), append(args, ms64(q.Until))
	}
	query := `SELECT ` + sqliteRevisionCols + ` FROM revision_events`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	rows, err := s.r.QueryContext(ctx, query+` ORDER BY at DESC, id DESC LIMIT ?`, append(args, q.limit())...)
	if err != nil {
		return nil, fmt.Errorf("read revisions: %w", err)
	}
	defer rows.Close()
	var evs []RevisionEvent
	for rows.Next() {
		ev, err := scanSQLiteRevision(rows)
		if err != nil {
			return nil, fmt.Errorf("read revisions: %w", err)
		}
		evs = append(evs, *ev)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read revisions: %w", err)
	}
	return evs, nil
}

// RevisionAt returns the revision ring was being served at at.
func (s *SQLite) RevisionAt(ctx context.Context, ring string, at time.Time) (*RevisionEvent, error) {
	ev, err := scanSQLiteRevision(s.r.QueryRowContext(ctx, `SELECT `+sqliteRevisionCols+` FROM revision_events
		WHERE ring IN (?1, '') AND at <= ?2 AND event IN (?3, ?4, ?5, ?6) ORDER BY ring = ?1 DESC, at DESC, id DESC LIMIT 1`,
		ring, ms64(at), servingEvents[0], servingEvents[1], servingEvents[2], servingEvents[3]))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("revision of ring %q at %s: %w", ring, at.Format(time.RFC3339), ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read revision at %s: %w", at.Format(time.RFC3339), err)
	}
	return ev, nil
}

const sqliteWaiverCols = `id, from_at, to_at, namespace, name, policy, targets, reason, approver, expires, revision`

func scanSQLiteWaiver(sc scanner) (*openWaiver, error) {
	var (
		o       openWaiver
		from    int64
		to      sql.NullInt64
		targets string
	)
	if err := sc.Scan(&o.id, &from, &to, &o.w.Namespace, &o.w.Name, &o.w.Policy, &targets, &o.w.Reason, &o.w.Approver,
		&o.w.Expires, &o.w.Revision); err != nil {
		return nil, err
	}
	o.from, o.w.From = fromMs(from), fromMs(from)
	if to.Valid {
		o.w.To = fromMs(to.Int64)
	}
	if err := json.Unmarshal([]byte(targets), &o.w.Targets); err != nil {
		return nil, fmt.Errorf("decode targets of waiver %s: %w", o.w.Name, err)
	}
	return &o, nil
}

// RecordWaivers records the waivers of a revision published at at.
func (s *SQLite) RecordWaivers(ctx context.Context, at time.Time, revision string, ws []WaiverPeriod) error {
	if err := s.recordWaivers(ctx, at, revision, ws); err != nil {
		return fmt.Errorf("record waivers of %s: %w", revision, err)
	}
	return nil
}

func (s *SQLite) recordWaivers(ctx context.Context, at time.Time, revision string, ws []WaiverPeriod) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := sqliteFence(ctx, tx); err != nil {
		return err
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+sqliteWaiverCols+` FROM waiver_periods WHERE to_at IS NULL`)
	if err != nil {
		return err
	}
	var open []openWaiver
	for rows.Next() {
		o, err := scanSQLiteWaiver(rows)
		if err != nil {
			rows.Close()
			return err
		}
		open = append(open, *o)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	closing, opening, err := diffWaivers(open, ws)
	if err != nil {
		return err
	}
	for _, o := range closing {
		// A period superseded at the instant it began was never in force.
		q, args := `UPDATE waiver_periods SET to_at = ? WHERE id = ?`, []any{ms64(at), o.id}
		if !o.from.Before(at) {
			q, args = `DELETE FROM waiver_periods WHERE id = ?`, args[1:]
		}
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return err
		}
	}
	for i := range opening {
		w := &opening[i]
		if _, err := tx.ExecContext(ctx, `INSERT INTO waiver_periods (from_at, namespace, name, policy, targets, reason, approver,
			expires, revision) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, ms64(at), w.Namespace, w.Name, w.Policy, encodeTargets(w.Targets),
			w.Reason, w.Approver, w.Expires, revision); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// WaiversAt returns the waivers in force at at, by namespace and name.
func (s *SQLite) WaiversAt(ctx context.Context, at time.Time) ([]WaiverPeriod, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+sqliteWaiverCols+` FROM waiver_periods
		WHERE from_at <= ?1 AND (to_at IS NULL OR to_at > ?1) ORDER BY namespace, name`, ms64(at))
	if err != nil {
		return nil, fmt.Errorf("read waivers: %w", err)
	}
	defer rows.Close()
	var ws []WaiverPeriod
	for rows.Next() {
		o, err := scanSQLiteWaiver(rows)
		if err != nil {
			return nil, fmt.Errorf("read waivers: %w", err)
		}
		if o.w.inForce(at) {
			ws = append(ws, o.w)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read waivers: %w", err)
	}
	return ws, nil
}

// sqlitePeriodQueries read one kind of period of a device: the one containing an instant, or
// those overlapping a span.
const (
	sqliteFactsCols   = `from_at, to_at, facts`
	sqliteServedCols  = `from_at, to_at, hash, revision, group_name, ring, profile`
	sqliteOutcomeCols = `from_at, to_at, revision, hash, compliance, unchanged, corrected, failed, skipped, drifted, reports, results`
	sqliteReportCols  = `seq, received_at, revision, hash, started_at, duration_ms, noop,
		unchanged, corrected, failed, skipped, drifted, compliance, results`
)

func sqliteInterval(from int64, to sql.NullInt64) Interval {
	iv := Interval{From: fromMs(from)}
	if to.Valid {
		iv.To = fromMs(to.Int64)
	}
	return iv
}

func scanSQLiteFacts(sc scanner) (*FactsPeriod, error) {
	var (
		p     FactsPeriod
		from  int64
		to    sql.NullInt64
		facts string
	)
	if err := sc.Scan(&from, &to, &facts); err != nil {
		return nil, err
	}
	p.Interval = sqliteInterval(from, to)
	if err := json.Unmarshal([]byte(facts), &p.Facts); err != nil {
		return nil, fmt.Errorf("decode facts: %w", err)
	}
	return &p, nil
}

func scanSQLiteServed(sc scanner) (*ServedPeriod, error) {
	var (
		p    ServedPeriod
		from int64
		to   sql.NullInt64
	)
	if err := sc.Scan(&from, &to, &p.Hash, &p.Revision, &p.Group, &p.Ring, &p.Profile); err != nil {
		return nil, err
	}
	p.Interval = sqliteInterval(from, to)
	return &p, nil
}

func scanSQLiteOutcome(sc scanner) (*OutcomePeriod, error) {
	var (
		p       OutcomePeriod
		from    int64
		to      sql.NullInt64
		results string
	)
	if err := sc.Scan(&from, &to, &p.Revision, &p.AppliedHash, &p.Compliance, &p.Counts.Unchanged, &p.Counts.Corrected,
		&p.Counts.Failed, &p.Counts.Skipped, &p.Counts.Drifted, &p.Reports, &results); err != nil {
		return nil, err
	}
	p.Interval = sqliteInterval(from, to)
	if err := decodeResults([]byte(results), &p.Resources); err != nil {
		return nil, err
	}
	return &p, nil
}

func scanSQLiteReport(sc scanner) (*StoredReport, error) {
	var (
		r         StoredReport
		at, start int64
		results   string
	)
	if err := sc.Scan(&r.Seq, &at, &r.Revision, &r.Hash, &start, &r.DurationMs, &r.Noop, &r.Counts.Unchanged,
		&r.Counts.Corrected, &r.Counts.Failed, &r.Counts.Skipped, &r.Counts.Drifted, &r.Compliance, &results); err != nil {
		return nil, err
	}
	r.At, r.StartedAt = fromMs(at), fromMs(start)
	if err := decodeResults([]byte(results), &r.Resources); err != nil {
		return nil, err
	}
	return &r, nil
}

// DeviceAt returns the periods of a device that contain at, read in one snapshot.
func (s *SQLite) DeviceAt(ctx context.Context, id string, at time.Time) (*DeviceAt, error) {
	d, err := s.deviceAt(ctx, id, at)
	if err != nil {
		return nil, fmt.Errorf("device %s at %s: %w", id, at.Format(time.RFC3339), err)
	}
	return d, nil
}

func (s *SQLite) deviceAt(ctx context.Context, id string, at time.Time) (*DeviceAt, error) {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	d := &DeviceAt{DeviceID: id, At: at}
	var openReports int64
	err = tx.QueryRowContext(ctx, `SELECT member, outcome_reports FROM devices WHERE id = ?`, id).Scan(&d.Member, &openReports)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	ms := ms64(at)
	// The period containing at is the last one begun at or before it, if it has not ended.
	last := func(table, cols string) *sql.Row {
		return tx.QueryRowContext(ctx, `SELECT `+cols+` FROM `+table+` WHERE device_id = ?1 AND from_at <= ?2
			AND (to_at IS NULL OR to_at > ?2) ORDER BY from_at DESC LIMIT 1`, id, ms)
	}
	if d.Facts, err = scanSQLiteFacts(last("facts_periods", sqliteFactsCols)); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	if d.Served, err = scanSQLiteServed(last("served_periods", sqliteServedCols)); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	if d.Outcome, err = scanSQLiteOutcome(last("outcome_periods", sqliteOutcomeCols)); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	if d.Outcome != nil && d.Outcome.To.IsZero() {
		d.Outcome.Reports = openReports
	}
	if d.Facts != nil {
		d.Facts.Member = d.Member
	}
	d.Report, err = scanSQLiteReport(tx.QueryRowContext(ctx, `SELECT `+sqliteReportCols+` FROM reports
		WHERE device_id = ? AND received_at <= ? ORDER BY received_at DESC, seq DESC LIMIT 1`, id, ms))
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	return d, nil
}

// DeviceTimeline returns the periods of a device that overlap [from, to), oldest first.
func (s *SQLite) DeviceTimeline(ctx context.Context, id string, from, to time.Time) (*DeviceTimeline, error) {
	tl, err := s.deviceTimeline(ctx, id, from, to)
	if err != nil {
		return nil, fmt.Errorf("timeline of device %s: %w", id, err)
	}
	tl.trim()
	return tl, nil
}

func (s *SQLite) deviceTimeline(ctx context.Context, id string, from, to time.Time) (*DeviceTimeline, error) {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	tl := &DeviceTimeline{DeviceID: id, Facts: []FactsPeriod{}, Served: []ServedPeriod{}, Outcomes: []OutcomePeriod{}}
	var openReports int64
	err = tx.QueryRowContext(ctx, `SELECT member, outcome_reports FROM devices WHERE id = ?`, id).Scan(&tl.Member, &openReports)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	end := int64(math.MaxInt64)
	if !to.IsZero() {
		end = ms64(to)
	}
	each := func(table, cols string, scan func(scanner) error) error {
		rows, err := tx.QueryContext(ctx, `SELECT `+cols+` FROM `+table+` WHERE device_id = ?1 AND from_at < ?3
			AND (to_at IS NULL OR to_at > ?2) ORDER BY from_at LIMIT ?4`, id, ms64(from), end, timelineLimit+1)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			if err := scan(rows); err != nil {
				return err
			}
		}
		return rows.Err()
	}
	if err := each("facts_periods", sqliteFactsCols, func(sc scanner) error {
		p, err := scanSQLiteFacts(sc)
		if err == nil {
			p.Member = tl.Member
			tl.Facts = append(tl.Facts, *p)
		}
		return err
	}); err != nil {
		return nil, err
	}
	if err := each("served_periods", sqliteServedCols, func(sc scanner) error {
		p, err := scanSQLiteServed(sc)
		if err == nil {
			tl.Served = append(tl.Served, *p)
		}
		return err
	}); err != nil {
		return nil, err
	}
	if err := each("outcome_periods", sqliteOutcomeCols, func(sc scanner) error {
		p, err := scanSQLiteOutcome(sc)
		if err == nil {
			if p.To.IsZero() {
				p.Reports = openReports
			}
			tl.Outcomes = append(tl.Outcomes, *p)
		}
		return err
	}); err != nil {
		return nil, err
	}
	return tl, nil
}

// Prune deletes what r no longer keeps: it walks the devices pruneDevices at a time, each
// step one short transaction, then the waiver periods and revision events pruneBatch rows at a
// time.
func (s *SQLite) Prune(ctx context.Context, r Retention, now time.Time) (Pruned, error) {
	r = r.withDefaults()
	var (
		p      Pruned
		cuts   [2]any // intervals, reports: nil keeps them
		stmts  []string
		counts []*int64
	)
	if r.Intervals > 0 {
		cuts[0] = ms64(now.Add(-r.Intervals))
		for _, t := range []string{"facts_periods", "served_periods", "outcome_periods"} {
			// Through the key (device_id, from_at): only the periods begun before the cut-off
			// are read.
			stmts = append(stmts, `DELETE FROM `+t+` WHERE device_id IN (SELECT id FROM devices WHERE id > ?1 AND id <= ?2)
				AND from_at < ?3 AND to_at < ?3`)
			counts = append(counts, &p.Intervals)
		}
	}
	if r.Reports > 0 {
		cuts[1] = ms64(now.Add(-r.Reports))
		stmts = append(stmts, `DELETE FROM reports WHERE device_id IN (SELECT id FROM devices WHERE id > ?1 AND id <= ?2)
			AND received_at < ?4`)
		counts = append(counts, &p.Reports)
	}
	for after := ""; len(stmts) > 0; {
		var bound sql.NullString // the last id of the next pruneDevices, none at the end
		if err := s.r.QueryRowContext(ctx, `SELECT max(id) FROM (SELECT id FROM devices WHERE id > ? ORDER BY id LIMIT ?)`,
			after, pruneDevices).Scan(&bound); err != nil {
			return p, fmt.Errorf("prune: %w", err)
		}
		if !bound.Valid {
			break
		}
		if err := s.pruneStep(ctx, stmts, counts, after, bound.String, cuts); err != nil {
			return p, fmt.Errorf("prune: %w", err)
		}
		after = bound.String
	}
	if r.Intervals > 0 {
		n, err := s.pruneLoop(ctx, `DELETE FROM waiver_periods WHERE id IN (SELECT id FROM waiver_periods WHERE to_at < ?1 LIMIT ?2)`, cuts[0])
		p.Intervals += n
		if err != nil {
			return p, fmt.Errorf("prune waiver periods: %w", err)
		}
		n, err = s.pruneLoop(ctx, `DELETE FROM revision_events WHERE id IN (SELECT id FROM revision_events WHERE at < ?1 LIMIT ?2)`, cuts[0])
		p.Revisions += n
		if err != nil {
			return p, fmt.Errorf("prune revision events: %w", err)
		}
	}
	if r.Reports > 0 {
		n, err := s.pruneLoop(ctx, `DELETE FROM deliveries WHERE seq IN (SELECT seq FROM deliveries WHERE at < ?1 LIMIT ?2)`, cuts[1])
		p.Deliveries += n
		if err != nil {
			return p, fmt.Errorf("prune deliveries: %w", err)
		}
	}
	return p, nil
}

// pruneStep runs stmts over the devices in (after, bound] in one transaction.
func (s *SQLite) pruneStep(ctx context.Context, stmts []string, counts []*int64, after, bound string, cuts [2]any) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	ns := make([]int64, len(stmts))
	for i, q := range stmts {
		res, err := tx.ExecContext(ctx, q, after, bound, cuts[0], cuts[1])
		if err != nil {
			return err
		}
		ns[i], _ = res.RowsAffected()
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	for i, n := range ns {
		*counts[i] += n
	}
	return nil
}

// pruneLoop runs a DELETE of at most pruneBatch rows (parameters: cut-off, batch size) until
// it deletes fewer.
func (s *SQLite) pruneLoop(ctx context.Context, q string, cut any) (int64, error) {
	var total int64
	for {
		res, err := s.w.ExecContext(ctx, q, cut, pruneBatch)
		if err != nil {
			return total, err
		}
		n, _ := res.RowsAffected()
		total += n
		if n < pruneBatch {
			return total, nil
		}
	}
}
