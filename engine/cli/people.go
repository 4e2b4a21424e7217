package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"

	"samverk.io/samverk/engine/auth"
	"samverk.io/samverk/engine/auth/apitoken"
	"samverk.io/samverk/engine/auth/session"
	"samverk.io/samverk/engine/auth/signin"
	"samverk.io/samverk/engine/fleet"
	"samverk.io/samverk/engine/store"
)

// people is the daemon's side facing people: the guard every route goes through, sessions,
// sign-in, and the routes these add.
type people struct {
	guard    *auth.Guard
	sessions *session.Manager
	tokens   *apitoken.Service
	routes   []auth.Route
	local    bool
}

// run records API tokens' last use until ctx ends.
func (p *people) run(ctx context.Context) error { return p.tokens.Run(ctx) }

// page, when set, answers refused page requests (the console's own page); record writes each
// audit entry to the audit log.
func newPeople(ctx context.Context, o serveOptions, log *slog.Logger, adminToken string, st store.Store, devices *fleet.Service,
	page func(http.ResponseWriter, *http.Request, int, string), record func(context.Context, auth.Entry)) (*people, error) {
	external := o.externalURL
	if external == "" {
		external = "http://" + o.listen
	}
	ext, err := url.Parse(external)
	if err != nil || (ext.Scheme != "http" && ext.Scheme != "https") || ext.Host == "" {
		return nil, usageError("--external-url %q: want http(s)://host[:port]", o.externalURL)
	}
	external = strings.TrimRight(ext.String(), "/")

	var key []byte
	if o.sessionKeyFile != "" {
		b, err := os.ReadFile(o.sessionKeyFile)
		if err != nil {
			return nil, usageError("--session-key-file: %v", err)
		}
		if key, err = session.ParseKey(string(b)); err != nil {
			return nil, usageError("--session-key-file %s: %v", o.sessionKeyFile, err)
		}
	} else if key, err = session.LoadKey(o.data); err != nil {
		return nil, &ExitError{Code: ExitUsage, Err: err}
	}
	sessions, err := session.New(session.Options{Key: key, TTL: o.sessionTTL, Secure: ext.Scheme == "https"})
	if err != nil {
		return nil, usageError("session: %v", err)
	}

	var local bool
	switch o.localSignIn {
	case "auto":
		local = o.oidcIssuer == "" && loopback(o.listen)
	case "on":
		local = true
		if !loopback(o.listen) {
			log.Warn("the local sign-in is on and the daemon listens beyond this machine: anyone who reaches it can sign in with any role", "listen", o.listen)
		}
	case "off":
	default:
		return nil, usageError("--local-signin %q: want auto, on or off", o.localSignIn)
	}

	opt := signin.Options{Sessions: sessions, Local: local, Members: devices.Members, Logger: log.With("component", "signin")}
	if o.oidcIssuer != "" {
		cfg, err := o.oidc(external)
		if err != nil {
			return nil, err
		}
		opt.OIDC = cfg
	} else if o.oidcClientID != "" || o.oidcRoleMap != "" {
		return nil, usageError("--oidc-client-id and --oidc-role-map need --oidc-issuer")
	}
	si, err := signin.New(opt)
	if err != nil {
		return nil, usageError("%v", err)
	}

	tokens := apitoken.New(st, apitoken.Options{Logger: log.With("component", "apitoken")})
	auditLines := log.With("component", "audit")
	guard := auth.NewGuard(auth.GuardOptions{
		Tokens:   []auth.TokenAuthenticator{auth.NewAdminToken(adminToken), devices.ReadTokens(), tokens},
		Sessions: sessions,
		SignIn:   signin.SignInPath,
		Page:     page,
		// Each entry is a log line, and an entry of the audit log.
		Audit: func(ctx context.Context, e auth.Entry) {
			auth.LogEntry(ctx, auditLines, e)
			record(ctx, e)
		},
		Logger: auditLines,
	})
	return &people{guard: guard, sessions: sessions, tokens: tokens, routes: slices.Concat(si.Routes(), tokens.Routes()), local: local}, nil
}

// oidc reads the OpenID Connect flags.
func (o serveOptions) oidc(external string) (*signin.OIDC, error) {
	if o.oidcClientID == "" {
		return nil, usageError("--oidc-issuer needs --oidc-client-id")
	}
	clientSecret, err := secret(o.oidcClientSecret, "SAMVERK_OIDC_CLIENT_SECRET")
	if err != nil {
		return nil, usageError("--oidc-client-secret-file: %v", err)
	}
	if u, err := url.Parse(o.oidcIssuer); err != nil || u.Scheme == "" || u.Host == "" {
		return nil, usageError("--oidc-issuer %q: want the issuer's URL", o.oidcIssuer)
	}
	redirect := o.oidcRedirectURL
	if redirect == "" {
		redirect = external + signin.CallbackPath
	}
	cfg := &signin.OIDC{Issuer: o.oidcIssuer, ClientID: o.oidcClientID, ClientSecret: clientSecret,
		RedirectURL: redirect, RolesClaim: o.oidcRolesClaim, Scopes: o.oidcScopes}
	if o.oidcRoleMap != "" {
		if cfg.Roles, err = signin.LoadRoleMap(o.oidcRoleMap); err != nil {
			return nil, &ExitError{Code: ExitUsage, Err: fmt.Errorf("--oidc-role-map: %w", err)}
		}
	}
	return cfg, nil
}

// loopback reports whether a listen address only this machine reaches.
func loopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
