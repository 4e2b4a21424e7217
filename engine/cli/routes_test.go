package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/oauth2-proxy/mockoidc"
	"github.com/spf13/pflag"

	"samverk.io/samverk/engine/auth"
	"samverk.io/samverk/engine/auth/apitoken"
	"samverk.io/samverk/engine/desired"
)

// Two members of the bundled catalog: the one each principal under test belongs to, and
// another.
const (
	memberA = "region-norr"
	memberB = "kommun-vasterby"
)

// The route test daemon's tokens.
const (
	routeAdmin   = "admin-token-of-the-route-test-0123456789"
	routeRead    = "read-token-of-region-norr-0123456789abcdef"
	routeEnrollA = "enroll-token-of-region-norr-0123456789abcdef"
	routeEnrollB = "enroll-token-of-kommun-vasterby-0123456789ab"
)

// routeDaemon is a real `samverk serve` on the bundled catalog, built as runServe builds it.
type routeDaemon struct {
	*daemon
	url     string
	devices map[string][]string // member → device ids
	creds   map[string]string   // device id → credential
	admin   string
	read    string // memberA's read token
}

func startRouteDaemon(t *testing.T, configure ...func(o *serveOptions, dir string)) *routeDaemon {
	t.Helper()
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var o serveOptions
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	o.flags(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o.listen, o.listener = ln.Addr().String(), ln
	o.data = filepath.Join(dir, "data")
	o.logLevel = "error"
	o.adminToken = write("admin", routeAdmin)
	o.enrollTokens = write("enroll", memberA+"="+routeEnrollA+"\n"+memberB+"="+routeEnrollB+"\n")
	o.readTokens = write("read", memberA+"="+routeRead+"\n")
	for _, c := range configure {
		c(&o, dir)
	}

	ctx, cancel := context.WithCancel(context.Background())
	var logs syncBuffer
	d, err := newDaemon(ctx, o, &logs)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("daemon: %v", err)
		}
		d.close()
		if t.Failed() {
			t.Logf("daemon log:\n%s", logs.String())
		}
	})
	select {
	case <-d.devices.Ready():
	case err := <-done:
		t.Fatalf("daemon stopped before publishing: %v\n%s", err, logs.String())
	}
	rd := &routeDaemon{daemon: d, url: "http://" + o.listen, devices: map[string][]string{}, creds: map[string]string{}, admin: routeAdmin, read: routeRead}
	for member, tok := range map[string]string{memberA: routeEnrollA, memberB: routeEnrollB} {
		for i := range 2 {
			body, _ := json.Marshal(desired.EnrollRequest{Facts: desired.Facts{Hostname: fmt.Sprintf("%s-pc%d", member, i), OSFamily: "windows"}})
			req, _ := http.NewRequest("POST", rd.url+"/api/v1/enroll", bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+tok)
			req.Header.Set("Content-Type", "application/json")
			resp, b := send(t, req)
			if resp.StatusCode != http.StatusCreated {
				t.Fatalf("enroll: %s %s", resp.Status, b)
			}
			var er desired.EnrollResponse
			json.Unmarshal(b, &er)
			rd.devices[member] = append(rd.devices[member], er.DeviceID)
			rd.creds[er.DeviceID] = er.Credential
			// Each device reports a failed OS upgrade, which the reset route then resets.
			body, _ = json.Marshal(desired.UpgradeReport{Release: "windows-11-25h2", Phase: desired.PhaseFailed, At: time.Now().UTC(),
				Attempt: 3, Message: "installer: setup.exe exited with 1", LogTail: "0xC1900101 - 0x20017"})
			req, _ = http.NewRequest("POST", rd.url+"/api/v1/devices/"+er.DeviceID+"/os-upgrade", bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+er.Credential)
			req.Header.Set("Content-Type", "application/json")
			if resp, b := send(t, req); resp.StatusCode != http.StatusOK {
				t.Fatalf("os-upgrade report: %s %s", resp.Status, b)
			}
		}
	}
	return rd
}

