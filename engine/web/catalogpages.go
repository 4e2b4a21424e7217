package web

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"samverk.io/samverk/engine/auth"
	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/compile"
	"samverk.io/samverk/engine/desired"
	"samverk.io/samverk/engine/pkgversion"
	"samverk.io/samverk/engine/store"
)

func (c *Console) staleBefore() time.Time { return c.opt.Now().Add(-c.opt.StaleAfter) }

// served returns the catalog served, or answers that there is none yet.
func (c *Console) served(w http.ResponseWriter, r *http.Request) *catalog.Catalog {
	cur := c.opt.Daemon.Current()
	if cur == nil || cur.Catalog == nil {
		c.fail(w, r, http.StatusServiceUnavailable, "no catalog revision is published yet", nil)
		return nil
	}
	return cur.Catalog
}

type certData struct {
	Releases []osColumn
	Rows     []certRow
	Counted  time.Time
}

type osColumn struct {
	Name, Family, Version, Build string
}

type certRow struct {
	Name, Vendor, Model, FormFactor string
	Cells                           []certCell
}

type certCell struct {
	Release                                string
	Status, Member, Date, Evidence, Reason string
	Running                                int
	// Devices of the model told to upgrade to the release: waiting (not started), upgrading,
	// done (their upgrade reported done) and failed (failed or rolled back).
	Waiting, Upgrading, Done, Failed int
}

func (c *Console) certification(w http.ResponseWriter, r *http.Request) {
	cat := c.served(w, r)
	if cat == nil {
		return
	}
	members := visible(auth.FromContext(r.Context()))
	snap, err := c.counts.get(r.Context())
	if err != nil {
		c.fail(w, r, http.StatusServiceUnavailable, "the device store is unavailable", err)
		return
	}
	d := certData{Counted: snap.At}
	byBuild := map[string]string{}
	for _, doc := range cat.OfKind(catalog.KindOSRelease) {
		var s catalog.OSReleaseSpec
		if doc.DecodeSpec(&s) != nil {
			continue
		}
		d.Releases = append(d.Releases, osColumn{Name: doc.Name, Family: s.Family, Version: s.Version, Build: s.Build})
	}
	slices.SortFunc(d.Releases, func(a, b osColumn) int {
		if a.Family != b.Family {
			return strings.Compare(a.Family, b.Family)
		}
		return pkgversion.Compare(a.Version, b.Version)
	})
	for _, rel := range d.Releases {
		if _, ok := byBuild[rel.Build]; !ok {
			byBuild[rel.Build] = rel.Name
		}
	}
	type key struct{ hw, release string }
	running, waiting, upgrading, done, failed := map[key]int{}, map[key]int{}, map[key]int{}, map[key]int{}, map[key]int{}
	hwByFacts := map[[2]string]string{}
	var rows []certRow
	for _, doc := range cat.OfKind(catalog.KindHardwareModel) {
		var s catalog.HardwareModelSpec
		if doc.DecodeSpec(&s) != nil {
			continue
		}
		hwByFacts[fold(s.Vendor, s.Model)] = doc.Name
		row := certRow{Name: doc.Name, Vendor: s.Vendor, Model: s.Model, FormFactor: s.FormFactor}
		for _, rel := range d.Releases {
			cell := certCell{Release: rel.Name}
			for _, ce := range s.Certifications {
				if ce.OSRelease == rel.Name {
					cell.Status, cell.Member, cell.Date, cell.Evidence, cell.Reason = ce.Status, ce.Member, ce.Date, ce.Evidence, ce.Reason
				}
			}
			row.Cells = append(row.Cells, cell)
		}
		rows = append(rows, row)
	}
	states := c.opt.States.StatesByHash()
	for _, cs := range snap.census {
		if !sees(members, cs.Member) {
			continue
		}
		hw, ok := hwByFacts[fold(cs.Vendor, cs.Model)]
		if !ok {
			continue
		}
		if rel, ok := byBuild[cs.OSBuild]; ok {
			running[key{hw, rel}] += cs.Devices
		}
		if st := states[cs.ServedHash]; st != nil && st.OS != nil && st.OS.Action == compile.ActionUpgrade {
			k := key{hw, st.OS.Release}
			switch cs.State {
			case store.OSUpgrading:
				upgrading[k] += cs.Devices
			case store.OSFailed:
				failed[k] += cs.Devices
			case store.OSPending:
				waiting[k] += cs.Devices
			}
		}
	}
	for _, dn := range snap.done {
		if !sees(members, dn.Member) {
			continue
		}
		if hw, ok := hwByFacts[fold(dn.Vendor, dn.Model)]; ok {
			done[key{hw, dn.Release}] += dn.Devices
		}
	}
	for i := range rows {
		for j := range rows[i].Cells {
			k := key{rows[i].Name, rows[i].Cells[j].Release}
			c := &rows[i].Cells[j]
			c.Running, c.Waiting, c.Upgrading, c.Done, c.Failed = running[k], waiting[k], upgrading[k], done[k], failed[k]
		}
	}
	slices.SortFunc(rows, func(a, b certRow) int { return strings.Compare(a.Name, b.Name) })
	d.Rows = rows
	c.render(w, r, "certification", "Certification matrix", d)
}

func fold(vendor, model string) [2]string {
	return [2]string{strings.ToLower(strings.TrimSpace(vendor)), strings.ToLower(strings.TrimSpace(model))}
}

