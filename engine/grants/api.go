package grants

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"samverk.io/samverk/engine/auth"
	"samverk.io/samverk/engine/httpjson"
	"samverk.io/samverk/engine/store"
)

// maxBody bounds the body of a request or decision.
const maxBody = 32 << 10

// Routes are the rows of the route table for requests, grants and work items. Anyone who acts
// for a member may order for it and cancel their own requests; approvers decide and revoke
// (the rules then say for which requests); operators of a member mark its work items done.
func (l *Ledger) Routes() []auth.Route {
	h := func(f http.HandlerFunc) http.Handler { return f }
	return []auth.Route{
		{Method: http.MethodGet, Pattern: "/requests", Need: auth.Viewer, Handler: h(l.consolePage)},
		{Method: http.MethodGet, Pattern: "/costs", Need: auth.Viewer, Handler: h(l.costsPage)},
		{Method: http.MethodPost, Pattern: "/api/v1/requests", Need: auth.Viewer, Audit: true, Handler: h(l.createAPI)},
		{Method: http.MethodGet, Pattern: "/api/v1/requests", Need: auth.Viewer, Handler: h(l.listRequestsAPI)},
		{Method: http.MethodGet, Pattern: "/api/v1/requests/{request}", Need: auth.Viewer, Member: l.requestMember, Handler: h(l.showRequestAPI)},
		{Method: http.MethodPost, Pattern: "/api/v1/requests/{request}/approve", Need: auth.Approver, Audit: true, Handler: h(l.decideAPI(VerdictApprove))},
		{Method: http.MethodPost, Pattern: "/api/v1/requests/{request}/reject", Need: auth.Approver, Audit: true, Handler: h(l.decideAPI(VerdictReject))},
		{Method: http.MethodPost, Pattern: "/api/v1/requests/{request}/cancel", Need: auth.Viewer, Audit: true, Handler: h(l.decideAPI(VerdictCancel))},
		{Method: http.MethodGet, Pattern: "/api/v1/grants", Need: auth.Viewer, Handler: h(l.listGrantsAPI)},
		{Method: http.MethodGet, Pattern: "/api/v1/grants/{grant}", Need: auth.Viewer, Member: l.grantMember, Handler: h(l.showGrantAPI)},
		{Method: http.MethodPost, Pattern: "/api/v1/grants/{grant}/revoke", Need: auth.Approver, Audit: true, Handler: h(l.revokeAPI)},
		{Method: http.MethodGet, Pattern: "/api/v1/grants/access", Need: auth.Viewer, Handler: h(l.accessAPI)},
		{Method: http.MethodGet, Pattern: "/api/v1/grants/costs", Need: auth.Viewer, Handler: h(l.costsAPI)},
		{Method: http.MethodGet, Pattern: "/api/v1/grants/work-items", Need: auth.Viewer, Handler: h(l.workAPI)},
		{Method: http.MethodPost, Pattern: "/api/v1/grants/work-items/{item}/done", Need: auth.Operator, Member: l.workMember, Audit: true,
			Handler: h(l.workDoneAPI)},
	}
}

var writeJSON, writeError = httpjson.Write, httpjson.Error

// readBody decodes a bounded JSON body into v; an empty body leaves v as it is.
func readBody(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "the body exceeds the limit of "+strconv.Itoa(maxBody)+" bytes")
		return false
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return true
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "invalid JSON: "+err.Error())
		return false
	}
	return true
}

// fail answers err: a refusal names its rule.
func (l *Ledger) fail(w http.ResponseWriter, r *http.Request, err error) {
	var ref *Refusal
	switch {
	case errors.As(err, &ref):
		code := http.StatusBadRequest
		switch {
		case ref.Forbidden:
			code = http.StatusForbidden
		case ref.Rule == RuleState:
			code = http.StatusConflict
		}
		writeJSON(w, code, map[string]string{"error": ref.Error(), "rule": ref.Rule})
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, "not found")
	case errors.Is(err, store.ErrConflict):
		writeError(w, http.StatusConflict, err.Error())
	case errors.Is(err, ErrNoCatalog):
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, err.Error())
	default:
		if r.Context().Err() == nil {
			l.log.Error("grants: store", "path", r.URL.Path, "err", err)
		}
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, "requests cannot be read or written now")
	}
}

