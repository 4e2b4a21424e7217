package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// This file keeps what the service desk records at run time: each service's status (every
// change kept), notices to devices, and the survey answers devices send back.

// ServiceStatus is one status of a service, as its owner set it. A service's current status
// is its latest; the earlier ones are its history.
type ServiceStatus struct {
	// Seq numbers status changes across all services, from 1.
	Seq     int64  `json:"seq"`
	Service string `json:"service"`
	// State is operational, degraded, outage or maintenance.
	State   string `json:"state"`
	Message string `json:"message,omitempty"`
	// From and To are the window the status is for (an announced maintenance, an outage
	// expected to last until To); a zero To leaves it open.
	From time.Time `json:"from"`
	To   time.Time `json:"to,omitzero"`
	// SetAt, SetBy: when and by whom (a principal's subject); Member is the member they
	// acted for ("*" for the consortium).
	SetAt  time.Time `json:"setAt"`
	SetBy  string    `json:"setBy"`
	Member string    `json:"member"`
}

// Notice is a message to devices, as stored. Its target and survey are the notice
// package's, kept as JSON.
type Notice struct {
	// Seq numbers notices from 1; an agent asks for the notices after the last it has.
	Seq       int64     `json:"seq"`
	CreatedAt time.Time `json:"createdAt"`
	CreatedBy string    `json:"createdBy"`
	// Sender is the member the notice is sent for ("*" for the consortium).
	Sender   string          `json:"sender"`
	Severity string          `json:"severity"`
	Title    string          `json:"title"`
	Body     string          `json:"body"`
	From     time.Time       `json:"from"`
	To       time.Time       `json:"to"`
	Target   json.RawMessage `json:"target"`
	// Members are the members whose devices the notice reaches: who may read it and its
	// answers.
	Members     []string        `json:"members"`
	Survey      json.RawMessage `json:"survey,omitempty"`
	WithdrawnAt *time.Time      `json:"withdrawnAt,omitempty"`
	WithdrawnBy string          `json:"withdrawnBy,omitempty"`
}

// NoticeAnswer is a device's answer to a notice's survey: the index of the answer chosen.
type NoticeAnswer struct {
	Notice int64
	Device string
	Member string
	Answer int
	At     time.Time
}

// AnswerCount is how many devices of a member chose an answer (on Day, UTC, YYYY-MM-DD, when
// counted by day).
type AnswerCount struct {
	Member  string `json:"member"`
	Answer  int    `json:"answer"`
	Day     string `json:"day,omitempty"`
	Devices int    `json:"devices"`
}

// Notices keeps service statuses, notices and survey answers.
type Notices interface {
	// SetServiceStatus appends a status, setting its Seq.
	SetServiceStatus(ctx context.Context, s *ServiceStatus) error
	// ServiceStatuses returns each service's latest status, by service name.
	ServiceStatuses(ctx context.Context) ([]ServiceStatus, error)
	// ServiceStatusHistory returns up to limit of a service's statuses, newest first.
	ServiceStatusHistory(ctx context.Context, service string, limit int) ([]ServiceStatus, error)
	// CreateNotice stores a notice, setting its Seq.
	CreateNotice(ctx context.Context, n *Notice) error
	// WithdrawNotice marks a notice withdrawn; an error wrapping ErrNotFound when there is no
	// such notice. Withdrawing twice keeps the first.
	WithdrawNotice(ctx context.Context, seq int64, at time.Time, by string) error
	// Notice returns one notice, or an error wrapping ErrNotFound.
	Notice(ctx context.Context, seq int64) (*Notice, error)
	// ListNotices returns the notices whose window ends at or after since, newest first, at
	// most limit (default 100, at most MaxLimit).
	ListNotices(ctx context.Context, since time.Time, limit int) ([]Notice, error)
	// AnswerNotice records a device's answer; a device answering again replaces its answer.
	AnswerNotice(ctx context.Context, a *NoticeAnswer) error
	// AnswerCounts counts a notice's answers by member, answer and the day (UTC) of the
	// answer, in that order.
	AnswerCounts(ctx context.Context, notice int64) ([]AnswerCount, error)
}

var (
	_ Notices = (*SQLite)(nil)
	_ Notices = (*Postgres)(nil)
)

func noticeLimit(limit int) int {
	switch {
	case limit <= 0:
		return 100
	case limit > MaxLimit:
		return MaxLimit
	}
	return limit
}

