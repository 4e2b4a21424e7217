package suspension_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"samverk.io/samverk/engine/auth"
	"samverk.io/samverk/engine/store"
	"samverk.io/samverk/engine/store/storetest"
	"samverk.io/samverk/engine/suspension"
)

// fleet records the scopes it was last told are suspended.
type fleet struct{ scopes atomic.Pointer[[]string] }

func (f *fleet) Suspend(scopes []string) { f.scopes.Store(&scopes) }

func (f *fleet) got() []string {
	if p := f.scopes.Load(); p != nil {
		return *p
	}
	return nil
}

// TestSuspendRoutes: over real HTTP, a consortium operator suspends any member's group and
// resumes it; a member's own operator may only when the policy lets a member hold, and never
// another member's; bad names, a missing reason and a resume of nothing are refused with a
// reason; the console's form comes back to the page; a new manager on the same store (a
// restart) hands the fleet the same suspensions.
func TestSuspendRoutes(t *testing.T) {
	for _, kind := range storetest.Kinds {
		t.Run(kind, func(t *testing.T) {
			st := storetest.Open(t, kind, store.Options{})
			var mayHold atomic.Bool
			fl := &fleet{}
			m, err := suspension.New(suspension.Options{Store: st, Fleet: fl, MemberMayHold: mayHold.Load})
			if err != nil {
				t.Fatal(err)
			}
			mux := http.NewServeMux()
			for _, rt := range m.Routes() {
				mux.Handle(rt.Method+" "+rt.Pattern, rt.Handler)
			}
			principals := map[string]*auth.Principal{
				"consortium": {Subject: "oidc:anna", Grants: []auth.Grant{{Role: auth.Operator, Member: auth.Consortium}}},
				"norr":       {Subject: "oidc:bo", Grants: []auth.Grant{{Role: auth.Operator, Member: "region-norr"}}},
			}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				// The guard's part: who the request acts as.
				mux.ServeHTTP(w, r.WithContext(auth.WithPrincipal(r.Context(), principals[r.Header.Get("X-Who")])))
			}))
			t.Cleanup(srv.Close)
			client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			do := func(who, path, body string) (int, string) {
				t.Helper()
				req, _ := http.NewRequest("POST", srv.URL+path, strings.NewReader(body))
				req.Header.Set("X-Who", who)
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				var out map[string]any
				json.NewDecoder(resp.Body).Decode(&out)
				b, _ := json.Marshal(out)
				return resp.StatusCode, string(b)
			}
			for _, c := range []struct {
				name, who, path, body string
				code                  int
				says                  string
			}{
				{"no reason", "consortium", "/api/v1/members/region-norr/suspend", `{"group":"staff"}`, 400, "needs a reason"},
				{"bad member", "consortium", "/api/v1/members/Region_Norr/suspend", `{"reason":"x"}`, 400, "not a member's name"},
				{"bad group", "consortium", "/api/v1/members/region-norr/suspend", `{"group":"a/b","reason":"x"}`, 400, "not a device group's name"},
				{"unknown field", "consortium", "/api/v1/members/region-norr/suspend", `{"reasons":"x"}`, 400, "unknown field"},
				{"member without memberMayHold", "norr", "/api/v1/members/region-norr/suspend", `{"reason":"exam week"}`, 403, "memberMayHold"},
				{"resume of nothing", "consortium", "/api/v1/members/region-norr/resume", `{}`, 409, "not suspended"},
				{"consortium suspends a group", "consortium", "/api/v1/members/region-norr/suspend", `{"group":"staff","reason":"driver trouble"}`, 200, "driver trouble"},
			} {
				if code, body := do(c.who, c.path, c.body); code != c.code || !strings.Contains(body, c.says) {
					t.Errorf("%s: %d %s, want %d saying %q", c.name, code, body, c.code, c.says)
				}
			}
			if got := fl.got(); !slices.Equal(got, []string{"region-norr/staff"}) {
				t.Fatalf("fleet told %v", got)
			}

			mayHold.Store(true)
			if code, body := do("norr", "/api/v1/members/region-norr/suspend", `{"reason":"exam week"}`); code != 200 {
				t.Fatalf("member suspends itself with memberMayHold: %d %s", code, body)
			}
			// The guard refuses another member's path (the route's Member scope); the handler
			// refuses it too.
			if code, _ := do("norr", "/api/v1/members/kommun-vasterby/suspend", `{"reason":"x"}`); code != 403 {
				t.Errorf("member suspends another: %d, want 403", code)
			}
			if got := fl.got(); !slices.Equal(got, []string{"region-norr", "region-norr/staff"}) {
				t.Fatalf("fleet told %v", got)
			}

			// The console's form: back to the page.
			req, _ := http.NewRequest("POST", srv.URL+"/api/v1/members/region-norr/resume", strings.NewReader(url.Values{"group": {"staff"}}.Encode()))
			req.Header.Set("X-Who", "norr")
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/suspensions?done=") {
				t.Fatalf("form resume: %s %s", resp.Status, loc)
			}

			// A restart: the suspensions come back from the store.
			fl2 := &fleet{}
			m2, err := suspension.New(suspension.Options{Store: st, Fleet: fl2})
			if err != nil {
				t.Fatal(err)
			}
			if err := m2.Load(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := fl2.got(); !slices.Equal(got, []string{"region-norr"}) {
				t.Errorf("after a restart the fleet is told %v", got)
			}
		})
	}
}
