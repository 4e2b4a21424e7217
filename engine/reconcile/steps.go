package reconcile

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"samverk.io/samverk/engine/gitfs"
	"samverk.io/samverk/engine/signing"
	"samverk.io/samverk/engine/source"
	"samverk.io/samverk/engine/validate"
)

// attempt is one pass of the pipeline over one revision.
type attempt struct {
	trigger  string
	started  time.Time
	revision string
	hash     plumbing.Hash

	signer    string
	signature *signing.Signature
	rollback  *Rollback // set when an operator's allowance lets this revision roll back
	snap      *gitfs.FS
	result    *validate.Result
	pub       *Published

	outcome Outcome
	reason  string
	err     error
}

func (a *attempt) transient() bool { return a.outcome == OutcomeFailed }

// step is one stage of an attempt. It returns a *stepError (via refused or failed) to end the
// attempt with that outcome; any other error is a failure.
type step func(ctx context.Context, a *attempt) error

func (r *Reconciler) newAttempt(t trigger) *attempt {
	return &attempt{trigger: t.reason, started: r.opt.Now()}
}

// runSteps runs steps in order and reports whether they all passed. Whatever happens, a
// deferred block records the attempt — unless the steps passed and more are to come (final
// false: the fetch, before the loop decides what to do with the head).
func (r *Reconciler) runSteps(ctx context.Context, a *attempt, steps []step, final bool) (ok bool) {
	defer func() {
		if p := recover(); p != nil {
			a.err = fmt.Errorf("reconcile: panic: %v", p)
			a.outcome, a.reason, ok = OutcomeFailed, ReasonValidationError, false
		}
		if ok && !final {
			return
		}
		r.record(context.WithoutCancel(ctx), a)
	}()
	for _, s := range steps {
		if err := s(ctx, a); err != nil {
			a.err = err
			var se *stepError
			switch {
			case errors.As(err, &se):
				a.outcome, a.reason = se.outcome, se.reason
			default:
				a.outcome, a.reason = OutcomeFailed, ReasonValidationError
			}
			if ctx.Err() != nil && a.outcome != OutcomeRefused {
				// Cancelled: by a newer commit, or by shutdown.
				a.outcome, a.reason = OutcomeCancelled, ReasonCancelled
				if errors.Is(context.Cause(ctx), errSuperseded) {
					a.outcome, a.reason = OutcomeSuperseded, ReasonSuperseded
				}
			}
			return false
		}
	}
	if final {
		a.outcome, a.reason = OutcomePublished, ReasonPublished
	}
	return true
}

var errSuperseded = errors.New("reconcile: superseded by a newer commit")

func (r *Reconciler) fetch(ctx context.Context, a *attempt) error {
	h, err := r.opt.Source.Fetch(ctx)
	r.mu.Lock()
	r.st.lastFetch = r.opt.Now()
	r.st.lastFetchErr = err
	if err == nil {
		r.st.head = h.String()
	}
	r.mu.Unlock()
	if err != nil {
		return failed(ReasonFetchFailed, err)
	}
	a.hash, a.revision = h, h.String()
	// The attempt's time is the check's: fetches have their own metric.
	a.started = r.opt.Now()
	return nil
}

// begin persists that the attempt's revision is being checked, before anything of the commit
// is read: if samverk stops before the attempt is recorded, the next start knows which commit
// it was (see New).
func (r *Reconciler) begin(ctx context.Context, a *attempt) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	ps := r.st.persisted
	ps.Attempting, ps.AttemptingSince = a.revision, a.started
	if err := writeState(r.opt.StateDir, ps); err != nil {
		return failed(ReasonPersistFailed, err)
	}
	r.st.persisted = ps
	return nil
}

func (r *Reconciler) verify(ctx context.Context, a *attempt) error {
	if r.opt.Signing != nil {
		return r.verifyRange(ctx, a)
	}
	signer, err := r.opt.Source.Verify(a.hash)
	if err != nil {
		if errors.Is(err, source.ErrUnsigned) || errors.Is(err, source.ErrUntrusted) || errors.Is(err, source.ErrUnsupportedSignature) {
			return refused(ReasonSignatureRefused, err)
		}
		return failed(ReasonSnapshotFailed, err)
	}
	a.signer = signer
	return nil
}

