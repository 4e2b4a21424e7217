package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// This file keeps service requests: each request for a catalog service, every decision on it,
// the grant an approved request becomes, and the work items for entitlements samverk cannot
// deliver itself. The rules (who may ask, who approves, what a grant may become) are the
// grants package's; the store only refuses a decision written over another one.

// Request states, as the store keeps them. A request that is approved becomes a grant, whose
// own state carries on from there.
const (
	RequestPending   = "pending"
	RequestApproved  = "approved"
	RequestRejected  = "rejected"
	RequestCancelled = "cancelled"
)

// Grant states: approved (not started yet), active, and the two ends.
const (
	GrantApproved = "approved"
	GrantActive   = "active"
	GrantExpired  = "expired"
	GrantRevoked  = "revoked"
)

// ErrConflict is returned (wrapped) when a decision or grant change was made against a version
// that another write has since replaced: read again and decide again.
var ErrConflict = errors.New("changed by another decision")

// ServiceRequest is one request for a catalog service.
type ServiceRequest struct {
	ID      int64  `json:"id"`
	Service string `json:"service"`
	// Member is the member the request is made for: the requester acts for it, and its devices
	// and cost centres are the only ones the request may name.
	Member        string `json:"member"`
	Requester     string `json:"requester"`
	RequesterName string `json:"requesterName,omitempty"`
	// Devices are the device ids the service is delivered to; Person names whom it is for when
	// it is delivered to a person rather than devices.
	Devices       []string `json:"devices"`
	Person        string   `json:"person,omitempty"`
	Justification string   `json:"justification"`
	// Days is the duration asked for, 0 for a permanent service.
	Days       int       `json:"days,omitempty"`
	CostCentre string    `json:"costCentre,omitempty"`
	CreatedAt  time.Time `json:"createdAt"`
	State      string    `json:"state"`
	// Version counts the writes to the request; a decision names the version it read.
	Version   int64      `json:"version"`
	Decisions []Decision `json:"decisions"`
	// Grant is the id of the grant the request became, 0 before its approval.
	Grant int64 `json:"grant,omitempty"`
}

// Decision is one decision on a request: an approval (in one of the roles the service
// demands), a rejection or a cancellation, with who made it, when and why.
type Decision struct {
	By     string `json:"by"`
	ByName string `json:"byName,omitempty"`
	// As is the role the decision was made in: manager, service-owner or requester.
	As      string    `json:"as"`
	Verdict string    `json:"verdict"`
	Reason  string    `json:"reason,omitempty"`
	At      time.Time `json:"at"`
}

// Grant is what an approved request became: the service, for those devices or that person,
// from its start until it ends.
type Grant struct {
	ID        int64    `json:"id"`
	Request   int64    `json:"request"`
	Service   string   `json:"service"`
	Member    string   `json:"member"`
	Requester string   `json:"requester"`
	Devices   []string `json:"devices"`
	// Products are the products the service delivered when the grant was approved: what is
	// removed from its devices when it ends, whatever the catalog says by then.
	Products   []string  `json:"products"`
	Person     string    `json:"person,omitempty"`
	CostCentre string    `json:"costCentre,omitempty"`
	ApprovedAt time.Time `json:"approvedAt"`
	// From is when the grant became active (zero while approved); Until is when it ends by
	// itself (zero for a permanent service).
	From  time.Time `json:"from,omitzero"`
	Until time.Time `json:"until,omitzero"`
	State string    `json:"state"`
	// EndedAt and EndReason say when and why it expired or was revoked.
	EndedAt   time.Time `json:"endedAt,omitzero"`
	EndReason string    `json:"endReason,omitempty"`
	Version   int64     `json:"version"`
}

// Work item actions.
const (
	WorkGrant    = "grant"
	WorkWithdraw = "withdraw"
)

