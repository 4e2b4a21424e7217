package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// This file keeps the progressive rollout's run-time state: the revision each ring is served,
// and a promotion record of every decision about it.

// Ring statuses.
const (
	// RingActive: the controller may promote the ring's revision onwards.
	RingActive = "active"
	// RingPaused: an operator holds the rollout at this ring until resumed.
	RingPaused = "paused"
	// RingHalted: the gate after this ring failed, or an operator aborted; a new revision
	// starts over.
	RingHalted = "halted"
	// RingFastTracked: an operator fast-tracked the ring's revision; its devices take it at
	// once, maintenance windows and hourly bounds notwithstanding.
	RingFastTracked = "fast-tracked"
)

// RingState is what one ring is served.
type RingState struct {
	Ring string `json:"ring"`
	// Revision is the catalog revision the ring's devices are served.
	Revision string `json:"revision"`
	// Previous is the revision the ring was served before Revision; devices that may not
	// take Revision yet (outside their maintenance window, past the hourly limit) keep it.
	Previous string `json:"previous,omitempty"`
	// Since is when the ring got Revision: its soak time counts from then.
	Since     time.Time `json:"since"`
	Status    string    `json:"status"`
	UpdatedAt time.Time `json:"updatedAt"`
	UpdatedBy string    `json:"updatedBy"`
}

// PromotionRecord is one decision of a rollout: by the controller (Actor "controller") or an
// operator (their subject), with the evidence at decision time.
type PromotionRecord struct {
	Seq      int64     `json:"seq"`
	At       time.Time `json:"at"`
	Revision string    `json:"revision"`
	Ring     string    `json:"ring"`
	// Action is published, promoted, halted, rolled-back, fast-tracked, paused, resumed or
	// aborted.
	Action string `json:"action"`
	Actor  string `json:"actor"`
	Reason string `json:"reason,omitempty"`
	// Evidence is the gate's counts and shares, as JSON.
	Evidence json.RawMessage `json:"evidence,omitempty"`
}

// RingCount counts the devices of one ring whose latest report is for one revision, and how
// many of those had a resource fail. Revision "" counts devices that never reported.
type RingCount struct {
	Ring     string `json:"ring"`
	Revision string `json:"revision"`
	Devices  int64  `json:"devices"`
	Failed   int64  `json:"failed"`
}

// Rollouts is the store of rollout state.
type Rollouts interface {
	// Rings returns every ring's state, by ring name.
	Rings(ctx context.Context) ([]RingState, error)
	// SaveRollout writes the rings' new states and the record of the decision in one
	// transaction; rec.Seq is set.
	SaveRollout(ctx context.Context, rings []RingState, rec *PromotionRecord) error
	// PromotionRecords returns the records of revision ("" for all), newest first, at most
	// limit (default 100, at most 1,000).
	PromotionRecords(ctx context.Context, revision string, limit int) ([]PromotionRecord, error)
	// RingCounts counts devices by ring, latest report's revision and failure.
	RingCounts(ctx context.Context) ([]RingCount, error)
}

var (
	_ Rollouts = (*SQLite)(nil)
	_ Rollouts = (*Postgres)(nil)
)

func recordLimit(limit int) int {
	if limit <= 0 {
		return 100
	}
	return min(limit, 1000)
}

func evidenceText(rec *PromotionRecord) string {
	if len(rec.Evidence) == 0 {
		return "{}"
	}
	return string(rec.Evidence)
}

