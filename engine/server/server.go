// Package server is the daemon's HTTP face: status and admin API, Git webhooks, health, and
// Prometheus metrics, on one explicit ServeMux whose every route goes through the route table
// of package auth, where other subsystems add theirs.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/time/rate"

	"samverk.io/samverk/engine/auth"
	"samverk.io/samverk/engine/httpjson"
	"samverk.io/samverk/engine/reconcile"
	"samverk.io/samverk/engine/secrets"
)

// Options configure a Server. Reconciler is required; the rest has working defaults.
type Options struct {
	// Addr is the listen address (default 127.0.0.1:8080). Ignored when Listener is set.
	Addr string
	// Listener, when set, is served instead of listening on Addr.
	Listener net.Listener
	// TLSCertFile and TLSKeyFile, when both set, make the server speak HTTPS only, with this
	// PEM certificate (chain) and key. A renewed pair is picked up when the files change and on
	// ReloadTLS.
	TLSCertFile, TLSKeyFile string
	// Reconciler is the daemon's reconciler: status, triggers, suspend and resume.
	Reconciler *reconcile.Reconciler
	// Branch, when set, makes webhooks ignore pushes to other branches.
	Branch string
	// Guard authenticates requests and enforces each route's needs. When nil, the server
	// builds one that knows AdminToken only.
	Guard *auth.Guard
	// AdminToken is the consortium admin's bearer token, used only when Guard is nil. It must be
	// at least secrets.MinAdminLength long.
	AdminToken string
	// WebhookSecret is the shared secret of the webhook endpoints (HMAC key for GitHub and the
	// generic hook, the token for GitLab). Empty disables them: they answer 404.
	WebhookSecret string
	// WebhookRate and WebhookBurst limit authentic webhook deliveries across all providers
	// (default 1 per second, burst 10). Over the limit the answer is 429 with Retry-After.
	// Requests without a valid signature are refused before the limit and do not count.
	WebhookRate  rate.Limit
	WebhookBurst int
	// DeliveryTTL and DeliveryCap bound the memory of delivery ids already received (default
	// DefaultDeliveryTTL and DefaultDeliveryCap); a delivery id seen again is not acted on.
	DeliveryTTL time.Duration
	DeliveryCap int
	// Now is the clock of the delivery memory (default time.Now).
	Now func() time.Time
	// Gatherer serves /metrics (default: nothing is served there).
	Gatherer prometheus.Gatherer
	// Metrics, when set, records webhook deliveries.
	Metrics *Metrics
	// Routes are other subsystems' routes (the device API, sign-in, the console), added to
	// the route table after the server's own.
	Routes []auth.Route
	// ShutdownTimeout bounds the graceful stop (default 10 seconds).
	ShutdownTimeout time.Duration
	// Logger receives request-level events (default: discard).
	Logger *slog.Logger
}

// Server serves the daemon's HTTP API until its context ends.
type Server struct {
	opt         Options
	log         *slog.Logger
	table       *auth.Table
	limiter     *rate.Limiter // authentic webhook deliveries
	refusedLog  *rate.Limiter // warnings about refused webhooks
	seen        *deliveries
	gitlabToken secrets.Token
	cert        *certificate // nil without TLS
}

// maxWebhookBody is the largest webhook payload read (GitHub sends up to 25 MB; a push event
// with a few commits is a few kB).
const maxWebhookBody = 25 << 20

