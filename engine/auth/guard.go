package auth

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"samverk.io/samverk/engine/secrets"
)

// Errors an Authenticator or a Route's Member resolver returns to steer the answer.
var (
	// ErrUnknownToken: the bearer token is not one of this authenticator's (or is revoked or
	// expired). The guard tries the next; when none knows it, the answer is 401. Any other
	// error (a store that cannot be read) answers 503.
	ErrUnknownToken = errors.New("unknown token")
	// ErrNotFound: the thing the path names does not exist (404).
	ErrNotFound = errors.New("not found")
	// ErrBadRequest: the request does not say which member it acts on (400).
	ErrBadRequest = errors.New("bad request")
)

// TokenAuthenticator recognises one kind of bearer token: the admin token, member read
// tokens, API tokens.
type TokenAuthenticator interface {
	// AuthenticateToken returns the principal token stands for, or an error wrapping
	// ErrUnknownToken when token is not of its kind or not valid.
	AuthenticateToken(ctx context.Context, token string) (*Principal, error)
}

// SessionReader reads a browser session from its cookie.
type SessionReader interface {
	// Session returns the principal of the request's session and the session's CSRF token,
	// or a nil principal when the request has no valid session.
	Session(r *http.Request) (p *Principal, csrf string)
}

// Entry is one audit record: who did what, through which route, and how it ended.
type Entry struct {
	At      time.Time
	Subject string
	Name    string // what a person reads for the subject (an e-mail address, a token's name)
	Method  string // how the principal authenticated
	// Role is the role the route needs; Scope the member ("*": the consortium) of the grant
	// that let the principal through, or of all its grants, comma-separated, when none did.
	Role   Role
	Scope  string
	Route  string // "POST /api/v1/suspend"
	Path   string
	Member string // the member the route acted on, if it names one
	Status int
	Remote string
	// Detail is what the handler noted (Note): a reason, the id of what it created.
	Detail map[string]string
}

// Bounds of what a handler may note for one request.
const (
	maxNotes     = 16
	maxNoteKey   = 64
	maxNoteValue = 1024
)

type notesKey struct{}

// notes collects what a handler notes for its request's audit entry.
type notes struct {
	mu sync.Mutex
	m  map[string]string
	on string // the member acted on, told by a handler whose route has no Member resolver
}

// ActedOn tells the audit entry of the request ctx belongs to which member the action
// concerned, for a route that cannot tell before its handler runs (a notice's member follows
// from its body and its sender). It does nothing when the route resolved the member itself, or
// outside an audited route.
func ActedOn(ctx context.Context, member string) {
	n, _ := ctx.Value(notesKey{}).(*notes)
	if n == nil {
		return
	}
	n.mu.Lock()
	n.on = cut(member, maxNoteValue)
	n.mu.Unlock()
}

func (n *notes) member(resolved string) string {
	if resolved != "" {
		return resolved
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.on
}

// Note adds key=value to the audit entry of the request ctx belongs to, for the log to say
// what the action was about: a suspend's reason, the id of a token created, the device
// revoked. Outside an audited route it does nothing. A later note of the same key replaces
// the earlier; past 16 keys notes are dropped, and long keys and values are cut.
func Note(ctx context.Context, key, value string) {
	n, _ := ctx.Value(notesKey{}).(*notes)
	if n == nil || key == "" {
		return
	}
	key, value = cut(key, maxNoteKey), cut(value, maxNoteValue)
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.m[key]; !ok && len(n.m) >= maxNotes {
		return
	}
	n.m[key] = value
}

// cut shortens s to at most max bytes, on a rune boundary, marking the cut with "…".
func cut(s string, max int) string {
	if len(s) <= max {
		return s
	}
	s = s[:max-len("…")]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}

func (n *notes) detail() map[string]string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.m) == 0 {
		return nil
	}
	return maps.Clone(n.m)
}

// scope is the member of the grant of p that holds role for member ("" when the route names
// none), or of all p's grants when none does.
func scope(p *Principal, role Role, member string) string {
	var all []string
	for _, g := range p.Grants {
		if g.Role.Includes(role) && (member == "" || g.Member == Consortium || (member != Consortium && g.Member == member)) {
			return g.Member
		}
		if !slices.Contains(all, g.Member) {
			all = append(all, g.Member)
		}
	}
	slices.Sort(all)
	return strings.Join(all, ",")
}

