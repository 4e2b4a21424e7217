// Package notice sends messages to devices in seconds: a disruption notice, a survey answered
// with coloured buttons, a crisis message. Notices are run-time records (the store, not Git),
// aimed at everyone, members, member types, device groups, devices or the devices an outage of
// a service reaches, and delivered to agents at their next poll or at once over a stream.
package notice

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"samverk.io/samverk/engine/auth"
	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/desired"
	"samverk.io/samverk/engine/fleet"
	"samverk.io/samverk/engine/impact"
)

// Severities of a notice.
const (
	Info       = "info"
	Disruption = "disruption"
	Crisis     = "crisis"
)

// Severities lists them, mildest first.
var Severities = []string{Info, Disruption, Crisis}

// Limits on what a notice may hold.
const (
	MaxTitle    = 200  // characters
	MaxBody     = 4000 // characters
	MaxQuestion = 200  // characters
	MaxAnswer   = 100  // characters
	MinAnswers  = 2
	MaxAnswers  = 5
	// MaxTargets bounds each list of a target.
	MaxTargets = 1000
	// MaxWindow is the longest validity window.
	MaxWindow = 90 * 24 * time.Hour
	// DefaultWindow is the window of a notice that names no end.
	DefaultWindow = 24 * time.Hour
)

// GroupRef names a device group of a member.
type GroupRef struct {
	Member string `json:"member"`
	Group  string `json:"group"`
}

// Target says which devices a notice reaches. The fields add up: a device is reached when
// any of them names it.
type Target struct {
	// Everyone reaches every device (consortium operators only).
	Everyone    bool       `json:"everyone,omitempty"`
	Members     []string   `json:"members,omitempty"`
	MemberTypes []string   `json:"memberTypes,omitempty"`
	Groups      []GroupRef `json:"groups,omitempty"`
	Devices     []string   `json:"devices,omitempty"`
	// AffectedBy reaches the devices of the groups that receive the service or a service
	// depending on it (see package impact).
	AffectedBy string `json:"affectedBy,omitempty"`
	// Resolved is what the target came to when the notice was sent, and stays: the members
	// that Members and MemberTypes named then, and the groups Groups and AffectedBy named,
	// within the sender's scope.
	Resolved *Resolved `json:"resolved,omitempty"`
}

// Resolved is a target as resolved when the notice was sent.
type Resolved struct {
	Members []string   `json:"members,omitempty"`
	Groups  []GroupRef `json:"groups,omitempty"`
	// Reach is every member whose devices the notice may reach: who may read it.
	Reach []string `json:"reach"`
}

// Survey is a question with two to five answers, each a button of its colour.
type Survey = desired.Survey

// Answer is one of a survey's answers.
type Answer = desired.SurveyAnswer

// Request is a notice to send, as the API takes it.
type Request struct {
	Title    string    `json:"title"`
	Body     string    `json:"body"`
	Severity string    `json:"severity"`
	From     time.Time `json:"from,omitzero"`
	To       time.Time `json:"to,omitzero"`
	Target   Target    `json:"target"`
	Survey   *Survey   `json:"survey,omitempty"`
	// Member is the member the notice is sent for; empty: the sender's one member, or the
	// consortium for a consortium operator.
	Member string `json:"member,omitempty"`
}

// InvalidError is a request refused for what it says; ForbiddenError one refused because it
// reaches outside the sender's scope.
type (
	InvalidError   struct{ Err error }
	ForbiddenError struct{ Err error }
)

func (e *InvalidError) Error() string   { return e.Err.Error() }
func (e *InvalidError) Unwrap() error   { return e.Err }
func (e *ForbiddenError) Error() string { return e.Err.Error() }
func (e *ForbiddenError) Unwrap() error { return e.Err }

func invalid(format string, args ...any) error {
	return &InvalidError{Err: fmt.Errorf(format, args...)}
}

func forbidden(format string, args ...any) error {
	return &ForbiddenError{Err: fmt.Errorf(format, args...)}
}

var colorRE = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

