package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// AuditEntry is one record of the audit log: a state-changing action by a person or a token.
// Entries are only ever appended; nothing updates or deletes them.
type AuditEntry struct {
	// Seq numbers entries in the order they were appended, from 1, without gaps.
	Seq int64     `json:"seq"`
	At  time.Time `json:"at"`
	// Subject is who acted, SubjectName what a person reads for it (an e-mail address, a
	// token's description); AuthMethod how they authenticated (oidc, local, admin-token,
	// token, read-token); Role the role the action needed; SubjectMember the member (or "*"
	// for the consortium) of the grant that let them act, or of all their grants when none did.
	Subject       string `json:"subject"`
	SubjectName   string `json:"subjectName,omitempty"`
	AuthMethod    string `json:"authMethod,omitempty"`
	Role          string `json:"role,omitempty"`
	SubjectMember string `json:"subjectMember,omitempty"`
	// Action is what was done, as the route ("POST /api/v1/suspend"); Target is what it was
	// done to (the request path, or a named object); Member is the member acted on ("*" for
	// the whole consortium, "" when none).
	Action string `json:"action"`
	Target string `json:"target,omitempty"`
	Member string `json:"member,omitempty"`
	// Detail carries what the action said (a reason, the id of what it created), as JSON.
	Detail string `json:"detail,omitempty"`
	// Status is the HTTP status answered; Outcome is "ok", "denied" or "failed".
	Status  int    `json:"status"`
	Outcome string `json:"outcome"`
	Remote  string `json:"remote,omitempty"`
	// Hash chains the log: SHA-256 over the previous entry's Hash and this entry's fields
	// (AuditHash), so an edit or deletion inside the log is detectable.
	Hash []byte `json:"hash,omitempty"`
}

// AuditQuery selects audit entries. Empty fields match everything.
type AuditQuery struct {
	// Members, when not nil, limits entries to those acting on these members (the members a
	// person may see); an empty, non-nil list matches nothing.
	Members []string
	Member  string
	Subject string
	// Since and Until bound At: [Since, Until).
	Since time.Time
	Until time.Time
	// After is the cursor: only entries with a greater Seq.
	After int64
	// Limit is the page size (default 100, at most MaxLimit).
	Limit int
}

func (q AuditQuery) limit() int {
	switch {
	case q.Limit <= 0:
		return 100
	case q.Limit > MaxLimit:
		return MaxLimit
	}
	return q.Limit
}

// AuditLog is the append-only audit log.
type AuditLog interface {
	// AppendAudit appends e, setting its Seq, Hash and (when zero) At; it returns once e is
	// durable. Appends are serialised, across replicas too, so the chain never forks.
	AppendAudit(ctx context.Context, e *AuditEntry) error
	// AuditEntries returns entries matching q, in Seq order.
	AuditEntries(ctx context.Context, q AuditQuery) ([]AuditEntry, error)
}

var (
	_ AuditLog = (*SQLite)(nil)
	_ AuditLog = (*Postgres)(nil)
)

// AuditHash is the chain hash of e, whose predecessor's hash is prev (nil for the first
// entry): SHA-256 over a version tag, prev and every field of e but Hash, each written with
// its length, so that no two different entries share an input. At counts in Unix
// milliseconds, the precision both stores keep.
func AuditHash(prev []byte, e *AuditEntry) []byte {
	h := sha256.New()
	field := func(h hash.Hash, b []byte) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	str := func(s string) { field(h, []byte(s)) }
	num := func(v int64) { field(h, strconv.AppendInt(nil, v, 10)) }
	str("samverk-audit-v1")
	field(h, prev)
	num(e.Seq)
	num(e.At.UnixMilli())
	for _, s := range []string{e.Subject, e.SubjectName, e.AuthMethod, e.Role, e.SubjectMember, e.Action, e.Target,
		e.Member, e.Detail} {
		str(s)
	}
	num(int64(e.Status))
	str(e.Outcome)
	str(e.Remote)
	return h.Sum(nil)
}

// auditLock is the advisory lock key PostgreSQL appends take, so that replicas sharing the
// database append one at a time and the chain never forks.
const auditLock = 0x73616d617564 // "samaud"

const auditCols = `seq, at, subject, subject_name, auth_method, role, subject_member, action, target, member, detail, status, outcome, remote, hash`

// seal sets e's place in the chain after the entry (seq, prev).
func (e *AuditEntry) seal(seq int64, prev []byte, now time.Time) {
	if e.At.IsZero() {
		e.At = now
	}
	e.At = time.UnixMilli(e.At.UnixMilli()).UTC()
	e.Seq = seq + 1
	e.Hash = AuditHash(prev, e)
}

