package auth_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"samverk.io/samverk/engine/auth"
)

var ok = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })

// failing is an authenticator whose store is down.
type failing struct{}

func (failing) AuthenticateToken(context.Context, string) (*auth.Principal, error) {
	return nil, errors.New("database is closed")
}

func TestTableRefusesBadRows(t *testing.T) {
	for _, tt := range []struct {
		name string
		rt   auth.Route
		want string
	}{
		{"no handler", auth.Route{Method: "GET", Pattern: "/x"}, "no handler"},
		{"unknown role", auth.Route{Method: "GET", Pattern: "/x", Need: "root", Handler: ok}, "unknown role"},
		{"scope without role", auth.Route{Method: "GET", Pattern: "/x", Member: auth.ConsortiumScope, Handler: ok}, "without a role"},
		{"relative pattern", auth.Route{Method: "GET", Pattern: "x", Handler: ok}, "starting with /"},
		{"conflict", auth.Route{Method: "GET", Pattern: "/taken", Handler: ok}, "conflicts"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			table := auth.NewTable(http.NewServeMux(), auth.NewGuard(auth.GuardOptions{}))
			table.MustAdd(auth.Route{Method: "GET", Pattern: "/taken", Handler: ok})
			if err := table.Add(tt.rt); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Add = %v, want %q", err, tt.want)
			}
			if n := len(table.Routes()); n != 1 {
				t.Errorf("%d routes after a refused one", n)
			}
		})
	}
}

func TestGuard(t *testing.T) {
	var audit []auth.Entry
	admin := auth.NewAdminToken("the-admin-token")
	norr := auth.MemberTokens(func(tok string) (string, bool) { return "region-norr", tok == "norr-read" })
	mux := http.NewServeMux()
	table := auth.NewTable(mux, auth.NewGuard(auth.GuardOptions{
		Tokens: []auth.TokenAuthenticator{admin, norr},
		Audit:  func(_ context.Context, e auth.Entry) { audit = append(audit, e) },
	}))
	resolve := func(r *http.Request) (string, error) {
		switch id := r.PathValue("id"); id {
		case "gone":
			return "", auth.ErrNotFound
		case "bad":
			return "", errors.Join(errors.New("id is malformed"), auth.ErrBadRequest)
		case "down":
			return "", errors.New("store unavailable")
		default:
			return id, nil
		}
	}
	table.MustAdd(
		auth.Route{Method: "GET", Pattern: "/api/v1/things/{id}", Need: auth.Viewer, Member: resolve, Handler: ok},
		auth.Route{Method: "POST", Pattern: "/api/v1/act", Need: auth.Operator, Member: auth.ConsortiumScope, Audit: true, Handler: ok},
		auth.Route{Method: "GET", Pattern: "/page", Need: auth.Viewer, Handler: ok},
	)
	failingTable := auth.NewTable(http.NewServeMux(), auth.NewGuard(auth.GuardOptions{Tokens: []auth.TokenAuthenticator{failing{}}}))
	failingTable.MustAdd(auth.Route{Method: "GET", Pattern: "/api/v1/x", Need: auth.Viewer, Handler: ok})

	for _, tt := range []struct {
		name, method, path, token string
		h                         http.Handler
		want                      int
	}{
		{"own member", "GET", "/api/v1/things/region-norr", "norr-read", mux, 204},
		{"other member", "GET", "/api/v1/things/kommun-vasterby", "norr-read", mux, 403},
		{"not found", "GET", "/api/v1/things/gone", "norr-read", mux, 404},
		{"bad request", "GET", "/api/v1/things/bad", "norr-read", mux, 400},
		{"scope unknowable", "GET", "/api/v1/things/down", "norr-read", mux, 503},
		{"no credential", "GET", "/api/v1/things/region-norr", "", mux, 401},
		{"unknown token", "GET", "/api/v1/things/region-norr", "nope", mux, 401},
		{"member viewer cannot act", "POST", "/api/v1/act", "norr-read", mux, 403},
		{"admin token acts", "POST", "/api/v1/act", "the-admin-token", mux, 204},
		{"page without session", "GET", "/page?x=1", "", mux, 302},
		{"store down", "GET", "/api/v1/x", "anything", failingTable.Handler(), 503},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, tt.path, nil)
			if tt.token != "" {
				r.Header.Set("Authorization", "Bearer "+tt.token)
			}
			w := httptest.NewRecorder()
			tt.h.ServeHTTP(w, r)
			if w.Code != tt.want {
				t.Errorf("%d %s, want %d", w.Code, w.Body, tt.want)
			}
			if tt.want == 302 && w.Header().Get("Location") != "/auth/signin?next=%2Fpage%3Fx%3D1" {
				t.Errorf("Location %q", w.Header().Get("Location"))
			}
		})
	}
	// The refused attempt and the admitted action are on record; nothing without a credential.
	if len(audit) != 2 {
		t.Fatalf("audit %+v, want the refused attempt and the admitted action", audit)
	}
	if e := audit[0]; e.Subject != "read-token:region-norr" || e.Status != 403 || e.Member != auth.Consortium ||
		e.Role != auth.Operator || e.Scope != "region-norr" {
		t.Errorf("refused attempt recorded as %+v", e)
	}
	if e := audit[1]; e.Subject != "admin-token" || e.Route != "POST /api/v1/act" || e.Status != 204 || e.Member != auth.Consortium ||
		e.Scope != auth.Consortium || e.Role != auth.Operator || e.Method != "admin-token" {
		t.Errorf("admitted action recorded as %+v", e)
	}
}