type packagesData struct {
	Stages   []string
	Rings    []string
	Products []productRow
}

type productRow struct {
	Product, DisplayName, Vendor string
	Columns                      [][]packageCard
	// Rings says which version each ring takes, by lifecycle stage alone (a device also needs
	// its OS among the version's supported releases).
	Rings []ringPick
}

type packageCard struct {
	Name, Version string
	OSReleases    []string
	Records       []catalog.TestRecord
}

type ringPick struct{ Ring, Version string }

func (c *Console) packages(w http.ResponseWriter, r *http.Request) {
	cat := c.served(w, r)
	if cat == nil {
		return
	}
	stages := []string{catalog.StagePackaging, catalog.StageInfraTest, catalog.StageUserTest, catalog.StageApproved,
		catalog.StageDeprecated, catalog.StageRetired}
	rings := []string{catalog.RingPilot, catalog.RingEarly, catalog.RingBroad}
	d := packagesData{Stages: stages, Rings: rings}
	type version struct {
		card  packageCard
		stage string
	}
	byProduct := map[string][]version{}
	info := map[string]catalog.PackageSpec{}
	for _, doc := range cat.OfKind(catalog.KindPackage) {
		var s catalog.PackageSpec
		if doc.DecodeSpec(&s) != nil {
			continue
		}
		byProduct[s.Product] = append(byProduct[s.Product], version{
			card:  packageCard{Name: doc.Name, Version: s.Version, OSReleases: s.OSReleases, Records: s.Lifecycle.Records},
			stage: s.Lifecycle.Stage,
		})
		if _, ok := info[s.Product]; !ok || s.DisplayName != "" {
			info[s.Product] = s
		}
	}
	for _, product := range sortedKeys(mapSet(byProduct)) {
		vs := byProduct[product]
		slices.SortFunc(vs, func(a, b version) int { return -pkgversion.Compare(a.card.Version, b.card.Version) })
		row := productRow{Product: product, DisplayName: info[product].DisplayName, Vendor: info[product].Vendor,
			Columns: make([][]packageCard, len(stages))}
		for _, v := range vs {
			if i := slices.Index(stages, v.stage); i >= 0 {
				row.Columns[i] = append(row.Columns[i], v.card)
			}
		}
		for _, ring := range rings {
			pick := ringPick{Ring: ring}
			for _, v := range vs { // highest first
				if compile.Accepts(ring, v.stage) {
					pick.Version = v.card.Version
					break
				}
			}
			row.Rings = append(row.Rings, pick)
		}
		d.Products = append(d.Products, row)
	}
	c.render(w, r, "packages", "Package lifecycle", d)
}

type baselinesData struct {
	Baselines []baselineRow
	Counted   time.Time
}

type baselineRow struct {
	Name, Namespace, Description string
	OSReleases, Extends          []string
	Settings                     []settingRow
}

type settingRow struct {
	ID, Title, Type, Target      string
	Refs                         []catalog.GuidanceRef
	Applies, Comply, Drift, Fail int
}

func (c *Console) baselines(w http.ResponseWriter, r *http.Request) {
	cat := c.served(w, r)
	if cat == nil {
		return
	}
	p := auth.FromContext(r.Context())
	members := visible(p)
	snap, err := c.counts.get(r.Context())
	if err != nil {
		c.fail(w, r, http.StatusServiceUnavailable, "the device store is unavailable", err)
		return
	}
	// Devices that applied the state they were served, by resource id of that state.
	applies := map[string]int{}
	states := c.opt.States.StatesByHash()
	for _, cs := range snap.census {
		if !sees(members, cs.Member) {
			continue
		}
		switch cs.State {
		case store.Compliant, store.Drifted, store.Failed:
		default:
			continue
		}
		st := states[cs.ServedHash]
		if st == nil {
			continue
		}
		for _, res := range st.Resources {
			if res.Type != desired.TypePackage {
				applies[res.ID] += cs.Devices
			}
		}
	}
	bad := map[string]outcomeCount{}
	for m, byID := range snap.outcomes {
		if !sees(members, m) {
			continue
		}
		for id, n := range byID {
			b := bad[id]
			b.Failed += n.Failed
			b.Drifted += n.Drifted
			bad[id] = b
		}
	}
	d := baselinesData{Counted: snap.At}
	for _, doc := range cat.OfKind(catalog.KindBaseline) {
		if doc.Namespace != "" && !p.Sees(doc.Namespace) {
			continue
		}
		var s catalog.BaselineSpec
		if doc.DecodeSpec(&s) != nil {
			continue
		}
		row := baselineRow{Name: doc.Name, Namespace: doc.Namespace, Description: s.Description, OSReleases: s.OSReleases, Extends: s.Extends}
		for _, set := range s.Settings {
			id := "setting/" + set.ID
			sr := settingRow{ID: set.ID, Title: set.Title, Type: set.Type, Target: set.Target, Refs: set.References,
				Applies: applies[id], Fail: bad[id].Failed, Drift: bad[id].Drifted}
			sr.Comply = max(sr.Applies-sr.Fail-sr.Drift, 0)
			row.Settings = append(row.Settings, sr)
		}
		d.Baselines = append(d.Baselines, row)
	}
	slices.SortFunc(d.Baselines, func(a, b baselineRow) int {
		return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
	})
	c.render(w, r, "baselines", "Baseline compliance", d)
}