// SetServiceStatus implements Notices.
func (s *SQLite) SetServiceStatus(ctx context.Context, st *ServiceStatus) error {
	var to any
	if !st.To.IsZero() {
		to = ms64(st.To)
	}
	err := s.w.QueryRowContext(ctx, `INSERT INTO service_status (service, state, message, valid_from, valid_to, set_at, set_by, member)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq`, st.Service, st.State, st.Message, ms64(st.From), to, ms64(st.SetAt), st.SetBy, st.Member).Scan(&st.Seq)
	if err != nil {
		return fmt.Errorf("set service status: %w", err)
	}
	return nil
}

const statusCols = `seq, service, state, message, valid_from, valid_to, set_at, set_by, member`

// ServiceStatuses implements Notices.
func (s *SQLite) ServiceStatuses(ctx context.Context) ([]ServiceStatus, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+statusCols+` FROM service_status
		WHERE seq IN (SELECT max(seq) FROM service_status GROUP BY service) ORDER BY service`)
	if err != nil {
		return nil, fmt.Errorf("read service statuses: %w", err)
	}
	defer rows.Close()
	return collectStatuses(rows, scanSQLiteStatus)
}

// ServiceStatusHistory implements Notices.
func (s *SQLite) ServiceStatusHistory(ctx context.Context, service string, limit int) ([]ServiceStatus, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+statusCols+` FROM service_status WHERE service = ? ORDER BY seq DESC LIMIT ?`,
		service, noticeLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("read service status history: %w", err)
	}
	defer rows.Close()
	return collectStatuses(rows, scanSQLiteStatus)
}

func scanSQLiteStatus(sc scanner) (ServiceStatus, error) {
	var (
		st       ServiceStatus
		from, at int64
		to       sql.NullInt64
	)
	if err := sc.Scan(&st.Seq, &st.Service, &st.State, &st.Message, &from, &to, &at, &st.SetBy, &st.Member); err != nil {
		return st, err
	}
	st.From, st.SetAt = fromMs(from), fromMs(at)
	if to.Valid {
		st.To = fromMs(to.Int64)
	}
	return st, nil
}

func collectStatuses(rows resultRows, scan func(scanner) (ServiceStatus, error)) ([]ServiceStatus, error) {
	out := []ServiceStatus{}
	for rows.Next() {
		st, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("read service status: %w", err)
		}
		out = append(out, st)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read service status: %w", err)
	}
	return out, nil
}

const noticeCols = `seq, created_at, created_by, sender, severity, title, body, valid_from, valid_to, target, members, survey,
	withdrawn_at, withdrawn_by`

// CreateNotice implements Notices.
func (s *SQLite) CreateNotice(ctx context.Context, n *Notice) error {
	members, err := json.Marshal(orEmpty(n.Members))
	if err != nil {
		return fmt.Errorf("create notice: %w", err)
	}
	var survey any
	if len(n.Survey) > 0 {
		survey = string(n.Survey)
	}
	err = s.w.QueryRowContext(ctx, `INSERT INTO notices (created_at, created_by, sender, severity, title, body, valid_from, valid_to,
		target, members, survey) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq`,
		ms64(n.CreatedAt), n.CreatedBy, n.Sender, n.Severity, n.Title, n.Body, ms64(n.From), ms64(n.To), string(n.Target),
		string(members), survey).Scan(&n.Seq)
	if err != nil {
		return fmt.Errorf("create notice: %w", err)
	}
	return nil
}

