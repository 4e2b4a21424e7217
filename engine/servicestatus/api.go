package servicestatus

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"html/template"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"samverk.io/samverk/engine/auth"
	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/httpjson"
)

//go:embed templates/*.html
var files embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
	"join": func(s []string) string { return strings.Join(s, ", ") },
}).ParseFS(files, "templates/*.html"))

// maxBody bounds a status request's body.
const maxBody = 16 << 10

// Routes are the status board's rows of the route table: the public page and its JSON (no
// sign-in: anyone may embed them), the console page, and the API. A status is set by an
// operator of the member that owns the Service document (consortium operators for any).
func (b *Board) Routes() []auth.Route {
	return []auth.Route{
		{Method: http.MethodGet, Pattern: "/status", Handler: http.HandlerFunc(b.publicPage)},
		{Method: http.MethodGet, Pattern: "/status.json", Handler: http.HandlerFunc(b.publicJSON)},
		{Method: http.MethodGet, Pattern: "/service-status", Need: auth.Viewer, Handler: http.HandlerFunc(b.consolePage)},
		{Method: http.MethodGet, Pattern: "/api/v1/service-status", Need: auth.Viewer, Handler: http.HandlerFunc(b.list)},
		{Method: http.MethodGet, Pattern: "/api/v1/services/{service}/status", Need: auth.Viewer, Handler: http.HandlerFunc(b.history)},
		{Method: http.MethodPost, Pattern: "/api/v1/services/{service}/status", Need: auth.Operator, Member: b.Owner, Audit: true,
			Handler: http.HandlerFunc(b.set)},
	}
}

// Owner is the Member resolver of routes with a service in the path: the member that owns the
// Service document, or the consortium when it names no owner.
func (b *Board) Owner(r *http.Request) (string, error) {
	_, cat := b.opt.Catalog()
	if cat == nil {
		return "", auth.ErrNotFound
	}
	d := cat.Get(catalog.KindService, "", r.PathValue("service"))
	if d == nil {
		return "", auth.ErrNotFound
	}
	if d.Owner == "" {
		return auth.Consortium, nil
	}
	return d.Owner, nil
}

// publicView is what the public endpoints show: no person's name, no member.
type publicView struct {
	At       time.Time     `json:"at"`
	Services []publicEntry `json:"services"`
}

type publicEntry struct {
	Service     string     `json:"service"`
	DisplayName string     `json:"displayName,omitempty"`
	State       string     `json:"state"`
	Message     string     `json:"message,omitempty"`
	From        time.Time  `json:"from,omitzero"`
	To          time.Time  `json:"to,omitzero"`
	Updated     time.Time  `json:"updated,omitzero"`
	Upcoming    *publicUpc `json:"upcoming,omitempty"`
	ImpactedBy  []string   `json:"impactedBy,omitempty"`
}

type publicUpc struct {
	State   string    `json:"state"`
	Message string    `json:"message,omitempty"`
	From    time.Time `json:"from"`
	To      time.Time `json:"to,omitzero"`
}

func public(v *View) *publicView {
	p := &publicView{At: v.At, Services: make([]publicEntry, 0, len(v.Services))}
	for _, e := range v.Services {
		pe := publicEntry{Service: e.Service, DisplayName: e.DisplayName, State: e.State, Message: e.Message, From: e.From, To: e.To,
			Updated: e.Updated, ImpactedBy: e.ImpactedBy}
		if u := e.Upcoming; u != nil {
			pe.Upcoming = &publicUpc{State: u.State, Message: u.Message, From: u.From, To: u.To}
		}
		p.Services = append(p.Services, pe)
	}
	return p
}