// New builds the server and its routes.
func New(opt Options) (*Server, error) {
	if opt.Reconciler == nil {
		return nil, errors.New("server: no reconciler")
	}
	if opt.Addr == "" {
		opt.Addr = "127.0.0.1:8080"
	}
	if opt.WebhookRate <= 0 {
		opt.WebhookRate = 1
	}
	if opt.WebhookBurst <= 0 {
		opt.WebhookBurst = 10
	}
	if opt.ShutdownTimeout <= 0 {
		opt.ShutdownTimeout = 10 * time.Second
	}
	if opt.DeliveryTTL <= 0 {
		opt.DeliveryTTL = DefaultDeliveryTTL
	}
	if opt.DeliveryCap <= 0 {
		opt.DeliveryCap = DefaultDeliveryCap
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if err := secrets.CheckAdmin(opt.AdminToken); err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	if (opt.TLSCertFile == "") != (opt.TLSKeyFile == "") {
		return nil, errors.New("server: TLS needs both a certificate and a key file")
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	guard := opt.Guard
	if guard == nil {
		guard = auth.NewGuard(auth.GuardOptions{Tokens: []auth.TokenAuthenticator{auth.NewAdminToken(opt.AdminToken)}, Logger: log})
	}
	s := &Server{
		opt:     opt,
		log:     log,
		table:   auth.NewTable(http.NewServeMux(), guard),
		limiter: rate.NewLimiter(opt.WebhookRate, opt.WebhookBurst),
		// One warning a second about refused webhooks is plenty to notice an attack.
		refusedLog:  rate.NewLimiter(1, 5),
		seen:        newDeliveries(opt.DeliveryTTL, opt.DeliveryCap, opt.Now),
		gitlabToken: secrets.New(opt.WebhookSecret),
	}
	if opt.TLSCertFile != "" {
		c, err := newCertificate(opt.TLSCertFile, opt.TLSKeyFile, log)
		if err != nil {
			return nil, fmt.Errorf("server: %w", err)
		}
		s.cert = c
	}
	if err := s.table.Add(s.routes()...); err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	if err := s.table.Add(opt.Routes...); err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	return s, nil
}

// routes are the server's own rows of the route table. Health, metrics and webhooks are
// public (webhooks prove themselves by signature); the reconciler is the whole consortium's,
// so acting on it needs a consortium operator.
func (s *Server) routes() []auth.Route {
	rs := []auth.Route{
		{Method: "GET", Pattern: "/healthz", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			fmt.Fprintln(w, "ok")
		})},
		{Method: "GET", Pattern: "/readyz", Handler: http.HandlerFunc(s.readyz)},
		{Method: "GET", Pattern: "/api/v1/status", Need: auth.Viewer, Handler: http.HandlerFunc(s.status)},
		{Method: "POST", Pattern: "/api/v1/reconcile", Need: auth.Operator, Member: auth.ConsortiumScope, Audit: true, Handler: http.HandlerFunc(s.reconcileNow)},
		{Method: "POST", Pattern: "/api/v1/suspend", Need: auth.Operator, Member: auth.ConsortiumScope, Audit: true, Handler: http.HandlerFunc(s.suspend)},
		{Method: "POST", Pattern: "/api/v1/resume", Need: auth.Operator, Member: auth.ConsortiumScope, Audit: true, Handler: http.HandlerFunc(s.resume)},
		{Method: "POST", Pattern: "/hooks/github", Handler: s.webhook(providerGitHub)},
		{Method: "POST", Pattern: "/hooks/gitlab", Handler: s.webhook(providerGitLab)},
		{Method: "POST", Pattern: "/hooks/generic", Handler: s.webhook(providerGeneric)},
	}
	if s.opt.Gatherer != nil {
		rs = append(rs, auth.Route{Method: "GET", Pattern: "/metrics", Handler: promhttp.HandlerFor(s.opt.Gatherer, promhttp.HandlerOpts{})})
	}
	return rs
}

// ReloadTLS loads the TLS certificate and key again (the daemon calls it on SIGHUP). On an
// error the previous certificate stays in service. Without TLS it does nothing.
func (s *Server) ReloadTLS() error {
	if s.cert == nil {
		return nil
	}
	if err := s.cert.Reload(); err != nil {
		return fmt.Errorf("server: %w", err)
	}
	s.log.Info("tls certificate reloaded", "cert", s.opt.TLSCertFile)
	return nil
}

// Handler is the server's mux, for tests and for embedding.
func (s *Server) Handler() http.Handler { return s.table.Handler() }

// Routes lists every route of the table as registered, the server's and the added ones.
func (s *Server) Routes() []auth.Route { return s.table.Routes() }

