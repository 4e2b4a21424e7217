package reconcile

import (
	"time"

	"samverk.io/samverk/engine/finding"
	"samverk.io/samverk/engine/signing"
	"samverk.io/samverk/engine/validate"
)

// The status document's identity, like the validation report's.
const (
	StatusAPIVersion = "samverk.io/v1"
	StatusKind       = "DaemonStatus"
)

// Status is what `GET /api/v1/status` and `samverk status` show. Fields are only ever added
// within one apiVersion.
type Status struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	// Suspended is true while fetching and publishing are stopped by `samverk suspend`.
	Suspended     bool   `json:"suspended"`
	SuspendReason string `json:"suspendReason,omitempty"`

	// LastAppliedRevision is the commit being served, and LastAppliedTime when it was
	// published (or restored after a restart).
	LastAppliedRevision string     `json:"lastAppliedRevision,omitempty"`
	LastAppliedTime     *time.Time `json:"lastAppliedTime,omitempty"`
	// LastAttemptedRevision is the newest commit checked (whatever came of it), and
	// LastAttemptedTime when that attempt started.
	LastAttemptedRevision string     `json:"lastAttemptedRevision,omitempty"`
	LastAttemptedTime     *time.Time `json:"lastAttemptedTime,omitempty"`
	// LastFetchTime is when the branch was last fetched, and LastFetchError why that failed.
	LastFetchTime  *time.Time `json:"lastFetchTime,omitempty"`
	LastFetchError string     `json:"lastFetchError,omitempty"`

	// Signature is the served revision's signature, under a signing policy: its key, the
	// commit's time at which the key was checked, and the key's expiry.
	Signature *signing.Signature `json:"signature,omitempty"`
	// RollbackAllowed is an operator's allowance to publish a revision that is not a
	// descendant of the one served, until the next revision is published.
	RollbackAllowed *RollbackAllowance `json:"rollbackAllowed,omitempty"`
	// Rollbacks are the rollbacks published under an allowance, newest first.
	Rollbacks []Rollback `json:"rollbacks,omitempty"`

	// Conditions are Ready, Reconciling and Stalled, always in that order, then SigningKey
	// under a signing policy while a revision is served.
	Conditions []Condition `json:"conditions"`
	// InProgress is the attempt running now, if any.
	InProgress *Attempt `json:"inProgress,omitempty"`
	// History holds the last attempts, newest first.
	History []Attempt `json:"history"`
	// Report is the full validation report of the last attempted revision, in the JSON shape
	// of `samverk validate --output json`. When that revision was refused, its findings say why.
	Report *validate.Report `json:"report,omitempty"`
	// Replicas are the daemons sharing the store (PostgreSQL), as their last heartbeats say:
	// which one leads, and what each serves. Empty for a single process.
	Replicas []Replica `json:"replicas,omitempty"`
}

// Replica is one daemon sharing the store, in status.
type Replica struct {
	ID       string    `json:"id"`
	Host     string    `json:"host"`
	Version  string    `json:"version"`
	Started  time.Time `json:"startedAt"`
	LastSeen time.Time `json:"lastSeen"`
	Leading  bool      `json:"leading"`
	Term     int64     `json:"term,omitempty"`
	Revision string    `json:"revision,omitempty"`
	// Self marks the replica that answered.
	Self bool `json:"self,omitempty"`
}

// Attempt is one pass of the pipeline over one revision. Started and Duration cover the check
// after the fetch (verify to publish); for a failed fetch, the fetch.
type Attempt struct {
	Revision string            `json:"revision,omitempty"`
	Trigger  string            `json:"trigger"`
	Started  time.Time         `json:"startedAt"`
	Duration validate.Duration `json:"duration"`
	Outcome  Outcome           `json:"outcome,omitempty"`
	Reason   string            `json:"reason,omitempty"`
	Message  string            `json:"message,omitempty"`
	Signer   string            `json:"signer,omitempty"`
	// Findings counts the findings, when the revision got as far as validation.
	Findings *finding.Counts `json:"findings,omitempty"`
	// Report is the validation report, only in what OnOutcome observers are told (history
	// keeps the counts alone).
	Report *validate.Report `json:"-"`
}

