// Package auth says who is asking and what they may do: roles scoped to one member or to the
// whole consortium, the principal a request acts as, and the one table of what each route needs.
package auth

import (
	"context"
	"fmt"
	"net/http"
	"slices"
)

// Role is what a person or token may do within its scope.
type Role string

// The roles, from least to most. Operator and Approver each include Viewer; Admin includes all.
const (
	// Viewer reads: devices, reports, findings, the catalog.
	Viewer Role = "viewer"
	// Operator acts on the daemon: suspend, resume, trigger a reconcile.
	Operator Role = "operator"
	// Approver decides service requests.
	Approver Role = "approver"
	// Admin does everything, including creating and revoking API tokens.
	Admin Role = "admin"
)

// Roles lists every role, in the order above.
var Roles = []Role{Viewer, Operator, Approver, Admin}

// ParseRole turns a role's name into a Role.
func ParseRole(s string) (Role, error) {
	r := Role(s)
	if !slices.Contains(Roles, r) {
		return "", fmt.Errorf("unknown role %q: want viewer, operator, approver or admin", s)
	}
	return r, nil
}

// Includes reports whether holding r is enough for a route that needs need.
func (r Role) Includes(need Role) bool {
	switch r {
	case Admin:
		return true
	case Operator, Approver:
		return need == r || need == Viewer
	case Viewer:
		return need == Viewer
	}
	return false
}

// Consortium is the scope of a grant that covers every member.
const Consortium = "*"

// Grant is one role held in one scope: a member's name, or Consortium.
type Grant struct {
	Role   Role   `json:"role"`
	Member string `json:"member"`
}

// Principal is who a request acts as: a signed-in person, an API token, or the daemon's
// admin token. Its grants are all it may do.
type Principal struct {
	// Subject identifies the principal: the OIDC subject, "token:<id>" or "admin-token".
	Subject string `json:"subject"`
	// Name is what a person reads (an e-mail address or a token's description).
	Name string `json:"name,omitempty"`
	// Method is how it was authenticated: "oidc", "local", "token" or "admin-token".
	Method string  `json:"method"`
	Grants []Grant `json:"grants"`
}

// Can reports whether p holds role (or one that includes it) for member. member may be
// Consortium, which only a consortium grant covers.
func (p *Principal) Can(role Role, member string) bool {
	if p == nil {
		return false
	}
	for _, g := range p.Grants {
		if !g.Role.Includes(role) {
			continue
		}
		if g.Member == Consortium || (member != Consortium && g.Member == member) {
			return true
		}
	}
	return false
}

// CanAny reports whether p holds role for at least one scope.
func (p *Principal) CanAny(role Role) bool {
	if p == nil {
		return false
	}
	for _, g := range p.Grants {
		if g.Role.Includes(role) {
			return true
		}
	}
	return false
}

// Sees reports whether p may read what belongs to member.
func (p *Principal) Sees(member string) bool { return p.Can(Viewer, member) }

// Visible says which members' devices and reports p may read: all of them, or the listed ones.
func (p *Principal) Visible() (all bool, members []string) {
	if p == nil {
		return false, nil
	}
	for _, g := range p.Grants {
		if g.Member == Consortium {
			return true, nil
		}
		if !slices.Contains(members, g.Member) {
			members = append(members, g.Member)
		}
	}
	slices.Sort(members)
	return false, members
}

type ctxKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// FromContext returns the principal the request acts as, or nil when it is anonymous.
func FromContext(ctx context.Context) *Principal {
	p, _ := ctx.Value(ctxKey{}).(*Principal)
	return p
}

// Route is one row of the route table: a pattern on the daemon's mux and what it needs.
// Every handler of the API and the console is registered through a Route, so that none can
// forget its check.
type Route struct {
	// Method and Pattern as net/http's ServeMux takes them ("GET", "/api/v1/devices/{id}").
	Method  string
	Pattern string
	// Need is the role the route needs. Public routes (health, the public status page, the
	// sign-in pages, the agent API with its own credentials) leave it empty.
	Need Role
	// Member, when set, names the member the request acts on (for example the member of the
	// device in the path); the principal must hold Need for that member. Without it, Need in
	// any scope is enough and the handler shows only what the principal Sees. The request it
	// is given carries the principal (FromContext), for things in more than one member's
	// scope: the resolver names the one the principal acts in.
	Member func(r *http.Request) (member string, err error)
	// Audit marks a state-changing route: each call writes one audit entry.
	Audit bool
	// Handler serves the route once its needs are met.
	Handler http.Handler
}
