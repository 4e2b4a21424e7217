package store

import (
	"context"
	"fmt"
	"time"
)

// This file keeps the deliveries samverk makes to the outside: notifications to webhooks,
// Teams and Slack, and commit statuses to the Git host, one row per attempt.

// Outcomes of a delivery attempt.
const (
	// DeliveryDelivered: the endpoint accepted it (a 2xx answer).
	DeliveryDelivered = "delivered"
	// DeliveryFailed: the attempt failed and will be retried.
	DeliveryFailed = "failed"
	// DeliveryAbandoned: the attempt failed and no other will follow (out of attempts, or an
	// answer that retrying cannot change).
	DeliveryAbandoned = "abandoned"
)

// Delivery is one attempt to deliver an event to a sink.
type Delivery struct {
	Seq int64     `json:"seq"`
	At  time.Time `json:"at"`
	// Sink names where it went: a configured notification sink, or "github"/"gitlab".
	Sink string `json:"sink"`
	// Kind is the event's kind, e.g. "revision.published" or "commit.status".
	Kind string `json:"kind"`
	// Event identifies the event, the same for every attempt and every sink.
	Event  string `json:"event"`
	Member string `json:"member,omitempty"`
	// Attempt counts from 1.
	Attempt int    `json:"attempt"`
	Outcome string `json:"outcome"`
	// Code is the HTTP status answered (0: none, e.g. the connection failed).
	Code     int           `json:"code,omitempty"`
	Error    string        `json:"error,omitempty"`
	Duration time.Duration `json:"duration"`
}

// DeliveryQuery selects deliveries: of Sink and Event when set, newest first, at most Limit
// (0: 100, capped at MaxLimit).
type DeliveryQuery struct {
	Sink  string
	Event string
	Limit int
}

// Deliveries records delivery attempts.
type Deliveries interface {
	// RecordDelivery appends one attempt; it sets d.Seq.
	RecordDelivery(ctx context.Context, d *Delivery) error
	// Deliveries lists attempts, newest first.
	Deliveries(ctx context.Context, q DeliveryQuery) ([]Delivery, error)
}

var (
	_ Deliveries = (*SQLite)(nil)
	_ Deliveries = (*Postgres)(nil)
)

// RecordDelivery implements Deliveries.
func (s *SQLite) RecordDelivery(ctx context.Context, d *Delivery) error {
	err := s.w.QueryRowContext(ctx, `INSERT INTO deliveries (at, sink, kind, event_id, member, attempt, outcome, code, error, duration_ms)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq`,
		ms64(d.At), d.Sink, d.Kind, d.Event, d.Member, d.Attempt, d.Outcome, d.Code, d.Error, d.Duration.Milliseconds()).Scan(&d.Seq)
	if err != nil {
		return fmt.Errorf("record delivery: %w", err)
	}
	return nil
}

// Deliveries implements Deliveries.
func (s *SQLite) Deliveries(ctx context.Context, q DeliveryQuery) ([]Delivery, error) {
	where, args := deliveryWhere(q, sqlitePH)
	args = append(args, noticeLimit(q.Limit))
	rows, err := s.r.QueryContext(ctx, `SELECT seq, at, sink, kind, event_id, member, attempt, outcome, code, error, duration_ms
		FROM deliveries`+whereClause(where)+` ORDER BY seq DESC LIMIT `+sqlitePH(len(args)), args...)
	if err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	defer rows.Close()
	out := []Delivery{}
	for rows.Next() {
		var d Delivery
		var at, dur int64
		if err := rows.Scan(&d.Seq, &at, &d.Sink, &d.Kind, &d.Event, &d.Member, &d.Attempt, &d.Outcome, &d.Code, &d.Error, &dur); err != nil {
			return nil, fmt.Errorf("list deliveries: %w", err)
		}
		d.At, d.Duration = fromMs(at), time.Duration(dur)*time.Millisecond
		out = append(out, d)
	}
	return out, rows.Err()
}

func deliveryWhere(q DeliveryQuery, ph func(int) string) ([]string, []any) {
	var where []string
	var args []any
	if q.Sink != "" {
		inList(&where, &args, "sink", []string{q.Sink}, ph)
	}
	if q.Event != "" {
		inList(&where, &args, "event_id", []string{q.Event}, ph)
	}
	return where, args
}

// RecordDelivery implements Deliveries.
func (s *Postgres) RecordDelivery(ctx context.Context, d *Delivery) error {
	err := s.pool.QueryRow(ctx, `INSERT INTO deliveries (at, sink, kind, event_id, member, attempt, outcome, code, error, duration_ms)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING seq`,
		d.At.UTC(), d.Sink, d.Kind, d.Event, d.Member, d.Attempt, d.Outcome, d.Code, d.Error, d.Duration.Milliseconds()).Scan(&d.Seq)
	if err != nil {
		return fmt.Errorf("record delivery: %w", err)
	}
	return nil
}

// Deliveries implements Deliveries.
func (s *Postgres) Deliveries(ctx context.Context, q DeliveryQuery) ([]Delivery, error) {
	where, args := deliveryWhere(q, pgPH)
	args = append(args, noticeLimit(q.Limit))
	rows, err := s.pool.Query(ctx, `SELECT seq, at, sink, kind, event_id, member, attempt, outcome, code, error, duration_ms
		FROM deliveries`+whereClause(where)+` ORDER BY seq DESC LIMIT `+pgPH(len(args)), args...)
	if err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	defer rows.Close()
	out := []Delivery{}
	for rows.Next() {
		var d Delivery
		var dur int64
		if err := rows.Scan(&d.Seq, &d.At, &d.Sink, &d.Kind, &d.Event, &d.Member, &d.Attempt, &d.Outcome, &d.Code, &d.Error, &dur); err != nil {
			return nil, fmt.Errorf("list deliveries: %w", err)
		}
		d.At, d.Duration = d.At.UTC(), time.Duration(dur)*time.Millisecond
		out = append(out, d)
	}
	return out, rows.Err()
}
