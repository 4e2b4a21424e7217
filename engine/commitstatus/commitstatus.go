// Package commitstatus shows on each commit, in the Git host (GitHub's statuses API, GitLab's
// commit status API), what samverk made of it: pending while it is checked, success or
// failure with a one-line summary and a link to the console, and the rollout's progress.
// Statuses are queued and retried with backoff; posting one never holds up the reconcile.
package commitstatus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"samverk.io/samverk/engine/backoff"
	"samverk.io/samverk/engine/inflight"
	"samverk.io/samverk/engine/reconcile"
	"samverk.io/samverk/engine/rollout"
	"samverk.io/samverk/engine/store"
)

// Default contexts (GitHub's word; GitLab calls it the status's name).
const (
	ContextValidate = "samverk/validate"
	ContextRollout  = "samverk/rollout"
)

// Recorder keeps delivery attempts.
type Recorder interface {
	RecordDelivery(ctx context.Context, d *store.Delivery) error
}

// Rollouts reads the rollout's state.
type Rollouts interface {
	Status(ctx context.Context) (*rollout.Status, error)
}

var _ Rollouts = (*rollout.Controller)(nil)

// Options configure a Reporter. Repo (Provider GitHub or GitLab) and Token are required.
type Options struct {
	Repo  Repo
	Token string
	// Console is the console's base URL (--external-url), for the statuses' links.
	Console string
	// Store records every attempt (default: none recorded).
	Store Recorder
	// Rollouts, when set, is read every ProgressEvery (default 1m), and after each rollout
	// decision, for the rollout context.
	Rollouts      Rollouts
	ProgressEvery time.Duration
	// Leading says whether this process leads (nil: always); a follower posts nothing.
	Leading func() bool
	// Queue bounds the statuses waiting (default 256); Attempts per status (default 6);
	// RetryBase (default 2s) doubles up to RetryMax (default 2m), with jitter.
	Queue     int
	Attempts  int
	RetryBase time.Duration
	RetryMax  time.Duration
	// Client sends the requests (default: a 10s timeout).
	Client *http.Client
	// Registerer receives samverk_commitstatus_* (default: none exported).
	Registerer prometheus.Registerer
	Logger     *slog.Logger
	Now        func() time.Time
}

// Reporter posts commit statuses. Its methods queue and return at once; Run posts.
type Reporter struct {
	opt   Options
	log   *slog.Logger
	p     provider
	jobs  chan *Status
	nudge chan struct{}
	m     *prometheus.CounterVec

	busy     inflight.Counter
	mu       sync.Mutex
	progress map[string]string // sha → the rollout status last queued (state and description)
}

// New returns a Reporter.
func New(opt Options) (*Reporter, error) {
	p, err := newProvider(opt.Repo, opt.Token)
	if err != nil {
		return nil, err
	}
	if opt.Token == "" {
		return nil, errors.New("commit status: a token is required")
	}
	if opt.Queue <= 0 {
		opt.Queue = 256
	}
	if opt.Attempts <= 0 {
		opt.Attempts = 6
	}
	if opt.RetryBase <= 0 {
		opt.RetryBase = 2 * time.Second
	}
	if opt.RetryMax <= 0 {
		opt.RetryMax = 2 * time.Minute
	}
	if opt.ProgressEvery <= 0 {
		opt.ProgressEvery = time.Minute
	}
	if opt.Client == nil {
		opt.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Registerer == nil {
		opt.Registerer = prometheus.NewRegistry()
	}
	opt.Console = strings.TrimSuffix(opt.Console, "/")
	r := &Reporter{opt: opt, log: opt.Logger, p: p, jobs: make(chan *Status, opt.Queue), nudge: make(chan struct{}, 1),
		progress: map[string]string{}}
	r.m = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "samverk_commitstatus_posts_total",
		Help: "Commit status posts by outcome (delivered, failed, abandoned, dropped)."}, []string{"outcome"})
	if err := opt.Registerer.Register(r.m); err != nil {
		return nil, fmt.Errorf("commit status metrics: %w", err)
	}
	return r, nil
}

func (r *Reporter) leading() bool { return r.opt.Leading == nil || r.opt.Leading() }

// AttemptURL is the console page of a revision's attempt: its findings.
func (r *Reporter) AttemptURL(revision string) string {
	if r.opt.Console == "" {
		return ""
	}
	return r.opt.Console + "/findings?revision=" + revision
}

// Post queues s and returns at once; when the queue is full, s is dropped and counted.
func (r *Reporter) Post(s Status) {
	if r == nil || s.SHA == "" {
		return
	}
	if !r.leading() {
		return
	}
	s.Description = cut(s.Description, MaxDescription)
	r.busy.Add(1)
	select {
	case r.jobs <- &s:
	default:
		r.busy.Add(-1)
		r.m.WithLabelValues("dropped").Inc()
		r.log.Warn("commit status dropped: the queue is full", "sha", s.SHA, "context", s.Context)
	}
}