// Rings implements Rollouts.
func (s *SQLite) Rings(ctx context.Context) ([]RingState, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT ring, revision, previous, since, status, updated_at, updated_by FROM rollout_rings ORDER BY ring`)
	if err != nil {
		return nil, fmt.Errorf("read rollout rings: %w", err)
	}
	defer rows.Close()
	var out []RingState
	for rows.Next() {
		var r RingState
		var since, upd int64
		if err := rows.Scan(&r.Ring, &r.Revision, &r.Previous, &since, &r.Status, &upd, &r.UpdatedBy); err != nil {
			return nil, fmt.Errorf("read rollout rings: %w", err)
		}
		r.Since, r.UpdatedAt = fromMs(since), fromMs(upd)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read rollout rings: %w", err)
	}
	return out, nil
}

// SaveRollout implements Rollouts.
func (s *SQLite) SaveRollout(ctx context.Context, rings []RingState, rec *PromotionRecord) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("save rollout: %w", err)
	}
	defer tx.Rollback()
	if err := sqliteFence(ctx, tx); err != nil {
		return fmt.Errorf("save rollout: %w", err)
	}
	for _, r := range rings {
		if _, err := tx.ExecContext(ctx, `INSERT INTO rollout_rings (ring, revision, previous, since, status, updated_at, updated_by)
			VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (ring) DO UPDATE SET revision = excluded.revision, previous = excluded.previous,
			since = excluded.since, status = excluded.status, updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
			r.Ring, r.Revision, r.Previous, ms64(r.Since), r.Status, ms64(r.UpdatedAt), r.UpdatedBy); err != nil {
			return fmt.Errorf("save rollout: ring %s: %w", r.Ring, err)
		}
	}
	if rec != nil {
		if err := tx.QueryRowContext(ctx, `INSERT INTO rollout_records (at, revision, ring, action, actor, reason, evidence)
			VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING seq`, ms64(rec.At), rec.Revision, rec.Ring, rec.Action, rec.Actor, rec.Reason,
			evidenceText(rec)).Scan(&rec.Seq); err != nil {
			return fmt.Errorf("save rollout: record: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("save rollout: %w", err)
	}
	return nil
}

// PromotionRecords implements Rollouts.
func (s *SQLite) PromotionRecords(ctx context.Context, revision string, limit int) ([]PromotionRecord, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT seq, at, revision, ring, action, actor, reason, evidence FROM rollout_records
		WHERE ? = '' OR revision = ? ORDER BY seq DESC LIMIT ?`, revision, revision, recordLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("read promotion records: %w", err)
	}
	defer rows.Close()
	return collectRecords(rows, func(sc scanner) (PromotionRecord, error) {
		var r PromotionRecord
		var at int64
		var ev string
		err := sc.Scan(&r.Seq, &at, &r.Revision, &r.Ring, &r.Action, &r.Actor, &r.Reason, &ev)
		r.At, r.Evidence = fromMs(at), json.RawMessage(ev)
		return r, err
	})
}

func collectRecords(rows resultRows, scan func(scanner) (PromotionRecord, error)) ([]PromotionRecord, error) {
	var out []PromotionRecord
	for rows.Next() {
		r, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("read promotion records: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read promotion records: %w", err)
	}
	return out, nil
}

// ringCountsQuery groups every device by ring and its latest report; the devices row holds
// that report's revision and failure count, so this is one pass over devices.
const ringCountsQuery = `SELECT ring, report_revision, count(*), coalesce(sum(CASE WHEN failed > 0 THEN 1 ELSE 0 END), 0)
	FROM devices WHERE revoked_at IS NULL GROUP BY ring, report_revision ORDER BY ring, report_revision`

// RingCounts implements Rollouts.
func (s *SQLite) RingCounts(ctx context.Context) ([]RingCount, error) {
	rows, err := s.r.QueryContext(ctx, ringCountsQuery)
	if err != nil {
		return nil, fmt.Errorf("count devices by ring: %w", err)
	}
	defer rows.Close()
	return collectRingCounts(rows)
}

func collectRingCounts(rows resultRows) ([]RingCount, error) {
	var out []RingCount
	for rows.Next() {
		var c RingCount
		if err := rows.Scan(&c.Ring, &c.Revision, &c.Devices, &c.Failed); err != nil {
			return nil, fmt.Errorf("count devices by ring: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count devices by ring: %w", err)
	}
	return out, nil
}

// Rings implements Rollouts.
func (s *Postgres) Rings(ctx context.Context) ([]RingState, error) {
	rows, err := s.pool.Query(ctx, `SELECT ring, revision, previous, since, status, updated_at, updated_by FROM rollout_rings ORDER BY ring`)
	if err != nil {
		return nil, fmt.Errorf("read rollout rings: %w", err)
	}
	defer rows.Close()
	var out []RingState
	for rows.Next() {
		var r RingState
		if err := rows.Scan(&r.Ring, &r.Revision, &r.Previous, &r.Since, &r.Status, &r.UpdatedAt, &r.UpdatedBy); err != nil {
			return nil, fmt.Errorf("read rollout rings: %w", err)
		}
		r.Since, r.UpdatedAt = r.Since.UTC(), r.UpdatedAt.UTC()
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read rollout rings: %w", err)
	}
	return out, nil
}

// SaveRollout implements Rollouts.
func (s *Postgres) SaveRollout(ctx context.Context, rings []RingState, rec *PromotionRecord) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := pgFence(ctx, tx); err != nil {
			return err
		}
		if err := pgNotify(ctx, tx, ChangeRollout); err != nil {
			return err
		}
		for _, r := range rings {
			if _, err := tx.Exec(ctx, `INSERT INTO rollout_rings (ring, revision, previous, since, status, updated_at, updated_by)
				VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (ring) DO UPDATE SET revision = excluded.revision, previous = excluded.previous,
				since = excluded.since, status = excluded.status, updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
				r.Ring, r.Revision, r.Previous, r.Since.UTC(), r.Status, r.UpdatedAt.UTC(), r.UpdatedBy); err != nil {
				return fmt.Errorf("ring %s: %w", r.Ring, err)
			}
		}
		if rec == nil {
			return nil
		}
		return tx.QueryRow(ctx, `INSERT INTO rollout_records (at, revision, ring, action, actor, reason, evidence)
			VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING seq`, rec.At.UTC(), rec.Revision, rec.Ring, rec.Action, rec.Actor, rec.Reason,
			evidenceText(rec)).Scan(&rec.Seq)
	})
	if err != nil {
		return fmt.Errorf("save rollout: %w", err)
	}
	return nil
}

// PromotionRecords implements Rollouts.
func (s *Postgres) PromotionRecords(ctx context.Context, revision string, limit int) ([]PromotionRecord, error) {
	rows, err := s.pool.Query(ctx, `SELECT seq, at, revision, ring, action, actor, reason, evidence::text FROM rollout_records
		WHERE $1 = '' OR revision = $1 ORDER BY seq DESC LIMIT $2`, revision, recordLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("read promotion records: %w", err)
	}
	defer rows.Close()
	return collectRecords(rows, func(sc scanner) (PromotionRecord, error) {
		var r PromotionRecord
		var ev string
		err := sc.Scan(&r.Seq, &r.At, &r.Revision, &r.Ring, &r.Action, &r.Actor, &r.Reason, &ev)
		r.At, r.Evidence = r.At.UTC(), json.RawMessage(ev)
		return r, err
	})
}

// RingCounts implements Rollouts.
func (s *Postgres) RingCounts(ctx context.Context) ([]RingCount, error) {
	rows, err := s.pool.Query(ctx, ringCountsQuery)
	if err != nil {
		return nil, fmt.Errorf("count devices by ring: %w", err)
	}
	defer rows.Close()
	return collectRingCounts(rows)
}
