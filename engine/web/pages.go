package web

import (
	"cmp"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"samverk.io/samverk/engine/auth"
	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/compile"
	"samverk.io/samverk/engine/desired"
	"samverk.io/samverk/engine/finding"
	"samverk.io/samverk/engine/reconcile"
	"samverk.io/samverk/engine/store"
)

// stateCounts counts devices by console state.
type stateCounts struct {
	Member                                                       string
	Compliant, Drifted, Failed, Stale, Never, Unmanaged, Devices int
	// OS upgrades due: not started, under way, failed.
	OSPending, OSUpgrading, OSFailed int
}

func (s *stateCounts) add(state string, n int) {
	s.Devices += n
	switch state {
	case store.Compliant:
		s.Compliant += n
	case store.Drifted:
		s.Drifted += n
	case store.Failed:
		s.Failed += n
	case store.Never:
		s.Never += n
	case store.Unmanaged:
		s.Unmanaged += n
	case store.OSPending:
		s.OSPending += n
	case store.OSUpgrading:
		s.OSUpgrading += n
	case store.OSFailed:
		s.OSFailed += n
	default:
		s.Stale += n
	}
}

type overviewData struct {
	Status   *reconcile.Status
	Last     *reconcile.Attempt
	Findings *finding.Counts
	// Top are the first findings of the last attempt, most severe first; More counts the rest.
	Top     []finding.Finding
	More    int
	Members []*stateCounts
	Total   stateCounts
	Counted any
	States  []string
}

func (c *Console) overview(w http.ResponseWriter, r *http.Request) {
	members := visible(auth.FromContext(r.Context()))
	snap, err := c.counts.get(r.Context())
	if err != nil {
		c.fail(w, r, http.StatusServiceUnavailable, "the device store is unavailable", err)
		return
	}
	d := overviewData{Status: c.opt.Daemon.Status(), Counted: snap.At, States: store.States}
	if len(d.Status.History) > 0 {
		d.Last = &d.Status.History[0]
	}
	if rep := d.Status.Report; rep != nil {
		d.Findings = &rep.Summary
		fs := slices.Clone(rep.Findings)
		slices.SortStableFunc(fs, func(a, b finding.Finding) int { return b.Severity.Rank() - a.Severity.Rank() })
		if len(fs) > 10 {
			d.More, fs = len(fs)-10, fs[:10]
		}
		d.Top = fs
	}
	by := map[string]*stateCounts{}
	for _, cs := range snap.census {
		if !sees(members, cs.Member) {
			continue
		}
		m := by[cs.Member]
		if m == nil {
			m = &stateCounts{Member: cs.Member}
			by[cs.Member] = m
			d.Members = append(d.Members, m)
		}
		m.add(cs.State, cs.Devices)
		d.Total.add(cs.State, cs.Devices)
	}
	slices.SortFunc(d.Members, func(a, b *stateCounts) int { return strings.Compare(a.Member, b.Member) })
	c.render(w, r, "overview", "Overview", d)
}

// fleetData is the fleet list: the filters as given, their choices, and one page.
type fleetData struct {
	Q        fleetQuery
	Members  []string
	Groups   []string
	Rings    []string
	States   []string
	Models   []string
	Builds   []string
	Devices  []deviceRow
	Next     string
	Paged    bool
	NextLink string
	Error    string
}

// minSearch is the shortest search: one or two characters would match most of the fleet.
const minSearch = 3

type fleetQuery struct {
	Member, Group, Ring, State, Model, OS, Search, Cursor string
}

func (q fleetQuery) values() url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"member": q.Member, "group": q.Group, "ring": q.Ring, "state": q.State,
		"model": q.Model, "os": q.OS, "q": q.Search} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return v
}

type deviceRow struct {
	store.Device
	State string
}

// consoleState is a device's state as the console counts it.
func consoleState(d *store.Device) string {
	if d.LastReport == nil && d.Compliance != store.Unmanaged {
		return store.Never
	}
	return d.Compliance
}

