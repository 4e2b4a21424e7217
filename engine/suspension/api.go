package suspension

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"html/template"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"samverk.io/samverk/engine/auth"
	"samverk.io/samverk/engine/httpjson"
	"samverk.io/samverk/engine/store"
)

// maxBody bounds a request's body.
const maxBody = 16 << 10

// Request is the body of a suspend or resume: the group (none for the whole member) and the
// reason (a suspension needs one).
type Request struct {
	Group  string `json:"group,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// pathMember is the Member resolver of the action routes: the member in the path.
func pathMember(r *http.Request) (string, error) { return r.PathValue("member"), nil }

// Routes are the suspensions' rows of the route table: the list for viewers (each sees the
// suspensions of the members it may read), and suspend and resume for an operator of the
// member in the path, each audited. A member's own operator may act only where the rollout
// policy lets a member hold back its own devices (memberMayHold); a consortium operator always.
func (m *Manager) Routes() []auth.Route {
	return []auth.Route{
		{Method: "GET", Pattern: "/api/v1/suspensions", Need: auth.Viewer, Handler: http.HandlerFunc(m.list)},
		{Method: "POST", Pattern: "/api/v1/members/{member}/suspend", Need: auth.Operator, Member: pathMember, Audit: true,
			Handler: m.act(func(r *http.Request, actor, member string, q Request) error {
				return m.Suspend(r.Context(), actor, member, q.Group, q.Reason)
			}, "suspended")},
		{Method: "POST", Pattern: "/api/v1/members/{member}/resume", Need: auth.Operator, Member: pathMember, Audit: true,
			Handler: m.act(func(r *http.Request, actor, member string, q Request) error {
				return m.Resume(r.Context(), actor, member, q.Group)
			}, "resumed")},
	}
}

// visible are the suspensions p may read.
func (m *Manager) visible(r *http.Request) ([]store.Suspension, error) {
	sps, err := m.List(r.Context())
	if err != nil {
		return nil, err
	}
	p := auth.FromContext(r.Context())
	out := make([]store.Suspension, 0, len(sps))
	for _, sp := range sps {
		if p.Sees(sp.Member) {
			out = append(out, sp)
		}
	}
	return out, nil
}

func (m *Manager) list(w http.ResponseWriter, r *http.Request) {
	sps, err := m.visible(r)
	if err != nil {
		m.log.Error("list suspensions", "err", err)
		httpjson.Write(w, http.StatusInternalServerError, map[string]string{"error": "suspensions cannot be read"})
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"suspensions": sps})
}

// mayAct reports whether p may suspend and resume member's devices: a consortium operator
// always, the member's own operator where the policy lets a member hold.
func (m *Manager) mayAct(p *auth.Principal, member string) bool {
	return p.Can(auth.Operator, auth.Consortium) || (p.Can(auth.Operator, member) && m.opt.MemberMayHold())
}

// act decodes a JSON or form request and carries out fn. A form (the console's) is sent back
// to the console's page with the outcome.
func (m *Manager) act(fn func(r *http.Request, actor, member string, q Request) error, done string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		member := r.PathValue("member")
		p := auth.FromContext(r.Context())
		var q Request
		ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		form := ct == "application/x-www-form-urlencoded"
		switch ct {
		case "application/x-www-form-urlencoded":
			if r.PostForm == nil {
				r.Body = http.MaxBytesReader(w, r.Body, maxBody)
			}
			if err := r.ParseForm(); err != nil {
				httpjson.Write(w, http.StatusBadRequest, map[string]string{"error": "form: " + err.Error()})
				return
			}
			q.Group, q.Reason = strings.TrimSpace(r.PostFormValue("group")), r.PostFormValue("reason")
		case "application/json", "":
			dec := json.NewDecoder(io.LimitReader(r.Body, maxBody))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&q); err != nil && !errors.Is(err, io.EOF) {
				httpjson.Write(w, http.StatusBadRequest, map[string]string{"error": "request body: " + err.Error()})
				return
			}
		default:
			httpjson.Write(w, http.StatusUnsupportedMediaType, map[string]string{"error": "the body must be application/json"})
			return
		}
		auth.Note(r.Context(), "member", member)
		if q.Group != "" {
			auth.Note(r.Context(), "group", q.Group)
		}
		if q.Reason != "" {
			auth.Note(r.Context(), "reason", q.Reason)
		}
		scope := store.Suspension{Member: member, Group: q.Group}.Scope()
		fail := func(code int, msg string) {
			if form {
				back(w, r, "", scope+": "+msg)
				return
			}
			httpjson.Write(w, code, map[string]string{"error": msg})
		}
		if !m.mayAct(p, member) {
			fail(http.StatusForbidden, "the rollout policy does not let a member's operators hold back its own devices (memberMayHold): ask a consortium operator")
			return
		}
		actor := "unknown"
		if p != nil {
			actor = p.Subject
		}
		if err := fn(r, actor, member, q); err != nil {
			switch {
			case errors.Is(err, ErrInvalid):
				fail(http.StatusBadRequest, err.Error())
			case errors.Is(err, ErrNotSuspended):
				fail(http.StatusConflict, err.Error())
			default:
				m.log.Error("suspension", "scope", scope, "err", err)
				fail(http.StatusInternalServerError, "the suspension cannot be changed")
			}
			return
		}
		if form {
			back(w, r, scope+" "+done, "")
			return
		}
		sps, err := m.visible(r)
		if err != nil {
			httpjson.Write(w, http.StatusInternalServerError, map[string]string{"error": "suspensions cannot be read"})
			return
		}
		httpjson.Write(w, http.StatusOK, map[string]any{"suspensions": sps})
	})
}

// back sends a console form back to the suspensions page, with what was done or went wrong.
func back(w http.ResponseWriter, r *http.Request, done, msg string) {
	u := "/suspensions"
	if msg != "" {
		u += "?error=" + template.URLQueryEscaper(msg)
	} else if done != "" {
		u += "?done=" + template.URLQueryEscaper(done)
	}
	http.Redirect(w, r, u, http.StatusSeeOther)
}

// Page writes content, rendered here, inside the console's layout (web.Console.Frame).
type Page func(w http.ResponseWriter, r *http.Request, code int, nav, title string, content template.HTML)

//go:embed templates/*.html
var templateFS embed.FS

var pageTemplate = template.Must(template.New("suspensions").Funcs(template.FuncMap{
	"when": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
}).ParseFS(templateFS, "templates/*.html"))

// row is one suspension on the console page, and whether the reader may lift it.
type row struct {
	store.Suspension
	CanResume bool
}

// ConsoleRoutes is the console's Suspensions page, for viewers, inside page: the suspensions
// the reader may see, a form to lift each one the reader may act on, and one to suspend.
func (m *Manager) ConsoleRoutes(page Page) []auth.Route {
	return []auth.Route{{Method: http.MethodGet, Pattern: "/suspensions", Need: auth.Viewer,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			sps, err := m.visible(r)
			if err != nil {
				m.log.Error("console: suspensions", "err", err)
				http.Error(w, "the page cannot be shown", http.StatusInternalServerError)
				return
			}
			p := auth.FromContext(r.Context())
			rows := make([]row, 0, len(sps))
			for _, sp := range sps {
				rows = append(rows, row{Suspension: sp, CanResume: m.mayAct(p, sp.Member)})
			}
			// The members the reader may suspend a group of: a consortium operator picks one
			// (?member=, a form without script), a member's operator has its own.
			all := p.Can(auth.Operator, auth.Consortium)
			var targets []string
			if chosen := r.URL.Query().Get("member"); all && check(chosen, "") == nil {
				targets = []string{chosen}
			} else if !all {
				_, members := p.Visible()
				for _, mb := range members {
					if m.mayAct(p, mb) {
						targets = append(targets, mb)
					}
				}
			}
			data := map[string]any{"Rows": rows, "CSRF": auth.CSRFToken(r.Context()), "Any": all, "Targets": targets,
				"Error": r.URL.Query().Get("error"), "Done": r.URL.Query().Get("done")}
			var buf bytes.Buffer
			if err := pageTemplate.ExecuteTemplate(&buf, "content", data); err != nil {
				m.log.Error("console: render the suspensions page", "err", err)
				http.Error(w, "the page cannot be shown", http.StatusInternalServerError)
				return
			}
			// The template escaped everything it wrote: the layout may take it as HTML.
			page(w, r, http.StatusOK, "suspensions", "Suspensions", template.HTML(buf.String()))
		})}}
}
