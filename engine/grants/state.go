// Package grants turns orders from the service catalog into time-bound access: the request,
// the approvals the service demands, the grant that follows, and its end, on time or revoked.
package grants

import (
	"fmt"

	"samverk.io/samverk/engine/store"
)

// State is where a request stands in its whole life: the request's own state until it is
// approved, then its grant's.
type State string

// The states. Pending, then Approved, Rejected or Cancelled; Approved, then Active (or Revoked
// before it started); Active, then Expired or Revoked. Rejected, Cancelled, Expired and
// Revoked are final.
const (
	Pending   State = store.RequestPending
	Approved  State = store.RequestApproved
	Rejected  State = store.RequestRejected
	Cancelled State = store.RequestCancelled
	Active    State = store.GrantActive
	Expired   State = store.GrantExpired
	Revoked   State = store.GrantRevoked
)

// States lists every state.
var States = []State{Pending, Approved, Rejected, Cancelled, Active, Expired, Revoked}

// Event is what moves a request on.
type Event string

// The events. Approve is the approval that completes what the service demands (an approval
// before it leaves the request pending); Start, Expire and Revoke concern the grant.
const (
	Approve Event = "approve"
	Reject  Event = "reject"
	Cancel  Event = "cancel"
	Start   Event = "start"
	Expire  Event = "expire"
	Revoke  Event = "revoke"
)

// Events lists every event.
var Events = []Event{Approve, Reject, Cancel, Start, Expire, Revoke}

// transitions is the whole state machine: what each event does in each state. Anything else
// is refused.
var transitions = map[State]map[Event]State{
	Pending:  {Approve: Approved, Reject: Rejected, Cancel: Cancelled},
	Approved: {Start: Active, Revoke: Revoked},
	Active:   {Expire: Expired, Revoke: Revoked},
}

// Next is the state event leads to from s, or a refusal naming the rule "state".
func Next(s State, e Event) (State, error) {
	if to, ok := transitions[s][e]; ok {
		return to, nil
	}
	return s, refuse(RuleState, "a request that is %s cannot be %s", s, past(e))
}

// Final reports whether nothing can happen to a request in s any more.
func Final(s State) bool { return len(transitions[s]) == 0 }

func past(e Event) string {
	switch e {
	case Approve:
		return "approved"
	case Reject:
		return "rejected"
	case Cancel:
		return "cancelled"
	case Start:
		return "started"
	case Expire:
		return "expired"
	case Revoke:
		return "revoked"
	}
	return string(e)
}

// StateOf is the state of a request: its grant's when it has one.
func StateOf(r *store.ServiceRequest, g *store.Grant) State {
	if g != nil {
		return State(g.State)
	}
	return State(r.State)
}

// The rules a request or decision can break; each refusal names one.
const (
	RuleUnknownService = "unknown-service"
	RuleUnknownMember  = "unknown-member"
	RuleMemberScope    = "member-scope"
	RuleRequestableBy  = "requestable-by"
	RuleTarget         = "target"
	RuleDeviceMember   = "device-member"
	RuleMaxDays        = "max-days"
	RuleJustification  = "justification"
	RuleCostCentre     = "cost-centre"
	RuleOwnRequest     = "own-request"
	RuleApprovedTwice  = "approved-twice"
	RuleApproverRole   = "approver-role"
	RuleCanceller      = "canceller"
	RuleReason         = "reason"
	RuleState          = "state"
)

// Refusal is a request or decision refused by a rule.
type Refusal struct {
	// Rule is one of the Rule constants.
	Rule string
	Msg  string
	// Forbidden: the principal may not do this at all (403), rather than asking for something
	// the rules do not allow (400 or 409).
	Forbidden bool
}

func (r *Refusal) Error() string { return fmt.Sprintf("refused by rule %s: %s", r.Rule, r.Msg) }

func refuse(rule, format string, args ...any) *Refusal {
	return &Refusal{Rule: rule, Msg: fmt.Sprintf(format, args...)}
}

func forbid(rule, format string, args ...any) *Refusal {
	return &Refusal{Rule: rule, Msg: fmt.Sprintf(format, args...), Forbidden: true}
}
