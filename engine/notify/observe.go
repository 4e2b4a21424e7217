package notify

import (
	"context"
	"net/url"

	"samverk.io/samverk/engine/finding"
	"samverk.io/samverk/engine/reconcile"
	"samverk.io/samverk/engine/rollout"
	"samverk.io/samverk/engine/store"
)

// This file turns what samverk's parts tell their observers into events. Each method only
// queues (Publish) and so may run in the loop that calls it.

// link is the console's URL of path, or "" without a console URL.
func (n *Notifier) link(path string) string {
	if n.opt.Console == "" {
		return ""
	}
	return n.opt.Console + path
}

// Outcome is the reconciler's OnOutcome: a published revision or a refused commit. A restore
// after a restart tells nothing new.
func (n *Notifier) Outcome(_ context.Context, a reconcile.Attempt, p *reconcile.Published) {
	if n == nil || a.Trigger == reconcile.TriggerRestore {
		return
	}
	attempt := n.link("/findings?revision=" + url.QueryEscape(a.Revision))
	if p != nil {
		n.Publish(Published(a.Revision, attempt))
		return
	}
	var fs []finding.Finding
	if a.Report != nil {
		fs = a.Report.Findings
	}
	why := a.Message
	if why == "" {
		why = a.Reason
	}
	n.Publish(Refused(a.Revision, why, fs, attempt))
}

// Decision is the rollout controller's OnDecision: promotions (by the gate, an operator or a
// fast-track) and halts (with or without a rollback).
func (n *Notifier) Decision(_ context.Context, rec store.PromotionRecord) {
	if n == nil {
		return
	}
	kind := ""
	switch rec.Action {
	case rollout.ActionPromoted, rollout.ActionFastTracked:
		kind = RolloutPromoted
	case rollout.ActionHalted, rollout.ActionRolledBack, rollout.ActionAborted:
		kind = RolloutHalted
	default:
		return
	}
	n.Publish(RolloutDecision(kind, rec.Revision, Rollout{Ring: rec.Ring, Action: rec.Action, Actor: rec.Actor, Reason: rec.Reason}, n.link("/rollout")))
}

// NoticeSent is the notice API's OnSent.
func (n *Notifier) NoticeSent(_ context.Context, s *store.Notice) {
	if n == nil {
		return
	}
	n.Publish(NoticeEvent(Notice{Seq: s.Seq, Severity: s.Severity, Title: s.Title, Sender: s.Sender, From: s.From, To: s.To},
		s.Members, n.link("/notices")))
}

// GrantsExpiring tells of access grants that end soon (for the grant expiry's warning).
func (n *Notifier) GrantsExpiring(grants []Grant) {
	if n == nil || len(grants) == 0 {
		return
	}
	n.Publish(GrantsExpiringEvent(grants, ""))
}
