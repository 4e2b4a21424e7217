package auth_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"samverk.io/samverk/engine/auth"
	"samverk.io/samverk/engine/auth/session"
)

// BenchmarkGuard measures what the guard adds to a request: none (a public route), the admin
// token, and a session cookie (HMAC check and decoding the principal), on a scoped route.
func BenchmarkGuard(b *testing.B) {
	sessions, err := session.New(session.Options{Key: []byte(strings.Repeat("k", 32))})
	if err != nil {
		b.Fatal(err)
	}
	mux := http.NewServeMux()
	table := auth.NewTable(mux, auth.NewGuard(auth.GuardOptions{
		Tokens: []auth.TokenAuthenticator{auth.NewAdminToken("the-admin-token")}, Sessions: sessions}))
	member := func(r *http.Request) (string, error) { return r.PathValue("m"), nil }
	table.MustAdd(
		auth.Route{Method: "GET", Pattern: "/public/{m}", Handler: ok},
		auth.Route{Method: "GET", Pattern: "/api/v1/things/{m}", Need: auth.Viewer, Member: member, Handler: ok},
	)
	rec := httptest.NewRecorder()
	sessions.Issue(rec, &auth.Principal{Subject: "alice", Method: "oidc", Grants: []auth.Grant{
		{Role: auth.Viewer, Member: "region-norr"}, {Role: auth.Operator, Member: "region-norr"}, {Role: auth.Viewer, Member: "kommun-vasterby"}}})
	cookie := rec.Result().Cookies()[0]
	for _, bc := range []struct {
		name, path string
		sign       func(*http.Request)
	}{
		{"public", "/public/region-norr", func(*http.Request) {}},
		{"admin-token", "/api/v1/things/region-norr", func(r *http.Request) { r.Header.Set("Authorization", "Bearer the-admin-token") }},
		{"session", "/api/v1/things/region-norr", func(r *http.Request) { r.AddCookie(cookie) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r := httptest.NewRequest("GET", bc.path, nil)
			bc.sign(r)
			w := httptest.NewRecorder()
			b.ReportAllocs()
			for b.Loop() {
				mux.ServeHTTP(w, r)
			}
			if w.Code != http.StatusNoContent {
				b.Fatalf("status %d", w.Code)
			}
		})
	}
}