func send(t *testing.T, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// guardRedirect reports whether resp is the guard sending a browser to sign in.
func guardRedirect(resp *http.Response) bool {
	return resp.StatusCode == http.StatusFound && strings.HasPrefix(resp.Header.Get("Location"), "/auth/signin?next=")
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// principal is one way of calling the daemon: a credential and the grants it stands for.
type principal struct {
	name   string
	grants []auth.Grant // nil: no credential
	bearer string
	cookie *http.Cookie
	csrf   string
}

func (p principal) sign(req *http.Request) {
	switch {
	case p.bearer != "":
		req.Header.Set("Authorization", "Bearer "+p.bearer)
	case p.cookie != nil:
		req.AddCookie(p.cookie)
		req.Header.Set(auth.CSRFHeader, p.csrf)
	}
}

func (p principal) allowed(need auth.Role, scoped bool, member string) bool {
	for _, g := range p.grants {
		if g.Role.Includes(need) && (!scoped || g.Member == auth.Consortium || (member != auth.Consortium && g.Member == member)) {
			return true
		}
	}
	return false
}

// onlyMemberA reports whether every grant of p is memberA's.
func (p principal) onlyMemberA() bool {
	for _, g := range p.grants {
		if g.Member != memberA {
			return false
		}
	}
	return len(p.grants) > 0
}

// principals returns every principal the table is walked with: each role for memberA, for
// memberB and for the consortium, each as an API token and as a browser session; the admin
// token; memberA's read token.
func (d *routeDaemon) principals(t *testing.T) []principal {
	t.Helper()
	ps := []principal{
		{name: "admin token", grants: []auth.Grant{{Role: auth.Admin, Member: auth.Consortium}}, bearer: d.admin},
		{name: "read token of " + memberA, grants: []auth.Grant{{Role: auth.Viewer, Member: memberA}}, bearer: d.read},
	}
	for _, member := range []string{memberA, memberB, auth.Consortium} {
		for _, role := range auth.Roles {
			g := auth.Grant{Role: role, Member: member}
			c, err := d.people.tokens.Create(context.Background(), apitoken.CreateRequest{Member: member, Role: string(role), Expires: "1h"}, "test")
			if err != nil {
				t.Fatal(err)
			}
			ps = append(ps, principal{name: fmt.Sprintf("token %s@%s", role, member), grants: []auth.Grant{g}, bearer: c.Token})

			rec := httptest.NewRecorder()
			if err := d.people.sessions.Issue(rec, &auth.Principal{Subject: "test", Method: "local", Grants: []auth.Grant{g}}); err != nil {
				t.Fatal(err)
			}
			cookie := rec.Result().Cookies()[0]
			req := httptest.NewRequest("GET", "/", nil)
			req.AddCookie(cookie)
			_, csrf := d.people.sessions.Session(req)
			ps = append(ps, principal{name: fmt.Sprintf("session %s@%s", role, member), grants: []auth.Grant{g}, cookie: cookie, csrf: csrf})
		}
	}
	return ps
}

// call is one concrete request to a route: its path, its body, and the member it acts on
// (as the route's own Member resolver says).
type call struct {
	path   string
	body   []byte
	member string
	scoped bool
}

var wildcard = regexp.MustCompile(`\{([A-Za-z_][A-Za-z0-9_]*)(\.\.\.)?\}`)

// calls returns the requests to make to rt: every combination of candidate path values and
// bodies, classified by rt's Member resolver.
func (d *routeDaemon) calls(t *testing.T, rt auth.Route, candidates map[string][]string) []call {
	t.Helper()
	names := wildcard.FindAllStringSubmatch(rt.Pattern, -1)
	paths := []map[string]string{{}}
	for _, n := range names {
		vals, ok := candidates[n[1]]
		if !ok {
			t.Fatalf("route %s %s: the test has no candidate values for {%s}; add some", rt.Method, rt.Pattern, n[1])
		}
		var next []map[string]string
		for _, p := range paths {
			for _, v := range vals {
				q := map[string]string{n[1]: v}
				for k, x := range p {
					q[k] = x
				}
				next = append(next, q)
			}
		}
		paths = next
	}
	bodies := [][]byte{nil}
	if rt.Method != "GET" && rt.Method != "HEAD" {
		bodies = nil
		for _, m := range []string{memberA, memberB, auth.Consortium} {
			b, _ := json.Marshal(map[string]string{"member": m, "role": "viewer", "expires": "1h", "reason": "route test"})
			bodies = append(bodies, b)
		}
	}
	var out []call
	for _, pv := range paths {
		path := wildcard.ReplaceAllStringFunc(strings.ReplaceAll(rt.Pattern, "{$}", ""), func(s string) string {
			return pv[wildcard.FindStringSubmatch(s)[1]]
		})
		path = strings.ReplaceAll(path, "{$}", "") // "/{$}" is the path "/" exactly
		for _, body := range bodies {
			c := call{path: path, body: body}
			if rt.Member != nil {
				req := httptest.NewRequest(rt.Method, path, bytes.NewReader(body))
				for k, v := range pv {
					req.SetPathValue(k, v)
				}
				m, err := rt.Member(req)
				if err != nil {
					continue // this candidate is not a thing of this route
				}
				c.member, c.scoped = m, true
			}
			out = append(out, c)
		}
		if rt.Member == nil && len(names) > 0 && len(out) > 0 {
			break // without a member scope, one concrete path is enough
		}
	}
	if rt.Member != nil {
		right := false
		for _, c := range out {
			right = right || c.member == memberA || c.member == auth.Consortium
		}
		if !right {
			t.Fatalf("route %s %s: no candidate resolves to %s or the consortium; the test cannot walk it", rt.Method, rt.Pattern, memberA)
		}
	}
	return out
}

// TestRouteByRole walks every route of the daemon's route table, as registered, with no
// credential, a bad token, and every role for the member the request acts on, another member
// and the consortium, as API tokens and as sessions, and checks each answer against the
// route's row: 401 or a redirect to sign-in without a credential, 403 without the role or
// scope, through to the handler with them. Every body a memberA-only principal receives is
// scanned for memberB's device ids.
func TestRouteByRole(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the daemon on the reference catalog")
	}
	d := startRouteDaemon(t)
	ps := d.principals(t)

	// Tokens that revoke routes may revoke, one per scope; none is used as a credential.
	candidates := map[string][]string{"id": {d.devices[memberA][0], d.devices[memberB][0]}, "member": {memberA, memberB}}
	for _, m := range []string{memberA, memberB, auth.Consortium} {
		c, err := d.people.tokens.Create(context.Background(), apitoken.CreateRequest{Member: m, Role: "viewer", Expires: "1h", Name: "victim"}, "test")
		if err != nil {
			t.Fatal(err)
		}
		candidates["id"] = append(candidates["id"], c.ID)
	}
	maps.Copy(candidates, d.requestCandidates(t))
	foreign := d.devices[memberB]
	// Services owned by memberA, memberB and a third member; notices sent for memberA,
	// memberB and the consortium.
	candidates["service"] = []string{"fjarratkomst", "utskrift", "inloggningstjanst"}
	for _, m := range []string{memberA, memberB, auth.Consortium} {
		body, _ := json.Marshal(map[string]any{"title": "Route test", "body": "A notice.", "severity": "info", "member": m,
			"target": map[string]any{"members": []string{memberA}}})
		if m == memberB {
			body, _ = json.Marshal(map[string]any{"title": "Route test", "body": "A notice.", "severity": "info", "member": m,
				"target": map[string]any{"members": []string{memberB}}})
		}
		req, _ := http.NewRequest("POST", d.url+"/api/v1/notices", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+d.admin)
		req.Header.Set("Content-Type", "application/json")
		resp, b := send(t, req)
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("send a notice for %s: %s %s", m, resp.Status, b)
		}
		var n struct{ Seq int64 }
		json.Unmarshal(b, &n)
		candidates["seq"] = append(candidates["seq"], fmt.Sprint(n.Seq))
	}

	routes := d.srv.Routes()
	if len(routes) < 15 {
		t.Fatalf("only %d routes registered", len(routes))
	}
	// The API is closed unless a route proves the caller by other means: the agent's
	// endpoints (enrollment tokens, device credentials). A new public API route must be
	// added here, deliberately.
	publicAPI := map[string]bool{
		"POST /api/v1/enroll":                  true,
		"GET /api/v1/devices/{id}/desired":     true,
		"POST /api/v1/devices/{id}/reports":    true,
		"POST /api/v1/devices/{id}/credential": true,
		// The agent's notices, by its device credential.
		"GET /api/v1/devices/{id}/notices":               true,
		"GET /api/v1/devices/{id}/notices/stream":        true,
		"POST /api/v1/devices/{id}/notices/{seq}/answer": true,
		// The agent's OS upgrade phases, by its device credential.
		"POST /api/v1/devices/{id}/os-upgrade": true,
	}
	// Public pages, each deliberately: the status page members embed.
	publicPages := map[string]bool{
		"GET /status":      true,
		"GET /status.json": true,
	}
	doc, err := os.ReadFile("../../docs/auth.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, rt := range routes {
		name := rt.Method + " " + rt.Pattern
		if auth.IsAPI(rt.Pattern) && rt.Public() != publicAPI[name] {
			t.Errorf("%s: public = %v, want %v", name, rt.Public(), publicAPI[name])
		}
		if publicPages[name] && !rt.Public() {
			t.Errorf("%s: not public, but the status page must be", name)
		}
		if !bytes.Contains(doc, []byte("| `"+name+"` |")) {
			t.Errorf("docs/auth.md: the route table has no row for %s", name)
		}
	}
	var checked int
	for _, rt := range routes {
		name := rt.Method + " " + rt.Pattern
		api := auth.IsAPI(rt.Pattern)
		for _, c := range d.calls(t, rt, candidates) {
			do := func(p principal, bearer string) (*http.Response, []byte) {
				req, err := http.NewRequest(rt.Method, d.url+c.path, bytes.NewReader(c.body))
				if err != nil {
					t.Fatal(err)
				}
				if c.body != nil {
					req.Header.Set("Content-Type", "application/json")
				}
				p.sign(req)
				if bearer != "" {
					req.Header.Set("Authorization", "Bearer "+bearer)
				}
				checked++
				return send(t, req)
			}
			resp, body := do(principal{}, "")
			signInRedirect := guardRedirect(resp)
			switch {
			case rt.Public():
				if signInRedirect || resp.StatusCode == http.StatusForbidden && strings.Contains(string(body), "needs the role") {
					t.Errorf("%s %s (public) without credential: %s", name, c.path, resp.Status)
				}
				continue
			case !api && (rt.Method == "GET" || rt.Method == "HEAD"):
				if !signInRedirect {
					t.Errorf("page %s %s without session: %s, want 302 to sign-in", name, c.path, resp.Status)
				}
			default:
				if resp.StatusCode != http.StatusUnauthorized {
					t.Errorf("%s %s without credential: %s %s, want 401", name, c.path, resp.Status, body)
				}
			}
			if resp, _ := do(principal{}, apitoken.Prefix+"not-a-real-token"); resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s %s with an unknown token: %s, want 401", name, c.path, resp.Status)
			}
			for _, p := range ps {
				resp, body := do(p, "")
				allowed := p.allowed(rt.Need, c.scoped, c.member)
				switch {
				case !allowed && resp.StatusCode != http.StatusForbidden:
					t.Errorf("%s %s (member %q) as %s: %s %s, want 403", name, c.path, c.member, p.name, resp.Status, body)
				case allowed && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden || resp.StatusCode >= 500 || guardRedirect(resp)):
					t.Errorf("%s %s (member %q) as %s: %s %s, want the handler's answer", name, c.path, c.member, p.name, resp.Status, body)
				case allowed && rt.Method == "GET" && resp.StatusCode != http.StatusOK:
					t.Errorf("%s %s (member %q) as %s: %s %s, want 200", name, c.path, c.member, p.name, resp.Status, body)
				}
				if p.onlyMemberA() {
					for _, id := range foreign {
						if bytes.Contains(body, []byte(id)) {
							t.Errorf("%s %s as %s: the body holds %s's device %s", name, c.path, p.name, memberB, id)
						}
					}
					if rt.Pattern == "/api/v1/fleet/summary" && bytes.Contains(body, []byte(memberB)) {
						t.Errorf("%s as %s: the summary counts %s's devices", name, p.name, memberB)
					}
				}
			}
		}
	}
	t.Logf("%d routes, %d requests", len(routes), checked)

	// The filters of the fleet view cannot reach across members either.
	for _, p := range ps {
		if !p.onlyMemberA() {
			continue
		}
		req, _ := http.NewRequest("GET", d.url+"/api/v1/devices?member="+memberB, nil)
		p.sign(req)
		if resp, body := send(t, req); resp.StatusCode != http.StatusForbidden || bytes.Contains(body, []byte(foreign[0])) {
			t.Errorf("devices?member=%s as %s: %s", memberB, p.name, resp.Status)
		}
	}
}