// WithdrawNotice implements Notices.
func (s *SQLite) WithdrawNotice(ctx context.Context, seq int64, at time.Time, by string) error {
	res, err := s.w.ExecContext(ctx, `UPDATE notices SET withdrawn_at = coalesce(withdrawn_at, ?),
		withdrawn_by = coalesce(withdrawn_by, ?) WHERE seq = ?`, ms64(at), by, seq)
	if err != nil {
		return fmt.Errorf("withdraw notice: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("notice %d: %w", seq, ErrNotFound)
	}
	return nil
}

// Notice implements Notices.
func (s *SQLite) Notice(ctx context.Context, seq int64) (*Notice, error) {
	n, err := scanSQLiteNotice(s.r.QueryRowContext(ctx, `SELECT `+noticeCols+` FROM notices WHERE seq = ?`, seq))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("notice %d: %w", seq, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read notice: %w", err)
	}
	return n, nil
}

// ListNotices implements Notices.
func (s *SQLite) ListNotices(ctx context.Context, since time.Time, limit int) ([]Notice, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+noticeCols+` FROM notices WHERE valid_to >= ? ORDER BY seq DESC LIMIT ?`,
		ms64(since), noticeLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("list notices: %w", err)
	}
	defer rows.Close()
	out := []Notice{}
	for rows.Next() {
		n, err := scanSQLiteNotice(rows)
		if err != nil {
			return nil, fmt.Errorf("list notices: %w", err)
		}
		out = append(out, *n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list notices: %w", err)
	}
	return out, nil
}

func scanSQLiteNotice(sc scanner) (*Notice, error) {
	var (
		n                   Notice
		created, from, to   int64
		target, members     string
		survey, withdrawnBy sql.NullString
		withdrawn           sql.NullInt64
	)
	if err := sc.Scan(&n.Seq, &created, &n.CreatedBy, &n.Sender, &n.Severity, &n.Title, &n.Body, &from, &to, &target, &members,
		&survey, &withdrawn, &withdrawnBy); err != nil {
		return nil, err
	}
	n.CreatedAt, n.From, n.To = fromMs(created), fromMs(from), fromMs(to)
	n.Target = json.RawMessage(target)
	if err := json.Unmarshal([]byte(members), &n.Members); err != nil {
		return nil, fmt.Errorf("notice %d: decode members: %w", n.Seq, err)
	}
	if survey.Valid {
		n.Survey = json.RawMessage(survey.String)
	}
	if withdrawn.Valid {
		t := fromMs(withdrawn.Int64)
		n.WithdrawnAt, n.WithdrawnBy = &t, withdrawnBy.String
	}
	return &n, nil
}

// AnswerNotice implements Notices.
func (s *SQLite) AnswerNotice(ctx context.Context, a *NoticeAnswer) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO notice_answers (notice_seq, device_id, member, answer, at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (notice_seq, device_id) DO UPDATE SET answer = excluded.answer, at = excluded.at`,
		a.Notice, a.Device, a.Member, a.Answer, ms64(a.At))
	if err != nil {
		return fmt.Errorf("answer notice: %w", err)
	}
	return nil
}

// AnswerCounts implements Notices.
func (s *SQLite) AnswerCounts(ctx context.Context, notice int64) ([]AnswerCount, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT member, answer, strftime('%Y-%m-%d', at / 1000, 'unixepoch') AS day, count(*)
		FROM notice_answers WHERE notice_seq = ? GROUP BY member, answer, day ORDER BY member, answer, day`, notice)
	if err != nil {
		return nil, fmt.Errorf("count answers: %w", err)
	}
	defer rows.Close()
	return collectAnswers(rows)
}

