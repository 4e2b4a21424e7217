package fleet

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"samverk.io/samverk/engine/auth"
	"samverk.io/samverk/engine/store"
)

// DeviceView is a device as the fleet view shows it.
type DeviceView struct {
	store.Device
	// DesiredHash is the hash of the state the device should have now (empty before the
	// first publish, or when the device is not in this replica's memory).
	DesiredHash string `json:"desiredHash,omitempty"`
}

// DeviceList is the answer of GET /api/v1/devices.
type DeviceList struct {
	Devices []DeviceView `json:"devices"`
	// Next is the cursor of the next page; empty on the last.
	Next string `json:"next,omitempty"`
}

// list serves a page of the devices the principal sees: with ?member=, that member's (when
// the principal sees it); without, the whole fleet for a consortium role, or the one member a
// member-scoped principal sees.
func (s *Service) list(w http.ResponseWriter, r *http.Request) {
	qv := r.URL.Query()
	q := store.Query{
		Member: qv.Get("member"), Group: qv.Get("group"), Compliance: qv.Get("compliance"),
		Revision: qv.Get("revision"), After: qv.Get("cursor"), StaleBefore: s.staleBefore(),
	}
	who := auth.FromContext(r.Context())
	all, members := who.Visible()
	switch {
	case q.Member != "" && !who.Sees(q.Member):
		writeError(w, http.StatusForbidden, "you may not see the devices of member "+q.Member)
		return
	case q.Member == "" && !all && len(members) == 1:
		q.Member = members[0]
	case q.Member == "" && !all:
		writeError(w, http.StatusBadRequest, "you see several members: name one with ?member=")
		return
	}
	if q.Compliance != "" && !slices.Contains(store.ComplianceStates, q.Compliance) {
		writeError(w, http.StatusBadRequest, "compliance must be one of "+strings.Join(store.ComplianceStates, ", "))
		return
	}
	if l := qv.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > store.MaxLimit {
			writeError(w, http.StatusBadRequest, "limit must be a number from 1 to "+strconv.Itoa(store.MaxLimit))
			return
		}
		q.Limit = n
	}
	p, err := s.st.Devices(r.Context(), q)
	if err != nil {
		s.readFailed(w, r, err)
		return
	}
	out := DeviceList{Devices: make([]DeviceView, 0, len(p.Devices)), Next: p.Next}
	for _, d := range p.Devices {
		out.Devices = append(out.Devices, s.view(d))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Service) view(d store.Device) DeviceView {
	v := DeviceView{Device: d}
	if k, ok := parseID(d.ID); ok {
		if c, o := s.ix.lookupOverlay(k); c != nil {
			if cur := s.ix.viewWith(c, o); cur != nil {
				v.DesiredHash = cur.hash
			}
		}
	}
	return v
}

// device serves one device of the fleet view.
func (s *Service) device(w http.ResponseWriter, r *http.Request) {
	d, ok := s.readDevice(w, r)
	if ok {
		writeJSON(w, http.StatusOK, s.view(*d))
	}
}

// history serves a device's recent reports.
func (s *Service) history(w http.ResponseWriter, r *http.Request) {
	d, ok := s.readDevice(w, r)
	if !ok {
		return
	}
	limit := 10
	if l := r.URL.Query().Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 1000 {
			writeError(w, http.StatusBadRequest, "limit must be a number from 1 to 1000")
			return
		}
		limit = n
	}
	rs, err := s.st.Reports(r.Context(), d.ID, limit)
	if err != nil {
		s.readFailed(w, r, err)
		return
	}
	if rs == nil {
		rs = []store.StoredReport{}
	}
	writeJSON(w, http.StatusOK, struct {
		Reports []store.StoredReport `json:"reports"`
	}{rs})
}

