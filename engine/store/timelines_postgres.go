package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

var _ Timelines = (*Postgres)(nil)

// RecordRevision appends a revision event.
func (s *Postgres) RecordRevision(ctx context.Context, ev RevisionEvent) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := pgFence(ctx, tx); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO revision_events (at, ring, revision, event, reason, message, by_whom)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, ev.At, ev.Ring, ev.Revision, ev.Event, ev.Reason, ev.Message, ev.By)
		return err
	})
	if err != nil {
		return fmt.Errorf("record revision %s: %w", ev.Revision, err)
	}
	return nil
}

const pgRevisionCols = `at, ring, revision, event, reason, message, by_whom`

func scanPGRevision(sc scanner) (*RevisionEvent, error) {
	var ev RevisionEvent
	if err := sc.Scan(&ev.At, &ev.Ring, &ev.Revision, &ev.Event, &ev.Reason, &ev.Message, &ev.By); err != nil {
		return nil, err
	}
	ev.At = ev.At.UTC()
	return &ev, nil
}

// Revisions returns revision events, newest first.
func (s *Postgres) Revisions(ctx context.Context, q RevisionQuery) ([]RevisionEvent, error) {
	var (
		where []string
		args  []any
	)
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, cond+" $"+strconv.Itoa(len(args)))
	}
	if q.Ring != "" {
		add("ring =", q.Ring)
	}
	if !q.Since.IsZero() {
		add("at >=", q.Since)
	}
	if !q.Until.IsZero() {
		add("at <", q.Until)
	}
	query := `SELECT ` + pgRevisionCols + ` FROM revision_events`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	args = append(args, q.limit())
	rows, err := s.pool.Query(ctx, query+` ORDER BY at DESC, id DESC LIMIT $`+strconv.Itoa(len(args)), args...)
	if err != nil {
		return nil, fmt.Errorf("read revisions: %w", err)
	}
	defer rows.Close()
	var evs []RevisionEvent
	for rows.Next() {
		ev, err := scanPGRevision(rows)
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
func (s *Postgres) RevisionAt(ctx context.Context, ring string, at time.Time) (*RevisionEvent, error) {
	ev, err := scanPGRevision(s.pool.QueryRow(ctx, `SELECT `+pgRevisionCols+` FROM revision_events
		WHERE ring IN ($1, '') AND at <= $2 AND event = ANY($3) ORDER BY ring = $1 DESC, at DESC, id DESC LIMIT 1`, ring, at, servingEvents))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("revision of ring %q at %s: %w", ring, at.Format(time.RFC3339), ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read revision at %s: %w", at.Format(time.RFC3339), err)
	}
	return ev, nil
}

const pgWaiverCols = `id, from_at, to_at, namespace, name, policy, targets::text, reason, approver, expires, revision`

func scanPGWaiver(sc scanner) (*openWaiver, error) {
	var (
		o       openWaiver
		to      *time.Time
		targets string
	)
	if err := sc.Scan(&o.id, &o.from, &to, &o.w.Namespace, &o.w.Name, &o.w.Policy, &targets, &o.w.Reason, &o.w.Approver,
		&o.w.Expires, &o.w.Revision); err != nil {
		return nil, err
	}
	o.from = o.from.UTC()
	o.w.From = o.from
	if to != nil {
		o.w.To = to.UTC()
	}
	if err := json.Unmarshal([]byte(targets), &o.w.Targets); err != nil {
		return nil, fmt.Errorf("decode targets of waiver %s: %w", o.w.Name, err)
	}
	return &o, nil
}

// RecordWaivers records the waivers of a revision published at at.
func (s *Postgres) RecordWaivers(ctx context.Context, at time.Time, revision string, ws []WaiverPeriod) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := pgFence(ctx, tx); err != nil {
			return err
		}
		// Replicas publishing together take turns, so that each sees the other's periods.
		if _, err := tx.Exec(ctx, `LOCK TABLE waiver_periods IN SHARE ROW EXCLUSIVE MODE`); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT `+pgWaiverCols+` FROM waiver_periods WHERE to_at IS NULL`)
		if err != nil {
			return err
		}
		var open []openWaiver
		for rows.Next() {
			o, err := scanPGWaiver(rows)
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
			q, args := `UPDATE waiver_periods SET to_at = $2 WHERE id = $1`, []any{o.id, at}
			if !o.from.Before(at) {
				q, args = `DELETE FROM waiver_periods WHERE id = $1`, args[:1]
			}
			if _, err := tx.Exec(ctx, q, args...); err != nil {
				return err
			}
		}
		for i := range opening {
			w := &opening[i]
			if _, err := tx.Exec(ctx, `INSERT INTO waiver_periods (from_at, namespace, name, policy, targets, reason, approver,
				expires, revision) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, at, w.Namespace, w.Name, w.Policy,
				encodeTargets(w.Targets), w.Reason, w.Approver, w.Expires, revision); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record waivers of %s: %w", revision, err)
	}
	return nil
}