func pathID(w http.ResponseWriter, r *http.Request, name string) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	if err != nil || id <= 0 {
		writeError(w, http.StatusNotFound, "not found")
		return 0, false
	}
	return id, true
}

func (l *Ledger) createAPI(w http.ResponseWriter, r *http.Request) {
	var o Order
	form := isForm(r)
	if form {
		if !readForm(w, r) {
			return
		}
		var err error
		if o, err = orderForm(r); err != nil {
			back(w, r, "", err.Error())
			return
		}
	} else if !readBody(w, r, &o) {
		return
	}
	auth.ActedOn(r.Context(), o.Member)
	auth.Note(r.Context(), "service", o.Service)
	req, err := l.Create(r.Context(), auth.FromContext(r.Context()), o)
	switch {
	case err != nil && form:
		back(w, r, "", err.Error())
		return
	case err != nil:
		l.fail(w, r, err)
		return
	}
	auth.Note(r.Context(), "request", strconv.FormatInt(req.ID, 10))
	if form {
		back(w, r, "request "+strconv.FormatInt(req.ID, 10)+" for "+req.Service+" is "+req.State, "")
		return
	}
	writeJSON(w, http.StatusCreated, req)
}

// decision is the body of a decision: why.
type decision struct {
	Reason string `json:"reason"`
}

func (l *Ledger) decideAPI(verdict string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, ok := pathID(w, r, "request")
		if !ok {
			return
		}
		var d decision
		form := isForm(r)
		if form {
			if !readForm(w, r) {
				return
			}
			d.Reason = r.PostFormValue("reason")
		} else if !readBody(w, r, &d) {
			return
		}
		who := auth.FromContext(r.Context())
		if cur, err := l.opt.Store.ServiceRequest(r.Context(), id); err == nil {
			auth.ActedOn(r.Context(), cur.Member)
			auth.Note(r.Context(), "service", cur.Service)
		}
		auth.Note(r.Context(), "request", strconv.FormatInt(id, 10))
		auth.Note(r.Context(), "reason", d.Reason)
		var req *store.ServiceRequest
		var err error
		switch verdict {
		case VerdictApprove:
			req, err = l.Approve(r.Context(), who, id, d.Reason)
		case VerdictReject:
			req, err = l.Reject(r.Context(), who, id, d.Reason)
		default:
			req, err = l.Cancel(r.Context(), who, id, d.Reason)
		}
		switch {
		case err != nil && form:
			back(w, r, "", err.Error())
			return
		case err != nil:
			l.fail(w, r, err)
			return
		}
		auth.Note(r.Context(), "state", req.State)
		if form {
			back(w, r, "request "+strconv.FormatInt(req.ID, 10)+" is "+req.State, "")
			return
		}
		writeJSON(w, http.StatusOK, req)
	}
}

func (l *Ledger) revokeAPI(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, "grant")
	if !ok {
		return
	}
	var d decision
	if !readBody(w, r, &d) {
		return
	}
	if cur, err := l.opt.Store.Grant(r.Context(), id); err == nil {
		auth.ActedOn(r.Context(), cur.Member)
		auth.Note(r.Context(), "service", cur.Service)
	}
	auth.Note(r.Context(), "grant", strconv.FormatInt(id, 10))
	auth.Note(r.Context(), "reason", d.Reason)
	g, err := l.Revoke(r.Context(), auth.FromContext(r.Context()), id, d.Reason)
	if err != nil {
		l.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, g)
}

// sees reports whether who may read a request or grant of member for service: its member's
// people, and the approvers of the service's owner.
func (l *Ledger) sees(who *auth.Principal, member, service string) bool {
	return who.Sees(member) || l.asOwner(who, member, service) != ""
}

// asOwner is the member who acts for when it reads a request or grant of member for service
// that it does not see as such: the service owner's member, when the service needs its
// approval (service-owner or both) and who approves for it; "" otherwise.
func (l *Ledger) asOwner(who *auth.Principal, member, service string) string {
	if who == nil || who.Sees(member) {
		return ""
	}
	_, cat := l.opt.Catalog()
	if cat == nil {
		return ""
	}
	svc, err := LookupService(cat, service)
	if err != nil || !slices.Contains(Required(svc.Spec.Approval), ApprovalOwner) || !who.Can(auth.Approver, svc.OwnerMember) {
		return ""
	}
	return svc.OwnerMember
}