// verifyRange checks every commit since the published revision against the signing policy,
// with the published revision's trust, and refuses a rollback no operator allowed.
func (r *Reconciler) verifyRange(ctx context.Context, a *attempt) error {
	cur := r.Current()
	var base plumbing.Hash
	var trust *signing.Trust
	if cur != nil {
		base, trust = plumbing.NewHash(cur.Revision), cur.Trust
	}
	v, err := r.opt.Signing.Check(ctx, base, trust, a.hash)
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		return failed(ReasonSnapshotFailed, err)
	}
	a.signature = v.Head
	if v.Head != nil {
		a.signer = v.Head.String()
	}
	from, rel := "", v.Relation
	if cur != nil {
		from = cur.Revision
	} else if prev := r.persistedRevision(); prev != "" && prev != a.revision {
		// The persisted revision could not be restored: nothing is served, but a head
		// older than what was published is still a rollback.
		from = prev
		if rel, err = r.opt.Signing.Relation(ctx, plumbing.NewHash(prev), a.hash); err != nil {
			if ctx.Err() != nil {
				return err
			}
			return failed(ReasonSnapshotFailed, err)
		}
	}
	if from != "" && rel != signing.Descendant {
		allow := r.allowance(a.revision)
		if allow == nil {
			what := "not a descendant of"
			if rel == signing.Ancestor {
				what = "an older commit than"
			}
			return refused(ReasonRollbackRefused, fmt.Errorf("commit %s is %s the published revision %s: a rollback is refused unless an operator allows it (samverk reconcile --allow-rollback %s)",
				fmtRev(a.revision), what, fmtRev(from), a.revision))
		}
		a.rollback = &Rollback{From: from, To: a.revision, Relation: string(rel), AllowedBy: allow.By, AllowedAt: allow.At}
	}
	if err := v.Err(); err != nil {
		return refused(ReasonSignatureRefused, err)
	}
	return nil
}

// persistedRevision is the revision last published, as persisted, when it came from this
// origin.
func (r *Reconciler) persistedRevision() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.st.persisted.Origin != r.opt.Origin {
		return ""
	}
	return r.st.persisted.Revision
}

// verifyServed checks a restored revision's signature against the trust of its own catalog.
func (r *Reconciler) verifyServed(ctx context.Context, a *attempt) error {
	v, err := r.opt.Signing.CheckServed(ctx, a.hash, r.opt.Signing.Trust(a.result.Catalog))
	if err != nil {
		return failed(ReasonSnapshotFailed, err)
	}
	a.signature = v.Head
	if v.Head != nil {
		a.signer = v.Head.String()
	}
	if err := v.Err(); err != nil {
		return refused(ReasonSignatureRefused, err)
	}
	return nil
}

func (r *Reconciler) snapshot(ctx context.Context, a *attempt) error {
	snap, err := r.opt.Source.Snapshot(a.hash)
	if err != nil {
		return failed(ReasonSnapshotFailed, err)
	}
	a.snap = snap
	return nil
}

func (r *Reconciler) validate(ctx context.Context, a *attempt) error {
	var fsys fs.FS = a.snap
	if r.opt.Path != "" {
		sub, err := fs.Sub(a.snap, r.opt.Path)
		if err != nil {
			return failed(ReasonSnapshotFailed, fmt.Errorf("reconcile: catalog path: %w", err))
		}
		fsys = sub
	}
	res, err := validate.FS(ctx, fsys, r.opt.Validate)
	if err != nil {
		return failed(ReasonValidationError, err)
	}
	res.Report.Revision = a.revision
	// Name files from the repository's top level, as samverk validate does.
	res.Report.Rebase(r.opt.Path)
	a.result = res
	if !res.Report.Passed {
		s := res.Report.Summary
		return refused(ReasonValidationFailed, fmt.Errorf("commit %s fails validation: %d deny, %d warn, %d info finding(s)",
			fmtRev(a.revision), s.Deny, s.Warn, s.Info))
	}
	return nil
}

