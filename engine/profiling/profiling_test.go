package profiling_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"samverk.io/samverk/engine/auth"
	"samverk.io/samverk/engine/profiling"
)

// memberAdmin is an admin of region-norr only.
type memberAdmin struct{}

func (memberAdmin) AuthenticateToken(_ context.Context, tok string) (*auth.Principal, error) {
	if tok != "norr-admin" {
		return nil, auth.ErrUnknownToken
	}
	return &auth.Principal{Subject: "norr", Name: "norr admin", Method: "token",
		Grants: []auth.Grant{{Role: auth.Admin, Member: "region-norr"}}}, nil
}

func TestRoutes(t *testing.T) {
	mux := http.NewServeMux()
	auth.NewTable(mux, auth.NewGuard(auth.GuardOptions{
		Tokens: []auth.TokenAuthenticator{auth.NewAdminToken("the-admin-token"), memberAdmin{}},
	})).MustAdd(profiling.Routes()...)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	for _, rt := range profiling.Routes() {
		if rt.Method != "GET" || rt.Audit || rt.Need != auth.Admin || rt.Member == nil {
			t.Errorf("%s %s: want a GET for consortium admins, not audited", rt.Method, rt.Pattern)
		}
	}
	for _, tc := range []struct {
		name, path, token string
		code              int
		body              string
	}{
		{"no credential: sign in first", "/debug/pprof/", "", http.StatusFound, ""},
		{"a member's admin", "/debug/pprof/", "norr-admin", http.StatusForbidden, ""},
		{"index", "/debug/pprof/", "the-admin-token", http.StatusOK, "goroutine"},
		{"heap", "/debug/pprof/heap?debug=1", "the-admin-token", http.StatusOK, "heap profile"},
		{"goroutines", "/debug/pprof/goroutine?debug=1", "the-admin-token", http.StatusOK, "goroutine profile"},
		{"cmdline", "/debug/pprof/cmdline", "the-admin-token", http.StatusOK, "profiling.test"},
		{"cpu", "/debug/pprof/profile?seconds=1", "the-admin-token", http.StatusOK, ""},
		{"no POST", "/debug/pprof/symbol", "the-admin-token", http.StatusMethodNotAllowed, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			method := "GET"
			if tc.name == "no POST" {
				method = "POST"
			}
			req, _ := http.NewRequest(method, srv.URL+tc.path, nil)
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.code || !strings.Contains(string(b), tc.body) {
				t.Fatalf("%s %s: %s, want %d with %q\n%.300s", method, tc.path, resp.Status, tc.code, tc.body, b)
			}
		})
	}
}
