// Package signin is how people sign in to the daemon: OpenID Connect (authorization code with
// PKCE) against the members' identity providers, a local sign-in for trying samverk out, and
// sign-out. A successful sign-in starts a session (package session).
package signin

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"samverk.io/samverk/engine/auth"
	"samverk.io/samverk/engine/auth/session"
)

// OIDC configures sign-in with an OpenID Connect provider.
type OIDC struct {
	// Issuer is the provider's issuer URL (its discovery document is Issuer +
	// /.well-known/openid-configuration).
	Issuer string
	// ClientID and ClientSecret are samverk's registration at the provider.
	ClientID     string
	ClientSecret string
	// RedirectURL is where the provider sends the browser back: the daemon's external URL
	// + CallbackPath. It must be registered at the provider.
	RedirectURL string
	// RolesClaim is the ID token claim whose values map to roles (default "groups").
	RolesClaim string
	// Roles maps the claim's values to grants (zero: the samverk:<member>:<role> convention).
	Roles RoleMap
	// Scopes are requested besides openid (default profile, email).
	Scopes []string
	// HTTPClient talks to the provider (default http.DefaultClient).
	HTTPClient *http.Client
}

// Options configure the sign-in pages. Sessions is required.
type Options struct {
	Sessions *session.Manager
	// OIDC, when set, offers sign-in with that provider.
	OIDC *OIDC
	// Local offers the local sign-in: anyone who reaches the page picks a member and a role.
	// It is for trying samverk out on one's own machine, never for a shared daemon.
	Local bool
	// Members lists the members the local sign-in offers (default: a free text field).
	Members func() []string
	// Logger receives sign-in events (default: discard).
	Logger *slog.Logger
}

// Paths of the sign-in routes.
const (
	SignInPath   = "/auth/signin"
	StartPath    = "/auth/oidc/start"
	CallbackPath = "/auth/oidc/callback"
	LocalPath    = "/auth/local"
	SignOutPath  = "/auth/signout"
	WhoAmIPath   = "/api/v1/whoami"
)

// Cookies of a sign-in in progress.
const (
	flowCookie  = "samverk_oidc"
	localCookie = "samverk_signin"
	flowTTL     = 10 * time.Minute
)

// Handler serves the sign-in routes.
type Handler struct {
	opt Options
	log *slog.Logger

	mu       sync.Mutex
	provider *oidc.Provider
}

