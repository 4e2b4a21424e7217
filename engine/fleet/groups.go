package fleet

import (
	"cmp"
	"net/http"
	"slices"
)

// GroupCount is the number of devices of a member that are served as members of a device
// group; Group is empty for devices no group selects.
type GroupCount struct {
	Member  string `json:"member"`
	Group   string `json:"group"`
	Devices int    `json:"devices"`
}

// GroupCounts counts the devices in memory by member and the device group of the state they
// are served. It reads the device classes only (one pass over them, no store read), so it
// costs the same for 370,000 devices as for 370. Before the first publish every device
// counts in group "".
func (s *Service) GroupCounts() []GroupCount {
	type key struct{ member, group string }
	sums := map[key]int{}
	s.ix.mu.Lock()
	for _, c := range s.ix.classes {
		n := int(c.n.Load())
		if n <= 0 {
			continue
		}
		k := key{member: c.dev.Member}
		if v := c.cur.Load(); v != nil {
			k.group = v.state.Group
		}
		sums[k] += n
	}
	s.ix.mu.Unlock()
	out := make([]GroupCount, 0, len(sums))
	for k, n := range sums {
		out = append(out, GroupCount{Member: k.member, Group: k.group, Devices: n})
	}
	slices.SortFunc(out, func(a, b GroupCount) int {
		return cmp.Or(cmp.Compare(a.Member, b.Member), cmp.Compare(a.Group, b.Group))
	})
	return out
}

// Placement is where a device stands: its member and the device group of the state it is
// served ("" before the first publish or when no group selects it).
type Placement struct {
	Member string
	Group  string
}

// PlacementOf returns where device id stands, from memory, and false when the device is not
// in memory.
func (s *Service) PlacementOf(id string) (Placement, bool) {
	k, ok := parseID(id)
	if !ok {
		return Placement{}, false
	}
	c := s.ix.lookup(k)
	if c == nil {
		return Placement{}, false
	}
	return c.placement(), true
}

func (c *class) placement() Placement {
	p := Placement{Member: c.dev.Member}
	if v := c.cur.Load(); v != nil {
		p.Group = v.state.Group
	}
	return p
}

// Notices tells the desired-state handler of the newest notice for a device (the notice
// package's Board).
type Notices interface {
	// Latest is the value of the Samverk-Notice header for device id of member, served as a
	// member of group, or nil when no notice reaches it. It is called on every poll: it must
	// not allocate when there is no notice.
	Latest(id, member, group string) []string
}

// noticeHeader is the canonical form of the header Notices fills.
const noticeHeader = "Samverk-Notice"

// AuthenticateDevice checks that the request carries the credential of the device in its
// path ({id}) and charges the device's rate limit, as the agent endpoints do. On failure it
// has answered (401, 403, 404 or 429) and reports false.
func (s *Service) AuthenticateDevice(w http.ResponseWriter, r *http.Request) (id string, p Placement, ok bool) {
	id = r.PathValue("id")
	k, ok := parseID(id)
	if !ok {
		writeError(w, http.StatusNotFound, "no such device")
		return "", Placement{}, false
	}
	e, _, ok := s.authDevice(w, r, k, false, s.opt.Now())
	if !ok {
		return "", Placement{}, false
	}
	return id, e.cls.placement(), true
}

// TryEnter takes one of the MaxInFlight slots of agent work and reports true, or reports
// false when the daemon is shedding load; Leave gives the slot back.
func (s *Service) TryEnter() bool {
	if s.inflight.Add(1) > int64(s.opt.MaxInFlight) {
		s.inflight.Add(-1)
		s.m.shed.WithLabelValues("busy").Inc()
		return false
	}
	return true
}

// Leave gives back a slot TryEnter took.
func (s *Service) Leave() { s.leave() }
