package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// This file keeps what replicas sharing one database share: the leader's term (fencing), the
// publication decisions the leader makes and the others follow, the operator state (suspend)
// and every replica's heartbeat. See 0011_replicas.sql.

// ErrFenced is returned (wrapped) by a leader write whose term is no longer the leader's: the
// replica lost the leadership and must not write.
var ErrFenced = errors.New("fenced: the leader term has moved on")

// ErrNoTerm is returned (wrapped) by a write only a leader makes, called without a term.
var ErrNoTerm = errors.New("no leader term in context")

// Notifications on ChangesChannel (PostgreSQL LISTEN/NOTIFY), sent when the transaction that
// made the change commits.
const (
	ChangesChannel    = "samverk_changes"
	ChangePublication = "publication"
	ChangeOperator    = "operator"
	ChangeRollout     = "rollout"
	// ChangeWake asks the leader to fetch now: a webhook or an operator reached a follower.
	ChangeWake = "wake"
)

type termKey struct{}

// WithTerm returns ctx carrying the leader term: every store write made with it checks, in
// its own transaction, that the term is still the leader's, and fails with ErrFenced if not.
func WithTerm(ctx context.Context, term int64) context.Context {
	return context.WithValue(ctx, termKey{}, term)
}

// TermOf returns the leader term ctx carries.
func TermOf(ctx context.Context) (int64, bool) {
	t, ok := ctx.Value(termKey{}).(int64)
	return t, ok
}

// Publication is one decision of a leader: revision is published.
type Publication struct {
	Seq      int64     `json:"seq"`
	At       time.Time `json:"at"`
	Revision string    `json:"revision"`
	Term     int64     `json:"term"`
	Holder   string    `json:"holder"`
}

// OperatorState is the operator's word all replicas share.
type OperatorState struct {
	Suspended bool      `json:"suspended"`
	Reason    string    `json:"reason,omitempty"`
	UpdatedAt time.Time `json:"updatedAt"`
	UpdatedBy string    `json:"updatedBy,omitempty"`
}

// Replica is one daemon process sharing the store, as its last heartbeat says.
type Replica struct {
	ID       string    `json:"id"`
	Host     string    `json:"host"`
	Started  time.Time `json:"started"`
	LastSeen time.Time `json:"lastSeen"`
	Version  string    `json:"version"`
	Leading  bool      `json:"leading"`
	Term     int64     `json:"term,omitempty"`
	// Revision is the revision the replica serves.
	Revision string `json:"revision,omitempty"`
}

// Replicas is the store of what replicas share.
type Replicas interface {
	// BeginTerm makes holder the leader: the term is incremented and returned. The caller
	// must hold the leadership (the advisory lock; SQLite: the data directory's lock).
	BeginTerm(ctx context.Context, holder string) (int64, error)
	// LeaderTerm returns the current term and its holder.
	LeaderTerm(ctx context.Context) (int64, string, error)
	// RecordPublication records the leader's decision to publish revision; ctx must carry
	// the leader's term (WithTerm).
	RecordPublication(ctx context.Context, revision, holder string, at time.Time) (*Publication, error)
	// LatestPublication returns the newest publication, or nil when there is none.
	LatestPublication(ctx context.Context) (*Publication, error)
	// SaveOperatorState replaces the shared operator state.
	SaveOperatorState(ctx context.Context, st OperatorState) error
	// OperatorState returns the shared operator state.
	OperatorState(ctx context.Context) (OperatorState, error)
	// Beat records a replica's heartbeat.
	Beat(ctx context.Context, r Replica) error
	// ListReplicas returns every replica's last heartbeat, by id.
	ListReplicas(ctx context.Context) ([]Replica, error)
	// ForgetReplicas deletes the replicas not seen since before.
	ForgetReplicas(ctx context.Context, before time.Time) (int64, error)
	// Announce notifies the other replicas of change (PostgreSQL; SQLite has no others).
	Announce(ctx context.Context, change string) error
}

var (
	_ Replicas = (*SQLite)(nil)
	_ Replicas = (*Postgres)(nil)
)