// GuardOptions configure a Guard. The zero value admits nobody to a protected route.
type GuardOptions struct {
	// Tokens are tried in order for a request with an Authorization: Bearer header.
	Tokens []TokenAuthenticator
	// Sessions reads the session cookie of browser requests (nil: no sessions).
	Sessions SessionReader
	// SignIn is the page a browser without a session is sent to (default /auth/signin).
	SignIn string
	// Audit receives an entry for every call of a route marked Audit by a known principal:
	// each the handler answered, and each the guard refused after authenticating it (403,
	// 404, 400, 503), so that attempts are on record too. A request without a valid
	// credential (401) has no one to record. Default: logged.
	Audit func(context.Context, Entry)
	// Page, when set, answers a refused page request (not under /api/) instead of the JSON
	// error, so the console can show its own page; code is 401, 403, 404, 400 or 503.
	Page func(w http.ResponseWriter, r *http.Request, code int, msg string)
	// Logger receives audit entries when Audit is nil (default: discard).
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Guard is the one middleware: it authenticates each request to a protected route and lets
// it through only when the principal holds the route's Need for the member it acts on.
type Guard struct {
	opt GuardOptions
}

// NewGuard returns a guard.
func NewGuard(opt GuardOptions) *Guard {
	if opt.SignIn == "" {
		opt.SignIn = "/auth/signin"
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Audit == nil {
		log := opt.Logger
		opt.Audit = func(ctx context.Context, e Entry) {
			LogEntry(ctx, log, e)
		}
	}
	return &Guard{opt: opt}
}

// LogEntry writes e to log as one line.
func LogEntry(ctx context.Context, log *slog.Logger, e Entry) {
	attrs := []slog.Attr{slog.String("subject", e.Subject), slog.String("method", e.Method), slog.String("role", string(e.Role)),
		slog.String("scope", e.Scope), slog.String("route", e.Route), slog.String("path", e.Path), slog.String("member", e.Member),
		slog.Int("status", e.Status), slog.String("remote", e.Remote)}
	if len(e.Detail) > 0 {
		attrs = append(attrs, slog.Any("detail", e.Detail))
	}
	log.LogAttrs(ctx, slog.LevelInfo, "audit", attrs...)
}

// SignInURL is where a browser without a session is sent.
func (g *Guard) SignInURL() string { return g.opt.SignIn }

// IsAPI reports whether a pattern is an API route (answers 401 without a credential) rather
// than a page (redirects to sign-in): API routes live under /api/.
func IsAPI(pattern string) bool {
	_, path, _ := strings.Cut(pattern, " ")
	if path == "" {
		path = pattern
	}
	return strings.HasPrefix(path, "/api/")
}

// Table is the one route table: every handler of the daemon is added here, onto its mux,
// behind the guard. Routes lists what was added, so tests can walk every route.
type Table struct {
	mux    *http.ServeMux
	guard  *Guard
	routes []Route
}

// NewTable returns a table that registers on mux behind g.
func NewTable(mux *http.ServeMux, g *Guard) *Table {
	return &Table{mux: mux, guard: g}
}

// Add checks and registers routes. A route without a handler, with an unknown role, or with
// a pattern the mux refuses (malformed, or conflicting with one already added) is an error;
// routes are checked before any is registered.
func (t *Table) Add(routes ...Route) error {
	for _, rt := range routes {
		if err := rt.check(); err != nil {
			return err
		}
	}
	for _, rt := range routes {
		if err := t.handle(rt); err != nil {
			return err
		}
	}
	return nil
}

func (t *Table) handle(rt Route) (err error) {
	defer func() {
		// ServeMux panics on a malformed or conflicting pattern: a programming error, but
		// one the caller gets as an error rather than a crash.
		if r := recover(); r != nil {
			err = fmt.Errorf("route %s %s: %v", rt.Method, rt.Pattern, r)
		}
	}()
	t.mux.Handle(rt.Method+" "+rt.Pattern, t.guard.wrap(rt))
	t.routes = append(t.routes, rt)
	return nil
}

// MustAdd is Add for routes fixed in code; it panics on an error.
func (t *Table) MustAdd(routes ...Route) {
	if err := t.Add(routes...); err != nil {
		panic(err)
	}
}

// Routes returns every route added, in order.
func (t *Table) Routes() []Route { return slices.Clone(t.routes) }

// Handler is the mux the routes are registered on.
func (t *Table) Handler() http.Handler { return t.mux }

func (rt Route) check() error {
	switch {
	case rt.Method == "" || rt.Pattern == "" || !strings.HasPrefix(rt.Pattern, "/"):
		return fmt.Errorf("route %q %q: want a method and a pattern starting with /", rt.Method, rt.Pattern)
	case rt.Handler == nil:
		return fmt.Errorf("route %s %s: no handler", rt.Method, rt.Pattern)
	case rt.Need != "" && !slices.Contains(Roles, rt.Need):
		return fmt.Errorf("route %s %s: unknown role %q", rt.Method, rt.Pattern, rt.Need)
	case rt.Need == "" && rt.Member != nil:
		return fmt.Errorf("route %s %s: a member scope without a role", rt.Method, rt.Pattern)
	}
	return nil
}

// Public reports whether the route is open to anyone (it may authenticate by itself).
func (rt Route) Public() bool { return rt.Need == "" }

// ConsortiumScope is a Member resolver for routes that act on the whole daemon (suspend,
// resume, reconcile): only a consortium grant holds Need for them.
func ConsortiumScope(*http.Request) (string, error) { return Consortium, nil }

type csrfKey struct{}

// CSRFToken returns the CSRF token of the request's session, for forms to carry as the
// field "csrf" (or scripts as the header X-CSRF-Token); "" when the request has no session.
func CSRFToken(ctx context.Context) string {
	s, _ := ctx.Value(csrfKey{}).(string)
	return s
}

// CSRFField and CSRFHeader are where a state-changing browser request carries the token.
const (
	CSRFField  = "csrf"
	CSRFHeader = "X-CSRF-Token"
)

// unsafe reports whether a method changes state, and so needs a CSRF token from a session.
func unsafe(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// wrap puts rt's handler behind the guard.
func (g *Guard) wrap(rt Route) http.Handler {
	api := IsAPI(rt.Pattern)
	name := rt.Method + " " + rt.Pattern
	if rt.Public() {
		// Public routes pass untouched, but a page may still show who is signed in.
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if g.opt.Sessions != nil && r.Header.Get("Authorization") == "" {
				if p, csrf := g.opt.Sessions.Session(r); p != nil {
					ctx := context.WithValue(WithPrincipal(r.Context(), p), csrfKey{}, csrf)
					r = r.WithContext(ctx)
				}
			}
			rt.Handler.ServeHTTP(w, r)
		})
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		deny := func(w http.ResponseWriter, code int, msg string) {
			if !api && g.opt.Page != nil {
				g.opt.Page(w, r, code, msg)
				return
			}
			writeDenied(w, code, msg)
		}
		p, csrf, fromSession, err := g.authenticate(r)
		switch {
		case err != nil && !errors.Is(err, ErrUnknownToken):
			g.opt.Logger.Warn("cannot check a credential", "route", name, "err", err)
			deny(w, http.StatusServiceUnavailable, "the credential cannot be checked now; try again")
			return
		case err != nil:
			w.Header().Set("WWW-Authenticate", `Bearer realm="samverk", error="invalid_token"`)
			deny(w, http.StatusUnauthorized, "invalid or expired token")
			return
		case p == nil && !api && (r.Method == http.MethodGet || r.Method == http.MethodHead):
			http.Redirect(w, r, g.opt.SignIn+"?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusFound)
			return
		case p == nil:
			w.Header().Set("WWW-Authenticate", `Bearer realm="samverk"`)
			deny(w, http.StatusUnauthorized, "sign in or send an API token (Authorization: Bearer)")
			return
		}
		// From here on the principal is known: on an audited route, every answer is recorded,
		// refusals included.
		record := func(status int, member string, detail map[string]string) {
			if rt.Audit {
				g.opt.Audit(r.Context(), Entry{At: g.opt.Now().UTC(), Subject: p.Subject, Name: p.Name, Method: p.Method,
					Role: rt.Need, Scope: scope(p, rt.Need, member), Route: name, Path: r.URL.Path, Member: member,
					Status: status, Remote: r.RemoteAddr, Detail: detail})
			}
		}
		// refuse answers a refusal before the member was resolved; the record names the
		// member all the same when the route can tell it.
		refuse := func(code int, msg string) {
			deny(w, code, msg)
			if rt.Audit {
				member := ""
				if rt.Member != nil {
					member, _ = rt.Member(r)
				}
				record(code, member, nil)
			}
		}
		if fromSession && unsafe(r.Method) && !g.csrfOK(r, csrf) {
			refuse(http.StatusForbidden, "missing or wrong CSRF token")
			return
		}
		if !p.CanAny(rt.Need) {
			refuse(http.StatusForbidden, fmt.Sprintf("this needs the role %s", rt.Need))
			return
		}
		member := ""
		if rt.Member != nil {
			// The resolver knows who asks: a thing may be in more than one member's scope.
			// (The request itself carries it on, for a resolver that buffers the body.)
			r = r.WithContext(WithPrincipal(r.Context(), p))
			m, err := rt.Member(r)
			switch {
			case errors.Is(err, ErrNotFound):
				deny(w, http.StatusNotFound, "not found")
				record(http.StatusNotFound, "", nil)
				return
			case errors.Is(err, ErrBadRequest):
				deny(w, http.StatusBadRequest, strings.TrimSuffix(err.Error(), ": "+ErrBadRequest.Error()))
				record(http.StatusBadRequest, "", nil)
				return
			case err != nil:
				g.opt.Logger.Warn("cannot tell which member a request acts on", "route", name, "err", err)
				deny(w, http.StatusServiceUnavailable, "cannot check this request's scope now; try again")
				record(http.StatusServiceUnavailable, "", nil)
				return
			}
			member = m
			if !p.Can(rt.Need, member) {
				scope := "member " + member
				if member == Consortium {
					scope = "the consortium"
				}
				deny(w, http.StatusForbidden, fmt.Sprintf("this needs the role %s for %s", rt.Need, scope))
				record(http.StatusForbidden, member, nil)
				return
			}
		}
		ctx := WithPrincipal(r.Context(), p)
		if fromSession {
			ctx = context.WithValue(ctx, csrfKey{}, csrf)
		}
		if !rt.Audit {
			rt.Handler.ServeHTTP(w, r.WithContext(ctx))
			return
		}
		n := &notes{m: map[string]string{}}
		r = r.WithContext(context.WithValue(ctx, notesKey{}, n))
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			// A handler that panics may have done part of its action: record it as failed,
			// then let the panic go on to the server.
			if v := recover(); v != nil {
				record(http.StatusInternalServerError, n.member(member), n.detail())
				panic(v)
			}
		}()
		rt.Handler.ServeHTTP(sw, r)
		record(sw.status, n.member(member), n.detail())
	})
}

