// Package audit is samverk's audit log as people and tools meet it: the recorder the route
// guard hands every state-changing request to, the API and console page that list the log,
// and the check that its hash chain is unbroken.
package audit

import (
	"context"
	"encoding/json"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"samverk.io/samverk/engine/auth"
	"samverk.io/samverk/engine/store"
)

// Outcomes of an entry.
const (
	// OK: the action was done (2xx, 3xx).
	OK = "ok"
	// Denied: the principal was refused (401, 403) or named something it may not see or that
	// does not exist (404), by the guard or the handler.
	Denied = "denied"
	// Failed: anything else: a bad request, a conflict, a failure of the daemon.
	Failed = "failed"
)

// Outcome is the outcome an HTTP status stands for.
func Outcome(status int) string {
	switch {
	case status >= 200 && status < 400:
		return OK
	case status == http.StatusUnauthorized, status == http.StatusForbidden, status == http.StatusNotFound:
		return Denied
	}
	return Failed
}

// Page wraps content, rendered by this package's own templates, in the console's layout;
// nav names the navigation link to mark.
type Page func(w http.ResponseWriter, r *http.Request, code int, nav, title string, content template.HTML)

// Options configure a Log. Store is required.
type Options struct {
	// Store keeps the entries.
	Store store.AuditLog
	// Registerer receives the metrics (default: a registry of its own, exposed nowhere).
	Registerer prometheus.Registerer
	// Page, when set, serves the console page /audit inside the console's layout.
	Page Page
	// WriteTimeout bounds one append (default 10s). An append does not stop when the
	// request that caused it is cancelled: the action is done, so its entry is written.
	WriteTimeout time.Duration
	// Logger receives failures to write or read the log (default: discard).
	Logger *slog.Logger
}

// Log records entries and serves the log's routes.
type Log struct {
	opt      Options
	log      *slog.Logger
	failures prometheus.Counter
	page     *template.Template
}

// New returns the audit log over opt.Store.
func New(opt Options) (*Log, error) {
	if opt.Store == nil {
		return nil, errors.New("audit: a store is required")
	}
	if opt.Registerer == nil {
		opt.Registerer = prometheus.NewRegistry()
	}
	if opt.WriteTimeout <= 0 {
		opt.WriteTimeout = 10 * time.Second
	}
	l := &Log{opt: opt, log: opt.Logger}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	l.failures = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "samverk", Subsystem: "audit", Name: "write_failures_total",
		Help: "Audit entries that could not be written to the store; each is also logged as an error.",
	})
	if err := opt.Registerer.Register(l.failures); err != nil {
		return nil, err
	}
	var err error
	if l.page, err = template.New("audit.html").Funcs(pageFuncs).ParseFS(files, "templates/audit.html"); err != nil {
		return nil, err
	}
	return l, nil
}

// Entry turns the guard's entry into the store's.
func Entry(e auth.Entry) store.AuditEntry {
	out := store.AuditEntry{At: e.At, Subject: e.Subject, SubjectName: e.Name, AuthMethod: e.Method, Role: string(e.Role),
		SubjectMember: e.Scope, Action: e.Route, Target: e.Path, Member: e.Member, Status: e.Status,
		Outcome: Outcome(e.Status), Remote: e.Remote}
	if len(e.Detail) > 0 {
		b, err := json.Marshal(e.Detail) // a map of strings always marshals, keys sorted
		if err == nil {
			out.Detail = string(b)
		}
	}
	return out
}

// Record writes e to the log: it is the guard's Audit function. A failure to write is logged
// and counted (samverk_audit_write_failures_total); it never fails the request, whose action
// is already done.
func (l *Log) Record(ctx context.Context, e auth.Entry) {
	entry := Entry(e)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.opt.WriteTimeout)
	defer cancel()
	if err := l.opt.Store.AppendAudit(ctx, &entry); err != nil {
		l.failures.Inc()
		l.log.ErrorContext(ctx, "an audit entry could not be written", "err", err, "subject", e.Subject, "route", e.Route,
			"path", e.Path, "member", e.Member, "status", e.Status)
	}
}