// WaiversAt returns the waivers in force at at, by namespace and name.
func (s *Postgres) WaiversAt(ctx context.Context, at time.Time) ([]WaiverPeriod, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+pgWaiverCols+` FROM waiver_periods
		WHERE from_at <= $1 AND (to_at IS NULL OR to_at > $1) ORDER BY namespace, name`, at)
	if err != nil {
		return nil, fmt.Errorf("read waivers: %w", err)
	}
	defer rows.Close()
	var ws []WaiverPeriod
	for rows.Next() {
		o, err := scanPGWaiver(rows)
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

const (
	pgFactsCols   = `from_at, to_at, facts`
	pgServedCols  = `from_at, to_at, hash, revision, group_name, ring, profile`
	pgOutcomeCols = `from_at, to_at, revision, hash, compliance, unchanged, corrected, failed, skipped, drifted, reports, results::text`
	pgReportCols  = `seq, received_at, revision, hash, started_at, duration_ms, noop,
		unchanged, corrected, failed, skipped, drifted, compliance, results::text`
)

func pgInterval(from time.Time, to *time.Time) Interval {
	iv := Interval{From: from.UTC()}
	if to != nil {
		iv.To = to.UTC()
	}
	return iv
}

func scanPGFacts(sc scanner) (*FactsPeriod, error) {
	var (
		p     FactsPeriod
		from  time.Time
		to    *time.Time
		facts []byte
	)
	if err := sc.Scan(&from, &to, &facts); err != nil {
		return nil, err
	}
	p.Interval = pgInterval(from, to)
	if err := json.Unmarshal(facts, &p.Facts); err != nil {
		return nil, fmt.Errorf("decode facts: %w", err)
	}
	return &p, nil
}

func scanPGServed(sc scanner) (*ServedPeriod, error) {
	var (
		p    ServedPeriod
		from time.Time
		to   *time.Time
	)
	if err := sc.Scan(&from, &to, &p.Hash, &p.Revision, &p.Group, &p.Ring, &p.Profile); err != nil {
		return nil, err
	}
	p.Interval = pgInterval(from, to)
	return &p, nil
}

func scanPGOutcome(sc scanner) (*OutcomePeriod, error) {
	var (
		p       OutcomePeriod
		from    time.Time
		to      *time.Time
		results string
	)
	if err := sc.Scan(&from, &to, &p.Revision, &p.AppliedHash, &p.Compliance, &p.Counts.Unchanged, &p.Counts.Corrected,
		&p.Counts.Failed, &p.Counts.Skipped, &p.Counts.Drifted, &p.Reports, &results); err != nil {
		return nil, err
	}
	p.Interval = pgInterval(from, to)
	if err := decodeResults([]byte(results), &p.Resources); err != nil {
		return nil, err
	}
	return &p, nil
}

func scanPGReport(sc scanner) (*StoredReport, error) {
	var (
		r       StoredReport
		results string
	)
	if err := sc.Scan(&r.Seq, &r.At, &r.Revision, &r.Hash, &r.StartedAt, &r.DurationMs, &r.Noop, &r.Counts.Unchanged,
		&r.Counts.Corrected, &r.Counts.Failed, &r.Counts.Skipped, &r.Counts.Drifted, &r.Compliance, &results); err != nil {
		return nil, err
	}
	r.At, r.StartedAt = r.At.UTC(), r.StartedAt.UTC()
	if err := decodeResults([]byte(results), &r.Resources); err != nil {
		return nil, err
	}
	return &r, nil
}

// pgAtQuery reads the period of a table that contains $2 for device $1: the last one begun at
// or before it, if it has not ended.
func pgAtQuery(table, cols string) string {
	return `SELECT ` + cols + ` FROM ` + table + ` WHERE device_id = $1 AND from_at <= $2
		AND (to_at IS NULL OR to_at > $2) ORDER BY from_at DESC LIMIT 1`
}

// DeviceAt returns the periods of a device that contain at, read in one snapshot and one
// round trip.
func (s *Postgres) DeviceAt(ctx context.Context, id string, at time.Time) (*DeviceAt, error) {
	d := &DeviceAt{DeviceID: id, At: at}
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue(`SELECT member, outcome_reports FROM devices WHERE id = $1`, id)
		b.Queue(pgAtQuery("facts_periods", pgFactsCols), id, at)
		b.Queue(pgAtQuery("served_periods", pgServedCols), id, at)
		b.Queue(pgAtQuery("outcome_periods", pgOutcomeCols), id, at)
		b.Queue(`SELECT `+pgReportCols+` FROM reports WHERE device_id = $1 AND received_at <= $2
			ORDER BY received_at DESC, seq DESC LIMIT 1`, id, at)
		br := tx.SendBatch(ctx, b)
		defer br.Close()
		var openReports int64
		if err := br.QueryRow().Scan(&d.Member, &openReports); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return ErrNotFound
			}
			return err
		}
		var err error
		if d.Facts, err = scanPGFacts(br.QueryRow()); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if d.Served, err = scanPGServed(br.QueryRow()); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if d.Outcome, err = scanPGOutcome(br.QueryRow()); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if d.Report, err = scanPGReport(br.QueryRow()); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if d.Facts != nil {
			d.Facts.Member = d.Member
		}
		if d.Outcome != nil && d.Outcome.To.IsZero() {
			d.Outcome.Reports = openReports
		}
		return br.Close()
	})
	if err != nil {
		return nil, fmt.Errorf("device %s at %s: %w", id, at.Format(time.RFC3339), err)
	}
	return d, nil
}

