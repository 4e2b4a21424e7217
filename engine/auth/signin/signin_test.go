package signin_test

import (
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/oauth2-proxy/mockoidc"

	"samverk.io/samverk/engine/auth"
	"samverk.io/samverk/engine/auth/session"
	"samverk.io/samverk/engine/auth/signin"
)

// recorder keeps every Set-Cookie the daemon sends, to check the cookies' attributes.
type recorder struct {
	mu      sync.Mutex
	host    string
	cookies []*http.Cookie
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err == nil && req.URL.Host == r.host {
		r.mu.Lock()
		r.cookies = append(r.cookies, resp.Cookies()...)
		r.mu.Unlock()
	}
	return resp, err
}

type site struct {
	url      string
	provider *mockoidc.MockOIDC
	client   *http.Client
	rec      *recorder
}

// startSite runs a provider and a daemon-like site over loopback HTTP: the sign-in routes and
// a few protected ones, behind the guard.
func startSite(t *testing.T, roles signin.RoleMap) *site {
	t.Helper()
	m, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Shutdown() })

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	sessions, err := session.New(session.Options{Key: []byte(strings.Repeat("k", 32))})
	if err != nil {
		t.Fatal(err)
	}
	h, err := signin.New(signin.Options{Sessions: sessions, OIDC: &signin.OIDC{
		Issuer: m.Issuer(), ClientID: m.ClientID, ClientSecret: m.ClientSecret,
		RedirectURL: base + signin.CallbackPath, Roles: roles, Scopes: []string{"profile", "email", "groups"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	table := auth.NewTable(mux, auth.NewGuard(auth.GuardOptions{Sessions: sessions}))
	pathMember := func(r *http.Request) (string, error) { return r.PathValue("member"), nil }
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok "+auth.FromContext(r.Context()).Name)
	})
	table.MustAdd(h.Routes()...)
	table.MustAdd(
		auth.Route{Method: "GET", Pattern: "/console", Need: auth.Viewer, Handler: ok},
		auth.Route{Method: "POST", Pattern: "/api/v1/members/{member}/act", Need: auth.Operator, Member: pathMember, Handler: ok},
	)
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	jar, _ := cookiejar.New(nil)
	rec := &recorder{host: ln.Addr().String()}
	return &site{url: base, provider: m, client: &http.Client{Jar: jar, Transport: rec}, rec: rec}
}

func (s *site) get(t *testing.T, path string) (*http.Response, string) {
	t.Helper()
	resp, err := s.client.Get(s.url + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func (s *site) post(t *testing.T, path string, form url.Values, header map[string]string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", s.url+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestOIDCSignIn runs the whole authorization code flow with PKCE against a provider started
// in the test, with real cookies: a page sends the browser to sign in, the provider sends it
// back, the session carries the roles the groups claim maps to, state-changing requests need
// the session's CSRF token, and sign-out ends it.
func TestOIDCSignIn(t *testing.T) {
	s := startSite(t, signin.RoleMap{})
	s.provider.QueueUser(&mockoidc.MockUser{Subject: "alice-1", Email: "alice@norr.example", EmailVerified: true,
		Groups: []string{"samverk:region-norr:operator", "/samverk:consortium:viewer", "staff"}})

	resp, body := s.get(t, "/console")
	if resp.StatusCode != 200 || resp.Request.URL.Path != signin.SignInPath || !strings.Contains(body, signin.StartPath+"?next=%2fconsole") {
		t.Fatalf("an anonymous page visit: %s at %s\n%s", resp.Status, resp.Request.URL, body)
	}
	resp, body = s.get(t, signin.StartPath+"?next=/console")
	if resp.StatusCode != 200 || resp.Request.URL.Path != "/console" || body != "ok alice@norr.example" {
		t.Fatalf("after the flow: %s at %s: %q", resp.Status, resp.Request.URL, body)
	}
	var sess *http.Cookie
	for _, c := range s.rec.cookies {
		if c.Name == "samverk_session" && c.Value != "" {
			sess = c
		}
	}
	if sess == nil || !sess.HttpOnly || sess.SameSite != http.SameSiteLaxMode || sess.Secure || sess.MaxAge <= 0 {
		t.Fatalf("session cookie %+v: want HttpOnly, SameSite=Lax, expiring, not Secure over http", sess)
	}

	resp, body = s.get(t, signin.WhoAmIPath)
	var who signin.WhoAmI
	if err := json.Unmarshal([]byte(body), &who); err != nil || resp.StatusCode != 200 {
		t.Fatalf("whoami: %s %s", resp.Status, body)
	}
	want := []auth.Grant{{Role: auth.Operator, Member: "region-norr"}, {Role: auth.Viewer, Member: auth.Consortium}}
	if who.Subject != "alice-1" || who.Method != "oidc" || len(who.Grants) != 2 || who.Grants[0] != want[0] || who.Grants[1] != want[1] || who.CSRF == "" {
		t.Fatalf("whoami = %+v", who)
	}

	for _, c := range []struct {
		name   string
		member string
		csrf   string
		want   int
	}{
		{"operator acts without the CSRF token", "region-norr", "", http.StatusForbidden},
		{"operator acts with a wrong CSRF token", "region-norr", "forged", http.StatusForbidden},
		{"operator acts with the CSRF token", "region-norr", who.CSRF, http.StatusOK},
		{"consortium viewer cannot act for another member", "kommun-vasterby", who.CSRF, http.StatusForbidden},
	} {
		resp, body := s.post(t, "/api/v1/members/"+c.member+"/act", url.Values{}, map[string]string{auth.CSRFHeader: c.csrf})
		if resp.StatusCode != c.want {
			t.Errorf("%s: %s %s, want %d", c.name, resp.Status, body, c.want)
		}
	}
	// The form field carries the token as well as the header does.
	if resp, body := s.post(t, "/api/v1/members/region-norr/act", url.Values{auth.CSRFField: {who.CSRF}}, nil); resp.StatusCode != 200 {
		t.Errorf("CSRF token as a form field: %s %s", resp.Status, body)
	}

	if resp, _ := s.post(t, signin.SignOutPath, url.Values{}, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("sign-out without the CSRF token: %s, want 403", resp.Status)
	}
	resp, _ = s.post(t, signin.SignOutPath, url.Values{auth.CSRFField: {who.CSRF}}, nil)
	if resp.Request.URL.Path != signin.SignInPath {
		t.Errorf("sign-out ends at %s", resp.Request.URL)
	}
	if resp, _ := s.get(t, "/console"); resp.Request.URL.Path != signin.SignInPath {
		t.Errorf("after sign-out the console is at %s, want the sign-in page", resp.Request.URL)
	}
	if resp, _ := s.get(t, signin.WhoAmIPath); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the API after sign-out: %s, want 401", resp.Status)
	}
}

// TestOIDCRoleMapAndRefusals: a role map file's grants; a person without a mapped group
// gets no session; a callback whose state does not match is refused.
func TestOIDCRoleMapAndRefusals(t *testing.T) {
	roles, err := signin.ParseRoleMap("roles.map", strings.NewReader("norr-ops = operator@region-norr\n"))
	if err != nil {
		t.Fatal(err)
	}
	s := startSite(t, roles)

	s.provider.QueueUser(&mockoidc.MockUser{Subject: "bob", Email: "bob@example", Groups: []string{"samverk:region-norr:admin"}})
	resp, body := s.get(t, signin.StartPath)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "maps to a samverk role") {
		t.Errorf("a person without a mapped group: %s\n%s", resp.Status, body)
	}
	if resp, _ := s.get(t, signin.WhoAmIPath); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("refused sign-in left a session: %s", resp.Status)
	}

	s.provider.QueueUser(&mockoidc.MockUser{Subject: "carol", Email: "carol@example", Groups: []string{"norr-ops"}})
	// A destination on another site is replaced by this site's root (which this test site
	// does not serve).
	resp, body = s.get(t, signin.StartPath+"?next=https://evil.example/")
	if resp.Request.URL.Host != strings.TrimPrefix(s.url, "http://") || resp.Request.URL.Path != "/" {
		t.Fatalf("mapped sign-in: %s at %s\n%s", resp.Status, resp.Request.URL, body)
	}
	_, body = s.get(t, signin.WhoAmIPath)
	if !strings.Contains(body, `"role":"operator","member":"region-norr"`) {
		t.Errorf("whoami after a mapped sign-in: %s", body)
	}

	// A callback with a state of its own making.
	s.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, _ = s.get(t, signin.StartPath)
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || loc.Query().Get("code_challenge") == "" || loc.Query().Get("code_challenge_method") != "S256" || loc.Query().Get("nonce") == "" {
		t.Fatalf("authorization request %s: want a PKCE S256 challenge and a nonce", loc)
	}
	resp, _ = s.get(t, signin.CallbackPath+"?code=x&state=forged")
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("forged state: %s, want 400", resp.Status)
	}
}