// Check validates what a request says, on its own: lengths, severity, window, survey, the
// shape of the target. It fills From and To when they are missing.
func (q *Request) Check(now time.Time) error {
	q.Title, q.Body = strings.TrimSpace(q.Title), strings.TrimSpace(q.Body)
	if err := text("title", q.Title, MaxTitle); err != nil {
		return err
	}
	if err := text("body", q.Body, MaxBody); err != nil {
		return err
	}
	if !slices.Contains(Severities, q.Severity) {
		return invalid("severity %q: want info, disruption or crisis", clip(q.Severity))
	}
	if q.From.IsZero() {
		q.From = now
	}
	if q.To.IsZero() {
		q.To = q.From.Add(DefaultWindow)
	}
	switch {
	case !q.To.After(q.From):
		return invalid("to (%s) must be after from (%s)", q.To.Format(time.RFC3339), q.From.Format(time.RFC3339))
	case !q.To.After(now):
		return invalid("to (%s) has passed", q.To.Format(time.RFC3339))
	case q.To.Sub(q.From) > MaxWindow:
		return invalid("the window from %s to %s is longer than %d days", q.From.Format(time.RFC3339), q.To.Format(time.RFC3339), int(MaxWindow.Hours()/24))
	}
	if s := q.Survey; s != nil {
		if err := text("survey.question", strings.TrimSpace(s.Question), MaxQuestion); err != nil {
			return err
		}
		if n := len(s.Answers); n < MinAnswers || n > MaxAnswers {
			return invalid("survey.answers: %d answers; want %d to %d", n, MinAnswers, MaxAnswers)
		}
		for i, a := range s.Answers {
			if err := text(fmt.Sprintf("survey.answers[%d].text", i), strings.TrimSpace(a.Text), MaxAnswer); err != nil {
				return err
			}
			if !colorRE.MatchString(a.Color) {
				return invalid("survey.answers[%d].color %q: want #rrggbb", i, clip(a.Color))
			}
		}
	}
	t := &q.Target
	if t.Resolved != nil {
		return invalid("target.resolved is the daemon's to fill")
	}
	for name, n := range map[string]int{"members": len(t.Members), "memberTypes": len(t.MemberTypes), "groups": len(t.Groups), "devices": len(t.Devices)} {
		if n > MaxTargets {
			return invalid("target.%s: %d entries; at most %d", name, n, MaxTargets)
		}
	}
	if !t.Everyone && len(t.Members)+len(t.MemberTypes)+len(t.Groups)+len(t.Devices) == 0 && t.AffectedBy == "" {
		return invalid("target: name everyone, members, memberTypes, groups, devices or affectedBy")
	}
	return nil
}

func text(field, s string, limit int) error {
	switch n := utf8.RuneCountInString(s); {
	case !utf8.ValidString(s):
		return invalid("%s: not valid UTF-8", field)
	case n == 0:
		return invalid("%s is empty", field)
	case n > limit:
		return invalid("%s: %d characters; at most %d", field, n, limit)
	}
	return nil
}

// clip shortens what a message quotes back.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// Fleet is what resolving a target reads of the devices.
type Fleet interface {
	// PlacementOf is where a device stands, and false when it is unknown.
	PlacementOf(id string) (fleet.Placement, bool)
}

