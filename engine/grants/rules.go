package grants

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"samverk.io/samverk/engine/auth"
	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/store"
)

// Bounds of what a request may say.
const (
	// MaxDevices is the most devices one request names.
	MaxDevices = 100
	// MaxText bounds a justification or a decision's reason, in characters.
	MaxText = 2000
)

// The approvals a service demands (spec.approval), and the roles approvers act in.
const (
	ApprovalNone    = "none"
	ApprovalManager = "manager"
	ApprovalOwner   = "service-owner"
	ApprovalBoth    = "both"
	// AsRequester is the role of a cancellation.
	AsRequester = "requester"
)

// Verdicts of a decision.
const (
	VerdictApprove = "approve"
	VerdictReject  = "reject"
	VerdictCancel  = "cancel"
)

// TimeLimited is the duration type of a service that ends by itself.
const TimeLimited = "time-limited"

// Service is a catalog service as requests see it.
type Service struct {
	Name string
	Spec catalog.ServiceSpec
	// OwnerMember is the member whose approvers act as service owner: the member the Service
	// document's owner is or belongs to (as a team), or the consortium when it names none.
	OwnerMember string
}

// LookupService finds service in cat, or a refusal naming the rule unknown-service.
func LookupService(cat *catalog.Catalog, name string) (*Service, error) {
	d := cat.Get(catalog.KindService, "", name)
	if d == nil {
		return nil, refuse(RuleUnknownService, "there is no service %q in the catalog", name)
	}
	s := &Service{Name: name, OwnerMember: auth.Consortium}
	if err := d.DecodeSpec(&s.Spec); err != nil {
		return nil, fmt.Errorf("service %s: %w", name, err)
	}
	if d.Owner != "" {
		s.OwnerMember = ownerMember(cat, d.Owner)
	}
	return s, nil
}

// ownerMember is the member an owner names: itself when it is a member, else the member that
// lists it as a team, else the consortium.
func ownerMember(cat *catalog.Catalog, owner string) string {
	if cat.Get(catalog.KindMember, "", owner) != nil {
		return owner
	}
	for _, m := range cat.OfKind(catalog.KindMember) {
		var spec catalog.MemberSpec
		if m.DecodeSpec(&spec) == nil && slices.Contains(spec.Teams, owner) {
			return m.Name
		}
	}
	return auth.Consortium
}

// Required is the roles whose approvals a service with approval demands, in the order they
// are filled.
func Required(approval string) []string {
	switch approval {
	case ApprovalManager:
		return []string{ApprovalManager}
	case ApprovalOwner:
		return []string{ApprovalOwner}
	case ApprovalBoth:
		return []string{ApprovalManager, ApprovalOwner}
	}
	return nil
}

// Order is what a request asks for, before the rules have looked at it.
type Order struct {
	Service       string   `json:"service"`
	Member        string   `json:"member"`
	Devices       []string `json:"devices,omitempty"`
	Person        string   `json:"person,omitempty"`
	Justification string   `json:"justification"`
	Days          int      `json:"days,omitempty"`
	CostCentre    string   `json:"costCentre,omitempty"`
}

// CheckOrder applies the rules of a request to o, made by who: the service exists and o's
// member may request it; who acts for that member; the devices are that member's
// (deviceMember says whose a device is, "" for none); the duration is within the service's
// maxDays; the justification and cost centre are given. It returns the service.
func CheckOrder(cat *catalog.Catalog, who *auth.Principal, o *Order, deviceMember func(id string) (string, error)) (*Service, error) {
	svc, err := LookupService(cat, o.Service)
	if err != nil {
		return nil, err
	}
	md := cat.Get(catalog.KindMember, "", o.Member)
	if md == nil {
		return nil, refuse(RuleUnknownMember, "there is no member %q in the catalog", o.Member)
	}
	if !who.Can(auth.Viewer, o.Member) {
		return nil, forbid(RuleMemberScope, "you do not act for member %s", o.Member)
	}
	var member catalog.MemberSpec
	if err := md.DecodeSpec(&member); err != nil {
		return nil, fmt.Errorf("member %s: %w", o.Member, err)
	}
	if rb := svc.Spec.RequestableBy; (len(rb.MemberTypes) > 0 || len(rb.Members) > 0) &&
		!slices.Contains(rb.MemberTypes, member.Type) && !slices.Contains(rb.Members, o.Member) {
		return nil, refuse(RuleRequestableBy, "service %s is not requestable by %s (a %s): requestableBy names member types [%s] and members [%s]",
			svc.Name, o.Member, member.Type, strings.Join(rb.MemberTypes, ", "), strings.Join(rb.Members, ", "))
	}
	switch {
	case len(o.Devices) == 0 && strings.TrimSpace(o.Person) == "":
		return nil, refuse(RuleTarget, "a request names the devices or the person the service is for")
	case len(o.Devices) > MaxDevices:
		return nil, refuse(RuleTarget, "a request names at most %d devices, not %d", MaxDevices, len(o.Devices))
	case utf8.RuneCountInString(o.Person) > 200:
		return nil, refuse(RuleTarget, "the person is at most 200 characters")
	}
	seen := map[string]bool{}
	for _, d := range o.Devices {
		if seen[d] {
			return nil, refuse(RuleTarget, "device %s is named twice", d)
		}
		seen[d] = true
		m, err := deviceMember(d)
		if err != nil {
			return nil, err
		}
		if m != o.Member {
			return nil, refuse(RuleDeviceMember, "device %q is not a device of %s", d, o.Member)
		}
	}
	switch d := svc.Spec.Duration; {
	case o.Days < 0:
		return nil, refuse(RuleMaxDays, "days must not be negative")
	case d.Type == TimeLimited && o.Days == 0:
		return nil, refuse(RuleMaxDays, "service %s is time-limited: the request names its days (at most %d)", svc.Name, d.MaxDays)
	case d.Type == TimeLimited && d.MaxDays > 0 && o.Days > d.MaxDays:
		return nil, refuse(RuleMaxDays, "service %s lasts at most %d days (duration.maxDays), not %d", svc.Name, d.MaxDays, o.Days)
	case o.Days > 3660:
		return nil, refuse(RuleMaxDays, "a request lasts at most 3660 days, not %d", o.Days)
	}
	switch n := utf8.RuneCountInString(strings.TrimSpace(o.Justification)); {
	case n == 0:
		return nil, refuse(RuleJustification, "a request says why it is needed (justification)")
	case n > MaxText:
		return nil, refuse(RuleJustification, "the justification is at most %d characters", MaxText)
	}
	if len(member.CostCentres) > 0 && !slices.ContainsFunc(member.CostCentres, func(c catalog.CostCentre) bool { return c.ID == o.CostCentre }) {
		ids := make([]string, len(member.CostCentres))
		for i, c := range member.CostCentres {
			ids[i] = c.ID
		}
		return nil, refuse(RuleCostCentre, "cost centre %q is not one of %s's: %s", o.CostCentre, o.Member, strings.Join(ids, ", "))
	}
	return svc, nil
}