func (c *Console) fleet(w http.ResponseWriter, r *http.Request) {
	p := auth.FromContext(r.Context())
	qv := r.URL.Query()
	q := fleetQuery{Member: qv.Get("member"), Group: qv.Get("group"), Ring: qv.Get("ring"), State: qv.Get("state"),
		Model: qv.Get("model"), OS: qv.Get("os"), Search: strings.TrimSpace(qv.Get("q")), Cursor: qv.Get("after")}
	d := fleetData{Q: q, States: store.States, Rings: []string{catalog.RingPilot, catalog.RingEarly, catalog.RingBroad}}
	c.fleetChoices(p, &d)
	if n := len([]rune(q.Search)); n > 0 && n < minSearch {
		d.Error = "search needs at least 3 characters of an id or a hostname"
		c.renderCode(w, r, http.StatusBadRequest, "fleet", "Fleet", d)
		return
	}
	if q.State != "" && !slices.Contains(store.States, q.State) {
		d.Error = "state must be one of " + strings.Join(store.States, ", ")
		c.renderCode(w, r, http.StatusBadRequest, "fleet", "Fleet", d)
		return
	}
	b := store.Browse{Members: visible(p), Member: q.Member, Group: q.Group, Ring: q.Ring, Model: q.Model, OSBuild: q.OS,
		State: q.State, Search: q.Search, After: q.Cursor, Limit: c.opt.PageSize, StaleBefore: c.staleBefore()}
	pg, err := c.opt.Devices.Browse(r.Context(), b)
	if err != nil {
		c.fail(w, r, http.StatusServiceUnavailable, "the device store is unavailable", err)
		return
	}
	for _, dev := range pg.Devices {
		d.Devices = append(d.Devices, deviceRow{Device: dev, State: consoleState(&dev)})
	}
	d.Paged = q.Cursor != ""
	if pg.Next != "" {
		v := q.values()
		v.Set("after", pg.Next)
		d.NextLink = "/fleet?" + v.Encode()
	}
	c.render(w, r, "fleet", "Fleet", d)
}