// Resolve checks the target of q against the catalog, the fleet and who sends it, and fills
// q.Target.Resolved and q.Member. A member-scoped operator reaches its own member's devices
// only: a target that names anything else is refused; AffectedBy is narrowed to its groups.
func Resolve(q *Request, who *auth.Principal, cat *catalog.Catalog, devices Fleet) error {
	if cat == nil {
		return errors.New("no catalog revision is published yet")
	}
	// The member sent for: named, or implied by the sender's operator grants.
	consortium := who.Can(auth.Operator, auth.Consortium)
	switch {
	case q.Member == "" && consortium:
		q.Member = auth.Consortium
	case q.Member == "":
		var ms []string
		for _, g := range who.Grants {
			if g.Role.Includes(auth.Operator) && !slices.Contains(ms, g.Member) {
				ms = append(ms, g.Member)
			}
		}
		if len(ms) == 0 {
			return forbidden("sending a notice needs the operator role, of a member or the consortium; you hold it for none")
		}
		if len(ms) != 1 {
			return invalid("member: you operate for %d members; name the one this notice is for", len(ms))
		}
		q.Member = ms[0]
	case q.Member != auth.Consortium && cat.Get(catalog.KindMember, "", q.Member) == nil:
		return invalid("member %q is not in the catalog", clip(q.Member))
	}
	if !who.Can(auth.Operator, q.Member) {
		return forbidden("you are not an operator of %s", q.Member)
	}
	scoped := q.Member != auth.Consortium
	inScope := func(m string) bool { return !scoped || m == q.Member }

	t := &q.Target
	res := &Resolved{}
	reach := map[string]bool{}
	members := map[string]string{} // name → type
	for _, d := range cat.OfKind(catalog.KindMember) {
		typ, _ := d.Spec()["type"].(string)
		members[d.Name] = typ
	}
	if t.Everyone {
		if scoped {
			return forbidden("target.everyone reaches every member; only consortium operators may send it (send for %s with target.members)", q.Member)
		}
		for m := range members {
			reach[m] = true
		}
	}
	for _, m := range t.Members {
		if _, ok := members[m]; !ok {
			return invalid("target.members: %q is not a member of the catalog", clip(m))
		}
		if !inScope(m) {
			return forbidden("target.members: %s is outside your scope (%s)", m, q.Member)
		}
		if !slices.Contains(res.Members, m) {
			res.Members = append(res.Members, m)
		}
	}
	for _, typ := range t.MemberTypes {
		if scoped {
			return forbidden("target.memberTypes reaches other members; only consortium operators may send it")
		}
		found := false
		for m, mt := range members {
			if mt == typ {
				found = true
				if !slices.Contains(res.Members, m) {
					res.Members = append(res.Members, m)
				}
			}
		}
		if !found {
			return invalid("target.memberTypes: no member is of type %q", clip(typ))
		}
	}
	for _, m := range res.Members {
		reach[m] = true
	}
	addGroup := func(g GroupRef) {
		if !slices.Contains(res.Groups, g) {
			res.Groups = append(res.Groups, g)
		}
		reach[g.Member] = true
	}
	for _, g := range t.Groups {
		if cat.Get(catalog.KindDeviceGroup, g.Member, g.Group) == nil {
			return invalid("target.groups: member %q has no device group %q", clip(g.Member), clip(g.Group))
		}
		if !inScope(g.Member) {
			return forbidden("target.groups: %s/%s is outside your scope (%s)", g.Member, g.Group, q.Member)
		}
		addGroup(g)
	}
	for _, id := range t.Devices {
		p, ok := devices.PlacementOf(id)
		if !ok {
			return invalid("target.devices: no device %q", clip(id))
		}
		if !inScope(p.Member) {
			// The same answer as for a device that does not exist: ids of other members'
			// devices are not confirmed.
			return invalid("target.devices: no device %q", clip(id))
		}
		reach[p.Member] = true
	}
	if t.AffectedBy != "" {
		r, err := impact.Analyze(cat, t.AffectedBy, nil, nil)
		if err != nil {
			return invalid("target.affectedBy: %w", err)
		}
		for _, g := range r.Groups() {
			if inScope(g.Member) {
				addGroup(GroupRef{Member: g.Member, Group: g.Group})
			}
		}
	}
	slices.Sort(res.Members)
	slices.SortFunc(res.Groups, func(a, b GroupRef) int {
		if c := strings.Compare(a.Member, b.Member); c != 0 {
			return c
		}
		return strings.Compare(a.Group, b.Group)
	})
	for m := range reach {
		res.Reach = append(res.Reach, m)
	}
	slices.Sort(res.Reach)
	if res.Reach == nil {
		res.Reach = []string{}
	}
	t.Resolved = res
	return nil
}
