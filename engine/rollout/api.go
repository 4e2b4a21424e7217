package rollout

import (
	"encoding/json"
	"errors"
	"html/template"
	"io"
	"mime"
	"net/http"
	"strings"

	"samverk.io/samverk/engine/auth"
	"samverk.io/samverk/engine/httpjson"
)

// maxActionBytes bounds an action's request body.
const maxActionBytes = 16 << 10

// Action is the body of an operator's action.
type Action struct {
	// Ring the action concerns; "" for every ring (pause, resume).
	Ring string `json:"ring,omitempty"`
	// Reason is kept in the promotion record; a fast-track needs one.
	Reason string `json:"reason,omitempty"`
}

// consortium is the Member resolver of the rollout's routes: rings are served to every
// member's devices alike, so reading and acting on them needs a consortium grant.
func consortium(*http.Request) (string, error) { return auth.Consortium, nil }

// Routes are the rollout's rows of the route table: its status for consortium viewers, and
// the actions of consortium operators, each audited.
func (c *Controller) Routes() []auth.Route {
	act := func(fn func(r *http.Request, actor string, a Action) error) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var a Action
			ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
			form := ct == "application/x-www-form-urlencoded"
			if form {
				// The console's forms: the answer goes back to the Rollout page.
				if r.PostForm == nil {
					r.Body = http.MaxBytesReader(w, r.Body, maxActionBytes)
				}
				if err := r.ParseForm(); err != nil {
					writeJSON(w, http.StatusBadRequest, map[string]string{"error": "form: " + err.Error()})
					return
				}
				a.Ring, a.Reason = strings.TrimSpace(r.PostFormValue("ring")), strings.TrimSpace(r.PostFormValue("reason"))
			} else {
				dec := json.NewDecoder(io.LimitReader(r.Body, maxActionBytes))
				dec.DisallowUnknownFields()
				if err := dec.Decode(&a); err != nil && !errors.Is(err, io.EOF) {
					writeJSON(w, http.StatusBadRequest, map[string]string{"error": "request body: " + err.Error()})
					return
				}
			}
			if a.Ring != "" {
				auth.Note(r.Context(), "ring", a.Ring)
			}
			if a.Reason != "" {
				auth.Note(r.Context(), "reason", a.Reason)
			}
			actor := "unknown"
			if p := auth.FromContext(r.Context()); p != nil {
				actor = p.Subject
			}
			err := fn(r, actor, a)
			if form {
				back(w, r, err, r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:])
				return
			}
			if err != nil {
				code := http.StatusInternalServerError
				switch {
				case errors.Is(err, ErrUnknown):
					code = http.StatusNotFound
				case errors.Is(err, ErrConflict):
					code = http.StatusConflict
				case errors.Is(err, ErrInvalid):
					code = http.StatusBadRequest
				}
				writeJSON(w, code, map[string]string{"error": err.Error()})
				return
			}
			c.status(w, r)
		})
	}
	return []auth.Route{
		{Method: "GET", Pattern: "/api/v1/rollout", Need: auth.Viewer, Member: consortium, Handler: http.HandlerFunc(c.status)},
		{Method: "POST", Pattern: "/api/v1/rollout/pause", Need: auth.Operator, Member: consortium, Audit: true,
			Handler: act(func(r *http.Request, actor string, a Action) error {
				return c.Pause(r.Context(), actor, a.Ring, a.Reason)
			})},
		{Method: "POST", Pattern: "/api/v1/rollout/resume", Need: auth.Operator, Member: consortium, Audit: true,
			Handler: act(func(r *http.Request, actor string, a Action) error {
				return c.Resume(r.Context(), actor, a.Ring, a.Reason)
			})},
		{Method: "POST", Pattern: "/api/v1/rollout/promote", Need: auth.Operator, Member: consortium, Audit: true,
			Handler: act(func(r *http.Request, actor string, a Action) error {
				return c.Promote(r.Context(), actor, a.Ring, a.Reason)
			})},
		{Method: "POST", Pattern: "/api/v1/rollout/abort", Need: auth.Operator, Member: consortium, Audit: true,
			Handler: act(func(r *http.Request, actor string, a Action) error { return c.Abort(r.Context(), actor, a.Reason) })},
		{Method: "POST", Pattern: "/api/v1/rollout/fast-track", Need: auth.Operator, Member: consortium, Audit: true,
			Handler: act(func(r *http.Request, actor string, a Action) error { return c.FastTrack(r.Context(), actor, a.Reason) })},
	}
}

func (c *Controller) status(w http.ResponseWriter, r *http.Request) {
	st, err := c.Status(r.Context())
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, st)
}

var writeJSON = httpjson.Write

// back sends a console form back to the Rollout page with the outcome of action.
func back(w http.ResponseWriter, r *http.Request, err error, action string) {
	u := "/rollout?done=" + template.URLQueryEscaper(action+": done")
	if err != nil {
		msg := err.Error()
		if !errors.Is(err, ErrUnknown) && !errors.Is(err, ErrConflict) && !errors.Is(err, ErrInvalid) {
			msg = "the rollout cannot be changed now"
		}
		u = "/rollout?error=" + template.URLQueryEscaper(action+": "+msg)
	}
	http.Redirect(w, r, u, http.StatusSeeOther)
}
