package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	bundled "samverk.io/samverk/catalog"
	"samverk.io/samverk/engine/audit"
	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/datadir"
	"samverk.io/samverk/engine/envflag"
	"samverk.io/samverk/engine/fleet"
	"samverk.io/samverk/engine/grants"
	"samverk.io/samverk/engine/history"
	"samverk.io/samverk/engine/leader"
	"samverk.io/samverk/engine/notice"
	"samverk.io/samverk/engine/notify"
	"samverk.io/samverk/engine/profiling"
	"samverk.io/samverk/engine/reconcile"
	"samverk.io/samverk/engine/replica"
	"samverk.io/samverk/engine/rollout"
	"samverk.io/samverk/engine/secrets"
	"samverk.io/samverk/engine/server"
	"samverk.io/samverk/engine/signing"
	"samverk.io/samverk/engine/source"
	"samverk.io/samverk/engine/store"
	"samverk.io/samverk/engine/suspension"
	"samverk.io/samverk/engine/timeline"
	"samverk.io/samverk/engine/upgrades"
	"samverk.io/samverk/engine/validate"
	"samverk.io/samverk/engine/version"
	"samverk.io/samverk/engine/web"
)

// serveOptions are the flags of `samverk serve`; each is also SAMVERK_<FLAG> in the environment.
type serveOptions struct {
	repo             string
	branch           string
	path             string
	listen           string
	data             string
	interval         time.Duration
	verifySignatures bool
	pprof            bool
	trustedKeys      string
	memberKeys       string
	knownKeys        string
	webhookSecret    string
	adminToken       string
	gitTokenFile     string
	sshKey           string
	knownHosts       string
	policies         string
	logLevel         string
	store            string
	enrollTokens     string
	enrollPerHour    int
	enrollQuota      int
	tlsCert          string
	tlsKey           string
	readTokens       string
	// History: how long periods and raw reports are kept.
	historyRetention string
	reportRetention  string

	// People: sign-in and sessions.
	externalURL      string
	oidcIssuer       string
	oidcClientID     string
	oidcClientSecret string
	oidcRedirectURL  string
	oidcRolesClaim   string
	oidcRoleMap      string
	oidcScopes       []string
	sessionKeyFile   string
	sessionTTL       time.Duration
	// The console.
	consoleCounts time.Duration
	localSignIn   string
	// Replicas sharing a PostgreSQL store.
	replicaID string

	// Telling the outside: notifications and commit statuses.
	notifyConfig      string
	commitStatus      string
	commitStatusToken string
	commitStatusAPI   string
	commitStatusRepo  string

	// listener, when set (by tests), is served instead of listening on --listen.
	listener net.Listener
	// now, when set (by tests), is the daemon's clock: what it records, judges waivers and
	// staleness by, and looks back from.
	now func() time.Time
}

var _ reconcile.Enrollment = store.Enrolled{}

func newServeCmd() *cobra.Command {
	var o serveOptions
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the daemon: follow the catalog repository, publish every good commit",
		Long: `serve follows one branch of the catalog's Git repository. Every new commit goes through
the same pipeline as 'samverk validate' (schemas, references, policies) and, when signature
verification is on, a signature check; only a commit that passes all of it is published. A
refused commit leaves the last good revision in place, and the status API says why.

Without --repo, serve follows the reference catalog built into samverk, as a local repository
in the data directory.

Every flag can also be set in the environment as SAMVERK_<FLAG> (e.g. SAMVERK_REPO,
SAMVERK_LISTEN, SAMVERK_VERIFY_SIGNATURES=true); a flag on the command line wins. Secrets
can be given directly as SAMVERK_GIT_TOKEN, SAMVERK_ADMIN_TOKEN, SAMVERK_WEBHOOK_SECRET,
SAMVERK_OIDC_CLIENT_SECRET and SAMVERK_COMMIT_STATUS_TOKEN.

--notify-config sends notifications to webhooks, Teams and Slack; a token for the Git host
(--commit-status-token-file) shows on each commit what samverk made of it (see
docs/notifications.md).

People sign in with OpenID Connect (--oidc-issuer and friends; see docs/auth.md). Without a
provider, on a loopback address, /auth/signin offers a local sign-in for trying samverk out.`,
		Example: `  samverk serve
  samverk serve --repo https://git.example.org/eklient/catalog.git --git-token-file /run/secrets/git
  samverk serve --repo /srv/catalog.git --verify-signatures --trusted-keys signers.asc
  samverk serve --repo /srv/catalog.git --verify-signatures --trusted-keys consortium.asc --member-keys /etc/samverk/member-keys
  samverk serve --external-url https://samverk.example.org --oidc-issuer https://login.example.org/realms/samverk \
    --oidc-client-id samverk --oidc-client-secret-file /run/secrets/oidc --oidc-role-map roles.map
  samverk serve --repo https://github.com/consortium/catalog.git --notify-config /etc/samverk/notify.yaml \
    --commit-status-token-file /run/secrets/github-statuses`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := bindEnv(cmd.Flags()); err != nil {
				return &ExitError{Code: ExitUsage, Err: err}
			}
			return runServe(cmd.Context(), o, cmd.ErrOrStderr())
		},
	}
	o.flags(cmd.Flags())
	return cmd
}