// WorkItem is an entitlement samverk cannot deliver itself (a directory group, a licence, a
// role, network access), to grant or withdraw in the member's own systems, which mark it done.
type WorkItem struct {
	ID        int64     `json:"id"`
	Grant     int64     `json:"grant"`
	Member    string    `json:"member"`
	Service   string    `json:"service"`
	Type      string    `json:"type"`
	Name      string    `json:"name"`
	Action    string    `json:"action"`
	CreatedAt time.Time `json:"createdAt"`
	DoneAt    time.Time `json:"doneAt,omitzero"`
	DoneBy    string    `json:"doneBy,omitempty"`
	Note      string    `json:"note,omitempty"`
}

// DecisionWrite is one decision with what it changes, written in one transaction: the request
// moves to State only if it is still at Version; with Grant, the grant and its work items are
// created with it.
type DecisionWrite struct {
	Request  int64
	Version  int64
	State    string
	Decision Decision
	// Grant, when the decision approves the request for good; its ID is set on return.
	Grant     *Grant
	WorkItems []WorkItem
}

// GrantChange moves a grant to State if it is still at Version: to active (From set), or to
// an end (EndedAt and EndReason set). Its work items are written with it.
type GrantChange struct {
	Grant     int64
	Version   int64
	State     string
	From      time.Time
	EndedAt   time.Time
	EndReason string
	WorkItems []WorkItem
}

// RequestFilter selects requests; empty fields match everything. Members nil: all members.
type RequestFilter struct {
	Members   []string
	State     string
	Service   string
	Requester string
	// Limit is the most returned, newest first (default 100, at most MaxLimit).
	Limit int
}

// GrantFilter selects grants; empty fields match everything. Members nil: all members.
type GrantFilter struct {
	Members []string
	States  []string
	Service string
	// Within, when set, keeps the grants active at some time in [Within, Before): started
	// before Before and not ended by Within.
	Within, Before time.Time
}

// WorkFilter selects work items. Members nil: all members.
type WorkFilter struct {
	Members []string
	// Open keeps only the items not done.
	Open  bool
	Limit int
}

// Requests keeps service requests, their decisions, grants and work items.
type Requests interface {
	// CreateRequest stores a new request, setting its ID and Version. With Decisions (an
	// approval by no one, for a service that needs none) and grant, both are written with it,
	// in one transaction.
	CreateRequest(ctx context.Context, r *ServiceRequest, grant *Grant, work []WorkItem) error
	// ServiceRequest returns one request with its decisions, or an error wrapping ErrNotFound.
	ServiceRequest(ctx context.Context, id int64) (*ServiceRequest, error)
	// ListRequests returns requests with their decisions, newest first.
	ListRequests(ctx context.Context, f RequestFilter) ([]ServiceRequest, error)
	// Decide writes a decision; an error wrapping ErrConflict when the request is no longer at
	// the version read, ErrNotFound when there is no such request.
	Decide(ctx context.Context, d *DecisionWrite) error
	// Grant returns one grant, or an error wrapping ErrNotFound.
	Grant(ctx context.Context, id int64) (*Grant, error)
	// ListGrants returns grants in id order.
	ListGrants(ctx context.Context, f GrantFilter) ([]Grant, error)
	// ChangeGrant moves a grant; an error wrapping ErrConflict when it is no longer at the
	// version read.
	ChangeGrant(ctx context.Context, c *GrantChange) error
	// ChangeGrants moves many grants in one transaction. The changes whose grant is no longer
	// at the version read (or gone) are left out: stale has their errors (ErrConflict or
	// ErrNotFound) by grant id.
	ChangeGrants(ctx context.Context, cs []*GrantChange) (stale map[int64]error, err error)
	// WorkItems returns work items in id order.
	WorkItems(ctx context.Context, f WorkFilter) ([]WorkItem, error)
	// WorkItem returns one work item, or an error wrapping ErrNotFound.
	WorkItem(ctx context.Context, id int64) (*WorkItem, error)
	// CompleteWorkItem marks a work item done; an error wrapping ErrNotFound when there is no
	// such item. Marking it done twice keeps the first.
	CompleteWorkItem(ctx context.Context, id int64, by string, at time.Time, note string) error
}

