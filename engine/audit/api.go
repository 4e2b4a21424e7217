package audit

import (
	"bytes"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"samverk.io/samverk/engine/auth"
	"samverk.io/samverk/engine/httpjson"
	"samverk.io/samverk/engine/store"
)

// Routes are the log's rows of the route table. Reading needs the viewer role: auditors are
// given read-only roles. A member-scoped reader sees only the entries acting on its members;
// a consortium reader sees every entry. Nothing edits the log: there is no route to.
func (l *Log) Routes() []auth.Route {
	rs := []auth.Route{
		{Method: http.MethodGet, Pattern: "/api/v1/audit", Need: auth.Viewer, Handler: http.HandlerFunc(l.list)},
	}
	if l.opt.Page != nil {
		rs = append(rs, auth.Route{Method: http.MethodGet, Pattern: "/audit", Need: auth.Viewer, Handler: http.HandlerFunc(l.console)})
	}
	return rs
}

// List is the answer of GET /api/v1/audit: a page of entries and, when more may follow, the
// cursor (?after=) of the next page.
type List struct {
	Entries []store.AuditEntry `json:"entries"`
	Next    string             `json:"next,omitempty"`
}

// errScope is a filter naming a member the reader may not see.
var errScope = errors.New("scope")

// Query reads the filters of a listing (member, subject, since, until, after, limit) and
// confines them to what p sees.
func Query(p *auth.Principal, v url.Values) (store.AuditQuery, error) {
	q := store.AuditQuery{Member: v.Get("member"), Subject: v.Get("subject")}
	if all, members := p.Visible(); !all {
		q.Members = members
		if q.Members == nil {
			q.Members = []string{}
		}
		if q.Member != "" && !slices.Contains(members, q.Member) {
			return q, fmt.Errorf("member %q: you may read the audit log of %s only: %w", q.Member, strings.Join(members, ", "), errScope)
		}
	}
	var err error
	if q.Since, err = ParseTime(v.Get("since")); err != nil {
		return q, fmt.Errorf("since: %w", err)
	}
	if q.Until, err = ParseTime(v.Get("until")); err != nil {
		return q, fmt.Errorf("until: %w", err)
	}
	if s := v.Get("after"); s != "" {
		if q.After, err = strconv.ParseInt(s, 10, 64); err != nil || q.After < 0 {
			return q, fmt.Errorf("after %q: want an entry's seq", s)
		}
	}
	if s := v.Get("limit"); s != "" {
		if q.Limit, err = strconv.Atoi(s); err != nil || q.Limit < 1 || q.Limit > store.MaxLimit {
			return q, fmt.Errorf("limit %q: want 1 to %d", s, store.MaxLimit)
		}
	}
	return q, nil
}

// ParseTime reads a time as RFC 3339 (2026-11-01T08:00:00Z) or a UTC date (2026-11-01); ""
// is the zero time.
func ParseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q: want RFC 3339 (2026-11-01T08:00:00Z) or a date (2026-11-01)", s)
}

// page reads one page for the request, confined to what its principal sees.
func (l *Log) read(r *http.Request) (*List, store.AuditQuery, int, error) {
	q, err := Query(auth.FromContext(r.Context()), r.URL.Query())
	if errors.Is(err, errScope) {
		return nil, q, http.StatusForbidden, err
	}
	if err != nil {
		return nil, q, http.StatusBadRequest, err
	}
	es, err := l.opt.Store.AuditEntries(r.Context(), q)
	if err != nil {
		if r.Context().Err() == nil {
			l.log.Error("read the audit log", "err", err)
		}
		return nil, q, http.StatusServiceUnavailable, errors.New("the audit log is unavailable")
	}
	out := &List{Entries: es}
	if n := len(es); n > 0 && n == limit(q) {
		out.Next = strconv.FormatInt(es[n-1].Seq, 10)
	}
	return out, q, http.StatusOK, nil
}

func limit(q store.AuditQuery) int {
	if q.Limit <= 0 {
		return 100
	}
	return q.Limit
}

// list answers GET /api/v1/audit, as JSON, or as CSV for Accept: text/csv or ?format=csv.
func (l *Log) list(w http.ResponseWriter, r *http.Request) {
	format := r.URL.Query().Get("format")
	switch {
	case format == "" && strings.Contains(r.Header.Get("Accept"), "text/csv"):
		format = "csv"
	case format == "":
		format = "json"
	case format != "json" && format != "csv":
		writeError(w, http.StatusBadRequest, fmt.Sprintf("format %q: want json or csv", format))
		return
	}
	list, _, code, err := l.read(r)
	if err != nil {
		writeError(w, code, err.Error())
		return
	}
	if list.Next != "" {
		v := r.URL.Query()
		v.Set("after", list.Next)
		w.Header().Set("Link", fmt.Sprintf("<%s?%s>; rel=\"next\"", r.URL.Path, v.Encode()))
	}
	w.Header().Set("Cache-Control", "no-store")
	if format == "csv" {
		var buf bytes.Buffer
		if err := WriteCSV(&buf, list.Entries, true); err != nil {
			writeError(w, http.StatusInternalServerError, "cannot write CSV")
			return
		}
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="samverk-audit.csv"`)
		w.Write(buf.Bytes())
		return
	}
	writeJSON(w, http.StatusOK, list)
}

// CSVHeader names the columns WriteCSV writes.
var CSVHeader = []string{"seq", "at", "subject", "subject_name", "auth_method", "role", "subject_member", "action", "target",
	"member", "detail", "status", "outcome", "remote", "hash"}

// WriteCSV writes entries as CSV rows (with the header row when header is set): times in RFC
// 3339 with milliseconds, the hash in hex. A text cell that a spreadsheet would take for a
// formula (it starts with =, +, -, @, tab or CR) is prefixed with ', so that opening an
// export never runs what a subject's name or a reason said.
func WriteCSV(w io.Writer, entries []store.AuditEntry, header bool) error {
	cw := csv.NewWriter(w)
	if header {
		cw.Write(CSVHeader)
	}
	for _, e := range entries {
		row := []string{strconv.FormatInt(e.Seq, 10), e.At.UTC().Format("2006-01-02T15:04:05.000Z07:00")}
		for _, s := range []string{e.Subject, e.SubjectName, e.AuthMethod, e.Role, e.SubjectMember, e.Action, e.Target, e.Member, e.Detail} {
			row = append(row, defuse(s))
		}
		row = append(row, strconv.Itoa(e.Status), e.Outcome, defuse(e.Remote), hex.EncodeToString(e.Hash))
		cw.Write(row)
	}
	cw.Flush()
	return cw.Error()
}

func defuse(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

var writeJSON, writeError = httpjson.Pretty, httpjson.PrettyError