// flags binds the serve flags to o, with their defaults.
func (o *serveOptions) flags(f *pflag.FlagSet) {
	f.StringVar(&o.repo, "repo", "", "repository to follow: https://, ssh://, user@host:path or a local path (default: the bundled catalog)")
	f.StringVar(&o.branch, "branch", "main", "branch to follow")
	f.StringVar(&o.path, "path", "", "the catalog's directory in the repository (default: the repository root)")
	f.StringVar(&o.listen, "listen", "127.0.0.1:8080", "address of the HTTP API, webhooks, health and metrics")
	f.StringVar(&o.data, "data", "", "data directory: the clone and the last published revision (default $XDG_STATE_HOME/samverk)")
	f.DurationVar(&o.interval, "interval", time.Minute, "time between fetches (varied by ±10%)")
	f.BoolVar(&o.verifySignatures, "verify-signatures", false, "publish only commits signed by trusted keys: every commit since the published one, per folder (see --member-keys); refuse rollbacks no operator allowed")
	f.StringVar(&o.trustedKeys, "trusted-keys", "", "file of the consortium's armored OpenPGP public keys: trusted for shared files and for members that trust no key of their own")
	f.StringVar(&o.memberKeys, "member-keys", "", "directory of <member>.asc files: the keys each member trusts for its folder members/<member>/ (with --verify-signatures)")
	f.StringVar(&o.knownKeys, "known-keys", "", "file of armored public keys that members may trust by fingerprint in their Member document's spec.signingKeys (with --verify-signatures)")
	f.StringVar(&o.webhookSecret, "webhook-secret-file", "", "file holding the webhook secret (enables /hooks/github, /hooks/gitlab, /hooks/generic)")
	f.StringVar(&o.adminToken, "admin-token-file", "", "file holding the bearer token of the admin API (reconcile, suspend, resume)")
	f.StringVar(&o.gitTokenFile, "git-token-file", "", "file holding the HTTPS access token for the repository")
	f.StringVar(&o.sshKey, "ssh-key", "", "private key file for an SSH repository URL (default: the SSH agent)")
	f.StringVar(&o.knownHosts, "known-hosts", "", "known_hosts file for SSH host keys (default: $SSH_KNOWN_HOSTS, ~/.ssh/known_hosts)")
	f.StringVar(&o.policies, "policies", "", "directory of Rego policies (default: the bundled policy set)")
	f.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	f.StringVar(&o.store, "store", "", "device store: sqlite:PATH or postgres://… (default sqlite:<data>/devices.db)")
	f.StringVar(&o.tlsCert, "tls-cert", "", "PEM certificate (chain) file: serve HTTPS only; reloaded on SIGHUP and when the file changes")
	f.StringVar(&o.tlsKey, "tls-key", "", "PEM private key file of --tls-cert")
	f.BoolVar(&o.pprof, "pprof", false, "serve the Go runtime's profiles under /debug/pprof/ to consortium admins (see docs/auth.md)")
	f.StringVar(&o.enrollTokens, "enroll-tokens", "", "file of member=token lines that let devices enroll (default: SAMVERK_ENROLL_TOKENS as member=token,member=token)")
	f.IntVar(&o.enrollPerHour, "enroll-per-hour", 2000, "devices one enrollment token may enroll an hour (a token's line may set its own: perHour=N)")
	f.IntVar(&o.enrollQuota, "enroll-quota", 50_000, "devices one enrollment token may enroll in total (a token's line may set its own: quota=N)")
	f.StringVar(&o.readTokens, "read-tokens", "", "file of member=token lines, each token a viewer of its member's devices")
	f.StringVar(&o.historyRetention, "history-retention", "7y", "how long the history of revisions, device states, outcomes and waivers is kept: years (7y), days (90d) or a duration")
	f.StringVar(&o.reportRetention, "report-retention", "90d", "how long raw device reports are kept: years, days (90d) or a duration")
	f.StringVar(&o.externalURL, "external-url", "", "the URL people reach the daemon at (default http://<listen>); https makes cookies Secure")
	f.StringVar(&o.oidcIssuer, "oidc-issuer", "", "OpenID Connect issuer URL: people sign in there")
	f.StringVar(&o.oidcClientID, "oidc-client-id", "", "samverk's client id at the OpenID Connect provider")
	f.StringVar(&o.oidcClientSecret, "oidc-client-secret-file", "", "file holding the client secret (default: SAMVERK_OIDC_CLIENT_SECRET)")
	f.StringVar(&o.oidcRedirectURL, "oidc-redirect-url", "", "redirect URL registered at the provider (default <external-url>/auth/oidc/callback)")
	f.StringVar(&o.oidcRolesClaim, "oidc-roles-claim", "groups", "ID token claim whose values map to roles")
	f.StringSliceVar(&o.oidcScopes, "oidc-scopes", []string{"profile", "email"}, "scopes requested besides openid (some providers send groups only for a 'groups' scope)")
	f.StringVar(&o.oidcRoleMap, "oidc-role-map", "", "file of '<claim value> = <role>@<member or *>' lines (default: values samverk:<member>:<role>)")
	f.StringVar(&o.sessionKeyFile, "session-key-file", "", "file holding the key that signs session cookies (default: <data>/session.key, created 0600)")
	f.DurationVar(&o.sessionTTL, "session-ttl", 8*time.Hour, "how long a sign-in lasts")
	f.DurationVar(&o.consoleCounts, "console-counts-every", time.Minute, "how often the console recounts devices by member, state, hardware and setting")
	f.StringVar(&o.replicaID, "replica-id", "", "this daemon's name among replicas sharing a PostgreSQL store, in status (default <host>/<listen>)")
	f.StringVar(&o.notifyConfig, "notify-config", "", "YAML or JSON file of notification sinks (webhook, Teams, Slack) and their filters; see docs/notifications.md")
	f.StringVar(&o.commitStatus, "commit-status", "auto", "post commit statuses to: github, gitlab, none, or auto (by the --repo host, when a token is given)")
	f.StringVar(&o.commitStatusToken, "commit-status-token-file", "", "file holding the token for commit statuses (default: SAMVERK_COMMIT_STATUS_TOKEN)")
	f.StringVar(&o.commitStatusAPI, "commit-status-api-url", "", "API base URL for commit statuses (GitHub Enterprise: https://host/api/v3; GitLab: https://host/api/v4)")
	f.StringVar(&o.commitStatusRepo, "commit-status-repo", "", "the repository on the Git host (owner/repo; GitLab: the project's path), when --repo is a mirror or a local path")
	f.StringVar(&o.localSignIn, "local-signin", "auto", "local sign-in for trying out, no provider needed: auto (on when no --oidc-issuer and --listen is loopback), on or off")
}