// TestSessionNeedsCSRF: a browser session's state-changing request without its CSRF token
// is refused, whatever its role; the same request with it passes.
func TestSessionNeedsCSRF(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the daemon on the reference catalog")
	}
	d := startRouteDaemon(t)
	var admin principal
	for _, p := range d.principals(t) {
		if p.cookie != nil && p.grants[0] == (auth.Grant{Role: auth.Admin, Member: auth.Consortium}) {
			admin = p
		}
	}
	post := func(csrf string) *http.Response {
		req, _ := http.NewRequest("POST", d.url+"/api/v1/resume", nil)
		req.AddCookie(admin.cookie)
		if csrf != "" {
			req.Header.Set(auth.CSRFHeader, csrf)
		}
		resp, _ := send(t, req)
		return resp
	}
	if resp := post(""); resp.StatusCode != http.StatusForbidden {
		t.Errorf("without CSRF token: %s, want 403", resp.Status)
	}
	if resp := post("wrong"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("with a wrong CSRF token: %s, want 403", resp.Status)
	}
	if resp := post(admin.csrf); resp.StatusCode != http.StatusOK {
		t.Errorf("with the CSRF token: %s, want 200", resp.Status)
	}
}

// TestServeOIDC: `samverk serve` with the OpenID Connect flags signs a person in against a
// provider started in the test, with the roles the groups claim names; the local sign-in is
// off.
func TestServeOIDC(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the daemon on the reference catalog")
	}
	m, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Shutdown() })
	d := startRouteDaemon(t, func(o *serveOptions, dir string) {
		secret := filepath.Join(dir, "oidc-secret")
		os.WriteFile(secret, []byte(m.ClientSecret), 0o600)
		o.oidcIssuer, o.oidcClientID, o.oidcClientSecret = m.Issuer(), m.ClientID, secret
		o.oidcScopes = []string{"profile", "email", "groups"}
	})
	m.QueueUser(&mockoidc.MockUser{Subject: "dana", Email: "dana@norr.example", Groups: []string{"samverk:region-norr:viewer"}})
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar}
	resp, err := client.Get(d.url + "/auth/oidc/start?next=/api/v1/devices")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Request.URL.Path != "/api/v1/devices" || !bytes.Contains(body, []byte(d.devices[memberA][0])) ||
		bytes.Contains(body, []byte(d.devices[memberB][0])) {
		t.Fatalf("after signing in: %s at %s\n%s", resp.Status, resp.Request.URL, body)
	}
	resp, err = client.PostForm(d.url+"/auth/local", url.Values{"member": {"*"}, "role": {"admin"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("local sign-in with a provider configured: %s", resp.Status)
	}
}