// DeviceTimeline returns the periods of a device that overlap [from, to), oldest first.
func (s *Postgres) DeviceTimeline(ctx context.Context, id string, from, to time.Time) (*DeviceTimeline, error) {
	tl := &DeviceTimeline{DeviceID: id, Facts: []FactsPeriod{}, Served: []ServedPeriod{}, Outcomes: []OutcomePeriod{}}
	var end *time.Time
	if !to.IsZero() {
		end = &to
	}
	span := func(table, cols string) string {
		return `SELECT ` + cols + ` FROM ` + table + ` WHERE device_id = $1 AND ($3::timestamptz IS NULL OR from_at < $3)
			AND (to_at IS NULL OR to_at > $2) ORDER BY from_at LIMIT $4`
	}
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var openReports int64
		err := tx.QueryRow(ctx, `SELECT member, outcome_reports FROM devices WHERE id = $1`, id).Scan(&tl.Member, &openReports)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		each := func(table, cols string, scan func(scanner) error) error {
			rows, err := tx.Query(ctx, span(table, cols), id, from, end, timelineLimit+1)
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
		if err := each("facts_periods", pgFactsCols, func(sc scanner) error {
			p, err := scanPGFacts(sc)
			if err == nil {
				p.Member = tl.Member
				tl.Facts = append(tl.Facts, *p)
			}
			return err
		}); err != nil {
			return err
		}
		if err := each("served_periods", pgServedCols, func(sc scanner) error {
			p, err := scanPGServed(sc)
			if err == nil {
				tl.Served = append(tl.Served, *p)
			}
			return err
		}); err != nil {
			return err
		}
		return each("outcome_periods", pgOutcomeCols, func(sc scanner) error {
			p, err := scanPGOutcome(sc)
			if err == nil {
				if p.To.IsZero() {
					p.Reports = openReports
				}
				tl.Outcomes = append(tl.Outcomes, *p)
			}
			return err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("timeline of device %s: %w", id, err)
	}
	tl.trim()
	return tl, nil
}

// Prune deletes what r no longer keeps: it walks the devices pruneDevices at a time, each
// step one short statement, then the waiver periods and revision events pruneBatch rows at a
// time.
func (s *Postgres) Prune(ctx context.Context, r Retention, now time.Time) (Pruned, error) {
	r = r.withDefaults()
	var (
		p          Pruned
		iCut, rCut *time.Time // nil keeps them
	)
	if r.Intervals > 0 {
		c := now.Add(-r.Intervals)
		iCut = &c
	}
	if r.Reports > 0 {
		c := now.Add(-r.Reports)
		rCut = &c
	}
	// One statement a step: each table's rows of the devices in ($1, $2], through the key
	// (device_id, from_at) so that only the periods begun before the cut-off are read.
	const step = `WITH ids AS (SELECT id FROM devices WHERE id > $1 AND id <= $2),
	f AS (DELETE FROM facts_periods WHERE device_id IN (SELECT id FROM ids) AND from_at < $3 AND to_at < $3 RETURNING 1),
	s AS (DELETE FROM served_periods WHERE device_id IN (SELECT id FROM ids) AND from_at < $3 AND to_at < $3 RETURNING 1),
	o AS (DELETE FROM outcome_periods WHERE device_id IN (SELECT id FROM ids) AND from_at < $3 AND to_at < $3 RETURNING 1),
	r AS (DELETE FROM reports WHERE device_id IN (SELECT id FROM ids) AND received_at < $4 RETURNING 1)
	SELECT (SELECT count(*) FROM f) + (SELECT count(*) FROM s) + (SELECT count(*) FROM o), (SELECT count(*) FROM r)`
	for after := ""; iCut != nil || rCut != nil; {
		var bound *string // the last id of the next pruneDevices, none at the end
		if err := s.pool.QueryRow(ctx, `SELECT max(id) FROM (SELECT id FROM devices WHERE id > $1 ORDER BY id LIMIT $2) AS d`,
			after, pruneDevices).Scan(&bound); err != nil {
			return p, fmt.Errorf("prune: %w", err)
		}
		if bound == nil {
			break
		}
		var ni, nr int64
		if err := s.pool.QueryRow(ctx, step, after, *bound, iCut, rCut).Scan(&ni, &nr); err != nil {
			return p, fmt.Errorf("prune: %w", err)
		}
		p.Intervals, p.Reports = p.Intervals+ni, p.Reports+nr
		after = *bound
	}
	if iCut != nil {
		n, err := s.pruneLoop(ctx, `DELETE FROM waiver_periods WHERE id IN (SELECT id FROM waiver_periods WHERE to_at < $1 LIMIT $2)`, *iCut)
		p.Intervals += n
		if err != nil {
			return p, fmt.Errorf("prune waiver periods: %w", err)
		}
		n, err = s.pruneLoop(ctx, `DELETE FROM revision_events WHERE id IN (SELECT id FROM revision_events WHERE at < $1 LIMIT $2)`, *iCut)
		p.Revisions += n
		if err != nil {
			return p, fmt.Errorf("prune revision events: %w", err)
		}
	}
	if rCut != nil {
		n, err := s.pruneLoop(ctx, `DELETE FROM deliveries WHERE seq IN (SELECT seq FROM deliveries WHERE at < $1 LIMIT $2)`, *rCut)
		p.Deliveries += n
		if err != nil {
			return p, fmt.Errorf("prune deliveries: %w", err)
		}
	}
	return p, nil
}

func (s *Postgres) pruneLoop(ctx context.Context, q string, cut time.Time) (int64, error) {
	var total int64
	for {
		tag, err := s.pool.Exec(ctx, q, cut, pruneBatch)
		if err != nil {
			return total, err
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < pruneBatch {
			return total, nil
		}
	}
}