// AppendAudit implements AuditLog. The single writer connection serialises appends.
func (s *SQLite) AppendAudit(ctx context.Context, e *AuditEntry) error {
	tx, err := s.w.BeginTx(ctx, nil) // _txlock=immediate: the write lock is taken at BEGIN
	if err != nil {
		return fmt.Errorf("append audit entry: %w", err)
	}
	defer tx.Rollback()
	var (
		seq  int64
		prev []byte
	)
	err = tx.QueryRowContext(ctx, `SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1`).Scan(&seq, &prev)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("append audit entry: %w", err)
	}
	next := *e
	next.seal(seq, prev, time.Now())
	_, err = tx.ExecContext(ctx, `INSERT INTO audit_log (`+auditCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		next.Seq, ms64(next.At), next.Subject, next.SubjectName, next.AuthMethod, next.Role, next.SubjectMember, next.Action,
		next.Target, next.Member, next.Detail, next.Status, next.Outcome, next.Remote, next.Hash)
	if err != nil {
		return fmt.Errorf("append audit entry: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("append audit entry: %w", err)
	}
	*e = next
	return nil
}

// AuditEntries implements AuditLog.
func (s *SQLite) AuditEntries(ctx context.Context, q AuditQuery) ([]AuditEntry, error) {
	out := []AuditEntry{}
	if q.Members != nil && len(q.Members) == 0 {
		return out, nil
	}
	where, args := auditWhere(q, func(int) string { return "?" }, func(v time.Time) any { return ms64(v) },
		func(ms []string, ph func(int) string, args []any) (string, []any) {
			marks := make([]string, len(ms))
			for i, m := range ms {
				args = append(args, m)
				marks[i] = ph(len(args))
			}
			return "member IN (" + strings.Join(marks, ", ") + ")", args
		})
	rows, err := s.r.QueryContext(ctx, `SELECT `+auditCols+` FROM audit_log`+where+` ORDER BY seq LIMIT `+strconv.Itoa(q.limit()), args...)
	if err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			e  AuditEntry
			at int64
		)
		if err := rows.Scan(&e.Seq, &at, &e.Subject, &e.SubjectName, &e.AuthMethod, &e.Role, &e.SubjectMember, &e.Action,
			&e.Target, &e.Member, &e.Detail, &e.Status, &e.Outcome, &e.Remote, &e.Hash); err != nil {
			return nil, fmt.Errorf("read audit log: %w", err)
		}
		e.At = fromMs(at)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	return out, nil
}

// AppendAudit implements AuditLog. An advisory lock held to the end of the transaction
// serialises appends of every replica.
func (s *Postgres) AppendAudit(ctx context.Context, e *AuditEntry) error {
	next := *e
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(auditLock)); err != nil {
			return err
		}
		var (
			seq  int64
			prev []byte
		)
		err := tx.QueryRow(ctx, `SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1`).Scan(&seq, &prev)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		next = *e
		next.seal(seq, prev, time.Now())
		_, err = tx.Exec(ctx, `INSERT INTO audit_log (`+auditCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
			next.Seq, next.At, next.Subject, next.SubjectName, next.AuthMethod, next.Role, next.SubjectMember, next.Action,
			next.Target, next.Member, next.Detail, next.Status, next.Outcome, next.Remote, next.Hash)
		return err
	})
	if err != nil {
		return fmt.Errorf("append audit entry: %w", err)
	}
	*e = next
	return nil
}

// AuditEntries implements AuditLog.
func (s *Postgres) AuditEntries(ctx context.Context, q AuditQuery) ([]AuditEntry, error) {
	out := []AuditEntry{}
	if q.Members != nil && len(q.Members) == 0 {
		return out, nil
	}
	where, args := auditWhere(q, func(i int) string { return "$" + strconv.Itoa(i) }, func(v time.Time) any { return v.UTC() },
		func(ms []string, ph func(int) string, args []any) (string, []any) {
			args = append(args, ms)
			return "member = ANY(" + ph(len(args)) + ")", args
		})
	rows, err := s.pool.Query(ctx, `SELECT `+auditCols+` FROM audit_log`+where+` ORDER BY seq LIMIT `+strconv.Itoa(q.limit()), args...)
	if err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var e AuditEntry
		if err := rows.Scan(&e.Seq, &e.At, &e.Subject, &e.SubjectName, &e.AuthMethod, &e.Role, &e.SubjectMember, &e.Action,
			&e.Target, &e.Member, &e.Detail, &e.Status, &e.Outcome, &e.Remote, &e.Hash); err != nil {
			return nil, fmt.Errorf("read audit log: %w", err)
		}
		e.At = e.At.UTC()
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	return out, nil
}

// auditWhere builds the WHERE clause of q in a dialect: ph numbers placeholders, at converts
// a time, in writes the member-list condition.
func auditWhere(q AuditQuery, ph func(int) string, at func(time.Time) any,
	in func([]string, func(int) string, []any) (string, []any)) (string, []any) {
	var (
		conds []string
		args  []any
	)
	add := func(cond string, v any) {
		args = append(args, v)
		conds = append(conds, strings.Replace(cond, "?", ph(len(args)), 1))
	}
	if q.Members != nil {
		var c string
		c, args = in(q.Members, ph, args)
		conds = append(conds, c)
	}
	if q.Member != "" {
		add("member = ?", q.Member)
	}
	if q.Subject != "" {
		add("subject = ?", q.Subject)
	}
	if !q.Since.IsZero() {
		add("at >= ?", at(q.Since))
	}
	if !q.Until.IsZero() {
		add("at < ?", at(q.Until))
	}
	if q.After > 0 {
		add("seq > ?", q.After)
	}
	if len(conds) == 0 {
		return "", args
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}