func (r *Reconciler) publish(ctx context.Context, a *attempt) error {
	p := &Published{
		Revision:  a.revision,
		Time:      r.opt.Now(),
		Catalog:   a.result.Catalog,
		Report:    a.result.Report,
		Signer:    a.signer,
		Signature: a.signature,
		Followed:  a.trigger == TriggerFollow,
		Restored:  a.trigger == TriggerRestore,
	}
	if r.opt.Signing != nil {
		p.Trust = r.opt.Signing.Trust(a.result.Catalog)
		for member, fps := range p.Trust.Unknown {
			r.log.Warn("a Member document trusts keys no key file holds; they can sign nothing",
				"revision", p.Revision, "member", member, "fingerprints", fps)
		}
	}
	for i, h := range r.opt.OnPublish {
		if err := h(ctx, p); err != nil {
			return failed(ReasonHookFailed, fmt.Errorf("reconcile: publish hook %d: %w", i+1, err))
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	r.mu.Lock()
	ps := r.st.persisted
	ps.Origin, ps.Revision, ps.PublishedAt = r.opt.Origin, p.Revision, p.Time
	if a.trigger != TriggerRestore {
		// An allowance is for the next revision published: used now, or overtaken.
		ps.AllowRollback = nil
	}
	if a.rollback != nil {
		rb := *a.rollback
		rb.PublishedAt = p.Time
		ps.Rollbacks = append([]Rollback{rb}, ps.Rollbacks...)
		if len(ps.Rollbacks) > maxRollbacks {
			ps.Rollbacks = ps.Rollbacks[:maxRollbacks]
		}
	}
	err := writeState(r.opt.StateDir, ps)
	if err == nil {
		r.st.persisted = ps
		// The swap: from here on every reader sees the new revision.
		r.current.Store(p)
	}
	r.mu.Unlock()
	if err != nil {
		return failed(ReasonPersistFailed, err)
	}
	a.pub = p
	return nil
}

// unchanged decides whether the fetched head needs no work: already served, or already refused
// (a refused commit stays refused until a new commit, or until a forced reconcile).
func (r *Reconciler) unchanged(a *attempt, force bool) bool {
	if force {
		return false
	}
	r.mu.Lock()
	applied := r.current.Load()
	last := r.st.lastAttempt
	crashed := r.st.crashed != nil && r.st.crashed.Revision == a.revision
	if crashed && (applied == nil || applied.Revision != a.revision) {
		// Still the head that stopped samverk: it stays the last attempt, and refused.
		r.st.lastAttempt = r.st.crashed
	}
	skip := (applied != nil && applied.Revision == a.revision) || crashed ||
		(last != nil && last.Revision == a.revision && last.Outcome == OutcomeRefused)
	r.mu.Unlock()
	if skip {
		a.outcome, a.reason = OutcomeUnchanged, ReasonPublished
		r.opt.Metrics.attempt(a, 0)
	}
	return skip
}

func (r *Reconciler) setInProgress(ctx context.Context, a *attempt) {
	ip := Attempt{Revision: a.revision, Trigger: a.trigger, Started: a.started}
	r.mu.Lock()
	r.st.inProgress = &ip
	r.mu.Unlock()
	if a.trigger == TriggerRestore {
		return
	}
	for _, fn := range r.opt.OnCheck {
		if fn != nil {
			fn(ctx, ip)
		}
	}
}

// record is the deferred block of every attempt: status, history, metrics and one log record.
func (r *Reconciler) record(ctx context.Context, a *attempt) {
	d := r.opt.Now().Sub(a.started)
	rec := Attempt{
		Revision: a.revision,
		Trigger:  a.trigger,
		Started:  a.started,
		Duration: validate.Duration(d),
		Outcome:  a.outcome,
		Reason:   a.reason,
		Signer:   a.signer,
	}
	if a.err != nil {
		rec.Message = a.err.Error()
	}
	if a.result != nil {
		s := a.result.Report.Summary
		rec.Findings = &s
	}
	r.mu.Lock()
	if r.st.inProgress != nil && r.st.inProgress.Revision == a.revision {
		r.st.inProgress = nil
	}
	if ps := r.st.persisted; a.revision != "" && ps.Attempting == a.revision {
		// The check ended, whatever came of it. A commit that had stopped samverk and was now
		// checked to the end (a forced reconcile) is no longer remembered as such.
		ps.Attempting, ps.AttemptingSince = "", time.Time{}
		if ps.Crashed != nil && ps.Crashed.Revision == a.revision && a.outcome != OutcomeCancelled && a.outcome != OutcomeSuperseded {
			ps.Crashed, r.st.crashed = nil, nil
		}
		if err := writeState(r.opt.StateDir, ps); err != nil {
			r.log.Error("cannot record the end of an attempt", "revision", a.revision, "error", err.Error())
		} else {
			r.st.persisted = ps
		}
	}
	r.st.history = append([]Attempt{rec}, r.st.history...)
	if len(r.st.history) > r.opt.History {
		r.st.history = r.st.history[:r.opt.History]
	}
	if a.revision != "" && a.outcome != OutcomeSuperseded && a.outcome != OutcomeCancelled {
		r.st.lastAttempt = &rec
		r.st.lastReport = nil
		if a.result != nil {
			r.st.lastReport = a.result.Report
		}
	}
	r.mu.Unlock()
	r.opt.Metrics.attempt(a, d)
	if a.revision != "" && (a.outcome == OutcomePublished || a.outcome == OutcomeRefused) {
		told := rec
		if a.result != nil {
			told.Report = a.result.Report
		}
		for _, fn := range r.opt.OnOutcome {
			if fn != nil {
				fn(ctx, told, a.pub)
			}
		}
	}

	level := slog.LevelInfo
	switch a.outcome {
	case OutcomeRefused:
		level = slog.LevelWarn
	case OutcomeFailed:
		level = slog.LevelError
	}
	attrs := []any{"revision", a.revision, "trigger", a.trigger, "outcome", a.outcome, "reason", a.reason, "duration", d.Round(time.Millisecond).String()}
	if a.result != nil {
		s := a.result.Report.Summary
		attrs = append(attrs, "deny", s.Deny, "warn", s.Warn, "info", s.Info, "documents", a.result.Report.Documents)
	}
	if a.err != nil {
		attrs = append(attrs, "error", a.err.Error())
	}
	r.log.Log(ctx, level, "reconcile attempt", attrs...)
}
