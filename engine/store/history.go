package store

import (
	"context"
	"time"

	"samverk.io/samverk/engine/desired"
)

// This file declares what the store keeps of the past: the revisions each ring was served,
// each device's facts, served state and reported outcome as intervals, the waivers in force
// as intervals, and the audit log of what people and tokens did. Times are UTC; an interval
// is [From, To), and a zero To means it is still open.

// Interval is a span of time: [From, To). A zero To means it has not ended.
type Interval struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to,omitzero"`
}

// Contains reports whether t falls in the interval.
func (iv Interval) Contains(t time.Time) bool {
	return !t.Before(iv.From) && (iv.To.IsZero() || t.Before(iv.To))
}

// Revision events.
const (
	// RevisionPublished: the revision passed every check and was served from At.
	RevisionPublished = "published"
	// RevisionRefused: the revision failed a check; nothing of it was served.
	RevisionRefused = "refused"
	// RevisionRestored: served again after the daemon restarted.
	RevisionRestored = "restored"
	// RevisionPromoted: a rollout promoted the revision to Ring.
	RevisionPromoted = "promoted"
	// RevisionRolledBack: Ring went back to the revision.
	RevisionRolledBack = "rolled-back"
)

// AllRings is the Ring of a revision event that concerns every ring alike.
const AllRings = ""

// RevisionEvent is one entry of the revision timeline.
type RevisionEvent struct {
	At       time.Time `json:"at"`
	Ring     string    `json:"ring,omitempty"`
	Revision string    `json:"revision"`
	Event    string    `json:"event"`
	// Reason is the machine-readable reason of a refusal; Message says it for people.
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
	// By names who caused it when a person did (a forced reconcile, a promotion).
	By string `json:"by,omitempty"`
}

// RevisionQuery selects revision events. Empty fields match everything.
type RevisionQuery struct {
	Ring string
	// Since and Until bound the events' time: [Since, Until).
	Since, Until time.Time
	// Limit is the number of events returned, newest first (default 100, at most MaxLimit).
	Limit int
}

// FactsPeriod is what a device reported of itself while its facts stayed the same (by
// EncodedFacts.Digest). Member is the device's member (it never changes).
type FactsPeriod struct {
	Interval
	Member string        `json:"member"`
	Facts  desired.Facts `json:"facts"`
}

// ServedPeriod is a state served to a device, from the first time it was served until
// another state was. Revision is the one that first served it: a later revision that compiles
// to the same hash for the device does not open a new period.
type ServedPeriod struct {
	Interval
	Hash     string `json:"hash"`
	Revision string `json:"revision"`
	Group    string `json:"group,omitempty"`
	Ring     string `json:"ring,omitempty"`
	Profile  string `json:"profile,omitempty"`
}

// OutcomePeriod is a device's reported outcome (the state it applied and how that ended),
// from the report that began it until a report ended differently. It keeps that first
// report's resources other than unchanged.
type OutcomePeriod struct {
	Interval
	Revision    string                   `json:"revision"`
	AppliedHash string                   `json:"appliedHash"`
	Compliance  string                   `json:"compliance"`
	Counts      Counts                   `json:"counts"`
	Resources   []desired.ResourceResult `json:"resources,omitempty"`
	// Reports is the number of reports received within the period.
	Reports int64 `json:"reports,omitempty"`
}

// WaiverPeriod is a waiver in force: from the revision that brought it (or changed it) until
// the revision that removed or changed it, or its expiry, whichever came first.
type WaiverPeriod struct {
	Interval
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	Policy    string `json:"policy"`
	// Targets are the documents exempted, as "Kind/name" or "Kind/namespace/name".
	Targets  []string `json:"targets"`
	Reason   string   `json:"reason,omitempty"`
	Approver string   `json:"approver,omitempty"`
	Expires  string   `json:"expires,omitempty"`
	Revision string   `json:"revision"`
}