// fleetChoices fills the filters' choices from the catalog served: the members p sees, their
// groups, the hardware models and the OS builds.
func (c *Console) fleetChoices(p *auth.Principal, d *fleetData) {
	cur := c.opt.Daemon.Current()
	if cur == nil || cur.Catalog == nil {
		return
	}
	cat := cur.Catalog
	for _, m := range cat.OfKind(catalog.KindMember) {
		if p.Sees(m.Name) {
			d.Members = append(d.Members, m.Name)
		}
	}
	groups := map[string]bool{}
	for _, g := range cat.OfKind(catalog.KindDeviceGroup) {
		if p.Sees(g.Namespace) {
			groups[g.Name] = true
		}
	}
	d.Groups = sortedKeys(groups)
	models, builds := map[string]bool{}, map[string]bool{}
	for _, hw := range cat.OfKind(catalog.KindHardwareModel) {
		var s catalog.HardwareModelSpec
		if hw.DecodeSpec(&s) == nil && s.Model != "" {
			models[s.Model] = true
		}
	}
	for _, o := range cat.OfKind(catalog.KindOSRelease) {
		var s catalog.OSReleaseSpec
		if o.DecodeSpec(&s) == nil && s.Build != "" {
			builds[s.Build] = true
		}
	}
	d.Models, d.Builds = sortedKeys(models), sortedKeys(builds)
	slices.Sort(d.Members)
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// deviceData is one device's page.
type deviceData struct {
	Device  *store.Device
	State   string
	Desired *desired.State
	Items   []compile.Explanation
	// Latest is the latest report resource by resource, when the history holds it.
	Latest      []shownResource
	LatestKnown bool
	History     []store.StoredReport
	// Slider looks back at the device, when the console has its history.
	Slider *slider
}

type shownResource struct {
	ID, Outcome, Reason string
	Refs                []string
}

func (c *Console) device(w http.ResponseWriter, r *http.Request) {
	p := auth.FromContext(r.Context())
	id := r.PathValue("id")
	dev, err := c.opt.Devices.Device(r.Context(), id, c.staleBefore())
	// A device of a member the reader does not see does not exist for them.
	if errors.Is(err, store.ErrNotFound) || err == nil && !p.Sees(dev.Member) {
		c.fail(w, r, http.StatusNotFound, "no such device", nil)
		return
	}
	if err != nil {
		c.fail(w, r, http.StatusServiceUnavailable, "the device store is unavailable", err)
		return
	}
	d := deviceData{Device: dev, State: consoleState(dev), Desired: c.opt.States.DesiredOf(dev.ID)}
	if d.Desired != nil {
		d.Items = compile.Explain(d.Desired)
	}
	if d.History, err = c.opt.Devices.Reports(r.Context(), dev.ID, 10); err != nil {
		c.fail(w, r, http.StatusServiceUnavailable, "the device store is unavailable", err)
		return
	}
	d.Latest, d.LatestKnown = latest(dev, d.History, c.opt.States.StatesByHash())
	if c.opt.History != nil {
		now := c.opt.Now()
		d.Slider = newSlider(dev.ID, dev.EnrolledAt, now, now, nil)
	}
	c.render(w, r, "device", "Device "+dev.Facts.Hostname, d)
}

// latest tells the device's latest report resource by resource: the history keeps the
// resources that did not end unchanged, so the rest of the state it applied were unchanged.
func latest(dev *store.Device, hist []store.StoredReport, states map[string]*desired.State) ([]shownResource, bool) {
	lr := dev.LastReport
	if lr == nil {
		return nil, false
	}
	var kept *store.StoredReport
	if len(hist) > 0 && hist[0].At.Equal(lr.At) {
		kept = &hist[0]
	}
	var out []shownResource
	seen := map[string]bool{}
	if kept != nil {
		for _, rr := range kept.Resources {
			out = append(out, shownResource{ID: rr.ID, Outcome: rr.Outcome, Reason: rr.Reason, Refs: rr.Refs})
			seen[rr.ID] = true
		}
	}
	st := states[lr.AppliedHash]
	if st == nil {
		return out, kept != nil || lr.Counts.Unchanged == 0
	}
	for _, res := range st.Resources {
		if !seen[res.ID] {
			out = append(out, shownResource{ID: res.ID, Outcome: desired.Unchanged, Refs: res.Refs})
		}
	}
	rank := map[string]int{desired.Failed: 0, desired.Drifted: 1, desired.Skipped: 2, desired.Corrected: 3, desired.Unchanged: 4}
	slices.SortStableFunc(out, func(a, b shownResource) int {
		return cmp.Or(cmp.Compare(rank[a.Outcome], rank[b.Outcome]), strings.Compare(a.ID, b.ID))
	})
	return out, true
}

func (c *Console) findings(w http.ResponseWriter, r *http.Request) {
	st := c.opt.Daemon.Status()
	d := struct {
		Status   *reconcile.Status
		Findings []finding.Finding
		Rules    []ruleGroup
	}{Status: st}
	if st.Report != nil {
		d.Findings = st.Report.Findings
	}
	if c.opt.Handbook != nil {
		d.Rules = groupRules(c.opt.Handbook.Rules())
	}
	c.render(w, r, "findings", "Findings and policies", d)
}

type ruleGroup struct {
	Principle string
	Rules     []finding.Rule
}

func groupRules(rules []finding.Rule) []ruleGroup {
	by := map[string][]finding.Rule{}
	for _, ru := range rules {
		by[ru.Principle] = append(by[ru.Principle], ru)
	}
	var out []ruleGroup
	for _, p := range sortedKeys(mapSet(by)) {
		rs := by[p]
		slices.SortFunc(rs, func(a, b finding.Rule) int { return strings.Compare(a.ID, b.ID) })
		name := p
		if name == "" {
			name = "Built-in checks"
		}
		out = append(out, ruleGroup{Principle: name, Rules: rs})
	}
	return out
}

func mapSet[V any](m map[string]V) map[string]bool {
	out := make(map[string]bool, len(m))
	for k := range m {
		out[k] = true
	}
	return out
}
