// Package agent is samverk-agent, the program on every managed PC: it enrolls once, pulls the
// PC's desired state, converges it, reports, and keeps enforcing the last state while offline.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"samverk.io/samverk/engine/agent/client"
	"samverk.io/samverk/engine/agent/converge"
	"samverk.io/samverk/engine/agent/facts"
	"samverk.io/samverk/engine/agent/osupgrade"
	"samverk.io/samverk/engine/agent/statedir"
	"samverk.io/samverk/engine/backoff"
	"samverk.io/samverk/engine/desired"
)

// Defaults for Options fields left zero.
const (
	DefaultInterval    = 5 * time.Minute
	DefaultSplay       = time.Minute
	DefaultBackoffBase = 5 * time.Second
	DefaultBackoffMax  = 10 * time.Minute
)

// onceAttempts is how often a --once run asks a throttling server again before it falls back
// to the cached state.
const onceAttempts = 3

// ErrResourcesFailed is returned by a --once run in which at least one resource failed.
var ErrResourcesFailed = errors.New("resources failed")

// Options configure the agent. Zero values are working defaults, except that Server and
// StateDir must be set, and EnrollToken until the device has enrolled.
type Options struct {
	// Server is the daemon's base URL. It must be https://, unless it names a loopback
	// address (the traffic never leaves the PC) or InsecureHTTP is set.
	Server string
	// InsecureHTTP allows a plain http:// server URL on the network: the device's credential
	// and desired state then travel unencrypted. For labs only.
	InsecureHTTP bool
	// EnrollToken is the member's enrollment token, used once; the device's own credential is
	// kept in the state directory afterwards.
	EnrollToken string
	// StateDir holds the credential, the cached desired state, queued reports and downloads.
	StateDir string
	// Once makes Run converge one time and return.
	Once bool
	// Noop turns every run into a plan: check, report drift, change nothing.
	Noop bool
	// Root prefixes every managed path, and commands run in it; for tests and demos, not a
	// sandbox (see converge.Options).
	Root string
	// Interval is the time between polls; Splay adds a random delay of up to Splay to each.
	Interval, Splay time.Duration
	// Labels are reported with the device's facts.
	Labels map[string]string
	// CAFile is a PEM file of extra authorities to trust for the server and downloads.
	CAFile string
	// Parallel is how many checks run at once (see converge.Options).
	Parallel int
	// BackoffBase and BackoffMax shape the exponential backoff after errors.
	BackoffBase, BackoffMax time.Duration
	// Systemctl overrides how Linux services are managed (see converge.Options).
	Systemctl string
	// Transport replaces the HTTP transport to the server (tests).
	Transport http.RoundTripper
	// NoticeHook is a program run for every notice received, with the notice's JSON on its
	// standard input and SAMVERK_NOTICE_SEQ, SAMVERK_NOTICE_SEVERITY and SAMVERK_NOTICE_FILE
	// in its environment: a member's own tray program plugs in here. Notices are always
	// written to NoticeFile in the state directory.
	NoticeHook string
	// NoticeStream keeps a connection open for notices, which then arrive in seconds;
	// without it they arrive at the next poll.
	NoticeStream bool
	// NoDesktop leaves notices off the desktop (notify-send on Linux, a message box in the
	// active session on Windows).
	NoDesktop bool
	// UpgradeAttempts is how often an OS upgrade is tried before it stays failed until a
	// person resets it (osupgrade.DefaultMaxAttempts when zero); UpgradeBackoff is the wait
	// after the first failure, doubled after each further one (osupgrade.DefaultBackoffBase).
	UpgradeAttempts int
	UpgradeBackoff  time.Duration
}