// qualifies reports whether who may approve in role for a request of member.
func qualifies(who *auth.Principal, role, member string, svc *Service) bool {
	switch role {
	case ApprovalManager:
		return who.Can(auth.Approver, member)
	case ApprovalOwner:
		return who.Can(auth.Approver, svc.OwnerMember)
	}
	return false
}

// Approval is the role in which who's approval of r counts, and whether it completes the
// approvals the service demands; or a refusal: r is not pending, who made r, who approved it
// before, or who is no approver of a role still missing.
func Approval(r *store.ServiceRequest, svc *Service, who *auth.Principal) (role string, final bool, err error) {
	if _, err := Next(State(r.State), Approve); err != nil {
		return "", false, err
	}
	if who.Subject == r.Requester {
		return "", false, forbid(RuleOwnRequest, "nobody approves their own request")
	}
	var given []string
	for _, d := range r.Decisions {
		if d.Verdict != VerdictApprove {
			continue
		}
		if d.By == who.Subject {
			return "", false, forbid(RuleApprovedTwice, "%s approved request %d already (as %s): another approver must", who.Subject, r.ID, d.As)
		}
		given = append(given, d.As)
	}
	var missing []string
	for _, role := range Required(svc.Spec.Approval) {
		if !slices.Contains(given, role) {
			missing = append(missing, role)
		}
	}
	for _, role := range missing {
		if qualifies(who, role, r.Member, svc) {
			return role, len(missing) == 1, nil
		}
	}
	var want []string
	for _, role := range missing {
		want = append(want, approverOf(role, r.Member, svc))
	}
	if len(want) == 0 {
		return "", false, refuse(RuleState, "request %d needs no more approvals", r.ID)
	}
	return "", false, forbid(RuleApproverRole, "request %d still needs %s", r.ID, strings.Join(want, " and "))
}

func approverOf(role, member string, svc *Service) string {
	switch role {
	case ApprovalManager:
		return "a manager's approval (the approver role for " + member + ")"
	default:
		return "the service owner's approval (the approver role for " + svc.OwnerMember + ")"
	}
}

// CanReject reports whether who may reject r: an approver of a role the service demands,
// other than the requester.
func CanReject(r *store.ServiceRequest, svc *Service, who *auth.Principal) error {
	if _, err := Next(State(r.State), Reject); err != nil {
		return err
	}
	if who.Subject == r.Requester {
		return forbid(RuleOwnRequest, "nobody rejects their own request: cancel it")
	}
	for _, role := range Required(svc.Spec.Approval) {
		if qualifies(who, role, r.Member, svc) {
			return nil
		}
	}
	return forbid(RuleApproverRole, "only an approver of request %d may reject it", r.ID)
}

// CanCancel reports whether who may cancel r: its requester, or an admin of its member.
func CanCancel(r *store.ServiceRequest, who *auth.Principal) error {
	if _, err := Next(State(r.State), Cancel); err != nil {
		return err
	}
	if who.Subject != r.Requester && !who.Can(auth.Admin, r.Member) {
		return forbid(RuleCanceller, "only the requester (or an admin of %s) cancels request %d", r.Member, r.ID)
	}
	return nil
}

// CanRevoke reports whether who may revoke g: an approver of its member or of its service's
// owner (svc nil: the service left the catalog, and only the member's approvers remain).
func CanRevoke(g *store.Grant, svc *Service, who *auth.Principal) error {
	if _, err := Next(State(g.State), Revoke); err != nil {
		return err
	}
	if who.Can(auth.Approver, g.Member) || (svc != nil && who.Can(auth.Approver, svc.OwnerMember)) {
		return nil
	}
	return forbid(RuleApproverRole, "only an approver of %s or of the service's owner revokes grant %d", g.Member, g.ID)
}

// checkReason checks a decision's reason: required when required, bounded always.
func checkReason(reason string, required bool) error {
	switch n := utf8.RuneCountInString(strings.TrimSpace(reason)); {
	case required && n == 0:
		return refuse(RuleReason, "a rejection or revocation says why (reason)")
	case n > MaxText:
		return refuse(RuleReason, "the reason is at most %d characters", MaxText)
	}
	return nil
}