// bindEnv sets every flag not given on the command line from SAMVERK_<FLAG>, if set.
func bindEnv(fs *pflag.FlagSet) error {
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		if err == nil {
			err = envflag.Set("SAMVERK_", f.Name, f.Changed, f.Value.Set)
		}
	})
	return err
}

// secret reads a secret from file, else from the environment variable env.
func secret(file, env string) (string, error) {
	if file == "" {
		return strings.TrimSpace(os.Getenv(env)), nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("%s is empty", file)
	}
	return s, nil
}

func defaultDataDir() string {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "samverk")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "state", "samverk")
	}
	return filepath.Join(os.TempDir(), "samverk")
}

func runServe(ctx context.Context, o serveOptions, stderr interface{ Write([]byte) (int, error) }) error {
	// Everything the daemon writes (state, Git objects, the store) is its user's alone.
	defer datadir.PrivateFiles()()
	d, err := newDaemon(ctx, o, stderr)
	if err != nil {
		return err
	}
	defer d.close()
	return d.run(ctx)
}

// daemon is a `samverk serve` put together: its parts run until the context ends.
type daemon struct {
	log     *slog.Logger
	rec     *reconcile.Reconciler
	srv     *server.Server
	devices *fleet.Service
	people  *people
	console *web.Console
	history *timeline.Recorder
	notices *notice.Board
	rollout *rollout.Controller
	leader  *leader.Elector
	replica *replica.Replica // nil: a single process on SQLite
	out     *outbound
	grants  *grants.Ledger
	// suspensions holds members' and device groups' devices on the state they have.
	suspensions *suspension.Manager
	closers     []func() error
}

