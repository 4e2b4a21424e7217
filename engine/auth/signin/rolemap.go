package signin

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"

	"samverk.io/samverk/engine/auth"
)

// RoleMap turns the values of the identity provider's roles claim (groups, app roles) into
// grants. A map read from a file (ParseRoleMap) holds lines
//
//	<claim value> = <role>@<member>     # e.g.  norr-it-ops = operator@region-norr
//	<claim value> = <role>@*            # a consortium grant
//
// A value may appear on several lines, for several grants. The zero RoleMap follows the
// convention instead: a value "samverk:<member>:<role>" grants role for member, and
// "samverk:consortium:<role>" grants it for the consortium (a leading "/", as Keycloak writes
// full group paths, is ignored).
type RoleMap struct {
	entries map[string][]auth.Grant
}

// ConventionPrefix starts the claim values the zero RoleMap understands.
const ConventionPrefix = "samverk:"

// LoadRoleMap reads a role map file.
func LoadRoleMap(file string) (RoleMap, error) {
	f, err := os.Open(file)
	if err != nil {
		return RoleMap{}, fmt.Errorf("role map: %w", err)
	}
	defer f.Close()
	return ParseRoleMap(file, f)
}

// ParseRoleMap reads a role map; name is the file name errors carry (file:line:col).
func ParseRoleMap(name string, r io.Reader) (RoleMap, error) {
	m := RoleMap{entries: map[string][]auth.Grant{}}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		raw := sc.Text()
		line := raw
		if i := strings.Index(line, "#"); i >= 0 {
			line = line[:i]
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		col := func(s string) int { return strings.Index(raw, s) + 1 }
		value, grant, ok := strings.Cut(line, "=")
		value, grant = strings.TrimSpace(value), strings.TrimSpace(grant)
		if !ok || value == "" {
			return RoleMap{}, fmt.Errorf("%s:%d:1: want <claim value> = <role>@<member or *>", name, n)
		}
		if grant == "" {
			return RoleMap{}, fmt.Errorf("%s:%d:%d: %q maps to nothing: want <role>@<member or *>", name, n, len(raw)+1, value)
		}
		g, err := parseGrant(grant)
		if err != nil {
			return RoleMap{}, fmt.Errorf("%s:%d:%d: %w", name, n, col(grant), err)
		}
		m.entries[value] = append(m.entries[value], g)
	}
	if err := sc.Err(); err != nil {
		return RoleMap{}, fmt.Errorf("%s: %w", name, err)
	}
	return m, nil
}

// parseGrant reads "<role>@<member>" or "<role>@*".
func parseGrant(s string) (auth.Grant, error) {
	role, member, ok := strings.Cut(s, "@")
	role, member = strings.TrimSpace(role), strings.TrimSpace(member)
	if !ok || member == "" {
		return auth.Grant{}, fmt.Errorf("grant %q: want <role>@<member or *>", s)
	}
	r, err := auth.ParseRole(role)
	if err != nil {
		return auth.Grant{}, fmt.Errorf("grant %q: %w", s, err)
	}
	if member != auth.Consortium && !validMember(member) {
		return auth.Grant{}, fmt.Errorf("grant %q: member %q is not a DNS label", s, member)
	}
	return auth.Grant{Role: r, Member: member}, nil
}

// validMember reports whether s can be a member's name (a DNS label).
func validMember(s string) bool {
	if s == "" || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// Grants returns the grants the claim values give, each once.
func (m RoleMap) Grants(values []string) []auth.Grant {
	var out []auth.Grant
	add := func(g auth.Grant) {
		for _, have := range out {
			if have == g {
				return
			}
		}
		out = append(out, g)
	}
	for _, v := range values {
		if m.entries != nil {
			for _, g := range m.entries[v] {
				add(g)
			}
			continue
		}
		if g, ok := convention(v); ok {
			add(g)
		}
	}
	return out
}

// convention reads "samverk:<member>:<role>" and "samverk:consortium:<role>".
func convention(v string) (auth.Grant, bool) {
	rest, ok := strings.CutPrefix(strings.TrimPrefix(v, "/"), ConventionPrefix)
	if !ok {
		return auth.Grant{}, false
	}
	member, role, ok := strings.Cut(rest, ":")
	if !ok {
		return auth.Grant{}, false
	}
	r, err := auth.ParseRole(role)
	if err != nil {
		return auth.Grant{}, false
	}
	switch {
	case member == "consortium":
		member = auth.Consortium
	case !validMember(member):
		return auth.Grant{}, false
	}
	return auth.Grant{Role: r, Member: member}, true
}