var (
	_ Requests = (*SQLite)(nil)
	_ Requests = (*Postgres)(nil)
)

// CreateRequest implements Requests.
func (s *SQLite) CreateRequest(ctx context.Context, r *ServiceRequest, g *Grant, w []WorkItem) error {
	return s.rq().createRequest(ctx, r, g, w)
}

// ServiceRequest implements Requests.
func (s *SQLite) ServiceRequest(ctx context.Context, id int64) (*ServiceRequest, error) {
	return s.rq().request(ctx, id)
}

// ListRequests implements Requests.
func (s *SQLite) ListRequests(ctx context.Context, f RequestFilter) ([]ServiceRequest, error) {
	return s.rq().listRequests(ctx, f)
}

// Decide implements Requests.
func (s *SQLite) Decide(ctx context.Context, d *DecisionWrite) error { return s.rq().decide(ctx, d) }

// Grant implements Requests.
func (s *SQLite) Grant(ctx context.Context, id int64) (*Grant, error) { return s.rq().grant(ctx, id) }

// ListGrants implements Requests.
func (s *SQLite) ListGrants(ctx context.Context, f GrantFilter) ([]Grant, error) {
	return s.rq().listGrants(ctx, f)
}

// ChangeGrant implements Requests.
func (s *SQLite) ChangeGrant(ctx context.Context, c *GrantChange) error {
	return s.rq().changeGrant(ctx, c)
}

// ChangeGrants implements Requests.
func (s *SQLite) ChangeGrants(ctx context.Context, cs []*GrantChange) (map[int64]error, error) {
	return s.rq().changeGrants(ctx, cs)
}

// WorkItems implements Requests.
func (s *SQLite) WorkItems(ctx context.Context, f WorkFilter) ([]WorkItem, error) {
	return s.rq().workItems(ctx, f)
}

// WorkItem implements Requests.
func (s *SQLite) WorkItem(ctx context.Context, id int64) (*WorkItem, error) {
	return s.rq().workItem(ctx, id)
}

// CompleteWorkItem implements Requests.
func (s *SQLite) CompleteWorkItem(ctx context.Context, id int64, by string, at time.Time, note string) error {
	return s.rq().completeWork(ctx, id, by, at, note)
}

// CreateRequest implements Requests.
func (s *Postgres) CreateRequest(ctx context.Context, r *ServiceRequest, g *Grant, w []WorkItem) error {
	return s.rq().createRequest(ctx, r, g, w)
}

// ServiceRequest implements Requests.
func (s *Postgres) ServiceRequest(ctx context.Context, id int64) (*ServiceRequest, error) {
	return s.rq().request(ctx, id)
}

// ListRequests implements Requests.
func (s *Postgres) ListRequests(ctx context.Context, f RequestFilter) ([]ServiceRequest, error) {
	return s.rq().listRequests(ctx, f)
}

// Decide implements Requests.
func (s *Postgres) Decide(ctx context.Context, d *DecisionWrite) error { return s.rq().decide(ctx, d) }

// Grant implements Requests.
func (s *Postgres) Grant(ctx context.Context, id int64) (*Grant, error) { return s.rq().grant(ctx, id) }

// ListGrants implements Requests.
func (s *Postgres) ListGrants(ctx context.Context, f GrantFilter) ([]Grant, error) {
	return s.rq().listGrants(ctx, f)
}

// ChangeGrant implements Requests.
func (s *Postgres) ChangeGrant(ctx context.Context, c *GrantChange) error {
	return s.rq().changeGrant(ctx, c)
}

// ChangeGrants implements Requests.
func (s *Postgres) ChangeGrants(ctx context.Context, cs []*GrantChange) (map[int64]error, error) {
	return s.rq().changeGrants(ctx, cs)
}

// WorkItems implements Requests.
func (s *Postgres) WorkItems(ctx context.Context, f WorkFilter) ([]WorkItem, error) {
	return s.rq().workItems(ctx, f)
}

// WorkItem implements Requests.
func (s *Postgres) WorkItem(ctx context.Context, id int64) (*WorkItem, error) {
	return s.rq().workItem(ctx, id)
}