func (d *daemon) close() {
	for i := len(d.closers) - 1; i >= 0; i-- {
		d.closers[i]()
	}
}

// run runs the reconciler, the server and the device service until ctx ends (SIGTERM) or
// one of them fails; they stop together.
func (d *daemon) run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// SIGHUP reloads the TLS certificate.
	hangup := func(ctx context.Context) error { reloadOnHangup(ctx, d.srv, d.log); return nil }
	// The rollout's gates and the timeline's retries and retention are the leader's alone.
	parts := []func(context.Context) error{d.leader.Run, d.rec.Run, d.srv.Run, d.devices.Run, d.people.run, d.console.Run,
		d.leader.Lead(d.history.Run), d.notices.Run, d.leader.Lead(d.rollout.Run), d.out.run, d.grants.Run, d.suspensions.Run, hangup}
	if d.replica != nil {
		parts = append(parts, d.replica.Run)
	}
	errc := make(chan error, len(parts))
	for _, run := range parts {
		go func() { errc <- run(ctx) }()
	}
	var first error
	for range parts {
		if err := <-errc; err != nil && first == nil {
			first = err
			cancel()
		}
	}
	if first != nil {
		return first
	}
	d.log.Info("samverk serve stopped")
	return nil
}

func newDaemon(ctx context.Context, o serveOptions, stderr interface{ Write([]byte) (int, error) }) (_ *daemon, err error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return nil, usageError("--log-level: %v", err)
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))
	d := &daemon{log: log}
	defer func() {
		if err != nil {
			d.close()
		}
	}()

	if o.data == "" {
		o.data = defaultDataDir()
	}
	if o.interval <= 0 {
		return nil, usageError("--interval must be positive")
	}
	dataDir, err := datadir.Open(o.data)
	if err != nil {
		return nil, &ExitError{Code: ExitUsage, Err: err}
	}
	d.closers = append(d.closers, dataDir.Close)
	gitToken, err := secret(o.gitTokenFile, "SAMVERK_GIT_TOKEN")
	if err != nil {
		return nil, usageError("--git-token-file: %v", err)
	}
	adminToken, err := secret(o.adminToken, "SAMVERK_ADMIN_TOKEN")
	if err != nil {
		return nil, usageError("--admin-token-file: %v", err)
	}
	if err := secrets.CheckAdmin(adminToken); err != nil {
		return nil, usageError("--admin-token-file: %v", err)
	}
	webhookSecret, err := secret(o.webhookSecret, "SAMVERK_WEBHOOK_SECRET")
	if err != nil {
		return nil, usageError("--webhook-secret-file: %v", err)
	}
	var keys, known string
	var memberKeys map[string]string
	switch {
	case o.verifySignatures && o.trustedKeys == "":
		return nil, usageError("--verify-signatures needs --trusted-keys")
	case !o.verifySignatures && (o.trustedKeys != "" || o.memberKeys != "" || o.knownKeys != ""):
		return nil, usageError("--trusted-keys, --member-keys and --known-keys need --verify-signatures")
	case o.verifySignatures:
		if keys, err = source.ReadTrustedKeys(o.trustedKeys); err != nil {
			return nil, &ExitError{Code: ExitUsage, Err: err}
		}
		if o.memberKeys != "" {
			if memberKeys, err = signing.ReadMemberKeys(o.memberKeys); err != nil {
				return nil, &ExitError{Code: ExitUsage, Err: err}
			}
		}
		if o.knownKeys != "" {
			if known, err = source.ReadTrustedKeys(o.knownKeys); err != nil {
				return nil, &ExitError{Code: ExitUsage, Err: fmt.Errorf("--known-keys: %w", err)}
			}
		}
	}
	pol, err := loadPolicies(o.policies)
	if err != nil {
		return nil, &ExitError{Code: ExitUsage, Err: err}
	}
	load, err := boundedLoad()
	if err != nil {
		return nil, err
	}

	repoURL, origin := o.repo, displayURL(o.repo)
	if repoURL == "" {
		// The bundled catalog, as the one commit of a local repository.
		repoURL = filepath.Join(o.data, "bundled.git")
		h, err := source.Seed(repoURL, o.branch, bundled.FS, bundledFile)
		if err != nil {
			return nil, err
		}
		origin = "bundled"
		log.Info("serving the bundled catalog", "repository", repoURL, "revision", h.String())
	}
	origin += "#" + o.branch
	if o.path != "" {
		origin += ":" + strings.Trim(o.path, "/")
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	srcMetrics, err := source.NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	recMetrics, err := reconcile.NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	srvMetrics, err := server.NewMetrics(reg)
	if err != nil {
		return nil, err
	}

	// Devices: the store, enrollment tokens and the agent API. SAMVERK_ENROLL_TOKENS holds the
	// tokens themselves, not a file name, so bindEnv's copy of it is not a --enroll-tokens file.
	if o.enrollTokens == os.Getenv(fleet.EnrollTokensEnv) {
		o.enrollTokens = ""
	}
	enrollTokens, err := fleet.LoadEnrollTokens(o.enrollTokens)
	if err != nil {
		return nil, usageError("--enroll-tokens: %v", err)
	}
	var readTokens fleet.Tokens
	if o.readTokens != "" {
		f, err := os.Open(o.readTokens)
		if err != nil {
			return nil, usageError("--read-tokens: %v", err)
		}
		readTokens, err = fleet.ParseTokens(f)
		f.Close()
		if err != nil {
			return nil, usageError("--read-tokens %s: %v", o.readTokens, err)
		}
	}
	if o.store == "" {
		o.store = "sqlite:" + filepath.Join(o.data, "devices.db")
	}
	shared := !strings.HasPrefix(o.store, "sqlite:")
	if !shared {
		// SQLite serves one process: a second daemon on the same file is refused.
		l, err := datadir.LockSQLite(strings.TrimPrefix(o.store, "sqlite:"))
		if err != nil {
			return nil, &ExitError{Code: ExitUsage, Err: err}
		}
		d.closers = append(d.closers, l.Close)
	}
	devStore, err := store.Open(ctx, o.store, store.Options{})
	if err != nil {
		return nil, &ExitError{Code: ExitUsage, Err: err}
	}
	d.closers = append(d.closers, devStore.Close)
	// One leader among the replicas sharing a PostgreSQL store; a SQLite store's one process.
	if d.leader, d.replica, err = replicas(o, shared, devStore, reg, log); err != nil {
		return nil, err
	}
	var retain store.Retention
	if retain.Intervals, err = timeline.ParseAge(o.historyRetention); err != nil {
		return nil, usageError("--history-retention: %v", err)
	}
	if retain.Reports, err = timeline.ParseAge(o.reportRetention); err != nil {
		return nil, usageError("--report-retention: %v", err)
	}
	d.history, err = timeline.New(timeline.Options{Store: devStore, Retention: retain, Logger: log.With("component", "timeline"), Now: o.now})
	if err != nil {
		return nil, err
	}
	d.notices = notice.NewBoard(notice.BoardOptions{Store: devStore, Logger: log.With("component", "notices")})
	if d.replica != nil {
		d.replica.Also(d.notices.Reload)
	}
	d.devices, err = fleet.New(ctx, devStore, fleet.Options{
		Notices:       d.notices,
		EnrollTokens:  enrollTokens,
		ReadTokens:    readTokens,
		EnrollPerHour: o.enrollPerHour,
		EnrollQuota:   o.enrollQuota,
		AdminToken:    adminToken,
		Registerer:    reg,
		Logger:        log.With("component", "fleet"),
		Now:           o.now,
	})
	if err != nil {
		return nil, err
	}

	src, err := source.Open(source.Options{
		URL:            repoURL,
		Branch:         o.branch,
		Dir:            filepath.Join(o.data, "git"),
		Token:          gitToken,
		SSHKeyFile:     o.sshKey,
		KnownHostsFile: o.knownHosts,
		TrustedKeys:    keys,
		Metrics:        srcMetrics,
	})
	if err != nil {
		return nil, &ExitError{Code: ExitUsage, Err: err}
	}
	d.closers = append(d.closers, func() error { src.Close(); return nil })
	devices := d.devices
	// Notifications and commit statuses: told by the reconciler, the rollout and notices.
	if d.out, err = newOutbound(o, devStore, reg, log, d.leader.Leading); err != nil {
		return nil, err
	}
	var past *history.Service // loads the earlier revisions rings are still served after a restart
	d.rollout, err = rollout.New(rollout.Options{Store: devStore, Server: devices, Registerer: reg, Logger: log.With("component", "rollout"), Now: o.now,
		Load:       func(_ context.Context, rev string) (*catalog.Catalog, error) { return past.Catalog(rev) },
		OnDecision: d.out.onDecision()})
	if err != nil {
		return nil, err
	}
	d.out.watchRollout(d.rollout)
	d.suspensions, err = suspension.New(suspension.Options{Store: devStore, Fleet: devices, MemberMayHold: d.rollout.MemberMayHold,
		Now: o.now, Logger: log.With("component", "suspensions")})
	if err != nil {
		return nil, err
	}
	if err := d.suspensions.Load(ctx); err != nil { // before any device is served
		return nil, err
	}
	var signingPolicy reconcile.Signing
	if o.verifySignatures {
		p, err := signing.New(signing.Options{Consortium: keys, Members: memberKeys, Known: known, Root: o.path, Open: src.Repository})
		if err != nil {
			return nil, &ExitError{Code: ExitUsage, Err: err}
		}
		signingPolicy = p
	}
	recOpt := reconcile.Options{
		Signing:  signingPolicy,
		Path:     o.path,
		Source:   src,
		Origin:   origin,
		StateDir: o.data,
		Validate: validate.Options{Policies: pol, Load: load, Now: o.now},
		// A commit may not take the Member or last device group away from enrolled devices.
		Enrollment: store.Enrolled{Store: devStore},
		Interval:   o.interval,
		Metrics:    recMetrics,
		Logger:     log.With("component", "reconcile"),
		Now:        o.now,
		OnPublish: []reconcile.Hook{func(ctx context.Context, p *reconcile.Published) error {
			return d.rollout.Publish(ctx, p.Revision, p.Catalog)
		}},
		OnCheck:   d.out.onCheck(),
		OnOutcome: append([]func(context.Context, reconcile.Attempt, *reconcile.Published){d.history.Outcome}, d.out.onOutcome()...),
	}
	if d.replica != nil {
		// The leader decides and records; the others follow its decisions and share suspension.
		outcomes := recOpt.OnOutcome
		recOpt.OnPublish = []reconcile.Hook{d.replica.Publish}
		recOpt.OnOutcome = []func(context.Context, reconcile.Attempt, *reconcile.Published){d.replica.Outcome(
			func(ctx context.Context, a reconcile.Attempt, p *reconcile.Published) {
				for _, f := range outcomes {
					f(ctx, a, p)
				}
			})}
		recOpt.Follow, recOpt.OnSuspend, recOpt.Replicas = d.replica.Follow, d.replica.OnSuspend, d.replica.Replicas
		recOpt.OnTrigger, recOpt.Lead = d.replica.OnTrigger, d.leader.Scope
	}
	if d.rec, err = reconcile.New(recOpt); err != nil {
		return nil, err
	}
	if d.replica != nil {
		if err := d.replica.Attach(ctx, d.rec, d.rollout); err != nil {
			return nil, err
		}
	}

	// Looking back at a device: its past states recompiled from the revisions followed.
	past, err = history.New(history.Options{Timelines: devStore, Devices: devStore, Revisions: src, Path: o.path, Load: load,
		Logger: log.With("component", "history"), Now: o.now})
	if err != nil {
		return nil, err
	}
	// The console, and people: who may do what, through which routes.
	hb, _ := pol.(web.Handbook)
	d.console, err = web.New(web.Options{Daemon: d.rec, Devices: devStore, Counts: devStore, States: devices, Handbook: hb,
		CountsMaxAge: o.consoleCounts, DeviceMember: devices.DeviceMember, History: past, Logger: log.With("component", "console")})
	if err != nil {
		return nil, err
	}
	// The audit log: the guard records every state-changing request in it.
	auditLog, err := audit.New(audit.Options{Store: devStore, Registerer: reg, Page: d.console.Frame, Logger: log.With("component", "audit")})
	if err != nil {
		return nil, err
	}
	d.people, err = newPeople(ctx, o, log, adminToken, devStore, devices, d.console.Refused, auditLog.Record)
	if err != nil {
		return nil, err
	}
	// Service requests: their approvals, and the grants that put products on single devices.
	if d.grants, err = newLedger(d.rec, devStore, devices, d.console.Frame, d.leader.Leading, d.out.notifier, log, o.now); err != nil {
		return nil, err
	}
	desk, err := serviceDeskRoutes(d.rec, devStore, devices, d.grants, d.notices, d.out.onSent(), reg, log)
	if err != nil {
		return nil, err
	}
	// OS upgrades: the phases agents report, their status, resets of failed ones.
	osUp, err := upgrades.New(upgrades.Options{Store: devStore, Devices: devices, Logger: log.With("component", "upgrades"), Now: o.now})
	if err != nil {
		return nil, err
	}
	routes := slices.Concat(devices.Routes(), d.people.routes, d.console.Routes(), auditLog.Routes(), past.Routes(), desk, d.grants.Routes(), osUp.Routes(), d.rollout.Routes(), d.rollout.ConsoleRoutes(d.console.Frame),
		notify.Routes(devStore), d.suspensions.Routes(), d.suspensions.ConsoleRoutes(d.console.Frame))
	if o.pprof {
		routes = append(routes, profiling.Routes()...)
	}
	d.srv, err = server.New(server.Options{
		Addr:          o.listen,
		Listener:      o.listener,
		Reconciler:    d.rec,
		Branch:        o.branch,
		Guard:         d.people.guard,
		WebhookSecret: webhookSecret,
		Gatherer:      reg,
		Metrics:       srvMetrics,
		Logger:        log.With("component", "server"),
		Routes:        routes,
		TLSCertFile:   o.tlsCert,
		TLSKeyFile:    o.tlsKey,
	})
	if err != nil {
		return nil, usageError("%v", err)
	}
	log.Info("samverk serve starting", "origin", origin, "data", o.data, "listen", o.listen,
		"interval", o.interval.String(), "verifySignatures", o.verifySignatures, "memberKeyRings", len(memberKeys),
		"adminToken", adminToken != "", "webhooks", webhookSecret != "",
		"oidc", o.oidcIssuer != "", "localSignIn", d.people.local, "notify", o.notifyConfig != "", "commitStatus", d.out.statuses != nil)
	return d, nil
}

