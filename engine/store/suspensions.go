package store

import (
	"context"
	"fmt"
	"time"
)

// This file keeps the suspensions of one member's or one device group's devices: while one
// stands, those devices keep the state they have. Kept in the store so that a suspension
// survives a restart and replicas sharing the store agree on it.

// Suspension suspends the devices of Member, or of its device group Group when Group is set.
type Suspension struct {
	Member string `json:"member"`
	// Group is the device group; "" suspends every group of Member.
	Group  string    `json:"group,omitempty"`
	Reason string    `json:"reason"`
	Actor  string    `json:"actor"`
	Since  time.Time `json:"since"`
}

// Scope names what s suspends: "member" or "member/group".
func (s Suspension) Scope() string {
	if s.Group == "" {
		return s.Member
	}
	return s.Member + "/" + s.Group
}

// Suspensions is the store of suspensions.
type Suspensions interface {
	// Suspend records s, replacing a suspension of the same scope (its reason, actor and
	// since).
	Suspend(ctx context.Context, s Suspension) error
	// Unsuspend removes the suspension of member (group ""), or of member's group, and
	// reports whether there was one.
	Unsuspend(ctx context.Context, member, group string) (bool, error)
	// SuspensionList returns every suspension, by member and group.
	SuspensionList(ctx context.Context) ([]Suspension, error)
}

var (
	_ Suspensions = (*SQLite)(nil)
	_ Suspensions = (*Postgres)(nil)
)

func checkSuspension(s Suspension) error {
	if s.Member == "" {
		return fmt.Errorf("suspend: a suspension names a member")
	}
	return nil
}

// Suspend implements Suspensions.
func (s *SQLite) Suspend(ctx context.Context, sp Suspension) error {
	if err := checkSuspension(sp); err != nil {
		return err
	}
	if _, err := s.w.ExecContext(ctx, `INSERT INTO suspensions (member, grp, reason, actor, since) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (member, grp) DO UPDATE SET reason = excluded.reason, actor = excluded.actor, since = excluded.since`,
		sp.Member, sp.Group, sp.Reason, sp.Actor, ms64(sp.Since)); err != nil {
		return fmt.Errorf("suspend %s: %w", sp.Scope(), err)
	}
	return nil
}

// Unsuspend implements Suspensions.
func (s *SQLite) Unsuspend(ctx context.Context, member, group string) (bool, error) {
	res, err := s.w.ExecContext(ctx, `DELETE FROM suspensions WHERE member = ? AND grp = ?`, member, group)
	if err != nil {
		return false, fmt.Errorf("resume %s: %w", Suspension{Member: member, Group: group}.Scope(), err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// SuspensionList implements Suspensions.
func (s *SQLite) SuspensionList(ctx context.Context) ([]Suspension, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT member, grp, reason, actor, since FROM suspensions ORDER BY member, grp`)
	if err != nil {
		return nil, fmt.Errorf("read suspensions: %w", err)
	}
	defer rows.Close()
	var out []Suspension
	for rows.Next() {
		var sp Suspension
		var since int64
		if err := rows.Scan(&sp.Member, &sp.Group, &sp.Reason, &sp.Actor, &since); err != nil {
			return nil, fmt.Errorf("read suspensions: %w", err)
		}
		sp.Since = fromMs(since)
		out = append(out, sp)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read suspensions: %w", err)
	}
	return out, nil
}

// Suspend implements Suspensions.
func (s *Postgres) Suspend(ctx context.Context, sp Suspension) error {
	if err := checkSuspension(sp); err != nil {
		return err
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO suspensions (member, grp, reason, actor, since) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (member, grp) DO UPDATE SET reason = excluded.reason, actor = excluded.actor, since = excluded.since`,
		sp.Member, sp.Group, sp.Reason, sp.Actor, sp.Since.UTC()); err != nil {
		return fmt.Errorf("suspend %s: %w", sp.Scope(), err)
	}
	return nil
}

// Unsuspend implements Suspensions.
func (s *Postgres) Unsuspend(ctx context.Context, member, group string) (bool, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM suspensions WHERE member = $1 AND grp = $2`, member, group)
	if err != nil {
		return false, fmt.Errorf("resume %s: %w", Suspension{Member: member, Group: group}.Scope(), err)
	}
	return tag.RowsAffected() > 0, nil
}

// SuspensionList implements Suspensions.
func (s *Postgres) SuspensionList(ctx context.Context) ([]Suspension, error) {
	rows, err := s.pool.Query(ctx, `SELECT member, grp, reason, actor, since FROM suspensions ORDER BY member, grp`)
	if err != nil {
		return nil, fmt.Errorf("read suspensions: %w", err)
	}
	defer rows.Close()
	var out []Suspension
	for rows.Next() {
		var sp Suspension
		if err := rows.Scan(&sp.Member, &sp.Group, &sp.Reason, &sp.Actor, &sp.Since); err != nil {
			return nil, fmt.Errorf("read suspensions: %w", err)
		}
		sp.Since = sp.Since.UTC()
		out = append(out, sp)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read suspensions: %w", err)
	}
	return out, nil
}