// pgFence checks, in tx, that ctx's term (if any) is the leader's. FOR SHARE makes a new
// leader's increment wait until tx ends, so a write that passed the check commits before the
// next term begins.
func pgFence(ctx context.Context, tx pgx.Tx) error {
	term, ok := TermOf(ctx)
	if !ok {
		return nil
	}
	var cur int64
	if err := tx.QueryRow(ctx, `SELECT term FROM leader_term WHERE id = 1 FOR SHARE`).Scan(&cur); err != nil {
		return fmt.Errorf("check leader term: %w", err)
	}
	if cur != term {
		return fmt.Errorf("%w: term %d, leader's %d", ErrFenced, term, cur)
	}
	return nil
}

func pgNotify(ctx context.Context, tx pgx.Tx, change string) error {
	_, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, ChangesChannel, change)
	return err
}

// sqliteFence is pgFence for SQLite, whose one writer serialises everything anyway.
func sqliteFence(ctx context.Context, tx *sql.Tx) error {
	term, ok := TermOf(ctx)
	if !ok {
		return nil
	}
	var cur int64
	if err := tx.QueryRowContext(ctx, `SELECT term FROM leader_term WHERE id = 1`).Scan(&cur); err != nil {
		return fmt.Errorf("check leader term: %w", err)
	}
	if cur != term {
		return fmt.Errorf("%w: term %d, leader's %d", ErrFenced, term, cur)
	}
	return nil
}

// BeginTerm implements Replicas.
func (s *Postgres) BeginTerm(ctx context.Context, holder string) (int64, error) {
	var term int64
	err := s.pool.QueryRow(ctx, `UPDATE leader_term SET term = term + 1, holder = $1, acquired_at = now() WHERE id = 1 RETURNING term`,
		holder).Scan(&term)
	if err != nil {
		return 0, fmt.Errorf("begin leader term: %w", err)
	}
	return term, nil
}

// LeaderTerm implements Replicas.
func (s *Postgres) LeaderTerm(ctx context.Context) (int64, string, error) {
	var term int64
	var holder string
	if err := s.pool.QueryRow(ctx, `SELECT term, holder FROM leader_term WHERE id = 1`).Scan(&term, &holder); err != nil {
		return 0, "", fmt.Errorf("read leader term: %w", err)
	}
	return term, holder, nil
}

// RecordPublication implements Replicas.
func (s *Postgres) RecordPublication(ctx context.Context, revision, holder string, at time.Time) (*Publication, error) {
	term, ok := TermOf(ctx)
	if !ok {
		return nil, fmt.Errorf("record publication of %s: %w", revision, ErrNoTerm)
	}
	p := &Publication{At: at.UTC(), Revision: revision, Term: term, Holder: holder}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := pgFence(ctx, tx); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `INSERT INTO publications (at, revision, term, holder) VALUES ($1, $2, $3, $4) RETURNING seq`,
			p.At, revision, term, holder).Scan(&p.Seq); err != nil {
			return err
		}
		return pgNotify(ctx, tx, ChangePublication)
	})
	if err != nil {
		return nil, fmt.Errorf("record publication of %s: %w", revision, err)
	}
	return p, nil
}

// LatestPublication implements Replicas.
func (s *Postgres) LatestPublication(ctx context.Context) (*Publication, error) {
	var p Publication
	err := s.pool.QueryRow(ctx, `SELECT seq, at, revision, term, holder FROM publications ORDER BY seq DESC LIMIT 1`).
		Scan(&p.Seq, &p.At, &p.Revision, &p.Term, &p.Holder)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read latest publication: %w", err)
	}
	p.At = p.At.UTC()
	return &p, nil
}