// scope is the member a read of a request or grant of member for service acts in: member,
// or the service owner's member for one of its approvers (asOwner).
func (l *Ledger) scope(r *http.Request, member, service string) string {
	if m := l.asOwner(auth.FromContext(r.Context()), member, service); m != "" {
		return m
	}
	return member
}

// RequestView is a request as the API shows it: with its grant, and what who may do now.
type RequestView struct {
	*store.ServiceRequest
	GrantDetail *store.Grant `json:"grantDetail,omitempty"`
	// CanApprove: who may approve it now (it waits for them).
	CanApprove bool `json:"canApprove,omitempty"`
}

func (l *Ledger) view(r *http.Request, req *store.ServiceRequest) RequestView {
	v := RequestView{ServiceRequest: req}
	if req.Grant != 0 {
		v.GrantDetail, _ = l.opt.Store.Grant(r.Context(), req.Grant)
	}
	if _, cat := l.opt.Catalog(); cat != nil && req.State == string(Pending) {
		if svc, err := LookupService(cat, req.Service); err == nil {
			_, _, err := Approval(req, svc, auth.FromContext(r.Context()))
			v.CanApprove = err == nil
		}
	}
	return v
}

func (l *Ledger) showRequestAPI(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, "request")
	if !ok {
		return
	}
	req, err := l.opt.Store.ServiceRequest(r.Context(), id)
	if err != nil {
		l.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, l.view(r, req))
}

// Waiting lists the pending requests who may approve now.
func (l *Ledger) Waiting(r *http.Request) ([]RequestView, error) {
	return l.requests(r, store.RequestFilter{State: string(Pending), Limit: store.MaxLimit}, true)
}

func (l *Ledger) requests(r *http.Request, f store.RequestFilter, waiting bool) ([]RequestView, error) {
	who := auth.FromContext(r.Context())
	rs, err := l.opt.Store.ListRequests(r.Context(), f)
	if err != nil {
		return nil, err
	}
	out := []RequestView{}
	for i := range rs {
		if !l.sees(who, rs[i].Member, rs[i].Service) {
			continue
		}
		v := l.view(r, &rs[i])
		if waiting && !v.CanApprove {
			continue
		}
		out = append(out, v)
	}
	return out, nil
}

func (l *Ledger) listRequestsAPI(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := store.RequestFilter{State: q.Get("state"), Service: q.Get("service"), Limit: store.MaxLimit}
	if m := q.Get("member"); m != "" {
		f.Members = []string{m}
	}
	if q.Get("mine") == "true" {
		f.Requester = auth.FromContext(r.Context()).Subject
	}
	waiting := q.Get("waiting") == "true"
	if waiting {
		f.State = string(Pending)
	}
	rs, err := l.requests(r, f, waiting)
	if err != nil {
		l.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"requests": rs})
}

// visible is the members who may read, for a store filter: nil for all.
func visible(who *auth.Principal, member string) ([]string, bool) {
	all, members := who.Visible()
	switch {
	case member != "" && !who.Sees(member):
		return nil, false
	case member != "":
		return []string{member}, true
	case all:
		return nil, true
	}
	return members, true
}

func (l *Ledger) listGrantsAPI(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	members, ok := visible(auth.FromContext(r.Context()), q.Get("member"))
	if !ok {
		writeError(w, http.StatusForbidden, "you do not act for member "+q.Get("member"))
		return
	}
	f := store.GrantFilter{Members: members, Service: q.Get("service")}
	if s := q.Get("state"); s != "" {
		f.States = strings.Split(s, ",")
	}
	gs, err := l.opt.Store.ListGrants(r.Context(), f)
	if err != nil {
		l.fail(w, r, err)
		return
	}
	if e := q.Get("endsBefore"); e != "" {
		t, err := time.Parse(time.RFC3339, e)
		if err != nil {
			writeError(w, http.StatusBadRequest, "endsBefore: want a time like 2026-11-30T00:00:00Z")
			return
		}
		gs = EndingBefore(gs, t)
	}
	writeJSON(w, http.StatusOK, map[string]any{"grants": gs})
}

// EndingBefore keeps the grants of gs that end by themselves before t.
func EndingBefore(gs []store.Grant, t time.Time) []store.Grant {
	out := gs[:0:0]
	for _, g := range gs {
		if !g.Until.IsZero() && g.Until.Before(t) {
			out = append(out, g)
		}
	}
	return out
}

