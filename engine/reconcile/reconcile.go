// Package reconcile turns each new commit of the catalog into a published revision, as one
// transaction: fetch, verify, snapshot, validate, publish — or nothing, and the last good stays.
package reconcile

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"samverk.io/samverk/engine/backoff"
	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/gitfs"
	"samverk.io/samverk/engine/signing"
	"samverk.io/samverk/engine/source"
	"samverk.io/samverk/engine/validate"
)

// Source is where revisions come from.
type Source interface {
	// Fetch updates the followed branch and returns its head.
	Fetch(ctx context.Context) (plumbing.Hash, error)
	// Verify checks a commit's signature (a no-op when verification is off) and names the signer.
	Verify(commit plumbing.Hash) (string, error)
	// Snapshot returns a commit's tree.
	Snapshot(commit plumbing.Hash) (*gitfs.FS, error)
	// Message returns a commit's message (read for its AllowRemovalTrailer).
	Message(commit plumbing.Hash) (string, error)
}

var _ Source = (*source.Source)(nil)

// Signing decides whether the commits from the published revision to a new head were signed by
// keys trusted for what they change.
type Signing interface {
	// Trust derives, from a revision's validated catalog, who may sign what after it.
	Trust(cat *catalog.Catalog) *signing.Trust
	// Check checks every commit from base (zero: nothing published) to head against trust,
	// and says where head stands to base.
	Check(ctx context.Context, base plumbing.Hash, trust *signing.Trust, head plumbing.Hash) (*signing.Verdict, error)
	// CheckServed checks a revision published before, restored after a restart.
	CheckServed(ctx context.Context, head plumbing.Hash, trust *signing.Trust) (*signing.Verdict, error)
	// Relation says where head stands to base.
	Relation(ctx context.Context, base, head plumbing.Hash) (signing.Relation, error)
}

var _ Signing = (*signing.Policy)(nil)

// Published is a revision that passed every check and every publish hook, and is being served.
// It is immutable once published.
type Published struct {
	// Revision is the commit hash.
	Revision string
	// Time is when it was published (by this process: after a restart, the restore time).
	Time time.Time
	// Catalog is the validated catalog of that commit.
	Catalog *catalog.Catalog
	// Report is its validation report (it passed; it may still carry warnings).
	Report *validate.Report
	// Signer names the key that signed the commit, when signatures are verified.
	Signer string
	// Signature is the commit's signature, under a signing policy.
	Signature *signing.Signature
	// Trust is who may sign what in the commits after this one, under a signing policy.
	Trust *signing.Trust
	// Followed is true when this replica did not decide on the revision but followed the
	// leader's decision (Options.Follow): hooks must then leave the leader's records alone.
	Followed bool
	// Restored is true when the revision was published before and is served again after a
	// restart.
	Restored bool
}

// Hook is called with a revision that is about to be published, in order, before it is
// served. An error refuses the revision: it is not served or persisted. A hook must make its
// own effects visible atomically, since a later hook may still refuse.
type Hook = func(ctx context.Context, p *Published) error