// Run serves until ctx ends, then shuts down gracefully: no new connections, requests in
// flight get ShutdownTimeout to finish.
func (s *Server) Run(ctx context.Context) error {
	ln := s.opt.Listener
	if ln == nil {
		var err error
		ln, err = net.Listen("tcp", s.opt.Addr)
		if err != nil {
			return fmt.Errorf("server: %w", err)
		}
	}
	srv := &http.Server{
		Handler:           s.table.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	s.log.Info("serving", "addr", ln.Addr().String(), "tls", s.cert != nil)
	errc := make(chan error, 1)
	if s.cert != nil {
		srv.TLSConfig = s.cert.tlsConfig()
		go func() { errc <- srv.ServeTLS(ln, "", "") }()
	} else {
		go func() { errc <- srv.Serve(ln) }()
	}
	select {
	case err := <-errc:
		return fmt.Errorf("server: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.opt.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	<-errc
	if err != nil {
		return fmt.Errorf("server: shutdown: %w", err)
	}
	s.log.Info("server stopped")
	return nil
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if cur := s.opt.Reconciler.Current(); cur != nil {
		fmt.Fprintln(w, "ready: serving", cur.Revision)
		return
	}
	w.WriteHeader(http.StatusServiceUnavailable)
	fmt.Fprintln(w, "not ready: no revision published yet")
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.opt.Reconciler.Status())
}

func (s *Server) reconcileNow(w http.ResponseWriter, r *http.Request) {
	var body struct {
		// AllowRollback is a full commit hash the operator allows to be published although it
		// does not build on the revision served; By says who the operator is.
		AllowRollback string `json:"allowRollback"`
		By            string `json:"by"`
	}
	if r.ContentLength != 0 {
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&body); err != nil {
			writeError(w, http.StatusBadRequest, "body must be JSON {\"allowRollback\": \"<commit>\", \"by\": \"...\"}")
			return
		}
	}
	if body.AllowRollback != "" {
		auth.Note(r.Context(), "allowRollback", body.AllowRollback)
		if note := strings.TrimSpace(body.By); note != "" {
			auth.Note(r.Context(), "by", note)
		}
		// Who allowed it is who is signed in, never what the body claims.
		by := "anonymous"
		if p := auth.FromContext(r.Context()); p != nil {
			by = p.Subject
			if p.Name != "" && p.Name != p.Subject {
				by += " (" + p.Name + ")"
			}
		}
		if note := strings.TrimSpace(body.By); note != "" {
			by += ", saying " + strconv.Quote(note)
		}
		by += " from " + r.RemoteAddr
		err := s.opt.Reconciler.AllowRollback(body.AllowRollback, by)
		switch {
		case errors.Is(err, reconcile.ErrNotAHash), errors.Is(err, reconcile.ErrNoRollbackCheck):
			writeError(w, http.StatusBadRequest, err.Error())
			return
		case errors.Is(err, reconcile.ErrSuspended):
			writeError(w, http.StatusConflict, "rollback allowed, but reconciling is suspended: resume to publish it")
			return
		case err != nil:
			s.log.Error("allow rollback", "error", err)
			writeError(w, http.StatusInternalServerError, "allow rollback: "+err.Error())
			return
		}
		s.log.Warn("rollback allowed", "remote", r.RemoteAddr, "revision", body.AllowRollback, "by", by)
		writeJSON(w, http.StatusAccepted, map[string]any{"triggered": true, "rollbackAllowed": body.AllowRollback})
		return
	}
	if err := s.opt.Reconciler.Trigger("manual", true); err != nil {
		writeError(w, http.StatusConflict, "reconciling is suspended: resume first")
		return
	}
	s.log.Info("reconcile requested", "remote", r.RemoteAddr)
	writeJSON(w, http.StatusAccepted, map[string]any{"triggered": true})
}

func (s *Server) suspend(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Reason string `json:"reason"`
	}
	if r.ContentLength != 0 {
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&body); err != nil {
			writeError(w, http.StatusBadRequest, "body must be JSON {\"reason\": \"...\"}")
			return
		}
	}
	auth.Note(r.Context(), "reason", body.Reason)
	if err := s.opt.Reconciler.Suspend(body.Reason); err != nil {
		s.log.Error("suspend", "error", err)
		writeError(w, http.StatusInternalServerError, "suspend: "+err.Error())
		return
	}
	s.log.Info("reconcile suspended", "remote", r.RemoteAddr, "reason", body.Reason)
	writeJSON(w, http.StatusOK, s.opt.Reconciler.Status())
}

func (s *Server) resume(w http.ResponseWriter, r *http.Request) {
	if err := s.opt.Reconciler.Resume(); err != nil {
		s.log.Error("resume", "error", err)
		writeError(w, http.StatusInternalServerError, "resume: "+err.Error())
		return
	}
	s.log.Info("reconcile resumed", "remote", r.RemoteAddr)
	writeJSON(w, http.StatusOK, s.opt.Reconciler.Status())
}

var writeJSON, writeError = httpjson.Pretty, httpjson.PrettyError