// SaveOperatorState implements Replicas.
func (s *Postgres) SaveOperatorState(ctx context.Context, st OperatorState) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE operator_state SET suspended = $1, reason = $2, updated_at = $3, updated_by = $4 WHERE id = 1`,
			st.Suspended, st.Reason, st.UpdatedAt.UTC(), st.UpdatedBy); err != nil {
			return err
		}
		return pgNotify(ctx, tx, ChangeOperator)
	})
	if err != nil {
		return fmt.Errorf("save operator state: %w", err)
	}
	return nil
}

// OperatorState implements Replicas.
func (s *Postgres) OperatorState(ctx context.Context) (OperatorState, error) {
	var st OperatorState
	if err := s.pool.QueryRow(ctx, `SELECT suspended, reason, updated_at, updated_by FROM operator_state WHERE id = 1`).
		Scan(&st.Suspended, &st.Reason, &st.UpdatedAt, &st.UpdatedBy); err != nil {
		return st, fmt.Errorf("read operator state: %w", err)
	}
	st.UpdatedAt = st.UpdatedAt.UTC()
	return st, nil
}

// Beat implements Replicas.
func (s *Postgres) Beat(ctx context.Context, r Replica) error {
	if _, err := s.pool.Exec(ctx, `INSERT INTO replicas (id, host, started, last_seen, version, leads, term, revision)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO UPDATE SET host = excluded.host, started = excluded.started,
		last_seen = excluded.last_seen, version = excluded.version, leads = excluded.leads, term = excluded.term,
		revision = excluded.revision`, r.ID, r.Host, r.Started.UTC(), r.LastSeen.UTC(), r.Version, r.Leading, r.Term, r.Revision); err != nil {
		return fmt.Errorf("replica heartbeat: %w", err)
	}
	return nil
}

// ListReplicas implements Replicas.
func (s *Postgres) ListReplicas(ctx context.Context) ([]Replica, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, host, started, last_seen, version, leads, term, revision FROM replicas ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list replicas: %w", err)
	}
	defer rows.Close()
	var out []Replica
	for rows.Next() {
		var r Replica
		if err := rows.Scan(&r.ID, &r.Host, &r.Started, &r.LastSeen, &r.Version, &r.Leading, &r.Term, &r.Revision); err != nil {
			return nil, fmt.Errorf("list replicas: %w", err)
		}
		r.Started, r.LastSeen = r.Started.UTC(), r.LastSeen.UTC()
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list replicas: %w", err)
	}
	return out, nil
}

// ForgetReplicas implements Replicas.
func (s *Postgres) ForgetReplicas(ctx context.Context, before time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM replicas WHERE last_seen < $1`, before.UTC())
	if err != nil {
		return 0, fmt.Errorf("forget replicas: %w", err)
	}
	return tag.RowsAffected(), nil
}

// BeginTerm implements Replicas.
func (s *SQLite) BeginTerm(ctx context.Context, holder string) (int64, error) {
	var term int64
	if err := s.w.QueryRowContext(ctx, `UPDATE leader_term SET term = term + 1, holder = ?, acquired_at = ? WHERE id = 1 RETURNING term`,
		holder, ms64(time.Now())).Scan(&term); err != nil {
		return 0, fmt.Errorf("begin leader term: %w", err)
	}
	return term, nil
}

// LeaderTerm implements Replicas.
func (s *SQLite) LeaderTerm(ctx context.Context) (int64, string, error) {
	var term int64
	var holder string
	if err := s.r.QueryRowContext(ctx, `SELECT term, holder FROM leader_term WHERE id = 1`).Scan(&term, &holder); err != nil {
		return 0, "", fmt.Errorf("read leader term: %w", err)
	}
	return term, holder, nil
}

// RecordPublication implements Replicas.
func (s *SQLite) RecordPublication(ctx context.Context, revision, holder string, at time.Time) (*Publication, error) {
	term, ok := TermOf(ctx)
	if !ok {
		return nil, fmt.Errorf("record publication of %s: %w", revision, ErrNoTerm)
	}
	p := &Publication{At: fromMs(ms64(at)), Revision: revision, Term: term, Holder: holder}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("record publication of %s: %w", revision, err)
	}
	defer tx.Rollback()
	if err := sqliteFence(ctx, tx); err != nil {
		return nil, fmt.Errorf("record publication of %s: %w", revision, err)
	}
	if err := tx.QueryRowContext(ctx, `INSERT INTO publications (at, revision, term, holder) VALUES (?, ?, ?, ?) RETURNING seq`,
		ms64(at), revision, term, holder).Scan(&p.Seq); err != nil {
		return nil, fmt.Errorf("record publication of %s: %w", revision, err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("record publication of %s: %w", revision, err)
	}
	return p, nil
}