// Options configure a Reconciler. Source is required; everything else has a working default.
type Options struct {
	Source Source
	// Origin names what is followed, e.g. the repository URL (without credentials) and branch.
	// It is persisted with the revision; after a restart with another origin the old revision
	// is not restored.
	Origin string
	// Path is the catalog's directory in the repository, slash-separated (default: the
	// repository root). Only it is validated and published; document paths are relative to it,
	// while the findings of the report name files from the repository root.
	Path string
	// StateDir keeps state.json: the last published revision and whether reconciling is
	// suspended. Empty means nothing is persisted.
	StateDir string
	// Validate configures the pipeline each commit goes through (policies, fail-on).
	Validate validate.Options
	// Interval between fetches (default 1 minute), varied by up to ±10% so that many daemons
	// do not fetch in step.
	Interval time.Duration
	// RetryBase is the first delay after a failed fetch or check (default 5 seconds); it
	// doubles with each failure in a row, up to Interval, with jitter.
	RetryBase time.Duration
	// History is the number of attempts kept for status (default 10).
	History int
	// OnPublish hooks run before each revision is served.
	OnPublish []Hook
	// OnCheck observers are told, in order, when the check of a new revision begins (not the
	// restore after a restart), with the attempt's Revision, Trigger and Started. They run in
	// the reconcile loop and must return promptly (queue, never wait on the network).
	OnCheck []func(ctx context.Context, a Attempt)
	// OnOutcome observers are told, in order, of every attempt that decided a revision's
	// fate: published (p is what is now served; a restore after a restart has Trigger
	// "restore") or refused (p is nil; a.Report holds the findings when it got as far as
	// validation). They run in the reconcile loop after the outcome is final, so they cannot
	// change it; they must return promptly.
	OnOutcome []func(ctx context.Context, a Attempt, p *Published)
	// Enrollment, when set, counts enrolled devices per member, and a commit that removes the
	// Member or every device group of a member with enrolled devices is refused unless its
	// message carries an AllowRemovalTrailer for that member.
	Enrollment Enrollment
	// Signing, when set, replaces Source.Verify: every commit since the published revision is
	// checked against the per-member signing policy, and a head that is not a descendant of
	// the published revision (a force-push to an older or another history) is refused unless
	// an operator allowed it with AllowRollback.
	Signing Signing
	// Follow, when set, is asked before each fetch whether this replica follows another's
	// decisions (replicas sharing a store: only the leader decides). When follow is true,
	// the attempt checks revision, the revision the leader published, instead of the fetched
	// head: it still fetches (for the commit's objects) and checks and compiles the revision
	// itself, which gives the same result on every replica. An empty revision means nothing
	// is published yet. A follower keeps following while suspended.
	Follow func(ctx context.Context) (revision string, follow bool, err error)
	// Lead, when set with Follow, scopes each attempt that decides (does not follow): it runs
	// in the context Lead returns, which carries what leader writes need and is cancelled the
	// moment this replica stops leading (the attempt then ends cancelled, deciding nothing).
	Lead func(ctx context.Context) (context.Context, func())
	// OnSuspend, when set, is called by Suspend and Resume before the flag changes here, to
	// share it (replicas sharing a store); an error leaves the flag as it was.
	OnSuspend func(suspended bool, reason string) error
	// OnTrigger, when set, is told of every Trigger not refused (a webhook, an operator):
	// a follower passes it on to the leader, which alone fetches.
	OnTrigger func(reason string)
	// Replicas, when set, lists the replicas sharing the store, for status.
	Replicas func() []Replica
	// Metrics, when set, records attempts and the applied revision.
	Metrics *Metrics
	// Logger receives one record per attempt (default: discard).
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// ErrSuspended is returned by Trigger while reconciling is suspended.
var ErrSuspended = errors.New("reconcile: suspended")

// Reconciler follows a Source and publishes every good revision. Run it with Run; read what it
// serves with Current.
type Reconciler struct {
	opt     Options
	log     *slog.Logger
	current atomic.Pointer[Published]
	trigger chan trigger

	mu sync.Mutex // guards what follows: the status
	st state
}

type trigger struct {
	reason string
	force  bool
}

// New makes a Reconciler and reads its persisted state (the suspended flag; the revision is
// restored by Run).
func New(opt Options) (*Reconciler, error) {
	if opt.Source == nil {
		return nil, errors.New("reconcile: no source")
	}
	if opt.Interval <= 0 {
		opt.Interval = time.Minute
	}
	if opt.RetryBase <= 0 {
		opt.RetryBase = 5 * time.Second
	}
	if opt.RetryBase > opt.Interval {
		opt.RetryBase = opt.Interval
	}
	if opt.History <= 0 {
		opt.History = 10
	}
	if opt.Path != "" {
		clean := path.Clean(strings.Trim(opt.Path, "/"))
		if !fs.ValidPath(clean) || clean == "." {
			return nil, fmt.Errorf("reconcile: catalog path %q: want a directory inside the repository, like catalog", opt.Path)
		}
		opt.Path = clean
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Validate.Cache == nil {
		// Consecutive commits share most files: parse and schema-check only what changed.
		opt.Validate.Cache = validate.NewCache()
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Reconciler{opt: opt, log: log, trigger: make(chan trigger, 1)}
	ps, err := readState(opt.StateDir)
	if err != nil {
		return nil, err
	}
	if ps.Attempting != "" {
		// The last run stopped in the middle of checking this commit: perhaps killed, perhaps
		// brought down by the commit itself. Checking it again could do the same on every
		// restart, so it is refused until a newer commit arrives.
		ps.Crashed = &crashedAttempt{Revision: ps.Attempting, Started: ps.AttemptingSince, Found: opt.Now()}
		ps.Attempting, ps.AttemptingSince = "", time.Time{}
		if err := writeState(opt.StateDir, ps); err != nil {
			return nil, err
		}
		log.Error("the last run stopped while checking a commit; it stays refused until a newer commit",
			"revision", ps.Crashed.Revision, "startedAt", ps.Crashed.Started)
	}
	r.st.persisted = ps
	r.st.suspended = ps.Suspended
	if c := ps.Crashed; c != nil {
		rec := Attempt{
			Revision: c.Revision, Trigger: "restart", Started: c.Started,
			Outcome: OutcomeRefused, Reason: ReasonCrashed,
			Message: fmt.Sprintf("samverk stopped while checking commit %s (started %s) and never finished; "+
				"the commit is refused so that it cannot stop samverk again: push a newer commit, "+
				"or run 'samverk reconcile' to check it once more", fmtRev(c.Revision), c.Started.UTC().Format(time.RFC3339)),
		}
		r.st.lastAttempt, r.st.crashed = &rec, &rec
		r.st.history = []Attempt{rec}
	}
	return r, nil
}

// Current is the revision being served, or nil before the first publish.
func (r *Reconciler) Current() *Published { return r.current.Load() }

// Trigger asks for a fetch now (a webhook, `samverk reconcile`). With force, the head is checked
// again even when it was already applied or refused. It never blocks.
func (r *Reconciler) Trigger(reason string, force bool) error {
	r.mu.Lock()
	suspended := r.st.suspended
	r.mu.Unlock()
	if suspended {
		return ErrSuspended
	}
	if r.opt.OnTrigger != nil {
		r.opt.OnTrigger(reason)
	}
	select {
	case r.trigger <- trigger{reason: reason, force: force}:
	default:
		// A trigger is already pending; it will fetch. Keep the stronger request.
		if force {
			r.mu.Lock()
			r.st.forcePending = true
			r.mu.Unlock()
		}
	}
	return nil
}

// Suspend stops fetching and publishing until Resume; the current revision stays served. An
// attempt in progress finishes. The flag is persisted (and shared, with Options.OnSuspend).
func (r *Reconciler) Suspend(reason string) error {
	if r.opt.OnSuspend != nil {
		if err := r.opt.OnSuspend(true, reason); err != nil {
			return err
		}
	}
	return r.setSuspended(true, reason)
}

// Resume undoes Suspend and fetches at once.
func (r *Reconciler) Resume() error {
	if r.opt.OnSuspend != nil {
		if err := r.opt.OnSuspend(false, ""); err != nil {
			return err
		}
	}
	if err := r.setSuspended(false, ""); err != nil {
		return err
	}
	return r.Trigger("resume", false)
}

// Adopt takes on a suspension decided elsewhere (another replica's Suspend or Resume, read
// from the shared store), without sharing it again. Resuming fetches at once.
func (r *Reconciler) Adopt(suspended bool, reason string) error {
	r.mu.Lock()
	same := r.st.suspended == suspended && r.st.suspendReason == reason
	r.mu.Unlock()
	if same {
		return nil
	}
	if err := r.setSuspended(suspended, reason); err != nil {
		return err
	}
	if !suspended {
		return r.Trigger("resume", false)
	}
	return nil
}

// Suspended reports whether reconciling is suspended, and why.
func (r *Reconciler) Suspended() (bool, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.st.suspended, r.st.suspendReason
}

// Wake asks for a pass now, even while suspended: a follower follows the leader's new
// decision. It never blocks.
func (r *Reconciler) Wake(reason string) {
	select {
	case r.trigger <- trigger{reason: reason}:
	default:
	}
}

// TriggerFollow is the trigger of an attempt that follows the leader's decision.
const TriggerFollow = "follow"

func (r *Reconciler) setSuspended(on bool, reason string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.st.suspended = on
	r.st.suspendReason = reason
	ps := r.st.persisted
	ps.Suspended = on
	if err := writeState(r.opt.StateDir, ps); err != nil {
		return err
	}
	r.st.persisted = ps
	r.log.Info("reconcile suspended", "suspended", on, "reason", reason)
	return nil
}

// Run restores the persisted revision, then fetches at once and on every interval or trigger
// until ctx ends. It returns nil on a clean stop.
func (r *Reconciler) Run(ctx context.Context) error {
	r.restore(ctx)

	next := time.NewTimer(0)
	defer next.Stop()
	done := make(chan *attempt, 1)
	var cur *inflight
	failures := 0
	first := true
	for {
		var t trigger
		select {
		case <-ctx.Done():
			if cur != nil {
				cur.cancel(nil)
				<-done
			}
			return nil
		case <-next.C:
			t = trigger{reason: "interval"}
			if first {
				t.reason = "startup"
			}
		case t = <-r.trigger:
		case a := <-done:
			cur = nil
			if a.transient() {
				failures++
				next.Reset(r.backoff(failures))
			} else {
				failures = 0
			}
			continue
		}
		first = false
		next.Reset(jitter(r.opt.Interval))
		r.mu.Lock()
		if r.st.forcePending {
			t.force, r.st.forcePending = true, false
		}
		suspended := r.st.suspended
		r.mu.Unlock()
		following, decided := false, ""
		if r.opt.Follow != nil {
			rev, ok, err := r.opt.Follow(ctx)
			if err != nil {
				r.log.Error("cannot read the leader's decision", "error", err.Error())
				failures++
				next.Reset(r.backoff(failures))
				continue
			}
			following, decided = ok, rev
		}
		if suspended && !following || following && decided == "" {
			continue
		}
		if following && !isHash(decided) {
			r.log.Error("the leader's decision is not a commit hash", "revision", decided)
			continue
		}

		a := r.newAttempt(t)
		if following {
			a.trigger = TriggerFollow
		}
		if !r.runSteps(ctx, a, []step{r.fetch}, false) {
			if a.transient() {
				failures++
				next.Reset(r.backoff(failures))
			}
			continue
		}
		failures = 0
		if following {
			a.revision, a.hash = decided, plumbing.NewHash(decided)
		}
		if cur != nil {
			// An attempt that has recorded its end but not yet reported it here is done: a
			// trigger that comes in between must not be taken for one about a running check.
			select {
			case <-done:
				cur = nil
			default:
			}
		}
		if cur != nil {
			switch {
			case cur.a.revision == a.revision && !t.force:
				continue // that commit is already being checked
			case cur.a.revision == a.revision:
				// Forced: check it again once the running check, which may have read the
				// commit before what the force is for, has ended.
				<-done
			default:
				// A newer commit supersedes the one in progress.
				cur.cancel(errSuperseded)
				<-done
			}
			cur = nil
		}
		if skip := r.unchanged(a, t.force); skip {
			continue
		}
		actx, cancel := context.WithCancelCause(ctx)
		cur = &inflight{a: a, cancel: cancel}
		r.setInProgress(ctx, a)
		go func() {
			defer cancel(nil)
			sctx := actx
			if !following && r.opt.Lead != nil {
				var stop func()
				sctx, stop = r.opt.Lead(actx)
				defer stop()
			}
			r.runSteps(sctx, a, []step{r.begin, r.verify, r.snapshot, r.validate, r.guardRemovals, r.publish}, true)
			done <- a
		}()
	}
}

type inflight struct {
	a      *attempt
	cancel context.CancelCauseFunc
}

// jitter varies d by up to ±10%.
func jitter(d time.Duration) time.Duration {
	span := int64(d) / 5
	if span <= 0 {
		return d
	}
	return d - time.Duration(span/2) + time.Duration(rand.Int64N(span))
}

// backoff is the delay before retry n (1-based): RetryBase doubling, capped at Interval.
func (r *Reconciler) backoff(n int) time.Duration {
	return backoff.Delay(r.opt.RetryBase, r.opt.Interval, n)
}

// restore serves the persisted revision from the local clone, before any fetch. It goes
// through verify, snapshot, validate and publish again: a key removed from the trusted set or
// a new policy since the last run must still hold.
func (r *Reconciler) restore(ctx context.Context) {
	r.mu.Lock()
	ps := r.st.persisted
	r.mu.Unlock()
	rev := ps.Revision
	if rev == "" {
		return
	}
	if ps.Crashed != nil && ps.Crashed.Revision == rev {
		r.log.Error("not restoring the persisted revision: samverk stopped while checking it",
			"revision", rev)
		return
	}
	if ps.Origin != r.opt.Origin {
		r.log.Warn("not restoring the persisted revision: it came from another origin",
			"revision", rev, "persistedOrigin", ps.Origin, "origin", r.opt.Origin)
		return
	}
	a := r.newAttempt(trigger{reason: TriggerRestore})
	a.revision = rev
	a.hash = plumbing.NewHash(rev)
	r.setInProgress(ctx, a)
	steps := []step{r.begin, r.verify, r.snapshot, r.validate, r.guardRemovals, r.publish}
	if r.opt.Signing != nil {
		// The revision's own catalog says which member keys it trusts: validate first.
		steps = []step{r.begin, r.snapshot, r.validate, r.verifyServed, r.guardRemovals, r.publish}
	}
	r.runSteps(ctx, a, steps, true)
}

// TriggerRestore is the trigger of the attempt that restores the persisted revision after a
// restart.
const TriggerRestore = "restore"

// ErrNotAHash is returned by AllowRollback for anything but a full commit hash.
var ErrNotAHash = errors.New("reconcile: not a full commit hash (40 hex digits)")

// ErrNoRollbackCheck is returned by AllowRollback when no signing policy is set: rollbacks are
// then followed like any other head, and there is nothing to allow.
var ErrNoRollbackCheck = errors.New("reconcile: rollbacks are refused only with signature verification on; nothing to allow")

// AllowRollback lets revision be published although it is not a descendant of the revision
// served (a force-push to an older commit, or to another history), and asks for a forced
// reconcile. by says who allowed it. The allowance is persisted and shown in status until the
// next revision is published; when that is revision, the rollback is recorded in status.
func (r *Reconciler) AllowRollback(revision, by string) error {
	if r.opt.Signing == nil {
		return ErrNoRollbackCheck
	}
	revision = strings.ToLower(strings.TrimSpace(revision))
	if !isHash(revision) {
		return fmt.Errorf("%w: %q", ErrNotAHash, revision)
	}
	by = strings.TrimSpace(by)
	if by == "" {
		by = "unknown"
	}
	r.mu.Lock()
	ps := r.st.persisted
	ps.AllowRollback = &RollbackAllowance{Revision: revision, By: by, At: r.opt.Now()}
	err := writeState(r.opt.StateDir, ps)
	if err == nil {
		r.st.persisted = ps
	}
	r.mu.Unlock()
	if err != nil {
		return err
	}
	r.log.Warn("rollback allowed", "revision", revision, "by", by)
	return r.Trigger("allow-rollback", true)
}

func (r *Reconciler) allowance(rev string) *RollbackAllowance {
	r.mu.Lock()
	defer r.mu.Unlock()
	if al := r.st.persisted.AllowRollback; al != nil && al.Revision == rev {
		c := *al
		return &c
	}
	return nil
}

// Error reasons, as they appear in status conditions and attempts.
const (
	ReasonPublished        = "Published"
	ReasonFetchFailed      = "FetchFailed"
	ReasonSignatureRefused = "SignatureRefused"
	ReasonRollbackRefused  = "RollbackRefused"
	ReasonSnapshotFailed   = "SnapshotFailed"
	ReasonValidationFailed = "ValidationFailed"
	ReasonValidationError  = "ValidationError"
	ReasonHookFailed       = "PublishHookFailed"
	ReasonPersistFailed    = "PersistFailed"
	ReasonSuperseded       = "Superseded"
	ReasonCancelled        = "Cancelled"
	ReasonProgressing      = "Progressing"
	ReasonSuspended        = "Suspended"
	// ReasonCrashed: samverk stopped in the middle of checking the commit (found at start).
	ReasonCrashed         = "CheckNeverFinished"
	ReasonKeyValid        = "KeyValid"
	ReasonKeyExpiredSince = "KeyExpiredSince"
)

// Outcome is how an attempt ended. The values are the `outcome` label of
// samverk_reconcile_attempts_total.
type Outcome string

const (
	// Published: the revision is now served.
	OutcomePublished Outcome = "published"
	// Unchanged: the head was already applied or already refused; nothing to do.
	OutcomeUnchanged Outcome = "unchanged"
	// Refused: the commit failed verification or validation; it will not be retried until a
	// new commit (or a forced reconcile).
	OutcomeRefused Outcome = "refused"
	// Failed: something outside the commit failed (fetch, storage, a hook); retried with
	// back-off.
	OutcomeFailed Outcome = "failed"
	// Superseded: a newer commit arrived while this one was being checked.
	OutcomeSuperseded Outcome = "superseded"
	// Cancelled: the daemon stopped during the attempt.
	OutcomeCancelled Outcome = "cancelled"
)

// Outcomes lists every outcome, for metrics initialisation.
var Outcomes = []Outcome{OutcomePublished, OutcomeUnchanged, OutcomeRefused, OutcomeFailed, OutcomeSuperseded, OutcomeCancelled}

// stepError is a failed step: the outcome it leads to and the reason shown in status.
type stepError struct {
	outcome Outcome
	reason  string
	err     error
}

func (e *stepError) Error() string { return e.err.Error() }
func (e *stepError) Unwrap() error { return e.err }

func refused(reason string, err error) error {
	return &stepError{outcome: OutcomeRefused, reason: reason, err: err}
}

func failed(reason string, err error) error {
	return &stepError{outcome: OutcomeFailed, reason: reason, err: err}
}

// fmtRev shortens a revision for messages.
func fmtRev(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}
