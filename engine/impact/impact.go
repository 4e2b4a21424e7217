// Package impact answers "this service is down: what else is, and whose devices feel it?":
// the services that depend on a service, transitively, and the device groups and devices that
// receive any of them, from a published catalog and the daemon's device counts.
package impact

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/fleet"
	"samverk.io/samverk/engine/grants"
)

// ErrUnknownService is returned (wrapped) when the catalog has no Service of the name asked.
var ErrUnknownService = errors.New("no such service")

// Report is the impact of one service's outage.
type Report struct {
	// Service is the service asked about; DisplayName and Owner are from its document.
	Service     string `json:"service"`
	DisplayName string `json:"displayName,omitempty"`
	Owner       string `json:"owner,omitempty"`
	// Revision is the catalog revision the graph was read from.
	Revision string `json:"revision,omitempty"`
	// Dependents are the services that depend on Service, directly or through others, in
	// the order of their distance from it and then by name.
	Dependents []Dependent `json:"dependents"`
	// Members are the members with a device group that receives Service or a dependent,
	// by name; Devices is the sum of their devices.
	Members []Member `json:"members"`
	Devices int      `json:"devices"`
	// Restricted says that the members the reader may not see are left out.
	Restricted bool `json:"restricted,omitempty"`
}

// Dependent is a service that an outage of the service asked about takes down with it.
type Dependent struct {
	Service     string `json:"service"`
	DisplayName string `json:"displayName,omitempty"`
	Owner       string `json:"owner,omitempty"`
	// Path runs from this service to the one asked about: each depends on the next.
	Path []string `json:"path"`
}

// Member is one member's share of the impact.
type Member struct {
	Member  string  `json:"member"`
	Groups  []Group `json:"groups"`
	Devices int     `json:"devices"`
}

// Group is a device group that receives an affected service.
type Group struct {
	Group string `json:"group"`
	// Via says how its devices receive the services: "group" (the group's spec.services), or
	// "grant": the member's devices that have them through active grants of service
	// requests, one row per member with Group "" (a device may also be in a group's row).
	Via string `json:"via"`
	// Services are the affected services the group receives, by name.
	Services []string `json:"services"`
	// Devices is the number of the group's devices the daemon serves now, or of the devices
	// holding a grant.
	Devices int `json:"devices"`
}

// Via values of a Group.
const (
	ViaGroup = "group"
	ViaGrant = "grant"
)

// Analyze computes the impact of an outage of service in cat, counting devices with counts
// (the daemon's devices by member and group; nil counts none) and held (the devices that have
// a service through an active grant; nil counts none).
func Analyze(cat *catalog.Catalog, service string, counts []fleet.GroupCount, held []grants.Held) (*Report, error) {
	doc := cat.Get(catalog.KindService, "", service)
	if doc == nil {
		return nil, fmt.Errorf("service %q: %w", service, ErrUnknownService)
	}
	r := &Report{Service: service, DisplayName: displayName(doc), Owner: doc.Owner, Dependents: []Dependent{}, Members: []Member{}}

	// Reverse the dependsOn edges: who depends on each service.
	dependents := map[string][]string{}
	for _, d := range cat.OfKind(catalog.KindService) {
		for _, dep := range names(d.Spec()["dependsOn"]) {
			dependents[dep] = append(dependents[dep], d.Name)
		}
	}
	// Breadth first from the service: each dependent's path is the shortest chain to it.
	paths := map[string][]string{service: {service}}
	affected := []string{service}
	for frontier := []string{service}; len(frontier) > 0; {
		var next []string
		for _, s := range frontier {
			ds := slices.Clone(dependents[s])
			slices.Sort(ds)
			for _, d := range slices.Compact(ds) {
				if _, seen := paths[d]; seen {
					continue // a cycle, or reached by a path as short
				}
				paths[d] = append([]string{d}, paths[s]...)
				next = append(next, d)
				affected = append(affected, d)
				dd := cat.Get(catalog.KindService, "", d)
				r.Dependents = append(r.Dependents, Dependent{Service: d, DisplayName: displayName(dd), Owner: owner(dd), Path: paths[d]})
			}
		}
		slices.Sort(next)
		frontier = next
	}

	hit := map[string]bool{}
	for _, s := range affected {
		hit[s] = true
	}
	type key struct{ member, group string }
	devices := map[key]int{}
	for _, c := range counts {
		devices[key{c.Member, c.Group}] += c.Devices
	}
	byMember := map[string]*Member{}
	for _, g := range cat.OfKind(catalog.KindDeviceGroup) {
		var got []string
		for _, s := range names(g.Spec()["services"]) {
			if hit[s] && !slices.Contains(got, s) {
				got = append(got, s)
			}
		}
		if len(got) == 0 {
			continue
		}
		slices.Sort(got)
		m := byMember[g.Namespace]
		if m == nil {
			m = &Member{Member: g.Namespace}
			byMember[g.Namespace] = m
		}
		n := devices[key{g.Namespace, g.Name}]
		m.Groups = append(m.Groups, Group{Group: g.Name, Via: ViaGroup, Services: got, Devices: n})
		m.Devices += n
	}
	// Through grants: per member, the affected services and the distinct devices holding one.
	type granted struct {
		services []string
		devices  map[string]bool
	}
	byGrant := map[string]*granted{}
	for _, h := range held {
		if !hit[h.Service] {
			continue
		}
		gr := byGrant[h.Member]
		if gr == nil {
			gr = &granted{devices: map[string]bool{}}
			byGrant[h.Member] = gr
		}
		if !slices.Contains(gr.services, h.Service) {
			gr.services = append(gr.services, h.Service)
		}
		gr.devices[h.Device] = true
	}
	for member, gr := range byGrant {
		m := byMember[member]
		if m == nil {
			m = &Member{Member: member}
			byMember[member] = m
		}
		slices.Sort(gr.services)
		m.Groups = append(m.Groups, Group{Via: ViaGrant, Services: gr.services, Devices: len(gr.devices)})
		m.Devices += len(gr.devices)
	}
	for _, m := range byMember {
		// The groups by name, then the grants' row.
		slices.SortFunc(m.Groups, func(a, b Group) int { return cmp.Or(cmp.Compare(b.Via, a.Via), cmp.Compare(a.Group, b.Group)) })
		r.Members = append(r.Members, *m)
		r.Devices += m.Devices
	}
	slices.SortFunc(r.Members, func(a, b Member) int { return cmp.Compare(a.Member, b.Member) })
	return r, nil
}

// Restrict keeps only the members sees reports true for, and recounts the total. The
// dependency graph stays: services are shared documents everyone may read.
func (r *Report) Restrict(sees func(member string) bool) {
	kept := r.Members[:0]
	total := 0
	for _, m := range r.Members {
		if sees(m.Member) {
			kept = append(kept, m)
			total += m.Devices
		} else {
			r.Restricted = true
		}
	}
	r.Members, r.Devices = kept, total
}

// Groups lists the (member, group) pairs of r: the device groups an outage reaches.
func (r *Report) Groups() []fleet.Placement {
	var out []fleet.Placement
	for _, m := range r.Members {
		for _, g := range m.Groups {
			if g.Via != ViaGroup {
				continue
			}
			out = append(out, fleet.Placement{Member: m.Member, Group: g.Group})
		}
	}
	return out
}

func displayName(d *catalog.Document) string {
	if d == nil {
		return ""
	}
	s, _ := d.Spec()["displayName"].(string)
	return s
}

func owner(d *catalog.Document) string {
	if d == nil {
		return ""
	}
	return d.Owner
}

// names returns the strings of a list value of a document.
func names(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, e := range l {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}