// New returns the sign-in handler.
func New(opt Options) (*Handler, error) {
	if opt.Sessions == nil {
		return nil, errors.New("signin: no session manager")
	}
	if o := opt.OIDC; o != nil {
		if o.Issuer == "" || o.ClientID == "" || o.RedirectURL == "" {
			return nil, errors.New("signin: OpenID Connect needs an issuer, a client id and a redirect URL")
		}
		if o.RolesClaim == "" {
			o.RolesClaim = "groups"
		}
		if o.Scopes == nil {
			o.Scopes = []string{"profile", "email"}
		}
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Handler{opt: opt, log: log}, nil
}

// Routes are the sign-in rows of the route table.
func (h *Handler) Routes() []auth.Route {
	rs := []auth.Route{
		{Method: "GET", Pattern: SignInPath, Handler: http.HandlerFunc(h.page)},
		{Method: "POST", Pattern: SignOutPath, Need: auth.Viewer, Handler: http.HandlerFunc(h.signOut)},
		{Method: "GET", Pattern: WhoAmIPath, Need: auth.Viewer, Handler: http.HandlerFunc(h.whoami)},
	}
	if h.opt.OIDC != nil {
		rs = append(rs,
			auth.Route{Method: "GET", Pattern: StartPath, Handler: http.HandlerFunc(h.start)},
			auth.Route{Method: "GET", Pattern: CallbackPath, Handler: http.HandlerFunc(h.callback)})
	}
	if h.opt.Local {
		rs = append(rs, auth.Route{Method: "POST", Pattern: LocalPath, Handler: http.HandlerFunc(h.local)})
	}
	return rs
}

// ctx returns a context whose HTTP client is the provider's.
func (h *Handler) ctx(ctx context.Context) context.Context {
	if c := h.opt.OIDC.HTTPClient; c != nil {
		return oidc.ClientContext(ctx, c)
	}
	return ctx
}

// discover fetches the provider's discovery document once it is first needed, so that a
// provider down at start does not stop the daemon; a failure is tried again next time.
func (h *Handler) discover(ctx context.Context) (*oidc.Provider, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.provider != nil {
		return h.provider, nil
	}
	p, err := oidc.NewProvider(h.ctx(ctx), h.opt.OIDC.Issuer)
	if err != nil {
		return nil, fmt.Errorf("discover %s: %w", h.opt.OIDC.Issuer, err)
	}
	h.provider = p
	return p, nil
}

func (h *Handler) oauth2(p *oidc.Provider) *oauth2.Config {
	o := h.opt.OIDC
	return &oauth2.Config{ClientID: o.ClientID, ClientSecret: o.ClientSecret, RedirectURL: o.RedirectURL,
		Endpoint: p.Endpoint(), Scopes: append([]string{oidc.ScopeOpenID}, o.Scopes...)}
}

// flow is what the browser carries, sealed, between start and callback.
type flow struct {
	State    string `json:"state"`
	Nonce    string `json:"nonce"`
	Verifier string `json:"verifier"`
	Next     string `json:"next"`
}

// start sends the browser to the provider.
func (h *Handler) start(w http.ResponseWriter, r *http.Request) {
	p, err := h.discover(r.Context())
	if err != nil {
		h.log.Error("openid connect provider unavailable", "err", err)
		h.fail(w, http.StatusBadGateway, "The identity provider cannot be reached. Try again in a moment.")
		return
	}
	f := flow{State: random(), Nonce: random(), Verifier: oauth2.GenerateVerifier(), Next: safeNext(r.URL.Query().Get("next"))}
	if err := h.opt.Sessions.Seal(w, flowCookie, f, flowTTL); err != nil {
		h.fail(w, http.StatusInternalServerError, "Cannot start the sign-in.")
		return
	}
	http.Redirect(w, r, h.oauth2(p).AuthCodeURL(f.State, oidc.Nonce(f.Nonce), oauth2.S256ChallengeOption(f.Verifier)), http.StatusFound)
}

// callback finishes the flow: it checks state, exchanges the code with the PKCE verifier,
// verifies the ID token and its nonce, maps the roles claim, and starts a session.
func (h *Handler) callback(w http.ResponseWriter, r *http.Request) {
	var f flow
	if err := h.opt.Sessions.Unseal(w, r, flowCookie, &f); err != nil {
		h.fail(w, http.StatusBadRequest, "The sign-in cannot be finished: "+err.Error()+".")
		return
	}
	q := r.URL.Query()
	if e := q.Get("error"); e != "" {
		h.fail(w, http.StatusForbidden, "The identity provider refused the sign-in: "+e+" "+q.Get("error_description"))
		return
	}
	if q.Get("state") == "" || q.Get("state") != f.State {
		h.fail(w, http.StatusBadRequest, "The sign-in cannot be finished: the state does not match. Start again.")
		return
	}
	p, err := h.discover(r.Context())
	if err != nil {
		h.fail(w, http.StatusBadGateway, "The identity provider cannot be reached.")
		return
	}
	ctx := h.ctx(r.Context())
	tok, err := h.oauth2(p).Exchange(ctx, q.Get("code"), oauth2.VerifierOption(f.Verifier))
	if err != nil {
		h.log.Warn("openid connect code exchange failed", "err", err)
		h.fail(w, http.StatusBadGateway, "The identity provider did not accept the sign-in code.")
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		h.fail(w, http.StatusBadGateway, "The identity provider sent no ID token.")
		return
	}
	idt, err := p.Verifier(&oidc.Config{ClientID: h.opt.OIDC.ClientID}).Verify(ctx, raw)
	if err != nil {
		h.log.Warn("openid connect ID token refused", "err", err)
		h.fail(w, http.StatusForbidden, "The ID token did not verify.")
		return
	}
	if idt.Nonce != f.Nonce {
		h.fail(w, http.StatusForbidden, "The ID token is not the answer to this sign-in (nonce).")
		return
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		h.fail(w, http.StatusBadGateway, "The ID token's claims cannot be read.")
		return
	}
	values := claimValues(claims[h.opt.OIDC.RolesClaim])
	grants := h.opt.OIDC.Roles.Grants(values)
	name := firstString(claims, "email", "preferred_username", "name")
	if len(grants) == 0 {
		h.log.Warn("signed in without a samverk role", "subject", idt.Subject, "name", name, "claim", h.opt.OIDC.RolesClaim, "values", len(values))
		h.fail(w, http.StatusForbidden, fmt.Sprintf("You are signed in at the identity provider as %s, but none of the values of your %q claim maps to a samverk role. Ask your administrator.", orDash(name), h.opt.OIDC.RolesClaim))
		return
	}
	pr := &auth.Principal{Subject: idt.Subject, Name: name, Method: "oidc", Grants: grants}
	if err := h.opt.Sessions.Issue(w, pr); err != nil {
		h.fail(w, http.StatusInternalServerError, "Cannot start the session: "+err.Error())
		return
	}
	h.log.Info("signed in", "method", "oidc", "subject", idt.Subject, "name", name, "grants", fmt.Sprint(grants))
	http.Redirect(w, r, f.Next, http.StatusFound)
}

// claimValues reads a claim that is a list of strings or one string.
func claimValues(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		out := make([]string, 0, len(v))
		for _, x := range v {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func firstString(claims map[string]any, names ...string) string {
	for _, n := range names {
		if s, ok := claims[n].(string); ok && s != "" {
			return s
		}
	}
	return ""
}

// local signs in with the member and role picked on the form.
func (h *Handler) local(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	var want string
	if err := h.opt.Sessions.Unseal(w, r, localCookie, &want); err != nil || want == "" || r.PostFormValue(auth.CSRFField) != want {
		h.fail(w, http.StatusForbidden, "The form has expired or did not come from this page. Open the sign-in page again.")
		return
	}
	role, err := auth.ParseRole(r.PostFormValue("role"))
	if err != nil {
		h.fail(w, http.StatusBadRequest, err.Error())
		return
	}
	member := strings.TrimSpace(r.PostFormValue("member"))
	switch {
	case member == "*" || member == "consortium":
		member = auth.Consortium
	case !validMember(member):
		h.fail(w, http.StatusBadRequest, fmt.Sprintf("member %q: pick a member, or the consortium", member))
		return
	}
	name := strings.TrimSpace(r.PostFormValue("name"))
	if name == "" {
		name = "local " + string(role)
	}
	if len(name) > 100 {
		name = name[:100]
	}
	pr := &auth.Principal{Subject: "local:" + name, Name: name, Method: "local", Grants: []auth.Grant{{Role: role, Member: member}}}
	if err := h.opt.Sessions.Issue(w, pr); err != nil {
		h.fail(w, http.StatusInternalServerError, "Cannot start the session: "+err.Error())
		return
	}
	h.log.Info("signed in", "method", "local", "name", name, "role", role, "member", member)
	http.Redirect(w, r, safeNext(r.PostFormValue("next")), http.StatusFound)
}

func (h *Handler) signOut(w http.ResponseWriter, r *http.Request) {
	h.opt.Sessions.Clear(w)
	http.Redirect(w, r, SignInPath, http.StatusFound)
}

// WhoAmI is the answer of GET /api/v1/whoami.
type WhoAmI struct {
	auth.Principal
	// CSRF is the token state-changing requests of this session carry (empty for tokens).
	CSRF string `json:"csrf,omitempty"`
}

func (h *Handler) whoami(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(WhoAmI{Principal: *auth.FromContext(r.Context()), CSRF: auth.CSRFToken(r.Context())})
}

// page shows the ways to sign in.
func (h *Handler) page(w http.ResponseWriter, r *http.Request) {
	next := safeNext(r.URL.Query().Get("next"))
	d := pageData{Next: next, OIDC: h.opt.OIDC != nil, Local: h.opt.Local, Roles: auth.Roles}
	if h.opt.OIDC != nil {
		d.Issuer = h.opt.OIDC.Issuer
	}
	if p := auth.FromContext(r.Context()); p != nil {
		d.Principal, d.CSRF = p, auth.CSRFToken(r.Context())
	}
	if h.opt.Local {
		tok := random()
		if err := h.opt.Sessions.Seal(w, localCookie, tok, flowTTL); err != nil {
			h.fail(w, http.StatusInternalServerError, "Cannot show the sign-in form.")
			return
		}
		d.LocalCSRF = tok
		if h.opt.Members != nil {
			d.Members = slices.Clone(h.opt.Members())
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := pageTmpl.Execute(w, d); err != nil {
		h.log.Warn("render sign-in page", "err", err)
	}
}

type pageData struct {
	Next, Issuer, CSRF, LocalCSRF string
	OIDC, Local                   bool
	Members                       []string
	Roles                         []auth.Role
	Principal                     *auth.Principal
	Error                         string
}

// fail shows the sign-in page with an error.
func (h *Handler) fail(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	pageTmpl.Execute(w, pageData{Error: msg, Next: "/"})
}

// safeNext keeps a post-sign-in destination on this site: a path, never another host.
func safeNext(next string) string {
	if next == "" || next[0] != '/' || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") || strings.ContainsAny(next, "\r\n") {
		return "/"
	}
	return next
}

func random() string {
	var b [24]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

var pageTmpl = template.Must(template.New("signin").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in · samverk</title>
<style>
body{font-family:system-ui,sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem;color:#1b1f24}
h1{font-size:1.4rem} .box{border:1px solid #d0d7de;border-radius:6px;padding:1rem;margin:1rem 0}
.warn{background:#fff8c5;border-color:#d4a72c} .err{background:#ffebe9;border-color:#ff8182}
label{display:block;margin:.5rem 0 .2rem} select,input{width:100%;padding:.4rem;box-sizing:border-box}
button,.button{display:inline-block;margin-top:.8rem;padding:.5rem 1rem;border-radius:6px;border:1px solid #1f883d;background:#1f883d;color:#fff;text-decoration:none;font-size:1rem}
</style></head><body>
<h1>samverk</h1>
{{if .Error}}<div class="box err" role="alert">{{.Error}}</div><p><a href="/auth/signin">Back to sign-in</a></p>{{else}}
{{with .Principal}}<div class="box">Signed in as <strong>{{or .Name .Subject}}</strong>{{range .Grants}} · {{.Role}}@{{.Member}}{{end}}
<form method="post" action="/auth/signout"><input type="hidden" name="csrf" value="{{$.CSRF}}"><button type="submit">Sign out</button></form></div>{{end}}
{{if .OIDC}}<div class="box"><p>Sign in with your organisation's account.</p>
<a class="button" href="/auth/oidc/start?next={{.Next}}">Sign in with {{.Issuer}}</a></div>{{end}}
{{if .Local}}<div class="box warn"><p><strong>Local sign-in, for trying samverk out.</strong> Anyone who can open this page
picks any member and role: it is on only when no identity provider is configured and the daemon listens on this machine alone.</p>
<form method="post" action="/auth/local">
<input type="hidden" name="csrf" value="{{.LocalCSRF}}"><input type="hidden" name="next" value="{{.Next}}">
<label for="member">Member</label>
{{if .Members}}<select id="member" name="member"><option value="*">the consortium (all members)</option>{{range .Members}}<option>{{.}}</option>{{end}}</select>
{{else}}<input id="member" name="member" value="*" placeholder="a member, or * for the consortium">{{end}}
<label for="role">Role</label>
<select id="role" name="role">{{range .Roles}}<option>{{.}}</option>{{end}}</select>
<label for="name">Your name (shown in the audit log)</label><input id="name" name="name" placeholder="local viewer">
<button type="submit">Sign in</button></form></div>{{end}}
{{if not (or .OIDC .Local)}}<div class="box">No sign-in is configured. Start the daemon with <code>--oidc-issuer</code>
(see the README), or use an API token.</div>{{end}}
{{end}}
</body></html>
`))
