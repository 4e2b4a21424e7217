// Package server is the daemon's HTTP face: status and admin API, Git webhooks, health, and
// Prometheus metrics, on one explicit ServeMux other subsystems can mount their handlers on.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/time/rate"

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
	// AdminToken guards POST /api/v1/reconcile, /suspend and /resume (Authorization: Bearer).
	// Empty disables them: they answer 403. Otherwise it must be at least
	// secrets.MinAdminLength long.
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
	// Mount lets other subsystems add their handlers to the mux (e.g. the device API).
	Mount func(mux *http.ServeMux)
	// ShutdownTimeout bounds the graceful stop (default 10 seconds).
	ShutdownTimeout time.Duration
	// Logger receives request-level events (default: discard).
	Logger *slog.Logger
}

// Server serves the daemon's HTTP API until its context ends.
type Server struct {
	opt         Options
	log         *slog.Logger
	mux         *http.ServeMux
	limiter     *rate.Limiter // authentic webhook deliveries
	refusedLog  *rate.Limiter // warnings about refused webhooks
	seen        *deliveries
	adminToken  secrets.Token
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
	s := &Server{
		opt:     opt,
		log:     log,
		mux:     http.NewServeMux(),
		limiter: rate.NewLimiter(opt.WebhookRate, opt.WebhookBurst),
		// One warning a second about refused webhooks is plenty to notice an attack.
		refusedLog:  rate.NewLimiter(1, 5),
		seen:        newDeliveries(opt.DeliveryTTL, opt.DeliveryCap, opt.Now),
		adminToken:  secrets.New(opt.AdminToken),
		gitlabToken: secrets.New(opt.WebhookSecret),
	}
	if opt.TLSCertFile != "" {
		c, err := newCertificate(opt.TLSCertFile, opt.TLSKeyFile, log)
		if err != nil {
			return nil, fmt.Errorf("server: %w", err)
		}
		s.cert = c
	}
	s.routes()
	if opt.Mount != nil {
		opt.Mount(s.mux)
	}
	return s, nil
}

func (s *Server) routes() {
	m := s.mux
	m.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	m.HandleFunc("GET /readyz", s.readyz)
	m.HandleFunc("GET /api/v1/status", s.status)
	m.HandleFunc("POST /api/v1/reconcile", s.admin(s.reconcileNow))
	m.HandleFunc("POST /api/v1/suspend", s.admin(s.suspend))
	m.HandleFunc("POST /api/v1/resume", s.admin(s.resume))
	m.HandleFunc("POST /hooks/github", s.webhook(providerGitHub))
	m.HandleFunc("POST /hooks/gitlab", s.webhook(providerGitLab))
	m.HandleFunc("POST /hooks/generic", s.webhook(providerGeneric))
	if s.opt.Gatherer != nil {
		m.Handle("GET /metrics", promhttp.HandlerFor(s.opt.Gatherer, promhttp.HandlerOpts{}))
	}
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
func (s *Server) Handler() http.Handler { return s.mux }

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
		Handler:           s.mux,
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

// admin guards an admin endpoint with the bearer token.
func (s *Server) admin(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.adminToken.IsSet() {
			writeError(w, http.StatusForbidden, "the admin API is disabled: start the daemon with --admin-token-file or SAMVERK_ADMIN_TOKEN")
			return
		}
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || !s.adminToken.Match(strings.TrimSpace(got)) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="samverk"`)
			writeError(w, http.StatusUnauthorized, "missing or wrong admin token")
			return
		}
		h(w, r)
	}
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
		by := strings.TrimSpace(body.By)
		if by == "" {
			by = "admin token"
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

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}