// Condition is one aspect of the daemon's state, as in Kubernetes.
type Condition struct {
	Type    string `json:"type"`
	Status  string `json:"status"` // "True" or "False"
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

// Condition types.
const (
	// Ready: the newest known revision is being served.
	ConditionReady = "Ready"
	// Reconciling: a revision is being checked right now.
	ConditionReconciling = "Reconciling"
	// Stalled: the newest revision was refused and nothing will change until a new commit.
	ConditionStalled = "Stalled"
	// SigningKey: the key that signed the served revision is still valid today. False when
	// it has expired or been revoked since: the revision stays served, since signatures are
	// judged at their commit's time, but new commits need a current key.
	ConditionSigningKey = "SigningKey"
)

// state is the Reconciler's mutable status, guarded by Reconciler.mu.
type state struct {
	persisted     persistedState
	suspended     bool
	suspendReason string
	forcePending  bool

	head         string // the branch head at the last successful fetch
	lastFetch    time.Time
	lastFetchErr error
	inProgress   *Attempt
	lastAttempt  *Attempt // newest attempt that got a revision and was not cut short
	crashed      *Attempt // the refusal of a commit whose check never finished (persisted.Crashed)
	lastReport   *validate.Report
	history      []Attempt
}

// Status returns a copy of the current status.
func (r *Reconciler) Status() *Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	cur := r.Current() // under mu: publish swaps under mu too, so status is one consistent view
	st := &Status{
		APIVersion:    StatusAPIVersion,
		Kind:          StatusKind,
		Suspended:     r.st.suspended,
		SuspendReason: r.st.suspendReason,
		History:       append([]Attempt{}, r.st.history...),
		Report:        r.st.lastReport,
	}
	if r.opt.Replicas != nil {
		st.Replicas = r.opt.Replicas()
	}
	if cur != nil {
		st.LastAppliedRevision = cur.Revision
		t := cur.Time
		st.LastAppliedTime = &t
		st.Signature = cur.Signature
	}
	if al := r.st.persisted.AllowRollback; al != nil {
		c := *al
		st.RollbackAllowed = &c
	}
	st.Rollbacks = append([]Rollback(nil), r.st.persisted.Rollbacks...)
	if la := r.st.lastAttempt; la != nil {
		st.LastAttemptedRevision = la.Revision
		t := la.Started
		st.LastAttemptedTime = &t
	}
	if !r.st.lastFetch.IsZero() {
		t := r.st.lastFetch
		st.LastFetchTime = &t
	}
	if r.st.lastFetchErr != nil {
		st.LastFetchError = r.st.lastFetchErr.Error()
	}
	if r.st.inProgress != nil {
		ip := *r.st.inProgress
		st.InProgress = &ip
	}
	st.Conditions = r.conditions(cur, st)
	return st
}

func (r *Reconciler) conditions(cur *Published, st *Status) []Condition {
	ready := Condition{Type: ConditionReady, Status: "False", Reason: ReasonProgressing, Message: "no revision published yet"}
	reconciling := Condition{Type: ConditionReconciling, Status: "False", Reason: "Idle", Message: "waiting for the next fetch"}
	stalled := Condition{Type: ConditionStalled, Status: "False", Reason: "Idle", Message: "the newest revision was not refused"}
	// The last attempt matters only while it is about the newest head fetched.
	la := r.st.lastAttempt
	if la != nil && r.st.head != "" && la.Revision != r.st.head {
		la = nil
	}
	switch {
	case r.st.lastFetchErr != nil:
		ready.Reason, ready.Message = ReasonFetchFailed, "fetch failed: "+r.st.lastFetchErr.Error()
	case cur != nil && (r.st.head == "" || r.st.head == cur.Revision):
		ready.Status, ready.Reason, ready.Message = "True", ReasonPublished, "serving revision "+cur.Revision
	case la != nil && la.Outcome != OutcomePublished:
		ready.Reason, ready.Message = la.Reason, "revision "+fmtRev(la.Revision)+" not published: "+la.Message
	case r.st.inProgress != nil:
		ready.Message = "checking revision " + fmtRev(r.st.inProgress.Revision)
	}
	if cur != nil && ready.Status == "False" {
		ready.Message += "; still serving " + fmtRev(cur.Revision)
	}
	if ip := r.st.inProgress; ip != nil {
		reconciling.Status, reconciling.Reason = "True", ReasonProgressing
		reconciling.Message = "checking revision " + ip.Revision
	}
	if r.st.suspended {
		reconciling.Reason, reconciling.Message = ReasonSuspended, "suspended: "+r.st.suspendReason
	}
	if la != nil && la.Outcome == OutcomeRefused {
		stalled.Status, stalled.Reason = "True", la.Reason
		stalled.Message = "revision " + la.Revision + " refused: " + la.Message + "; waiting for a new commit"
	}
	conds := []Condition{ready, reconciling, stalled}
	if cur != nil && cur.Signature != nil {
		sig := cur.Signature
		c := Condition{Type: ConditionSigningKey, Status: "True", Reason: ReasonKeyValid,
			Message: "revision " + fmtRev(cur.Revision) + " is signed by key " + sig.String() + ", valid at the commit's time and today"}
		if sig.ExpiredAt(r.opt.Now()) {
			how := "expired on " + sig.KeyExpires.UTC().Format(time.RFC3339)
			if sig.Revoked {
				how = "been revoked"
			}
			c.Status, c.Reason = "False", ReasonKeyExpiredSince
			c.Message = "revision " + fmtRev(cur.Revision) + " was signed at " + sig.SignedAt.UTC().Format(time.RFC3339) + " by key " + sig.String() +
				", valid then; the key has " + how + " since. The revision stays served (signatures are judged at their commit's time); new commits need a current key"
		}
		conds = append(conds, c)
	}
	return conds
}