func collectAnswers(rows resultRows) ([]AnswerCount, error) {
	out := []AnswerCount{}
	for rows.Next() {
		var c AnswerCount
		if err := rows.Scan(&c.Member, &c.Answer, &c.Day, &c.Devices); err != nil {
			return nil, fmt.Errorf("count answers: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count answers: %w", err)
	}
	return out, nil
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// SetServiceStatus implements Notices.
func (s *Postgres) SetServiceStatus(ctx context.Context, st *ServiceStatus) error {
	var to *time.Time
	if !st.To.IsZero() {
		t := st.To.UTC()
		to = &t
	}
	err := s.pool.QueryRow(ctx, `INSERT INTO service_status (service, state, message, valid_from, valid_to, set_at, set_by, member)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING seq`, st.Service, st.State, st.Message, st.From.UTC(), to, st.SetAt.UTC(),
		st.SetBy, st.Member).Scan(&st.Seq)
	if err != nil {
		return fmt.Errorf("set service status: %w", err)
	}
	return nil
}

// ServiceStatuses implements Notices.
func (s *Postgres) ServiceStatuses(ctx context.Context) ([]ServiceStatus, error) {
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT ON (service) `+statusCols+` FROM service_status ORDER BY service, seq DESC`)
	if err != nil {
		return nil, fmt.Errorf("read service statuses: %w", err)
	}
	defer rows.Close()
	return collectStatuses(rows, scanPGStatus)
}

// ServiceStatusHistory implements Notices.
func (s *Postgres) ServiceStatusHistory(ctx context.Context, service string, limit int) ([]ServiceStatus, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+statusCols+` FROM service_status WHERE service = $1 ORDER BY seq DESC LIMIT $2`,
		service, noticeLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("read service status history: %w", err)
	}
	defer rows.Close()
	return collectStatuses(rows, scanPGStatus)
}

func scanPGStatus(sc scanner) (ServiceStatus, error) {
	var (
		st ServiceStatus
		to *time.Time
	)
	if err := sc.Scan(&st.Seq, &st.Service, &st.State, &st.Message, &st.From, &to, &st.SetAt, &st.SetBy, &st.Member); err != nil {
		return st, err
	}
	st.From, st.SetAt = st.From.UTC(), st.SetAt.UTC()
	if to != nil {
		st.To = to.UTC()
	}
	return st, nil
}

// CreateNotice implements Notices.
func (s *Postgres) CreateNotice(ctx context.Context, n *Notice) error {
	members, err := json.Marshal(orEmpty(n.Members))
	if err != nil {
		return fmt.Errorf("create notice: %w", err)
	}
	var survey any
	if len(n.Survey) > 0 {
		survey = string(n.Survey)
	}
	err = s.pool.QueryRow(ctx, `INSERT INTO notices (created_at, created_by, sender, severity, title, body, valid_from, valid_to,
		target, members, survey) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10::jsonb, $11::jsonb) RETURNING seq`,
		n.CreatedAt.UTC(), n.CreatedBy, n.Sender, n.Severity, n.Title, n.Body, n.From.UTC(), n.To.UTC(), string(n.Target),
		string(members), survey).Scan(&n.Seq)
	if err != nil {
		return fmt.Errorf("create notice: %w", err)
	}
	return nil
}

// WithdrawNotice implements Notices.
func (s *Postgres) WithdrawNotice(ctx context.Context, seq int64, at time.Time, by string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE notices SET withdrawn_at = coalesce(withdrawn_at, $1),
		withdrawn_by = coalesce(withdrawn_by, $2) WHERE seq = $3`, at.UTC(), by, seq)
	if err != nil {
		return fmt.Errorf("withdraw notice: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("notice %d: %w", seq, ErrNotFound)
	}
	return nil
}

const pgNoticeCols = `seq, created_at, created_by, sender, severity, title, body, valid_from, valid_to, target::text, members::text,
	survey::text, withdrawn_at, withdrawn_by`

// Notice implements Notices.
func (s *Postgres) Notice(ctx context.Context, seq int64) (*Notice, error) {
	n, err := scanPGNotice(s.pool.QueryRow(ctx, `SELECT `+pgNoticeCols+` FROM notices WHERE seq = $1`, seq))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("notice %d: %w", seq, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read notice: %w", err)
	}
	return n, nil
}

// ListNotices implements Notices.
func (s *Postgres) ListNotices(ctx context.Context, since time.Time, limit int) ([]Notice, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+pgNoticeCols+` FROM notices WHERE valid_to >= $1 ORDER BY seq DESC LIMIT $2`,
		since.UTC(), noticeLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("list notices: %w", err)
	}
	defer rows.Close()
	out := []Notice{}
	for rows.Next() {
		n, err := scanPGNotice(rows)
		if err != nil {
			return nil, fmt.Errorf("list notices: %w", err)
		}
		out = append(out, *n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list notices: %w", err)
	}
	return out, nil
}

func scanPGNotice(sc scanner) (*Notice, error) {
	var (
		n                   Notice
		target, members     string
		survey, withdrawnBy *string
	)
	if err := sc.Scan(&n.Seq, &n.CreatedAt, &n.CreatedBy, &n.Sender, &n.Severity, &n.Title, &n.Body, &n.From, &n.To, &target, &members,
		&survey, &n.WithdrawnAt, &withdrawnBy); err != nil {
		return nil, err
	}
	n.CreatedAt, n.From, n.To = n.CreatedAt.UTC(), n.From.UTC(), n.To.UTC()
	n.Target = json.RawMessage(target)
	if err := json.Unmarshal([]byte(members), &n.Members); err != nil {
		return nil, fmt.Errorf("notice %d: decode members: %w", n.Seq, err)
	}
	if survey != nil {
		n.Survey = json.RawMessage(*survey)
	}
	if n.WithdrawnAt != nil {
		t := n.WithdrawnAt.UTC()
		n.WithdrawnAt = &t
		if withdrawnBy != nil {
			n.WithdrawnBy = *withdrawnBy
		}
	}
	return &n, nil
}

// AnswerNotice implements Notices.
func (s *Postgres) AnswerNotice(ctx context.Context, a *NoticeAnswer) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO notice_answers (notice_seq, device_id, member, answer, at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (notice_seq, device_id) DO UPDATE SET answer = excluded.answer, at = excluded.at`,
		a.Notice, a.Device, a.Member, a.Answer, a.At.UTC())
	if err != nil {
		return fmt.Errorf("answer notice: %w", err)
	}
	return nil
}

// AnswerCounts implements Notices.
func (s *Postgres) AnswerCounts(ctx context.Context, notice int64) ([]AnswerCount, error) {
	rows, err := s.pool.Query(ctx, `SELECT member, answer, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, count(*)::int
		FROM notice_answers WHERE notice_seq = $1 GROUP BY member, answer, day ORDER BY member, answer, day`, notice)
	if err != nil {
		return nil, fmt.Errorf("count answers: %w", err)
	}
	defer rows.Close()
	return collectAnswers(rows)
}