// Checking is the reconciler's OnCheck: the revision is pending while it is checked.
func (r *Reporter) Checking(_ context.Context, a reconcile.Attempt) {
	r.Post(Status{SHA: a.Revision, State: Pending, Context: ContextValidate, Description: "samverk is checking this commit",
		TargetURL: r.AttemptURL(a.Revision)})
}

// Outcome is the reconciler's OnOutcome: success when published, failure when refused, each
// with a one-line summary. A restore after a restart posts nothing.
func (r *Reporter) Outcome(_ context.Context, a reconcile.Attempt, p *reconcile.Published) {
	if a.Trigger == "restore" {
		return
	}
	s := Status{SHA: a.Revision, Context: ContextValidate, TargetURL: r.AttemptURL(a.Revision)}
	switch {
	case p != nil:
		s.State, s.Description = Success, "published"+counts(a)
	default:
		s.State, s.Description = Failure, "refused: "+reason(a)
	}
	r.Post(s)
	r.Nudge()
}

// counts says what findings a published revision still carries.
func counts(a reconcile.Attempt) string {
	f := a.Findings
	if f == nil || f.Warn+f.Info == 0 {
		return ""
	}
	return fmt.Sprintf(" with %d warnings, %d notes", f.Warn, f.Info)
}

// reason is a refusal in one line.
func reason(a reconcile.Attempt) string {
	if f := a.Findings; f != nil && f.Deny > 0 {
		msg := fmt.Sprintf("%d deny findings", f.Deny)
		if f.Warn > 0 {
			msg += fmt.Sprintf(", %d warnings", f.Warn)
		}
		return msg
	}
	if a.Message != "" {
		return a.Message
	}
	return a.Reason
}

// Watch sets the rollout whose progress is posted (Options.Rollouts); call it before Run.
func (r *Reporter) Watch(ro Rollouts) { r.opt.Rollouts = ro }

// Nudge asks for the rollout's progress to be posted now (a rollout decision was made).
func (r *Reporter) Nudge() {
	if r == nil {
		return
	}
	select {
	case r.nudge <- struct{}{}:
	default:
	}
}

// cut keeps s to n runes, the last an ellipsis when cut, on one line.
func cut(s string, n int) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if rs := []rune(s); len(rs) > n {
		return string(rs[:n-1]) + "…"
	}
	return s
}

// Flush waits until every queued status is posted or given up, or ctx ends.
func (r *Reporter) Flush(ctx context.Context) error { return r.busy.Wait(ctx) }

// Run posts queued statuses, and the rollout's progress, until ctx ends.
func (r *Reporter) Run(ctx context.Context) error {
	go r.watchRollout(ctx)
	for {
		select {
		case <-ctx.Done():
			return nil
		case s := <-r.jobs:
			r.deliver(ctx, s)
			r.busy.Add(-1)
		}
	}
}

func (r *Reporter) deliver(ctx context.Context, s *Status) {
	for attempt := 1; ; attempt++ {
		if !r.leading() {
			return
		}
		start := r.opt.Now()
		code, err := r.send(ctx, s)
		if ctx.Err() != nil {
			return
		}
		d := store.Delivery{At: start.UTC(), Sink: r.p.name(), Kind: "commit.status", Event: s.SHA + "/" + s.Context + "/" + s.State,
			Attempt: attempt, Code: code, Duration: r.opt.Now().Sub(start), Outcome: store.DeliveryDelivered}
		retry := err != nil && (code == 0 || code == http.StatusTooManyRequests || code >= 500) && attempt < r.opt.Attempts
		switch {
		case err == nil:
		case retry:
			d.Outcome, d.Error = store.DeliveryFailed, err.Error()
		default:
			d.Outcome, d.Error = store.DeliveryAbandoned, err.Error()
		}
		r.m.WithLabelValues(d.Outcome).Inc()
		if r.opt.Store != nil {
			if err := r.opt.Store.RecordDelivery(context.WithoutCancel(ctx), &d); err != nil {
				r.log.Error("cannot record a commit status", "sha", s.SHA, "err", err)
			}
		}
		if !retry {
			if err != nil {
				r.log.Warn("commit status not posted", "sha", s.SHA, "context", s.Context, "state", s.State, "attempts", attempt, "err", err)
			}
			return
		}
		t := time.NewTimer(backoff.Delay(r.opt.RetryBase, r.opt.RetryMax, attempt))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// send posts once. The error never carries the token or the answer's body.
func (r *Reporter) send(ctx context.Context, s *Status) (int, error) {
	req, err := r.p.request(ctx, s)
	if err != nil {
		return 0, fmt.Errorf("build request: %w", err)
	}
	resp, err := r.opt.Client.Do(req)
	if err != nil {
		if u := errors.Unwrap(err); u != nil {
			err = u // the *url.Error around it names the URL
		}
		return 0, fmt.Errorf("post to %s: %w", r.p.name(), err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, fmt.Errorf("%s answered %s", r.p.name(), resp.Status)
	}
	return resp.StatusCode, nil
}