// DeviceTimeline is a device's history within a span.
type DeviceTimeline struct {
	DeviceID string          `json:"device"`
	Member   string          `json:"member"`
	Facts    []FactsPeriod   `json:"facts"`
	Served   []ServedPeriod  `json:"served"`
	Outcomes []OutcomePeriod `json:"outcomes"`
	// Truncated: a kind had more than MaxLimit periods in the span, and only its oldest
	// MaxLimit are here; ask again from the last one's end.
	Truncated bool `json:"truncated,omitempty"`
}

// DeviceAt is what the store knew of a device at one moment.
type DeviceAt struct {
	DeviceID string    `json:"device"`
	Member   string    `json:"member"`
	At       time.Time `json:"at"`
	// Facts, Served and Outcome are the periods that contain At; nil when there was none
	// (not yet enrolled, never served, never reported).
	Facts   *FactsPeriod   `json:"facts,omitempty"`
	Served  *ServedPeriod  `json:"served,omitempty"`
	Outcome *OutcomePeriod `json:"outcome,omitempty"`
	// Report is the last report kept at or before At, when raw reports of then are still kept.
	Report *StoredReport `json:"report,omitempty"`
}

// Retention says how long the past is kept. A zero field takes DefaultRetention's value; a
// negative one keeps that kind of history forever. An open period is never deleted.
type Retention struct {
	// Intervals: periods that ended longer ago are deleted (default 7 years).
	Intervals time.Duration
	// Reports: raw reports received longer ago are deleted (default 90 days).
	Reports time.Duration
}

// DefaultRetention keeps intervals seven years and raw reports 90 days.
var DefaultRetention = Retention{Intervals: 7 * 365 * 24 * time.Hour, Reports: 90 * 24 * time.Hour}

// Pruned counts what one retention pass deleted.
type Pruned struct {
	Intervals int64 `json:"intervals"`
	Reports   int64 `json:"reports"`
	Revisions int64 `json:"revisions"`
	// Deliveries are delivery attempts (notifications, commit statuses), kept as long as
	// raw reports.
	Deliveries int64 `json:"deliveries"`
}

// Timelines keeps the past. Device periods are written by Write itself, in the batch's
// transaction, whenever a device's facts, served hash or outcome change.
type Timelines interface {
	// RecordRevision appends a revision event.
	RecordRevision(ctx context.Context, ev RevisionEvent) error
	// Revisions returns revision events, newest first.
	Revisions(ctx context.Context, q RevisionQuery) ([]RevisionEvent, error)
	// RevisionAt returns the revision ring was being served at at: the last promoted or
	// rolled-back event for ring itself at or before at, once the ring has any (a rollout
	// decides each ring's revision); before that, the last published or restored event for
	// AllRings. An error wrapping ErrNotFound when there was none.
	RevisionAt(ctx context.Context, ring string, at time.Time) (*RevisionEvent, error)
	// RecordWaivers records the waivers of a revision published at at: a waiver that was not
	// in force, or that changed, opens a period; one in force that is gone or changed closes.
	RecordWaivers(ctx context.Context, at time.Time, revision string, ws []WaiverPeriod) error
	// WaiversAt returns the waivers in force at at (expiry applied).
	WaiversAt(ctx context.Context, at time.Time) ([]WaiverPeriod, error)
	// DeviceAt returns the periods of a device that contain at; an error wrapping ErrNotFound
	// when the device does not exist.
	DeviceAt(ctx context.Context, id string, at time.Time) (*DeviceAt, error)
	// DeviceTimeline returns the periods of a device that overlap [from, to) (a zero to: until
	// now), oldest first, at most MaxLimit of each kind.
	DeviceTimeline(ctx context.Context, id string, from, to time.Time) (*DeviceTimeline, error)
	// Prune deletes what is older than r allows as of now, in small transactions so that
	// ingest is never held up for long.
	Prune(ctx context.Context, r Retention, now time.Time) (Pruned, error)
}