func TestParseRoleMap(t *testing.T) {
	good := "# comment\nnorr-ops = operator@region-norr\nnorr-ops = viewer@*  # and all\n\ncab = approver@*\n"
	m, err := signin.ParseRoleMap("r.map", strings.NewReader(good))
	if err != nil {
		t.Fatal(err)
	}
	g := m.Grants([]string{"norr-ops", "cab", "other", "norr-ops"})
	if len(g) != 3 || g[0] != (auth.Grant{Role: auth.Operator, Member: "region-norr"}) || g[1] != (auth.Grant{Role: auth.Viewer, Member: "*"}) || g[2].Role != auth.Approver {
		t.Errorf("grants %v", g)
	}
	for _, tt := range []struct{ in, want string }{
		{"norr-ops", "r.map:1:1: want <claim value> = <role>@<member or *>"},
		{"x = root@region-norr", `r.map:1:5: grant "root@region-norr": unknown role "root"`},
		{"\nx = viewer", `r.map:2:5: grant "viewer": want <role>@<member or *>`},
		{"x = viewer@Region Norr", `r.map:1:5: grant "viewer@Region Norr": member "Region Norr" is not a DNS label`},
		{"x =", `r.map:1:4: "x" maps to nothing`},
	} {
		if _, err := signin.ParseRoleMap("r.map", strings.NewReader(tt.in)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: %v, want %q", tt.in, err, tt.want)
		}
	}
	var zero signin.RoleMap
	if g := zero.Grants([]string{"samverk:region-norr:viewer", "samverk:consortium:admin", "samverk:x:root", "samverk:Bad:viewer", "other"}); len(g) != 2 {
		t.Errorf("convention grants %v", g)
	}
}