// readDevice reads the device of the path. The route's Member resolver has already checked
// the principal sees its member; checking again here costs nothing and keeps a device read
// from memory and one read from the store in step.
func (s *Service) readDevice(w http.ResponseWriter, r *http.Request) (*store.Device, bool) {
	id := r.PathValue("id")
	if _, ok := parseID(id); !ok {
		writeError(w, http.StatusNotFound, "no such device")
		return nil, false
	}
	d, err := s.st.Device(r.Context(), id, s.staleBefore())
	if errors.Is(err, store.ErrNotFound) || err == nil && !auth.FromContext(r.Context()).Sees(d.Member) {
		writeError(w, http.StatusNotFound, "no such device")
		return nil, false
	}
	if err != nil {
		s.readFailed(w, r, err)
		return nil, false
	}
	return d, true
}

// Summary is the answer of GET /api/v1/fleet/summary: device counts by compliance state, for
// the fleet, each member and each of its groups ("" for devices no group selects, which are
// unmanaged, or not yet served, which are stale).
type Summary struct {
	// StaleAfter is how long a device may go without reporting before it counts as stale.
	StaleAfter string         `json:"staleAfter"`
	At         time.Time      `json:"at"`
	Total      StateCounts    `json:"total"`
	Members    []MemberCounts `json:"members"`
}

// MemberCounts are one member's counts.
type MemberCounts struct {
	Member string        `json:"member"`
	Counts StateCounts   `json:"counts"`
	Groups []GroupCounts `json:"groups"`
}

// GroupCounts are one group's counts.
type GroupCounts struct {
	Group  string      `json:"group"`
	Counts StateCounts `json:"counts"`
}

// StateCounts counts devices by compliance state.
type StateCounts struct {
	Devices   int `json:"devices"`
	Compliant int `json:"compliant"`
	Drifted   int `json:"drifted"`
	Failed    int `json:"failed"`
	Stale     int `json:"stale"`
	// Unmanaged devices are those no device group selects: nothing is enforced on them.
	Unmanaged int `json:"unmanaged"`
	// OS upgrades due: not started, under way, failed.
	OSPending   int `json:"osPending"`
	OSUpgrading int `json:"osUpgrading"`
	OSFailed    int `json:"osFailed"`
}

func (c *StateCounts) add(state string, n int) {
	c.Devices += n
	switch state {
	case store.Compliant:
		c.Compliant += n
	case store.Drifted:
		c.Drifted += n
	case store.Failed:
		c.Failed += n
	case store.Unmanaged:
		c.Unmanaged += n
	case store.OSPending:
		c.OSPending += n
	case store.OSUpgrading:
		c.OSUpgrading += n
	case store.OSFailed:
		c.OSFailed += n
	default:
		c.Stale += n
	}
}

// summary counts the devices of the members the principal sees.
func (s *Service) summary(w http.ResponseWriter, r *http.Request) {
	now := s.opt.Now()
	counts, err := s.st.Summary(r.Context(), now.Add(-s.opt.StaleAfter))
	if err != nil {
		s.readFailed(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, summarise(counts, auth.FromContext(r.Context()).Sees, s.opt.StaleAfter, now))
}

// summarise folds store counts (ordered by member, group) into a Summary, keeping only the
// members sees accepts.
func summarise(counts []store.Count, sees func(member string) bool, staleAfter time.Duration, now time.Time) Summary {
	out := Summary{StaleAfter: staleAfter.String(), At: now.UTC(), Members: []MemberCounts{}}
	for _, c := range counts {
		if !sees(c.Member) {
			continue
		}
		if n := len(out.Members); n == 0 || out.Members[n-1].Member != c.Member {
			out.Members = append(out.Members, MemberCounts{Member: c.Member, Groups: []GroupCounts{}})
		}
		m := &out.Members[len(out.Members)-1]
		if n := len(m.Groups); n == 0 || m.Groups[n-1].Group != c.Group {
			m.Groups = append(m.Groups, GroupCounts{Group: c.Group})
		}
		m.Groups[len(m.Groups)-1].Counts.add(c.Compliance, c.Devices)
		m.Counts.add(c.Compliance, c.Devices)
		out.Total.add(c.Compliance, c.Devices)
	}
	return out
}

func (s *Service) readFailed(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() == nil {
		s.log.Error("fleet view: store read failed", "err", err)
	}
	writeError(w, http.StatusServiceUnavailable, "the store is unavailable")
}
