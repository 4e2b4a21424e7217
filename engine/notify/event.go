package notify

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"samverk.io/samverk/engine/finding"
)

// Kinds of event.
const (
	// RevisionPublished: a commit passed every check and is served now.
	RevisionPublished = "revision.published"
	// CommitRefused: a commit failed validation or verification; the last good stays.
	CommitRefused = "commit.refused"
	// RolloutPromoted: a revision moved into a ring.
	RolloutPromoted = "rollout.promoted"
	// RolloutHalted: a revision failed a ring's gate; the rollout stopped (or rolled back).
	RolloutHalted = "rollout.halted"
	// GrantsExpiring: access grants end soon.
	GrantsExpiring = "grants.expiring"
	// NoticeSent: a notice went out to devices.
	NoticeSent = "notice.sent"
)

// Kinds lists every kind, in the order the documentation gives them.
var Kinds = []string{RevisionPublished, CommitRefused, RolloutPromoted, RolloutHalted, GrantsExpiring, NoticeSent}

// MaxFindings is how many findings a commit.refused event carries; the rest are counted.
const MaxFindings = 5

// Event is something people outside samverk are told of. Its JSON is the body of the generic
// webhook; Teams and Slack get a message made of Summary and Details.
type Event struct {
	// ID identifies the event; every sink and every attempt gets the same.
	ID   string    `json:"id"`
	Kind string    `json:"kind"`
	At   time.Time `json:"at"`
	// Summary is one line for people.
	Summary string `json:"summary"`
	// Members are the members the event concerns; none: the whole consortium.
	Members  []string `json:"members,omitempty"`
	Revision string   `json:"revision,omitempty"`
	// URL links to the console page about the event.
	URL string `json:"url,omitempty"`
	// Findings are the first findings of a refused commit, most severe first; MoreFindings
	// counts the rest.
	Findings     []Finding `json:"findings,omitempty"`
	MoreFindings int       `json:"moreFindings,omitempty"`
	Rollout      *Rollout  `json:"rollout,omitempty"`
	Notice       *Notice   `json:"notice,omitempty"`
	Grants       []Grant   `json:"grants,omitempty"`
}

// Finding is one finding of a refused commit.
type Finding struct {
	// Location is file:line:col from the repository root.
	Location string `json:"location"`
	Rule     string `json:"rule"`
	Severity string `json:"severity"`
	Message  string `json:"message"`
}

// Rollout is a rollout decision.
type Rollout struct {
	Ring   string `json:"ring"`
	Action string `json:"action"`
	Actor  string `json:"actor"`
	Reason string `json:"reason,omitempty"`
}

// Notice is a notice sent to devices.
type Notice struct {
	Seq      int64     `json:"seq"`
	Severity string    `json:"severity"`
	Title    string    `json:"title"`
	Sender   string    `json:"sender"`
	From     time.Time `json:"from"`
	To       time.Time `json:"to"`
}

// Grant is an access grant that ends soon.
type Grant struct {
	ID      string    `json:"id"`
	Member  string    `json:"member"`
	Service string    `json:"service"`
	Subject string    `json:"subject"`
	Expires time.Time `json:"expires"`
}

// Details are the lines under the summary in a chat message.
func (e *Event) Details() []string {
	var out []string
	for _, f := range e.Findings {
		out = append(out, fmt.Sprintf("%s: %s %s: %s", f.Location, f.Severity, f.Rule, f.Message))
	}
	if e.MoreFindings > 0 {
		out = append(out, fmt.Sprintf("… and %d more", e.MoreFindings))
	}
	if r := e.Rollout; r != nil && r.Reason != "" {
		out = append(out, r.Reason)
	}
	for _, g := range e.Grants {
		out = append(out, fmt.Sprintf("%s: %s for %s ends %s", g.Member, g.Service, g.Subject, g.Expires.UTC().Format(time.RFC3339)))
	}
	return out
}

// newID returns a random event id.
func newID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// short is a commit hash cut to 12 characters.
func short(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}

// Published is the event of a revision published; url links to the console.
func Published(revision, url string) Event {
	return Event{Kind: RevisionPublished, Revision: revision, URL: url,
		Summary: "Revision " + short(revision) + " is published"}
}

// Refused is the event of a commit refused: reason is the attempt's one-line reason or
// message, findings its validation findings (nil when it failed before validation). The
// members are those whose folders (members/<member>/) the findings name.
func Refused(revision, reason string, findings []finding.Finding, url string) Event {
	e := Event{Kind: CommitRefused, Revision: revision, URL: url, Summary: "Commit " + short(revision) + " is refused"}
	if reason != "" {
		e.Summary += ": " + oneLine(reason, 200)
	}
	fs := slices.Clone(findings)
	fs = slices.DeleteFunc(fs, func(f finding.Finding) bool { return f.WaivedBy != nil })
	slices.SortStableFunc(fs, func(a, b finding.Finding) int { return b.Severity.Rank() - a.Severity.Rank() })
	members := map[string]bool{}
	for i, f := range fs {
		if m, ok := memberOf(f.File); ok {
			members[m] = true
		}
		if i < MaxFindings {
			e.Findings = append(e.Findings, Finding{Location: f.Location(), Rule: f.Rule, Severity: string(f.Severity), Message: oneLine(f.Message, 300)})
		}
	}
	e.MoreFindings = max(0, len(fs)-MaxFindings)
	for m := range members {
		e.Members = append(e.Members, m)
	}
	slices.Sort(e.Members)
	return e
}

// memberOf returns the member whose folder holds file.
func memberOf(file string) (string, bool) {
	i := strings.Index(file, "members/")
	if i < 0 || i > 0 && file[i-1] != '/' {
		return "", false
	}
	m, _, ok := strings.Cut(file[i+len("members/"):], "/")
	return m, ok && m != ""
}

// RolloutDecision is the event of a promotion (kind RolloutPromoted) or a halt (RolloutHalted).
func RolloutDecision(kind, revision string, r Rollout, url string) Event {
	verb := "is promoted to"
	if kind == RolloutHalted {
		verb = "is halted in"
	}
	return Event{Kind: kind, Revision: revision, URL: url, Rollout: &r,
		Summary: "Revision " + short(revision) + " " + verb + " ring " + r.Ring}
}

// NoticeEvent is the event of a notice sent for members (none: the consortium).
func NoticeEvent(n Notice, members []string, url string) Event {
	return Event{Kind: NoticeSent, URL: url, Notice: &n, Members: slices.Clone(members),
		Summary: fmt.Sprintf("%s notice sent by %s: %s", n.Severity, n.Sender, oneLine(n.Title, 200))}
}

// GrantsExpiringEvent is the event of grants that end soon, for the members they belong to.
func GrantsExpiringEvent(grants []Grant, url string) Event {
	e := Event{Kind: GrantsExpiring, URL: url, Grants: slices.Clone(grants)}
	seen := map[string]bool{}
	for _, g := range grants {
		if !seen[g.Member] {
			seen[g.Member] = true
			e.Members = append(e.Members, g.Member)
		}
	}
	slices.Sort(e.Members)
	e.Summary = fmt.Sprintf("%d access grant(s) end soon", len(grants))
	return e
}

// oneLine keeps the first line of s, at most n runes.
func oneLine(s string, n int) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