// authenticate finds the request's principal: a bearer token first, else a session.
func (g *Guard) authenticate(r *http.Request) (p *Principal, csrf string, fromSession bool, err error) {
	if tok, ok := Bearer(r); ok {
		for _, a := range g.opt.Tokens {
			p, err := a.AuthenticateToken(r.Context(), tok)
			if err == nil && p != nil {
				return p, "", false, nil
			}
			if err != nil && !errors.Is(err, ErrUnknownToken) {
				return nil, "", false, err
			}
		}
		// No authenticator knows it: the request fails, never falling back to a session.
		return nil, "", false, ErrUnknownToken
	}
	if g.opt.Sessions != nil {
		if p, csrf := g.opt.Sessions.Session(r); p != nil {
			return p, csrf, true, nil
		}
	}
	return nil, "", false, nil
}

// csrfOK checks the token a state-changing browser request carries against its session's.
func (g *Guard) csrfOK(r *http.Request, want string) bool {
	if want == "" {
		return false
	}
	got := r.Header.Get(CSRFHeader)
	if got == "" {
		ct := r.Header.Get("Content-Type")
		if strings.HasPrefix(ct, "application/x-www-form-urlencoded") || strings.HasPrefix(ct, "multipart/form-data") {
			r.Body = http.MaxBytesReader(nil, r.Body, 1<<20)
			got = r.PostFormValue(CSRFField)
		}
	}
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// Bearer returns the request's bearer token.
func Bearer(r *http.Request) (string, bool) {
	v := r.Header.Get("Authorization")
	if len(v) > 7 && strings.EqualFold(v[:7], "bearer ") {
		if t := strings.TrimSpace(v[7:]); t != "" {
			return t, true
		}
	}
	return "", false
}

// writeDenied answers a refused request with a JSON error.
func writeDenied(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	fmt.Fprintf(w, "{\"error\": %q}\n", msg)
}

type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// AdminToken is the daemon's single admin token (--admin-token-file): a consortium admin.
// It keeps only the token's hash and compares in constant time.
type AdminToken struct{ token secrets.Token }

var _ TokenAuthenticator = (*AdminToken)(nil)

// NewAdminToken returns the authenticator of token; an empty token matches nothing.
func NewAdminToken(token string) *AdminToken { return &AdminToken{secrets.New(token)} }

// AuthenticateToken implements TokenAuthenticator.
func (a *AdminToken) AuthenticateToken(_ context.Context, token string) (*Principal, error) {
	if !a.token.Match(token) {
		return nil, ErrUnknownToken
	}
	return &Principal{Subject: "admin-token", Name: "the admin token", Method: "admin-token",
		Grants: []Grant{{Role: Admin, Member: Consortium}}}, nil
}

// MemberTokens turns member-scoped read tokens into that member's viewers. match returns the
// member whose token it is.
type MemberTokens func(token string) (member string, ok bool)

var _ TokenAuthenticator = MemberTokens(nil)

// AuthenticateToken implements TokenAuthenticator.
func (m MemberTokens) AuthenticateToken(_ context.Context, token string) (*Principal, error) {
	if m == nil {
		return nil, ErrUnknownToken
	}
	member, ok := m(token)
	if !ok {
		return nil, ErrUnknownToken
	}
	return &Principal{Subject: "read-token:" + member, Name: "read token of " + member, Method: "read-token",
		Grants: []Grant{{Role: Viewer, Member: member}}}, nil
}
