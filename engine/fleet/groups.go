package fleet

import (
	"cmp"
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