// TestGuardAudit: what an audited route's handler notes reaches its entry, bounded; the
// guard's own refusals of a known principal are recorded with the member when it is known.
func TestGuardAudit(t *testing.T) {
	var audit []auth.Entry
	mux := http.NewServeMux()
	table := auth.NewTable(mux, auth.NewGuard(auth.GuardOptions{
		Tokens: []auth.TokenAuthenticator{auth.NewAdminToken("the-admin-token"),
			auth.MemberTokens(func(tok string) (string, bool) { return "region-norr", tok == "norr-read" })},
		Audit: func(_ context.Context, e auth.Entry) { audit = append(audit, e) },
	}))
	resolve := func(r *http.Request) (string, error) {
		switch id := r.PathValue("id"); id {
		case "gone":
			return "", auth.ErrNotFound
		case "bad":
			return "", errors.Join(errors.New("id is malformed"), auth.ErrBadRequest)
		default:
			return id, nil
		}
	}
	long := strings.Repeat("å", 2000)
	table.MustAdd(
		auth.Route{Method: "POST", Pattern: "/api/v1/things/{id}", Need: auth.Admin, Member: resolve, Audit: true,
			Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				auth.Note(r.Context(), "reason", "first")
				auth.Note(r.Context(), "reason", "maintenance")
				auth.Note(r.Context(), "long", long)
				for i := range 40 {
					auth.Note(r.Context(), fmt.Sprintf("k%02d", i), "v")
				}
				w.WriteHeader(http.StatusCreated)
			})},
		auth.Route{Method: "POST", Pattern: "/api/v1/crash", Need: auth.Admin, Audit: true,
			Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				auth.Note(r.Context(), "step", "half done")
				panic(http.ErrAbortHandler)
			})},
		auth.Route{Method: "POST", Pattern: "/api/v1/quiet", Need: auth.Viewer,
			Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				auth.Note(r.Context(), "ignored", "outside an audited route")
				w.WriteHeader(http.StatusNoContent)
			})},
	)
	for _, tt := range []struct {
		path, token string
		want        int
	}{
		{"/api/v1/things/region-norr", "the-admin-token", 201},
		{"/api/v1/things/region-norr", "norr-read", 403}, // not an admin at all
		{"/api/v1/things/gone", "the-admin-token", 404},
		{"/api/v1/things/bad", "the-admin-token", 400},
		{"/api/v1/things/region-norr", "unknown", 401},
		{"/api/v1/things/region-norr", "", 401},
		{"/api/v1/quiet", "norr-read", 204},
	} {
		r := httptest.NewRequest("POST", tt.path, nil)
		if tt.token != "" {
			r.Header.Set("Authorization", "Bearer "+tt.token)
		}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		if w.Code != tt.want {
			t.Errorf("%s as %q: %d, want %d", tt.path, tt.token, w.Code, tt.want)
		}
	}
	func() {
		defer func() {
			if v := recover(); v != http.ErrAbortHandler {
				t.Errorf("the handler's panic became %v", v)
			}
		}()
		r := httptest.NewRequest("POST", "/api/v1/crash", nil)
		r.Header.Set("Authorization", "Bearer the-admin-token")
		mux.ServeHTTP(httptest.NewRecorder(), r)
	}()
	if len(audit) != 5 {
		t.Fatalf("%d entries, want 5 (the action, the refusals of known principals, the crash): %+v", len(audit), audit)
	}
	if e := audit[4]; e.Status != 500 || e.Route != "POST /api/v1/crash" || e.Detail["step"] != "half done" {
		t.Errorf("a handler's panic recorded as %+v", e)
	}
	d := audit[0].Detail
	if d["reason"] != "maintenance" || len(d) != 16 || len(d["long"]) > 1024 || !strings.HasSuffix(d["long"], "…") || !utf8.ValidString(d["long"]) {
		t.Errorf("detail has %d keys, reason %q, long %d bytes", len(d), d["reason"], len(d["long"]))
	}
	if e := audit[1]; e.Status != 403 || e.Member != "region-norr" || e.Subject != "read-token:region-norr" || e.Detail != nil {
		t.Errorf("refusal before the scope check recorded as %+v", e)
	}
	if e := audit[2]; e.Status != 404 || e.Path != "/api/v1/things/gone" {
		t.Errorf("not found recorded as %+v", e)
	}
	if e := audit[3]; e.Status != 400 {
		t.Errorf("bad request recorded as %+v", e)
	}
}

// TestGuardPage: a refused page request goes to the Page hook; an API request keeps its JSON.
func TestGuardPage(t *testing.T) {
	var got int
	mux := http.NewServeMux()
	auth.NewTable(mux, auth.NewGuard(auth.GuardOptions{
		Tokens: []auth.TokenAuthenticator{auth.MemberTokens(func(string) (string, bool) { return "region-norr", true })},
		Page: func(w http.ResponseWriter, r *http.Request, code int, msg string) {
			got = code
			w.WriteHeader(code)
		},
	})).MustAdd(
		auth.Route{Method: "GET", Pattern: "/admin", Need: auth.Admin, Handler: ok},
		auth.Route{Method: "GET", Pattern: "/api/v1/admin", Need: auth.Admin, Handler: ok},
	)
	for path, hook := range map[string]int{"/admin": 403, "/api/v1/admin": 0} {
		got = 0
		r := httptest.NewRequest("GET", path, nil)
		r.Header.Set("Authorization", "Bearer any")
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		if w.Code != 403 || got != hook {
			t.Errorf("%s: %d, hook saw %d, want 403 and %d", path, w.Code, got, hook)
		}
	}
}