// publicJSON serves the board to anyone, for members' own pages and monitors.
func (b *Board) publicJSON(w http.ResponseWriter, r *http.Request) {
	v, err := b.Cached(r.Context())
	if err != nil {
		b.unavailable(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Cache-Control", "public, max-age=5")
	writeJSON(w, http.StatusOK, public(v))
}

// publicPage serves the board as HTML that a member may embed in a frame.
func (b *Board) publicPage(w http.ResponseWriter, r *http.Request) {
	v, err := b.Cached(r.Context())
	if err != nil {
		b.unavailable(w, r, err)
		return
	}
	render(w, "public.html", http.StatusOK, "frame-ancestors *", map[string]any{"View": public(v)})
}

// consoleRow is a row of the console page: the entry and whether the reader may set it.
type consoleRow struct {
	Entry
	CanSet bool
}

func (b *Board) consolePage(w http.ResponseWriter, r *http.Request) {
	v, err := b.View(r.Context())
	if err != nil {
		b.unavailable(w, r, err)
		return
	}
	who := auth.FromContext(r.Context())
	rows := make([]consoleRow, 0, len(v.Services))
	for _, e := range v.Services {
		owner := e.Owner
		if owner == "" {
			owner = auth.Consortium
		}
		rows = append(rows, consoleRow{Entry: e, CanSet: who.Can(auth.Operator, owner)})
	}
	render(w, "console.html", http.StatusOK, "frame-ancestors 'none'", map[string]any{
		"View": v, "Rows": rows, "Who": who, "CSRF": auth.CSRFToken(r.Context()), "States": States,
		"Error": r.URL.Query().Get("error"), "Done": r.URL.Query().Get("done"),
	})
}

func (b *Board) list(w http.ResponseWriter, r *http.Request) {
	v, err := b.View(r.Context())
	if err != nil {
		b.unavailable(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (b *Board) history(w http.ResponseWriter, r *http.Request) {
	service := r.PathValue("service")
	limit := 0
	if l := r.URL.Query().Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 {
			writeError(w, http.StatusBadRequest, "limit must be a positive number")
			return
		}
		limit = n
	}
	hs, err := b.History(r.Context(), service, limit)
	if err != nil {
		b.unavailable(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"service": service, "history": hs})
}

// set records a status. A JSON body answers JSON; the console's form is sent back to the
// console page.
func (b *Board) set(w http.ResponseWriter, r *http.Request) {
	service := r.PathValue("service")
	member, _ := b.Owner(r)
	who := auth.FromContext(r.Context())
	var q Request
	form := false
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/x-www-form-urlencoded":
		form = true
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		if err := r.ParseForm(); err != nil {
			writeError(w, http.StatusBadRequest, "form: "+err.Error())
			return
		}
		q.State, q.Message = r.PostFormValue("state"), strings.TrimSpace(r.PostFormValue("message"))
		for _, f := range []struct {
			name string
			into *time.Time
		}{{"from", &q.From}, {"to", &q.To}} {
			if s := r.PostFormValue(f.name); s != "" {
				t, err := time.Parse("2006-01-02T15:04", s)
				if err != nil {
					back(w, r, "", f.name+": want a date and time")
					return
				}
				*f.into = t
			}
		}
	case "application/json", "":
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		if err != nil {
			writeError(w, http.StatusRequestEntityTooLarge, "the body exceeds the limit of "+strconv.Itoa(maxBody)+" bytes")
			return
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&q); err != nil {
			writeError(w, http.StatusBadRequest, "invalid JSON: "+err.Error())
			return
		}
	default:
		writeError(w, http.StatusUnsupportedMediaType, "the body must be application/json")
		return
	}
	auth.Note(r.Context(), "state", q.State)
	s, err := b.Set(r.Context(), service, q, who.Subject, actingFor(who, member))
	switch {
	case err != nil && !errors.As(err, new(*InvalidError)):
		b.unavailable(w, r, err)
	case err != nil && form:
		back(w, r, "", err.Error())
	case err != nil:
		writeError(w, http.StatusBadRequest, err.Error())
	case form:
		back(w, r, service+" is now "+s.State, "")
	default:
		writeJSON(w, http.StatusOK, s)
	}
}

// actingFor is the scope the principal acted in: the owner's member, or the consortium when
// only a consortium grant covers it.
func actingFor(p *auth.Principal, member string) string {
	for _, g := range p.Grants {
		if g.Member == member && g.Role.Includes(auth.Operator) {
			return member
		}
	}
	return auth.Consortium
}

func back(w http.ResponseWriter, r *http.Request, done, msg string) {
	u := "/service-status"
	if msg != "" {
		u += "?error=" + templateQuery(msg)
	} else if done != "" {
		u += "?done=" + templateQuery(done)
	}
	http.Redirect(w, r, u, http.StatusSeeOther)
}

func templateQuery(s string) string { return template.URLQueryEscaper(s) }

func render(w http.ResponseWriter, name string, code int, frames string, data any) {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, data); err != nil {
		http.Error(w, "the page cannot be shown", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'self'; style-src 'self'; script-src 'none'; "+frames)
	w.WriteHeader(code)
	w.Write(buf.Bytes())
}

func (b *Board) unavailable(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() == nil {
		b.log.Error("service status: store", "path", r.URL.Path, "err", err)
	}
	w.Header().Set("Retry-After", "5")
	writeError(w, http.StatusServiceUnavailable, "service statuses cannot be read now")
}

var writeJSON, writeError = httpjson.Write, httpjson.Error