// CompleteWorkItem implements Requests.
func (s *Postgres) CompleteWorkItem(ctx context.Context, id int64, by string, at time.Time, note string) error {
	return s.rq().completeWork(ctx, id, by, at, note)
}

// The request records are few and small, so one implementation serves both databases: its
// SQL is written with ? placeholders (numbered for PostgreSQL) and times go in as Unix
// milliseconds (SQLite) or timestamptz (PostgreSQL).

// rqConn is what the request records need of a database or a transaction.
type rqConn interface {
	exec(ctx context.Context, q string, args ...any) (int64, error)
	queryRow(ctx context.Context, q string, args ...any) scanner
	query(ctx context.Context, q string, args ...any) (rqRows, error)
}

type rqRows interface {
	resultRows
	Close()
}

// rqStore is the request records over one database.
type rqStore struct {
	pg   bool
	read rqConn
	tx   func(ctx context.Context, fn func(rqConn) error) error
}

func (s *SQLite) rq() rqStore {
	return rqStore{read: sqlConn{s.r}, tx: func(ctx context.Context, fn func(rqConn) error) error {
		tx, err := s.w.BeginTx(ctx, nil) // _txlock=immediate: writers do not interleave
		if err != nil {
			return err
		}
		defer tx.Rollback()
		if err := fn(sqlConn{tx}); err != nil {
			return err
		}
		return tx.Commit()
	}}
}

func (s *Postgres) rq() rqStore {
	return rqStore{pg: true, read: pgConn{s.pool}, tx: func(ctx context.Context, fn func(rqConn) error) error {
		return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return fn(pgConn{tx}) })
	}}
}