func (l *Ledger) showGrantAPI(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, "grant")
	if !ok {
		return
	}
	g, err := l.opt.Store.Grant(r.Context(), id)
	if err != nil {
		l.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, g)
}

func (l *Ledger) accessAPI(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	members, ok := visible(auth.FromContext(r.Context()), q.Get("member"))
	if !ok {
		writeError(w, http.StatusForbidden, "you do not act for member "+q.Get("member"))
		return
	}
	service, at := q.Get("service"), l.now()
	if s := q.Get("at"); s != "" {
		var err error
		if at, err = ParseAt(s); err != nil {
			writeError(w, http.StatusBadRequest, "at: "+err.Error())
			return
		}
	}
	rows, err := l.Access(r.Context(), service, at, members)
	if err != nil {
		l.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"service": service, "at": at, "grants": rows})
}

// ParseAt reads a time given as a date (its start, UTC) or an RFC 3339 time.
func ParseAt(s string) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, errors.New("want a date (2026-11-15) or a time (2026-11-15T08:00:00Z)")
	}
	return t.UTC(), nil
}

func (l *Ledger) costsAPI(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	members, ok := visible(auth.FromContext(r.Context()), q.Get("member"))
	if !ok {
		writeError(w, http.StatusForbidden, "you do not act for member "+q.Get("member"))
		return
	}
	month := l.now()
	if s := q.Get("month"); s != "" {
		var err error
		if month, err = time.Parse("2006-01", s); err != nil {
			writeError(w, http.StatusBadRequest, "month: want a month like 2026-11")
			return
		}
	}
	lines, err := l.Costs(r.Context(), month, members)
	if err != nil {
		l.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"month": month.Format("2006-01"), "lines": lines})
}

func (l *Ledger) workAPI(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	members, ok := visible(auth.FromContext(r.Context()), q.Get("member"))
	if !ok {
		writeError(w, http.StatusForbidden, "you do not act for member "+q.Get("member"))
		return
	}
	items, err := l.opt.Store.WorkItems(r.Context(), store.WorkFilter{Members: members, Open: q.Get("open") == "true", Limit: store.MaxLimit})
	if err != nil {
		l.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"workItems": items})
}

// requestMember is the Member resolver of a request's page: the member it was made for, or
// the service owner's member for an approver of it whose approval the service needs.
func (l *Ledger) requestMember(r *http.Request) (string, error) {
	req, err := byPathID(r, "request", l.opt.Store.ServiceRequest)
	if err != nil {
		return "", err
	}
	return l.scope(r, req.Member, req.Service), nil
}

// grantMember is the Member resolver of a grant's page: the member it was granted to, or the
// service owner's member for an approver of it whose approval the service needs.
func (l *Ledger) grantMember(r *http.Request) (string, error) {
	g, err := byPathID(r, "grant", l.opt.Store.Grant)
	if err != nil {
		return "", err
	}
	return l.scope(r, g.Member, g.Service), nil
}

// workMember is the Member resolver of a work item's routes: the member it is for.
func (l *Ledger) workMember(r *http.Request) (string, error) {
	w, err := byPathID(r, "item", l.opt.Store.WorkItem)
	if err != nil {
		return "", err
	}
	return w.Member, nil
}

// byPathID loads the record whose id is the path value name, for a Member resolver: an id
// that is not a number and a record that does not exist are both auth.ErrNotFound, so a
// resolver tells neither apart from a record of another member.
func byPathID[T any](r *http.Request, name string, get func(context.Context, int64) (T, error)) (T, error) {
	var zero T
	id, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	if err != nil {
		return zero, auth.ErrNotFound
	}
	v, err := get(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return zero, auth.ErrNotFound
	}
	return v, err
}

func (l *Ledger) workDoneAPI(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, "item")
	if !ok {
		return
	}
	var d struct {
		Note string `json:"note"`
	}
	if !readBody(w, r, &d) {
		return
	}
	auth.Note(r.Context(), "workItem", strconv.FormatInt(id, 10))
	if err := l.CompleteWork(r.Context(), auth.FromContext(r.Context()), id, d.Note); err != nil {
		l.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"workItem": id, "done": true})
}