func FuzzParseRoleMap(f *testing.F) {
	f.Add("norr-ops = operator@region-norr\n# c\ncab = approver@*")
	f.Add("=\n = @\nx = a@b@c")
	f.Fuzz(func(t *testing.T, in string) {
		m, err := signin.ParseRoleMap("f", strings.NewReader(in))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f:") && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("error without a position: %v", err)
			}
			return
		}
		for _, g := range m.Grants(strings.Fields(in)) {
			if _, err := auth.ParseRole(string(g.Role)); err != nil || g.Member == "" {
				t.Errorf("grant %+v from %q", g, in)
			}
		}
	})
}

// TestLocalSignIn: the local form signs in with the member and role picked, only with the
// token of the form the same browser was shown.
func TestLocalSignIn(t *testing.T) {
	sessions, _ := session.New(session.Options{Key: []byte(strings.Repeat("k", 32))})
	h, err := signin.New(signin.Options{Sessions: sessions, Local: true, Members: func() []string { return []string{"region-norr", "kommun-vasterby"} }})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	auth.NewTable(mux, auth.NewGuard(auth.GuardOptions{Sessions: sessions})).MustAdd(h.Routes()...)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	jar, _ := cookiejar.New(nil)
	s := &site{url: srv.URL, client: &http.Client{Jar: jar}}

	resp, body := s.get(t, signin.SignInPath+"?next=/fleet")
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(body)
	if resp.StatusCode != 200 || m == nil || !strings.Contains(body, "for trying samverk out") || !strings.Contains(body, "<option>kommun-vasterby</option>") {
		t.Fatalf("sign-in page: %s\n%s", resp.Status, body)
	}
	form := url.Values{"csrf": {m[1]}, "member": {"region-norr"}, "role": {"operator"}, "name": {"Tester"}, "next": {"/api/v1/whoami"}}
	if resp, _ := s.post(t, signin.LocalPath, url.Values{"csrf": {"guess"}, "member": {"*"}, "role": {"admin"}}, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a form token not shown to this browser: %s, want 403", resp.Status)
	}
	// The failed attempt used up the form; a fresh page gives a fresh token.
	_, body = s.get(t, signin.SignInPath)
	form.Set("csrf", regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(body)[1])
	resp, body = s.post(t, signin.LocalPath, form, nil)
	if resp.StatusCode != 200 || !strings.Contains(body, `"method":"local"`) || !strings.Contains(body, `"role":"operator","member":"region-norr"`) {
		t.Errorf("after local sign-in: %s %s", resp.Status, body)
	}
}
