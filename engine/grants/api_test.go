package grants_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"samverk.io/samverk/engine/auth"
	"samverk.io/samverk/engine/grants"
	"samverk.io/samverk/engine/store"
)

// serve serves f's ledger's routes over loopback; each request acts as the principal its
// X-As header names, as the route table would after its checks.
func serve(t *testing.T, f *fixture) string {
	t.Helper()
	as := map[string]*auth.Principal{}
	for _, p := range []*auth.Principal{anna, bo, dan, cilla, consort, viewer} {
		as[p.Subject] = p
	}
	mux := http.NewServeMux()
	for _, rt := range f.l.Routes() {
		h := rt.Handler
		mux.Handle(rt.Method+" "+rt.Pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r = r.WithContext(auth.WithPrincipal(r.Context(), as[r.Header.Get("X-As")]))
			h.ServeHTTP(w, r)
		}))
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

func call(t *testing.T, method, u string, who *auth.Principal, ctype, body string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	req.Header.Set("X-As", who.Subject)
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// TestAPI: the routes create, decide, list and show, refuse with the rule named, bound their
// bodies, and the console's forms come back to the console page.
func TestAPI(t *testing.T) {
	f := newFixture(t, "sqlite")
	u := serve(t, f)
	const js = "application/json"
	body, _ := json.Marshal(remote(30))
	resp, b := call(t, "POST", u+"/api/v1/requests", anna, js, string(body))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %s %s", resp.Status, b)
	}
	var r store.ServiceRequest
	json.Unmarshal(b, &r)
	id := "/api/v1/requests/" + itoa(r.ID)

	for _, c := range []struct {
		name, method, path string
		who                *auth.Principal
		ctype, body        string
		code               int
		want               string
	}{
		{"a refused order names its rule", "POST", "/api/v1/requests", anna, js, strings.Replace(string(body), `"days":30`, `"days":400`, 1),
			400, `"rule":"max-days"`},
		{"an unknown field", "POST", "/api/v1/requests", anna, js, `{"service":"fjarratkomst","colour":"red"}`, 400, "unknown field"},
		{"a body past the bound", "POST", "/api/v1/requests", anna, js, `{"justification":"` + strings.Repeat("x", 40<<10) + `"}`, 413, "exceeds"},
		{"one's own request", "POST", id + "/approve", anna, js, `{}`, 403, `"rule":"own-request"`},
		{"an approver of a third member", "POST", id + "/approve", viewer, js, `{}`, 403, `"rule":"approver-role"`},
		{"no such request", "POST", "/api/v1/requests/999/approve", bo, js, `{}`, 404, "not found"},
		{"the manager", "POST", id + "/approve", bo, js, `{"reason":"ok"}`, 200, `"state":"pending"`},
		{"the manager again", "POST", id + "/approve", bo, js, `{}`, 403, `"rule":"approved-twice"`},
		{"waiting for the owner", "GET", "/api/v1/requests?waiting=true", cilla, "", "", 200, `"canApprove":true`},
		{"not waiting for the manager", "GET", "/api/v1/requests?waiting=true", bo, "", "", 200, `{"requests":[]}`},
		{"the owner by the console's form", "POST", id + "/approve", cilla, "application/x-www-form-urlencoded", "reason=as+owner", 303, ""},
		{"approved", "GET", id, anna, "", "", 200, `"state":"approved"`},
		{"the console", "GET", "/requests", anna, "", "", 200, "Order from the catalog"},
		{"a refused form comes back with the rule", "POST", "/api/v1/requests", anna, "application/x-www-form-urlencoded",
			"service=journalatkomst&member=kommun-vasterby&person=x&justification=y", 303, ""},
		{"access of another member", "GET", "/api/v1/grants/access?member=kommun-vasterby", viewer, "", "", 403, "do not act for"},
		{"a bad month", "GET", "/api/v1/grants/costs?month=november", anna, "", "", 400, "month"},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, b := call(t, c.method, u+c.path, c.who, c.ctype, c.body)
			if resp.StatusCode != c.code || !strings.Contains(string(b), c.want) {
				t.Errorf("%s %s: %s %s; want %d with %s", c.method, c.path, resp.Status, b, c.code, c.want)
			}
			if c.code == 303 && !strings.HasPrefix(resp.Header.Get("Location"), "/requests?") {
				t.Errorf("the form went to %q", resp.Header.Get("Location"))
			}
		})
	}
	resp, _ = call(t, "POST", u+"/api/v1/requests", anna, "application/x-www-form-urlencoded",
		"service=journalatkomst&member=kommun-vasterby&person=x&justification=y")
	if loc, _ := url.QueryUnescape(resp.Header.Get("Location")); !strings.Contains(loc, "rule requestable-by") {
		t.Errorf("a refused form: back to %s", loc)
	}

	// The grant starts; the console and the API show it, its costs and who had it.
	f.l.Tick(t.Context())
	f.advance(24 * time.Hour)
	for _, c := range []struct{ path, want string }{
		{"/api/v1/grants?state=active", `"service":"fjarratkomst"`},
		{"/api/v1/grants/access?service=fjarratkomst", `"by":"oidc:cilla"`},
		{"/api/v1/grants/costs?month=2026-11", `"amountSEK":1.5`},
		{"/api/v1/grants/work-items?open=true", `"name":"SAM-Fjarratkomst-Anvandare"`},
		{"/requests", `<td>fjarratkomst</td><td>kommun-vasterby</td><td class="mono">vb-1</td>`},
	} {
		resp, b := call(t, "GET", u+c.path, anna, "", "")
		if resp.StatusCode != 200 || !strings.Contains(string(b), c.want) {
			t.Errorf("GET %s: %s %s; want %s", c.path, resp.Status, b, c.want)
		}
	}
	if _, b := call(t, "GET", u+"/api/v1/grants", viewer, "", ""); !strings.Contains(string(b), `{"grants":[]}`) {
		t.Errorf("another member's reader sees %s", b)
	}
	var g struct{ Grants []store.Grant }
	_, b = call(t, "GET", u+"/api/v1/grants", anna, "", "")
	json.Unmarshal(b, &g)
	if len(g.Grants) != 1 {
		t.Fatalf("grants = %s", b)
	}
	if resp, b := call(t, "POST", u+"/api/v1/grants/"+itoa(g.Grants[0].ID)+"/revoke", bo, js, `{"reason":"left"}`); resp.StatusCode != 200 ||
		!strings.Contains(string(b), `"state":"revoked"`) {
		t.Errorf("revoke: %s %s", resp.Status, b)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestScopeOfOne: a request or grant is read in its member's scope, and also in the service
// owner's member's by an approver of it when the service needs the owner's approval (as the
// list shows it to them); never by a mere reader of the owner, nor for a service that needs
// only a manager.
func TestScopeOfOne(t *testing.T) {
	f := newFixture(t, "sqlite")
	ctx := t.Context()
	remoteReq, err := f.l.Create(ctx, anna, remote(30))
	if err != nil {
		t.Fatal(err)
	}
	mfa, err := f.l.Create(ctx, anna, grants.Order{Service: "mfa-token", Member: "kommun-vasterby", Person: "anna@vasterby.example",
		Justification: "a new key", CostCentre: "VK-100"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.l.Approve(ctx, bo, remoteReq.ID, "as manager"); err != nil {
		t.Fatal(err)
	}
	approved, err := f.l.Approve(ctx, cilla, remoteReq.ID, "as owner")
	if err != nil || approved.Grant == 0 {
		t.Fatalf("approve: %v %+v", err, approved)
	}
	mfaOwner := person("oidc:mo", auth.Grant{Role: auth.Approver, Member: "myndigheten-for-samhallsdata"})
	resolver := map[string]func(*http.Request) (string, error){}
	for _, rt := range f.l.Routes() {
		if rt.Member != nil {
			resolver[rt.Method+" "+rt.Pattern] = rt.Member
		}
	}
	for _, c := range []struct {
		name, route, key string
		id               int64
		who              *auth.Principal
		want             string
	}{
		{"the requester's member", "GET /api/v1/requests/{request}", "request", remoteReq.ID, anna, "kommun-vasterby"},
		{"the owner's approver", "GET /api/v1/requests/{request}", "request", remoteReq.ID, cilla, "region-norr"},
		{"the owner's reader", "GET /api/v1/requests/{request}", "request", remoteReq.ID, viewer, "kommun-vasterby"},
		{"the owner's approver, a manager-only service", "GET /api/v1/requests/{request}", "request", mfa.ID, mfaOwner, "kommun-vasterby"},
		{"the grant, for the owner's approver", "GET /api/v1/grants/{grant}", "grant", approved.Grant, cilla, "region-norr"},
		{"the grant, for the owner's reader", "GET /api/v1/grants/{grant}", "grant", approved.Grant, viewer, "kommun-vasterby"},
		{"the grant, for the member's approver", "GET /api/v1/grants/{grant}", "grant", approved.Grant, bo, "kommun-vasterby"},
	} {
		member := resolver[c.route]
		if member == nil {
			t.Fatalf("%s has no member resolver", c.route)
		}
		req := httptest.NewRequest("GET", "/", nil)
		req.SetPathValue(c.key, itoa(c.id))
		got, err := member(req.WithContext(auth.WithPrincipal(ctx, c.who)))
		if err != nil || got != c.want {
			t.Errorf("%s: %s reads in the scope of %q (%v), want %q", c.name, c.who.Subject, got, err, c.want)
		}
	}

	// What the resolver names, the handler shows.
	u := serve(t, f)
	if resp, b := call(t, "GET", u+"/api/v1/requests/"+itoa(remoteReq.ID), cilla, "", ""); resp.StatusCode != 200 || !strings.Contains(string(b), `"state":"approved"`) {
		t.Errorf("the owner's approver reads the request: %s %s", resp.Status, b)
	}
	if resp, b := call(t, "GET", u+"/api/v1/grants/"+itoa(approved.Grant), cilla, "", ""); resp.StatusCode != 200 || !strings.Contains(string(b), `"service":"fjarratkomst"`) {
		t.Errorf("the owner's approver reads the grant: %s %s", resp.Status, b)
	}
}

// TestCostsPage: the console's costs page sums a month per member and cost centre and lists
// it per service and device or person, of the members the reader sees only.
func TestCostsPage(t *testing.T) {
	f := newFixture(t, "sqlite")
	ctx := t.Context()
	o := remote(30)
	o.Devices = []string{"vb-1", "vb-2"}
	r, err := f.l.Create(ctx, anna, o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.l.Approve(ctx, bo, r.ID, "as manager"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.l.Approve(ctx, cilla, r.ID, "as owner"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.l.Create(ctx, viewer, grants.Order{Service: "utskrift", Member: "region-norr", Person: "vera@region-norr.example",
		Justification: "printing", CostCentre: "RN-1100"}); err != nil {
		t.Fatal(err)
	}
	if err := f.l.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	f.advance(24 * time.Hour)
	u := serve(t, f)

	for _, c := range []struct {
		name, path string
		who        *auth.Principal
		code       int
		want, not  []string
	}{
		{"a member's reader", "/costs?month=2026-11", anna, 200, []string{
			// One day of November's thirty at 45 SEK a month, for each of two devices.
			`<td>kommun-vasterby</td><td class="mono">VK-100</td><td>2</td><td class="num">3.00</td>`,
			`<td>fjarratkomst</td><td class="mono">vb-1</td>`, `<td>fjarratkomst</td><td class="mono">vb-2</td>`,
			`<td>monthly</td><td class="num">1</td><td class="num">0.0333</td><td class="num">1.50</td>`,
			`id="total">3.00<`, `<option>kommun-vasterby</option>`,
		}, []string{"region-norr", "utskrift", "RN-1100"}},
		{"the consortium", "/costs?month=2026-11", consort, 200, []string{
			`<td>kommun-vasterby</td><td class="mono">VK-100</td><td>2</td><td class="num">3.00</td>`,
			// One use in the month at 0.45 SEK.
			`<td>region-norr</td><td class="mono">RN-1100</td><td>1</td><td class="num">0.45</td>`,
			`<td>utskrift</td><td class="mono">vera@region-norr.example</td>`, `id="total">3.45<`,
		}, nil},
		{"the consortium, one member", "/costs?month=2026-11&member=region-norr", consort, 200,
			[]string{`id="total">0.45<`, `<option selected>region-norr</option>`}, []string{"VK-100"}},
		{"another month", "/costs?month=2026-10", anna, 200, []string{"No grant was active in 2026-10", `id="total">0.00<`,
			`href="/costs?month=2026-09"`, `href="/costs?month=2026-11"`}, []string{"vb-1"}},
		{"a member one does not act for", "/costs?month=2026-11&member=region-norr", anna, 403,
			[]string{"you do not act for member region-norr"}, []string{"RN-1100", "utskrift"}},
		{"a bad month", "/costs?month=november", anna, 400, []string{"want a month like 2026-11"}, []string{"vb-1"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, b := call(t, "GET", u+c.path, c.who, "", "")
			if resp.StatusCode != c.code {
				t.Errorf("GET %s: %s, want %d:\n%s", c.path, resp.Status, c.code, b)
			}
			for _, w := range c.want {
				if !strings.Contains(string(b), w) {
					t.Errorf("GET %s lacks %s:\n%s", c.path, w, b)
				}
			}
			for _, n := range c.not {
				if strings.Contains(string(b), n) {
					t.Errorf("GET %s shows %s:\n%s", c.path, n, b)
				}
			}
		})
	}
}