// clock is time as the agent's loop sees it; tests replace it.
type clock interface {
	Now() time.Time
	// Sleep waits for d or until ctx is done, and returns ctx.Err() in the latter case.
	Sleep(ctx context.Context, d time.Duration) error
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Agent is one device's agent.
type Agent struct {
	opts   Options
	log    *slog.Logger
	dir    *statedir.Dir
	client *client.Client
	engine *converge.Engine
	clock  clock
	// upgrader carries out the OS upgrade the desired state asks for.
	upgrader *osupgrade.Upgrader

	cred    *statedir.Credential
	state   *desired.State
	notices *notices
	// lastRunHash is the hash of the state last converged; a new hash triggers a run at once.
	lastRunHash string
}

// New checks the options, opens the state directory and loads what it holds.
func New(opts Options, log *slog.Logger) (*Agent, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.Splay < 0 {
		opts.Splay = 0
	}
	if opts.BackoffBase <= 0 {
		opts.BackoffBase = DefaultBackoffBase
	}
	if opts.BackoffMax <= 0 {
		opts.BackoffMax = DefaultBackoffMax
	}
	if opts.Server == "" {
		return nil, errors.New("no server given (--server)")
	}
	if err := CheckServerURL(opts.Server, opts.InsecureHTTP); err != nil {
		return nil, err
	}
	dir, err := statedir.Open(opts.StateDir)
	if err != nil {
		return nil, err
	}
	cl, err := client.New(client.Options{Server: opts.Server, CAFile: opts.CAFile, Transport: opts.Transport})
	if err != nil {
		return nil, err
	}
	if u, err := url.Parse(opts.Server); err == nil && u.Scheme == "http" && !isLoopback(u.Hostname()) {
		log.Warn("server URL is plain http (--insecure-http): the device credential travels unencrypted", "server", opts.Server)
	}
	dl, err := client.NewTransport(opts.CAFile)
	if err != nil {
		return nil, err
	}
	a := &Agent{
		opts:   opts,
		log:    log,
		dir:    dir,
		client: cl,
		clock:  realClock{},
		engine: converge.New(converge.Options{
			Root:       opts.Root,
			CacheDir:   dir.CachePath(),
			HTTPClient: &http.Client{Transport: dl},
			Parallel:   opts.Parallel,
			Noop:       opts.Noop,
			Systemctl:  opts.Systemctl,
			Logger:     log,
		}),
	}

	a.upgrader = osupgrade.New(osupgrade.Options{
		Dir:         dir.Path(),
		CacheDir:    dir.CachePath(),
		System:      osupgrade.NewSystem(osupgrade.SystemOptions{Root: opts.Root, Logger: log}),
		HTTPClient:  &http.Client{Transport: dl},
		MaxAttempts: opts.UpgradeAttempts,
		BackoffBase: opts.UpgradeBackoff,
		Logger:      log,
	})

	var desk desktop
	if !opts.NoDesktop {
		desk = newDesktop(execRunner{})
	}
	a.notices = newNotices(dir.Path(), opts.NoticeHook, execRunner{}, desk, log)

	switch c, err := dir.Credential(); {
	case err == nil:
		a.cred = &c
		if c.Server != "" && c.Server != cl.Server() {
			log.Warn("credential was issued by another server", "enrolledWith", c.Server, "server", cl.Server())
		}
	case errors.Is(err, statedir.ErrNotFound):
		if a.enrollToken() == "" {
			return nil, errors.New("not enrolled and no enrollment token given (--enroll-token)")
		}
	default:
		return nil, err
	}

	switch s, err := dir.Desired(); {
	case err == nil:
		a.state = s
		log.Debug("loaded cached desired state", "revision", s.Revision, "hash", s.Hash)
	case errors.Is(err, statedir.ErrNotFound):
	default:
		log.Warn("ignoring unreadable cached desired state", "err", err)
	}
	return a, nil
}

func (a *Agent) enrollToken() string {
	if a.opts.EnrollToken != "" {
		return a.opts.EnrollToken
	}
	t, err := a.dir.EnrollToken()
	if err != nil {
		return ""
	}
	return t
}

// Run runs the agent until ctx is done; with Options.Once it converges once and returns,
// with ErrResourcesFailed if a resource failed.
func (a *Agent) Run(ctx context.Context) error {
	if a.opts.Once {
		return a.once(ctx)
	}
	return a.loop(ctx)
}

// loop polls, converges and reports. Server contact and convergence have separate schedules:
// while the server is unreachable or throttling, contact backs off (and obeys Retry-After),
// but the cached state is still enforced every interval.
func (a *Agent) loop(ctx context.Context) error {
	var (
		failures    int
		nextContact time.Time // zero: now
		nextRun     time.Time
		streaming   bool
	)
	for {
		now := a.clock.Now()
		if !now.Before(nextContact) {
			err := a.sync(ctx)
			if err == nil && a.opts.NoticeStream && !streaming {
				streaming = true // enrolled: the stream can authenticate
				go a.streamNotices(ctx)
			}
			if err == nil {
				if a.runDue(now, nextRun) {
					a.runAndQueue(ctx)
					nextRun = a.clock.Now().Add(a.pollDelay())
				}
				err = a.deliver(ctx)
			} else if a.runDue(now, nextRun) {
				a.runAndQueue(ctx)
				nextRun = a.clock.Now().Add(a.pollDelay())
			}
			if ctx.Err() != nil {
				return nil
			}
			if err != nil {
				failures++
				d := a.backoff(failures)
				if ra := client.RetryAfter(err); ra > d {
					d = ra
				}
				nextContact = a.clock.Now().Add(d)
				a.log.Warn("server contact failed", "err", err, "retryIn", d.Round(time.Second).String(), "failures", failures)
			} else {
				failures = 0
				nextContact = nextRun
				if nextContact.Before(a.clock.Now()) {
					nextContact = a.clock.Now().Add(a.pollDelay())
				}
			}
		} else if a.runDue(now, nextRun) {
			a.log.Info("server contact deferred; enforcing the cached desired state")
			a.runAndQueue(ctx)
			nextRun = a.clock.Now().Add(a.pollDelay())
		}

		wake := nextContact
		if a.state != nil && nextRun.Before(wake) {
			wake = nextRun
		}
		if err := a.clock.Sleep(ctx, max(wake.Sub(a.clock.Now()), 0)); err != nil {
			return nil // cancelled: a clean stop
		}
	}
}

// runDue is true when there is a state and it is new or its time has come.
func (a *Agent) runDue(now, nextRun time.Time) bool {
	if a.state == nil {
		return false
	}
	return a.state.Hash != a.lastRunHash || !now.Before(nextRun)
}

// once is --once: fetch (falling back to the cache), converge, report.
func (a *Agent) once(ctx context.Context) error {
	err := a.retryThrottled(ctx, a.sync)
	if err != nil {
		if a.state == nil {
			return fmt.Errorf("no desired state: %w", err)
		}
		a.log.Warn("server out of reach; converging the cached desired state", "err", err, "revision", a.state.Revision)
	}
	if a.state == nil {
		return errors.New("no desired state")
	}
	res := a.runAndQueue(ctx)
	if err := a.retryThrottled(ctx, a.deliver); err != nil {
		a.log.Warn("report not delivered; it stays queued for the next run", "err", err)
	}
	if res.Failed > 0 {
		return fmt.Errorf("%d of %d: %w", res.Failed, len(res.Resources), ErrResourcesFailed)
	}
	return nil
}

// retryThrottled calls f and, while the server throttles with a Retry-After, waits as told and
// tries again, a few times.
func (a *Agent) retryThrottled(ctx context.Context, f func(context.Context) error) error {
	var err error
	for i := range onceAttempts {
		err = f(ctx)
		ra := client.RetryAfter(err)
		if err == nil || !errors.Is(err, client.ErrThrottled) || i == onceAttempts-1 {
			return err
		}
		if ra <= 0 {
			ra = a.backoff(i + 1)
		}
		a.log.Info("server is throttling; waiting as asked", "retryAfter", ra.String())
		if serr := a.clock.Sleep(ctx, ra); serr != nil {
			return errors.Join(err, serr)
		}
	}
	return err
}

// sync enrolls if needed and fetches the desired state, caching a new one.
func (a *Agent) sync(ctx context.Context) error {
	if err := a.enroll(ctx); err != nil {
		return err
	}
	hash := ""
	if a.state != nil {
		hash = a.state.Hash
	}
	f, err := a.client.Desired(ctx, a.cred.DeviceID, a.cred.Credential, hash)
	if errors.Is(err, client.ErrUnauthorized) || errors.Is(err, client.ErrForbidden) {
		return fmt.Errorf("%w; if the device was removed on the server, delete %s to enroll again",
			err, statedir.CredentialFile)
	}
	if err != nil {
		if client.NoticeInError(err) > a.notices.Last() {
			a.fetchNotices(ctx) // crisis notices are served while the daemon sheds load
		}
		return err
	}
	if f.Notice > a.notices.Last() {
		a.fetchNotices(ctx)
	}
	if f.NotModified {
		if a.state == nil {
			return errors.New("fetch desired state: server answered 304 but nothing is cached")
		}
		a.log.Debug("desired state unchanged", "hash", hash)
		return nil
	}
	s := f.State
	if want := `"` + s.Hash + `"`; f.ETag != "" && f.ETag != want && f.ETag != "W/"+want {
		a.log.Warn("ETag does not match the state's hash", "etag", f.ETag, "hash", s.Hash)
	}
	if err := a.dir.SaveDesired(s); err != nil {
		// Keep going with the state in memory; only offline enforcement after a restart suffers.
		a.log.Error("cannot cache desired state", "err", err)
	}
	if a.state == nil || a.state.Hash != s.Hash {
		a.log.Info("new desired state", "revision", s.Revision, "hash", s.Hash, "resources", len(s.Resources), "mode", s.Mode)
		for _, c := range s.Conditions {
			a.log.Info("desired state condition", "type", c.Type, "reason", c.Reason, "message", c.Message)
		}
		if s.OS != nil && s.OS.Action == "upgrade" {
			a.log.Info("desired state asks for an OS upgrade", "release", s.OS.Release, "build", s.OS.Build, "path", s.OS.Upgrade != nil)
		}
	}
	a.state = s
	return nil
}

// enroll gets the device its credential, once.
func (a *Agent) enroll(ctx context.Context) error {
	if a.cred != nil {
		return nil
	}
	token := a.enrollToken()
	if token == "" {
		return errors.New("enroll: no enrollment token")
	}
	f := facts.Gather(facts.Options{Root: a.opts.Root, Labels: a.opts.Labels})
	resp, err := a.client.Enroll(ctx, token, desired.EnrollRequest{Facts: f})
	if err != nil {
		return err
	}
	c := statedir.Credential{
		DeviceID:   resp.DeviceID,
		Credential: resp.Credential,
		Member:     resp.Member,
		Server:     a.client.Server(),
		EnrolledAt: time.Now().UTC(),
	}
	if err := a.dir.SaveCredential(c); err != nil {
		// Without a stored credential the next start would enroll again as a new device.
		return fmt.Errorf("enroll: %w", err)
	}
	if err := a.dir.RemoveEnrollToken(); err != nil {
		a.log.Warn("cannot remove the used enrollment token", "err", err)
	}
	a.cred = &c
	a.log.Info("enrolled", "deviceId", c.DeviceID, "member", c.Member)
	return nil
}

// runAndQueue converges the current state and queues its report on disk before anything
// tries to send it, so a report survives a crash or a dead network.
func (a *Agent) runAndQueue(ctx context.Context) converge.Result {
	st := a.state
	start := time.Now()
	res := a.engine.Run(ctx, st)
	dur := time.Since(start)
	a.lastRunHash = st.Hash
	a.upgrade(ctx, st, res)

	f := facts.Gather(facts.Options{Root: a.opts.Root, Labels: a.opts.Labels})
	f.Products = res.Products
	rep := desired.Report{
		Revision:   st.Revision,
		Hash:       st.Hash,
		StartedAt:  start.UTC(),
		DurationMs: dur.Milliseconds(),
		Noop:       a.opts.Noop,
		Resources:  res.Resources,
		Facts:      f,
	}
	if _, err := a.dir.QueueReport(rep); err != nil {
		a.log.Error("cannot queue report", "err", err)
	}
	a.log.Info("run finished", "revision", st.Revision, "mode", st.Mode, "noop", a.opts.Noop,
		"resources", len(res.Resources), "unchanged", res.Unchanged, "corrected", res.Corrected,
		"drifted", res.Drifted, "skipped", res.Skipped, "failed", res.Failed, "duration", dur.Round(time.Millisecond).String())
	return res
}

// upgrade moves the OS upgrade the state asks for, after the resources (driver packs among
// them) have converged. A driver pack that failed holds the upgrade; a plan (noop) and a state
// in detect mode run none.
func (a *Agent) upgrade(ctx context.Context, st *desired.State, res converge.Result) {
	if a.opts.Noop || st.Mode == "detect" {
		// A plan, or a group that only detects drift: an OS upgrade is the largest change of
		// all, and runs only where changes are made.
		if st.OS != nil && st.OS.Upgrade != nil {
			a.log.Info("the OS upgrade would start here; not in a plan or in detect mode", "release", st.OS.Release,
				"installer", st.OS.Upgrade.Installer.Type, "mode", st.Mode, "noop", a.opts.Noop)
		}
		return
	}
	var hold osupgrade.Hold
	why := make(map[string]string, len(st.Resources))
	for _, r := range st.Resources {
		why[r.ID] = r.Why
	}
	for _, r := range res.Resources {
		if r.Outcome == desired.Failed && strings.HasPrefix(why[r.ID], "driver pack") {
			hold = osupgrade.Hold("driver pack " + r.ID + " failed to install: " + r.Reason)
		}
	}
	if _, err := a.upgrader.Step(ctx, st.OS, hold); err != nil {
		a.log.Error("OS upgrade", "err", err)
	}
}

// deliverUpgrade sends the OS upgrade's phase reports, and learns of a reset.
func (a *Agent) deliverUpgrade(ctx context.Context) error {
	reset, err := a.upgrader.Sync(ctx, func(ctx context.Context, rep desired.UpgradeReport) (desired.UpgradeAnswer, error) {
		ans, err := a.client.UpgradeReport(ctx, a.cred.DeviceID, a.cred.Credential, rep)
		if errors.Is(err, client.ErrRejected) {
			a.log.Error("server rejected an OS upgrade report; dropping it", "phase", rep.Phase, "err", err)
			return ans, nil
		}
		return ans, err
	})
	if reset {
		a.log.Info("OS upgrade was reset on the server; it starts over at the next run")
		a.lastRunHash = "" // run at once
	}
	return err
}

// deliver sends queued reports, oldest first, and removes each once the server took it.
func (a *Agent) deliver(ctx context.Context) error {
	if a.cred == nil {
		return nil
	}

	queued, err := a.dir.QueuedReports()
	if err != nil {
		return err
	}
	for _, q := range queued {
		err := a.client.Report(ctx, a.cred.DeviceID, a.cred.Credential, q.Report)
		if errors.Is(err, client.ErrRejected) {
			// The server will never take this one; keeping it would block the rest.
			a.log.Error("server rejected a report; dropping it", "report", q.Name, "err", err)
		} else if err != nil {
			return err
		}
		if err := a.dir.DeleteReport(q.Name); err != nil {
			return err
		}
	}
	// The OS upgrade's phases after the run reports: a daemon without the route must not
	// hold those up.
	return a.deliverUpgrade(ctx)
}

// ErrInsecureHTTP refuses a plain http:// server URL on the network.
var ErrInsecureHTTP = errors.New("plain http sends the device's credential unencrypted: use https://, or --insecure-http for a lab")

// CheckServerURL refuses a plain http:// server URL unless insecure is set or the host is a
// loopback address (127.0.0.0/8, ::1, localhost): traffic to it never leaves the PC, which is
// why the local demo and tests may use http://127.0.0.1 without the flag.
func CheckServerURL(server string, insecure bool) error {
	u, err := url.Parse(server)
	if err != nil {
		return fmt.Errorf("server url: %w", err)
	}
	if strings.EqualFold(u.Scheme, "http") && !insecure && !isLoopback(u.Hostname()) {
		return fmt.Errorf("server %s: %w", server, ErrInsecureHTTP)
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// pollDelay is the interval plus a random splay, so a fleet does not poll in step.
func (a *Agent) pollDelay() time.Duration {
	d := a.opts.Interval
	if a.opts.Splay > 0 {
		d += rand.N(a.opts.Splay)
	}
	return d
}

// backoff is the delay after the given number of consecutive failures.
func (a *Agent) backoff(failures int) time.Duration {
	return backoff.Delay(a.opts.BackoffBase, a.opts.BackoffMax, failures)
}