// LatestPublication implements Replicas.
func (s *SQLite) LatestPublication(ctx context.Context) (*Publication, error) {
	var p Publication
	var at int64
	err := s.r.QueryRowContext(ctx, `SELECT seq, at, revision, term, holder FROM publications ORDER BY seq DESC LIMIT 1`).
		Scan(&p.Seq, &at, &p.Revision, &p.Term, &p.Holder)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read latest publication: %w", err)
	}
	p.At = fromMs(at)
	return &p, nil
}

// SaveOperatorState implements Replicas.
func (s *SQLite) SaveOperatorState(ctx context.Context, st OperatorState) error {
	if _, err := s.w.ExecContext(ctx, `UPDATE operator_state SET suspended = ?, reason = ?, updated_at = ?, updated_by = ? WHERE id = 1`,
		st.Suspended, st.Reason, ms64(st.UpdatedAt), st.UpdatedBy); err != nil {
		return fmt.Errorf("save operator state: %w", err)
	}
	return nil
}

// OperatorState implements Replicas.
func (s *SQLite) OperatorState(ctx context.Context) (OperatorState, error) {
	var st OperatorState
	var at int64
	if err := s.r.QueryRowContext(ctx, `SELECT suspended, reason, updated_at, updated_by FROM operator_state WHERE id = 1`).
		Scan(&st.Suspended, &st.Reason, &at, &st.UpdatedBy); err != nil {
		return st, fmt.Errorf("read operator state: %w", err)
	}
	st.UpdatedAt = fromMs(at)
	return st, nil
}

// Beat implements Replicas.
func (s *SQLite) Beat(ctx context.Context, r Replica) error {
	if _, err := s.w.ExecContext(ctx, `INSERT INTO replicas (id, host, started, last_seen, version, leads, term, revision)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET host = excluded.host, started = excluded.started,
		last_seen = excluded.last_seen, version = excluded.version, leads = excluded.leads, term = excluded.term,
		revision = excluded.revision`, r.ID, r.Host, ms64(r.Started), ms64(r.LastSeen), r.Version, r.Leading, r.Term, r.Revision); err != nil {
		return fmt.Errorf("replica heartbeat: %w", err)
	}
	return nil
}

// ListReplicas implements Replicas.
func (s *SQLite) ListReplicas(ctx context.Context) ([]Replica, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, host, started, last_seen, version, leads, term, revision FROM replicas ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list replicas: %w", err)
	}
	defer rows.Close()
	var out []Replica
	for rows.Next() {
		var r Replica
		var started, seen int64
		if err := rows.Scan(&r.ID, &r.Host, &started, &seen, &r.Version, &r.Leading, &r.Term, &r.Revision); err != nil {
			return nil, fmt.Errorf("list replicas: %w", err)
		}
		r.Started, r.LastSeen = fromMs(started), fromMs(seen)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list replicas: %w", err)
	}
	return out, nil
}

// ForgetReplicas implements Replicas.
func (s *SQLite) ForgetReplicas(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.w.ExecContext(ctx, `DELETE FROM replicas WHERE last_seen < ?`, ms64(before))
	if err != nil {
		return 0, fmt.Errorf("forget replicas: %w", err)
	}
	return res.RowsAffected()
}

// Announce implements Replicas.
func (s *Postgres) Announce(ctx context.Context, change string) error {
	if _, err := s.pool.Exec(ctx, `SELECT pg_notify($1, $2)`, ChangesChannel, change); err != nil {
		return fmt.Errorf("announce %s: %w", change, err)
	}
	return nil
}

// Announce implements Replicas: one process has no one to tell.
func (s *SQLite) Announce(ctx context.Context, change string) error { return nil }