// reloadOnHangup reloads the TLS certificate on every SIGHUP until ctx ends.
func reloadOnHangup(ctx context.Context, srv *server.Server, log *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			if err := srv.ReloadTLS(); err != nil {
				log.Error("SIGHUP: the previous TLS certificate stays in service", "error", err)
			}
		}
	}
}

// bundledFile picks the catalog's own files out of the embedded directory.
func bundledFile(name string) bool {
	return catalog.IsCatalogFile(name) || path.Ext(name) == ".md"
}

// displayURL is a repository URL fit for logs and state: without any user information.
func displayURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		if i := strings.Index(raw, "@"); i >= 0 && !strings.Contains(raw[:i], "/") {
			return raw[i+1:] // user@host:path
		}
		return raw
	}
	u.User = nil
	return u.String()
}

// replicas makes the leader election and, on a shared (PostgreSQL) store, this replica's
// place among the others.
func replicas(o serveOptions, shared bool, s store.Store, reg prometheus.Registerer, log *slog.Logger) (*leader.Elector, *replica.Replica, error) {
	host, _ := os.Hostname()
	id := o.replicaID
	if id == "" {
		id = host + "/" + o.listen
	}
	dsn := ""
	if shared {
		dsn = o.store
	}
	el, err := leader.New(leader.Options{DSN: dsn, Terms: s, ID: id, Registerer: reg, Logger: log.With("component", "leader")})
	if err != nil || !shared {
		return el, nil, err
	}
	rep, err := replica.New(replica.Options{DSN: dsn, Store: s, Leader: el, ID: id, Host: host, Version: version.Get().Version,
		Logger: log.With("component", "replica"), Now: o.now})
	return el, rep, err
}
