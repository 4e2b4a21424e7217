package store

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"samverk.io/samverk/engine/desired"
)

// This file holds what both databases share of the timelines: the rules of revision lookups,
// of waiver diffs and expiry, and of retention.

// servingEvents are the revision events after which a ring is served the revision.
var servingEvents = []string{RevisionPublished, RevisionRestored, RevisionPromoted, RevisionRolledBack}

func (q RevisionQuery) limit() int {
	switch {
	case q.Limit <= 0:
		return 100
	case q.Limit > MaxLimit:
		return MaxLimit
	}
	return q.Limit
}

// Retention works in short transactions, so that a pass never holds the writer (SQLite) or
// many row locks (PostgreSQL) for long: pruneDevices devices' periods and reports at a time
// (a few hundred rows when pruning daily), or pruneBatch waiver periods or revision events.
const (
	pruneDevices = 200
	pruneBatch   = 2000
)

// withDefaults fills the zero fields of r from DefaultRetention. A negative field keeps that
// kind of history forever.
func (r Retention) withDefaults() Retention {
	if r.Intervals == 0 {
		r.Intervals = DefaultRetention.Intervals
	}
	if r.Reports == 0 {
		r.Reports = DefaultRetention.Reports
	}
	return r
}

// waiverKey identifies a waiver across revisions.
func waiverKey(w *WaiverPeriod) string { return w.Namespace + "/" + w.Name }

// sameWaiver reports whether two versions of a waiver say the same thing.
func sameWaiver(a, b *WaiverPeriod) bool {
	return a.Policy == b.Policy && slices.Equal(a.Targets, b.Targets) && a.Reason == b.Reason &&
		a.Approver == b.Approver && a.Expires == b.Expires
}

// openWaiver is a waiver period still open, as the store keeps it.
type openWaiver struct {
	id   int64
	from time.Time
	w    WaiverPeriod
}

// diffWaivers compares the open waiver periods with the waivers of a new revision: it returns
// the open periods to close and the waivers whose period opens.
func diffWaivers(open []openWaiver, ws []WaiverPeriod) (closing []openWaiver, opening []WaiverPeriod, err error) {
	now := make(map[string]*WaiverPeriod, len(ws))
	for i := range ws {
		w := &ws[i]
		if w.Name == "" || w.Policy == "" {
			return nil, nil, fmt.Errorf("waiver %d: name and policy are required", i)
		}
		k := waiverKey(w)
		if _, dup := now[k]; dup {
			return nil, nil, fmt.Errorf("waiver %s: listed twice", strings.TrimPrefix(k, "/"))
		}
		now[k] = w
	}
	kept := make(map[string]bool, len(open))
	for _, o := range open {
		k := waiverKey(&o.w)
		if w, ok := now[k]; ok && sameWaiver(w, &o.w) && !kept[k] {
			kept[k] = true
			continue
		}
		closing = append(closing, o)
	}
	for i := range ws {
		if !kept[waiverKey(&ws[i])] {
			opening = append(opening, ws[i])
		}
	}
	return closing, opening, nil
}

// encodeTargets stores a waiver's targets as JSON (never null).
func encodeTargets(ts []string) string {
	if ts == nil {
		ts = []string{}
	}
	b, _ := json.Marshal(ts) // a []string always encodes
	return string(b)
}

// inForce applies a waiver's expiry to a period that contains at, the way the policy check
// does: a waiver counts until 00:00 UTC of its expiry date; a malformed date counts as
// expired. The period's end is cut at the expiry. It reports false when the waiver no longer
// counted at at.
func (w *WaiverPeriod) inForce(at time.Time) bool {
	if w.Expires == "" {
		return true
	}
	exp, err := time.Parse(time.DateOnly, w.Expires)
	if err != nil || !at.Before(exp) {
		return false
	}
	if w.To.IsZero() || w.To.After(exp) {
		w.To = exp
	}
	return true
}

// decodeResults decodes a stored results column; empty means none.
func decodeResults(b []byte, into *[]desired.ResourceResult) error {
	*into = nil
	if len(b) == 0 {
		return nil
	}
	if err := json.Unmarshal(b, into); err != nil {
		return fmt.Errorf("decode results: %w", err)
	}
	return nil
}

// timelineLimit is the most periods of a kind DeviceTimeline returns (MaxLimit; lowered by
// tests).
var timelineLimit = MaxLimit

// trim cuts each kind of a timeline read with timelineLimit+1 rows a kind to timelineLimit,
// and says so.
func (tl *DeviceTimeline) trim() {
	if len(tl.Facts) > timelineLimit {
		tl.Facts, tl.Truncated = tl.Facts[:timelineLimit], true
	}
	if len(tl.Served) > timelineLimit {
		tl.Served, tl.Truncated = tl.Served[:timelineLimit], true
	}
	if len(tl.Outcomes) > timelineLimit {
		tl.Outcomes, tl.Truncated = tl.Outcomes[:timelineLimit], true
	}
}