type sqlQuerier interface {
	ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

type sqlConn struct{ db sqlQuerier }

func (c sqlConn) exec(ctx context.Context, q string, args ...any) (int64, error) {
	res, err := c.db.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (c sqlConn) queryRow(ctx context.Context, q string, args ...any) scanner {
	return c.db.QueryRowContext(ctx, q, args...)
}

func (c sqlConn) query(ctx context.Context, q string, args ...any) (rqRows, error) {
	rows, err := c.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{rows}, nil
}

type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { r.Rows.Close() }

type pgQuerier interface {
	Exec(ctx context.Context, q string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, q string, args ...any) pgx.Row
	Query(ctx context.Context, q string, args ...any) (pgx.Rows, error)
}

type pgConn struct{ db pgQuerier }

func (c pgConn) exec(ctx context.Context, q string, args ...any) (int64, error) {
	tag, err := c.db.Exec(ctx, numbered(q), args...)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

func (c pgConn) queryRow(ctx context.Context, q string, args ...any) scanner {
	return c.db.QueryRow(ctx, numbered(q), args...)
}

func (c pgConn) query(ctx context.Context, q string, args ...any) (rqRows, error) {
	rows, err := c.db.Query(ctx, numbered(q), args...)
	if err != nil {
		return nil, err
	}
	return rows, nil
}

// numbered turns the ? placeholders of q into PostgreSQL's $1, $2, …
func numbered(q string) string {
	var b strings.Builder
	n := 0
	for _, c := range q {
		if c == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

// at is a time as the database takes it; the zero time is NULL.
func (s rqStore) at(t time.Time) any {
	switch {
	case t.IsZero():
		return nil
	case s.pg:
		return t.UTC()
	}
	return ms64(t)
}

// dbTime scans a time of either database: Unix milliseconds, a timestamp, or NULL (zero).
type dbTime struct{ t *time.Time }

func (d dbTime) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		*d.t = time.Time{}
	case int64:
		*d.t = fromMs(v)
	case time.Time:
		*d.t = v.UTC()
	default:
		return fmt.Errorf("time column holds %T", v)
	}
	return nil
}

// in is the SQL of "col IN (…)" for vals, with its arguments: a condition nothing meets when
// vals is empty.
func in(col string, vals []string) (string, []any) {
	if len(vals) == 0 {
		return "1 = 0", nil
	}
	args := make([]any, len(vals))
	for i, v := range vals {
		args[i] = v
	}
	return col + " IN (" + strings.TrimSuffix(strings.Repeat("?, ", len(vals)), ", ") + ")", args
}

func encodeDevices(ds []string) string {
	if len(ds) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(ds)
	return string(b)
}

func decodeDevices(s string) ([]string, error) {
	ds := []string{}
	if err := json.Unmarshal([]byte(s), &ds); err != nil {
		return nil, fmt.Errorf("decode devices: %w", err)
	}
	return ds, nil
}

const requestCols = `id, service, member, requester, requester_name, devices, person, justification, days, cost_centre,
	created_at, state, version, coalesce((SELECT g.id FROM grants g WHERE g.request_id = service_requests.id), 0)`

func (s rqStore) createRequest(ctx context.Context, r *ServiceRequest, g *Grant, work []WorkItem) error {
	err := s.tx(ctx, func(c rqConn) error {
		r.Version = 1
		if err := c.queryRow(ctx, `INSERT INTO service_requests (service, member, requester, requester_name, devices, person,
			justification, days, cost_centre, created_at, state, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			r.Service, r.Member, r.Requester, r.RequesterName, encodeDevices(r.Devices), r.Person, r.Justification, r.Days,
			r.CostCentre, s.at(r.CreatedAt), r.State, r.Version).Scan(&r.ID); err != nil {
			return err
		}
		for i, d := range r.Decisions {
			if err := s.insertDecision(ctx, c, r.ID, i+1, &d); err != nil {
				return err
			}
		}
		if g != nil {
			g.Request = r.ID
			if err := s.insertGrant(ctx, c, g, work); err != nil {
				return err
			}
			r.Grant = g.ID
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("create request: %w", err)
	}
	return nil
}

func (s rqStore) insertDecision(ctx context.Context, c rqConn, request int64, seq int, d *Decision) error {
	_, err := c.exec(ctx, `INSERT INTO request_decisions (request_id, seq, by_subject, by_name, acting_as, verdict, reason, at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, request, seq, d.By, d.ByName, d.As, d.Verdict, d.Reason, s.at(d.At))
	return err
}

func (s rqStore) insertGrant(ctx context.Context, c rqConn, g *Grant, work []WorkItem) error {
	g.Version = 1
	if err := c.queryRow(ctx, `INSERT INTO grants (request_id, service, member, requester, devices, products, person, cost_centre,
		approved_at, from_at, until_at, state, ended_at, end_reason, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		g.Request, g.Service, g.Member, g.Requester, encodeDevices(g.Devices), encodeDevices(g.Products), g.Person, g.CostCentre, s.at(g.ApprovedAt),
		s.at(g.From), s.at(g.Until), g.State, s.at(g.EndedAt), g.EndReason, g.Version).Scan(&g.ID); err != nil {
		return err
	}
	return s.insertWork(ctx, c, g.ID, work)
}

func (s rqStore) insertWork(ctx context.Context, c rqConn, grant int64, work []WorkItem) error {
	for i := range work {
		w := &work[i]
		w.Grant = grant
		if err := c.queryRow(ctx, `INSERT INTO work_items (grant_id, member, service, type, name, action, created_at, done_at, done_by, note)
			VALUES (?, ?, ?, ?, ?, ?, ?, NULL, '', '') RETURNING id`, grant, w.Member, w.Service, w.Type, w.Name, w.Action,
			s.at(w.CreatedAt)).Scan(&w.ID); err != nil {
			return err
		}
	}
	return nil
}

// insertWorkRows inserts work items (their ids not read back) a hundred rows a statement.
func (s rqStore) insertWorkRows(ctx context.Context, c rqConn, work []WorkItem) error {
	for len(work) > 0 {
		n := min(len(work), 100)
		args := make([]any, 0, 7*n)
		for _, w := range work[:n] {
			args = append(args, w.Grant, w.Member, w.Service, w.Type, w.Name, w.Action, s.at(w.CreatedAt))
		}
		q := `INSERT INTO work_items (grant_id, member, service, type, name, action, created_at, done_at, done_by, note) VALUES ` +
			strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, ?, ?, NULL, '', ''), ", n), ", ")
		if _, err := c.exec(ctx, q, args...); err != nil {
			return err
		}
		work = work[n:]
	}
	return nil
}

func (s rqStore) scanRequest(sc scanner) (*ServiceRequest, error) {
	var r ServiceRequest
	var devices string
	if err := sc.Scan(&r.ID, &r.Service, &r.Member, &r.Requester, &r.RequesterName, &devices, &r.Person, &r.Justification,
		&r.Days, &r.CostCentre, dbTime{&r.CreatedAt}, &r.State, &r.Version, &r.Grant); err != nil {
		return nil, err
	}
	var err error
	r.Devices, err = decodeDevices(devices)
	r.Decisions = []Decision{}
	return &r, err
}

func (s rqStore) request(ctx context.Context, id int64) (*ServiceRequest, error) {
	r, err := s.scanRequest(s.read.queryRow(ctx, `SELECT `+requestCols+` FROM service_requests WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) || errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("request %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read request %d: %w", id, err)
	}
	rs := []ServiceRequest{*r}
	if err := s.decisions(ctx, rs); err != nil {
		return nil, err
	}
	return &rs[0], nil
}

func (s rqStore) listRequests(ctx context.Context, f RequestFilter) ([]ServiceRequest, error) {
	q, args := `SELECT `+requestCols+` FROM service_requests WHERE 1 = 1`, []any{}
	if f.Members != nil {
		cond, a := in("member", f.Members)
		q, args = q+" AND "+cond, append(args, a...)
	}
	for _, c := range []struct{ col, v string }{{"state", f.State}, {"service", f.Service}, {"requester", f.Requester}} {
		if c.v != "" {
			q, args = q+" AND "+c.col+" = ?", append(args, c.v)
		}
	}
	q, args = q+" ORDER BY id DESC LIMIT ?", append(args, noticeLimit(f.Limit))
	rows, err := s.read.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list requests: %w", err)
	}
	defer rows.Close()
	out := []ServiceRequest{}
	for rows.Next() {
		r, err := s.scanRequest(rows)
		if err != nil {
			return nil, fmt.Errorf("list requests: %w", err)
		}
		out = append(out, *r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list requests: %w", err)
	}
	rows.Close()
	return out, s.decisions(ctx, out)
}

// decisions fills in the decisions of rs.
func (s rqStore) decisions(ctx context.Context, rs []ServiceRequest) error {
	if len(rs) == 0 {
		return nil
	}
	at := make(map[int64]int, len(rs))
	ids := make([]string, len(rs))
	for i, r := range rs {
		at[r.ID], ids[i] = i, strconv.FormatInt(r.ID, 10)
	}
	// The ids are numbers the database gave: safe to inline, and one statement for any count.
	rows, err := s.read.query(ctx, `SELECT request_id, by_subject, by_name, acting_as, verdict, reason, at FROM request_decisions
		WHERE request_id IN (`+strings.Join(ids, ", ")+`) ORDER BY request_id, seq`)
	if err != nil {
		return fmt.Errorf("read decisions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var d Decision
		if err := rows.Scan(&id, &d.By, &d.ByName, &d.As, &d.Verdict, &d.Reason, dbTime{&d.At}); err != nil {
			return fmt.Errorf("read decisions: %w", err)
		}
		i := at[id]
		rs[i].Decisions = append(rs[i].Decisions, d)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read decisions: %w", err)
	}
	return nil
}

func (s rqStore) decide(ctx context.Context, d *DecisionWrite) error {
	err := s.tx(ctx, func(c rqConn) error {
		n, err := c.exec(ctx, `UPDATE service_requests SET state = ?, version = version + 1 WHERE id = ? AND version = ?`,
			d.State, d.Request, d.Version)
		if err != nil {
			return err
		}
		if n == 0 {
			var v int64
			if err := c.queryRow(ctx, `SELECT version FROM service_requests WHERE id = ?`, d.Request).Scan(&v); err != nil {
				if errors.Is(err, sql.ErrNoRows) || errors.Is(err, pgx.ErrNoRows) {
					return fmt.Errorf("request %d: %w", d.Request, ErrNotFound)
				}
				return err
			}
			return fmt.Errorf("request %d: %w", d.Request, ErrConflict)
		}
		var seq int
		if err := c.queryRow(ctx, `SELECT coalesce(max(seq), 0) FROM request_decisions WHERE request_id = ?`, d.Request).Scan(&seq); err != nil {
			return err
		}
		if err := s.insertDecision(ctx, c, d.Request, seq+1, &d.Decision); err != nil {
			return err
		}
		if d.Grant != nil {
			d.Grant.Request = d.Request
			return s.insertGrant(ctx, c, d.Grant, d.WorkItems)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("decide request: %w", err)
	}
	return nil
}

const grantCols = `id, request_id, service, member, requester, devices, products, person, cost_centre, approved_at, from_at, until_at,
	state, ended_at, end_reason, version`

func scanGrant(sc scanner) (*Grant, error) {
	var g Grant
	var devices, products string
	if err := sc.Scan(&g.ID, &g.Request, &g.Service, &g.Member, &g.Requester, &devices, &products, &g.Person, &g.CostCentre,
		dbTime{&g.ApprovedAt}, dbTime{&g.From}, dbTime{&g.Until}, &g.State, dbTime{&g.EndedAt}, &g.EndReason, &g.Version); err != nil {
		return nil, err
	}
	var err error
	if g.Devices, err = decodeDevices(devices); err != nil {
		return nil, err
	}
	g.Products, err = decodeDevices(products)
	return &g, err
}

func (s rqStore) grant(ctx context.Context, id int64) (*Grant, error) {
	g, err := scanGrant(s.read.queryRow(ctx, `SELECT `+grantCols+` FROM grants WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) || errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("grant %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read grant %d: %w", id, err)
	}
	return g, nil
}

func (s rqStore) listGrants(ctx context.Context, f GrantFilter) ([]Grant, error) {
	q, args := `SELECT `+grantCols+` FROM grants WHERE 1 = 1`, []any{}
	if f.Members != nil {
		cond, a := in("member", f.Members)
		q, args = q+" AND "+cond, append(args, a...)
	}
	if f.States != nil {
		cond, a := in("state", f.States)
		q, args = q+" AND "+cond, append(args, a...)
	}
	if f.Service != "" {
		q, args = q+" AND service = ?", append(args, f.Service)
	}
	if !f.Before.IsZero() {
		q, args = q+" AND from_at IS NOT NULL AND from_at < ?", append(args, s.at(f.Before))
	}
	if !f.Within.IsZero() {
		q, args = q+" AND (ended_at IS NULL OR ended_at > ?)", append(args, s.at(f.Within))
	}
	rows, err := s.read.query(ctx, q+" ORDER BY id", args...)
	if err != nil {
		return nil, fmt.Errorf("list grants: %w", err)
	}
	defer rows.Close()
	out := []Grant{}
	for rows.Next() {
		g, err := scanGrant(rows)
		if err != nil {
			return nil, fmt.Errorf("list grants: %w", err)
		}
		out = append(out, *g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list grants: %w", err)
	}
	return out, nil
}

func (s rqStore) changeGrant(ctx context.Context, ch *GrantChange) error {
	stale, err := s.changeGrants(ctx, []*GrantChange{ch})
	if err != nil {
		return err
	}
	if e := stale[ch.Grant]; e != nil {
		return fmt.Errorf("change grant: grant %d: %w", ch.Grant, e)
	}
	return nil
}

// changeGrants writes every change of cs in one transaction; a change whose grant is gone or
// at another version is left out, its error (wrapping ErrNotFound or ErrConflict) returned in
// stale.
func (s rqStore) changeGrants(ctx context.Context, cs []*GrantChange) (stale map[int64]error, err error) {
	err = s.tx(ctx, func(c rqConn) error {
		stale = map[int64]error{}
		var work []WorkItem
		for _, ch := range cs {
			n, err := c.exec(ctx, `UPDATE grants SET state = ?, from_at = coalesce(?, from_at), ended_at = coalesce(?, ended_at),
				end_reason = ?, version = version + 1 WHERE id = ? AND version = ?`,
				ch.State, s.at(ch.From), s.at(ch.EndedAt), ch.EndReason, ch.Grant, ch.Version)
			if err != nil {
				return err
			}
			if n == 0 {
				var v int64
				err := c.queryRow(ctx, `SELECT version FROM grants WHERE id = ?`, ch.Grant).Scan(&v)
				switch {
				case errors.Is(err, sql.ErrNoRows) || errors.Is(err, pgx.ErrNoRows):
					stale[ch.Grant] = ErrNotFound
				case err != nil:
					return err
				default:
					stale[ch.Grant] = ErrConflict
				}
				continue
			}
			for i := range ch.WorkItems {
				ch.WorkItems[i].Grant = ch.Grant
				work = append(work, ch.WorkItems[i])
			}
		}
		return s.insertWorkRows(ctx, c, work)
	})
	if err != nil {
		return nil, fmt.Errorf("change grants: %w", err)
	}
	return stale, nil
}

const workCols = `id, grant_id, member, service, type, name, action, created_at, done_at, done_by, note`

func scanWork(sc scanner) (*WorkItem, error) {
	var w WorkItem
	if err := sc.Scan(&w.ID, &w.Grant, &w.Member, &w.Service, &w.Type, &w.Name, &w.Action, dbTime{&w.CreatedAt},
		dbTime{&w.DoneAt}, &w.DoneBy, &w.Note); err != nil {
		return nil, err
	}
	return &w, nil
}

func (s rqStore) workItem(ctx context.Context, id int64) (*WorkItem, error) {
	w, err := scanWork(s.read.queryRow(ctx, `SELECT `+workCols+` FROM work_items WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) || errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("work item %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read work item %d: %w", id, err)
	}
	return w, nil
}

func (s rqStore) workItems(ctx context.Context, f WorkFilter) ([]WorkItem, error) {
	q, args := `SELECT `+workCols+` FROM work_items WHERE 1 = 1`, []any{}
	if f.Members != nil {
		cond, a := in("member", f.Members)
		q, args = q+" AND "+cond, append(args, a...)
	}
	if f.Open {
		q += " AND done_at IS NULL"
	}
	rows, err := s.read.query(ctx, q+" ORDER BY id LIMIT ?", append(args, noticeLimit(f.Limit))...)
	if err != nil {
		return nil, fmt.Errorf("list work items: %w", err)
	}
	defer rows.Close()
	out := []WorkItem{}
	for rows.Next() {
		w, err := scanWork(rows)
		if err != nil {
			return nil, fmt.Errorf("list work items: %w", err)
		}
		out = append(out, *w)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list work items: %w", err)
	}
	return out, nil
}

func (s rqStore) completeWork(ctx context.Context, id int64, by string, at time.Time, note string) error {
	err := s.tx(ctx, func(c rqConn) error {
		n, err := c.exec(ctx, `UPDATE work_items SET done_at = ?, done_by = ?, note = ? WHERE id = ? AND done_at IS NULL`,
			s.at(at), by, note, id)
		if err != nil || n > 0 {
			return err
		}
		var one int
		if err := c.queryRow(ctx, `SELECT 1 FROM work_items WHERE id = ?`, id).Scan(&one); err != nil {
			if errors.Is(err, sql.ErrNoRows) || errors.Is(err, pgx.ErrNoRows) {
				return fmt.Errorf("work item %d: %w", id, ErrNotFound)
			}
			return err
		}
		return nil // done before: the first stays
	})
	if err != nil {
		return fmt.Errorf("complete work item: %w", err)
	}
	return nil
}
