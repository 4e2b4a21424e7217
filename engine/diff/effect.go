package diff

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"sync"

	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/compile"
	"samverk.io/samverk/engine/desired"
	"samverk.io/samverk/engine/pkgversion"
)

// InventoryDevice is one device of an inventory: who owns it and what it reported.
type InventoryDevice struct {
	ID     string        `json:"id"`
	Member string        `json:"member"`
	Facts  desired.Facts `json:"facts"`
}

// ParseInventory reads an inventory: a JSON list of devices, or an object with a "devices"
// list (the shape `GET /api/v1/devices` answers with).
func ParseInventory(b []byte) ([]InventoryDevice, error) {
	var list []InventoryDevice
	if err := json.Unmarshal(b, &list); err == nil {
		return list, nil
	}
	var wrapped struct {
		Devices []InventoryDevice `json:"devices"`
	}
	if err := json.Unmarshal(b, &wrapped); err != nil {
		return nil, fmt.Errorf("inventory: %w", err)
	}
	return wrapped.Devices, nil
}

// Kinds of change to a device's desired state.
const (
	Install   = "install"
	Upgrade   = "upgrade"
	Downgrade = "downgrade"
	Remove    = "remove"
	Setting   = "setting"
	OSTarget  = "os-target"
	Blocked   = "blocked"   // the OS target is now withheld (e.g. certification withdrawn)
	Unblocked = "unblocked" // the OS target is now allowed
	Condition = "condition" // a new condition, e.g. no acceptable version
)

// Change is one difference in desired state, counted over the devices (or profiles) it reaches.
type Change struct {
	Kind    string `json:"kind"`
	Subject string `json:"subject"` // product, setting id, or OS release
	From    string `json:"from,omitempty"`
	To      string `json:"to,omitempty"`
	Count   int    `json:"count"`
}

// GroupEffect is what a change does to one device group.
type GroupEffect struct {
	Group   string   `json:"group"` // "" for devices no group selects
	Ring    string   `json:"ring,omitempty"`
	Count   int      `json:"count"` // devices (or profiles) of the group whose state changes
	Changes []Change `json:"changes"`
}

// MemberEffect is what a change does to one member.
type MemberEffect struct {
	Member string        `json:"member"`
	Count  int           `json:"count"`
	Groups []GroupEffect `json:"groups"`
}

// Effect is the effect of a catalog change on desired state. Counts are devices when an
// inventory was given, else profiles (one per group, hardware model and OS release).
type Effect struct {
	Unit     string         `json:"unit"` // "devices" or "profiles"
	Affected int            `json:"affected"`
	Total    int            `json:"total"`
	Members  []MemberEffect `json:"members"`
}

// Effects compiles every device of the inventory against base and head and tells what
// changes. Without an inventory it uses the profiles the head and base catalogs imply.
func Effects(base, head *catalog.Catalog, inventory []InventoryDevice) *Effect {
	bc, hc := compile.New(base, "base"), compile.New(head, "head")
	eff := &Effect{Unit: "devices", Members: []MemberEffect{}}
	devices := make([]compile.Device, 0, len(inventory))
	for _, d := range inventory {
		devices = append(devices, compile.FromFacts(d.Member, d.Facts))
	}
	if len(inventory) == 0 {
		eff.Unit = "profiles"
		devices = append(impliedDevices(base), impliedDevices(head)...)
		devices = uniqueDevices(hc, bc, devices)
	}
	eff.Total = len(devices)

	// Devices sharing a (base state, head state) pair share their changes: compare each pair once.
	type pair struct {
		base, head *desired.State
		member     string
		group      string
		ring       string
	}
	// Compilers are safe for concurrent use: split the fleet over the cores.
	workers := runtime.GOMAXPROCS(0)
	partial := make([]map[pair]int, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			counts := map[pair]int{}
			for i := w; i < len(devices); i += workers {
				dev := devices[i]
				bs, _ := bc.Desired(dev)
				hs, hp := hc.Desired(dev)
				if bs.Hash == hs.Hash {
					continue
				}
				group, ring := hp.Group, hp.Ring
				if group == "" {
					group, ring = bs.Group, bs.Ring
				}
				counts[pair{bs, hs, dev.Member, group, ring}]++
			}
			partial[w] = counts
		})
	}
	wg.Wait()
	counts := map[pair]int{}
	for _, m := range partial {
		for p, n := range m {
			counts[p] += n
		}
	}

	type groupKey struct{ member, group, ring string }
	groups := map[groupKey]*GroupEffect{}
	changeIndex := map[groupKey]map[Change]int{}
	for p, n := range counts {
		changes := stateChanges(p.base, p.head)
		if len(changes) == 0 {
			continue // only explanations differ (e.g. why a version is chosen), nothing a device does
		}
		k := groupKey{p.member, p.group, p.ring}
		g := groups[k]
		if g == nil {
			g = &GroupEffect{Group: p.group, Ring: p.ring}
			groups[k] = g
			changeIndex[k] = map[Change]int{}
		}
		g.Count += n
		for _, c := range changes {
			changeIndex[k][c] += n
		}
	}
	members := map[string]*MemberEffect{}
	for k, g := range groups {
		for c, n := range changeIndex[k] {
			c.Count = n
			g.Changes = append(g.Changes, c)
		}
		slices.SortFunc(g.Changes, func(a, b Change) int {
			return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Subject, b.Subject), cmp.Compare(a.From, b.From), cmp.Compare(a.To, b.To))
		})
		m := members[k.member]
		if m == nil {
			m = &MemberEffect{Member: k.member}
			members[k.member] = m
		}
		m.Count += g.Count
		m.Groups = append(m.Groups, *g)
		eff.Affected += g.Count
	}
	for _, name := range slices.Sorted(maps.Keys(members)) {
		m := members[name]
		slices.SortFunc(m.Groups, func(a, b GroupEffect) int { return cmp.Compare(a.Group, b.Group) })
		eff.Members = append(eff.Members, *m)
	}
	return eff
}

// impliedDevices stands in for an inventory: for every device group, one device per hardware
// model the group selects (or, when it names none, per model certified for its target) on the
// group's target OS and on every OS the model is certified for.
func impliedDevices(cat *catalog.Catalog) []compile.Device {
	type hw struct {
		vendor, model string
		certified     []string
	}
	models := map[string]hw{}
	osBuild := map[string][2]string{}
	for _, d := range cat.OfKind(catalog.KindOSRelease) {
		var s catalog.OSReleaseSpec
		if d.DecodeSpec(&s) == nil {
			osBuild[d.Name] = [2]string{s.Family, s.Build}
		}
	}
	for _, d := range cat.OfKind(catalog.KindHardwareModel) {
		var s catalog.HardwareModelSpec
		if d.DecodeSpec(&s) != nil {
			continue
		}
		h := hw{vendor: s.Vendor, model: s.Model}
		for _, c := range s.Certifications {
			h.certified = append(h.certified, c.OSRelease)
		}
		models[d.Name] = h
	}
	var out []compile.Device
	for _, d := range cat.OfKind(catalog.KindDeviceGroup) {
		var s catalog.DeviceGroupSpec
		if d.DecodeSpec(&s) != nil {
			continue
		}
		names := s.Selector.HardwareModels
		if len(names) == 0 {
			for name, h := range models {
				if slices.Contains(h.certified, s.OSRelease) {
					names = append(names, name)
				}
			}
			slices.Sort(names)
		}
		for _, name := range names {
			h, ok := models[name]
			if !ok {
				continue
			}
			releases := append([]string{s.OSRelease}, h.certified...)
			for _, rel := range dedupeStrings(releases) {
				fb, ok := osBuild[rel]
				if !ok {
					continue
				}
				out = append(out, compile.Device{Member: d.Namespace, Labels: s.Selector.Labels, Vendor: h.vendor, Model: h.model, OSFamily: fb[0], OSBuild: fb[1]})
			}
		}
	}
	return out
}

// uniqueDevices keeps one device per pair of profiles, so each profile counts once.
func uniqueDevices(hc, bc *compile.Compiler, devs []compile.Device) []compile.Device {
	seen := map[[2]string]bool{}
	out := devs[:0:0]
	for _, d := range devs {
		k := [2]string{bc.ProfileOf(d).Key(), hc.ProfileOf(d).Key()}
		if !seen[k] {
			seen[k] = true
			out = append(out, d)
		}
	}
	return out
}

func dedupeStrings(s []string) []string {
	out := s[:0:0]
	for _, x := range s {
		if x != "" && !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

// stateChanges lists what differs between two desired states of the same device.
func stateChanges(base, head *desired.State) []Change {
	var out []Change
	// Software: compare by product, present versions only; removals of old versions are the
	// consequence of an upgrade and are not listed twice.
	bp, hp := presentPackages(base), presentPackages(head)
	for _, product := range slices.Sorted(maps.Keys(hp)) {
		to := hp[product]
		from, had := bp[product]
		switch {
		case !had:
			out = append(out, Change{Kind: Install, Subject: product, To: to})
		case from != to && pkgversion.Compare(to, from) > 0:
			out = append(out, Change{Kind: Upgrade, Subject: product, From: from, To: to})
		case from != to:
			out = append(out, Change{Kind: Downgrade, Subject: product, From: from, To: to})
		}
	}
	for _, product := range slices.Sorted(maps.Keys(bp)) {
		if _, kept := hp[product]; !kept {
			out = append(out, Change{Kind: Remove, Subject: product, From: bp[product]})
		}
	}
	// Versions newly to be removed (retired or superseded), unless an upgrade or downgrade
	// above already moves the device off that version.
	ba, ha := absentPackages(base), absentPackages(head)
	for _, k := range slices.Sorted(maps.Keys(ha)) {
		product, version := ha[k][0], ha[k][1]
		if _, was := ba[k]; was || bp[product] == version && hp[product] != version {
			continue
		}
		out = append(out, Change{Kind: Remove, Subject: product, From: version})
	}
	// Settings: any difference in a setting resource (added, removed or changed value).
	bs, hs := settings(base), settings(head)
	for _, id := range slices.Sorted(maps.Keys(hs)) {
		if old, ok := bs[id]; !ok {
			out = append(out, Change{Kind: Setting, Subject: id, To: hs[id]})
		} else if old != hs[id] {
			out = append(out, Change{Kind: Setting, Subject: id, From: old, To: hs[id]})
		}
	}
	for _, id := range slices.Sorted(maps.Keys(bs)) {
		if _, ok := hs[id]; !ok {
			out = append(out, Change{Kind: Setting, Subject: id, From: bs[id]})
		}
	}
	// OS target.
	bt, ht := osTarget(base), osTarget(head)
	up := compile.ActionUpgrade
	switch {
	case bt == ht:
	case bt.action == up && ht.action == up:
		out = append(out, Change{Kind: OSTarget, Subject: "os", From: bt.release, To: ht.release})
	case bt.action == up:
		out = append(out, Change{Kind: Blocked, Subject: bt.release, To: ht.reason})
	case ht.action == up && bt.reason != "":
		out = append(out, Change{Kind: Unblocked, Subject: ht.release, From: bt.reason})
	default:
		out = append(out, Change{Kind: OSTarget, Subject: "os", From: bt.String(), To: ht.String()})
	}
	// Conditions that appear, but for those about the OS target, which the lines above tell.
	had := map[string]bool{}
	for _, c := range base.Conditions {
		had[c.Type+"\x00"+c.Message] = true
	}
	for _, c := range head.Conditions {
		if osCondition(c.Type) {
			continue
		}
		if !had[c.Type+"\x00"+c.Message] {
			out = append(out, Change{Kind: Condition, Subject: c.Type, To: c.Message})
		}
	}
	return out
}

func osCondition(typ string) bool {
	switch typ {
	case compile.CondNotCertified, compile.CondUnknownHardware, compile.CondAheadOfTarget:
		return true
	}
	return false
}

func presentPackages(st *desired.State) map[string]string {
	m := map[string]string{}
	for _, r := range st.Resources {
		if r.Type == desired.TypePackage && r.Ensure == "present" && r.Package != nil {
			m[r.Package.Product] = r.Package.Version
		}
	}
	return m
}

// absentPackages are the versions a state removes, keyed by resource id.
func absentPackages(st *desired.State) map[string][2]string {
	m := map[string][2]string{}
	for _, r := range st.Resources {
		if r.Type == desired.TypePackage && r.Ensure == "absent" && r.Package != nil {
			m[r.ID] = [2]string{r.Package.Product, r.Package.Version}
		}
	}
	return m
}

// settings maps each setting resource to a short form of its wanted value.
func settings(st *desired.State) map[string]string {
	m := map[string]string{}
	for _, r := range st.Resources {
		switch {
		case r.Registry != nil:
			m[r.ID] = fmt.Sprint(r.Registry.Value)
		case r.File != nil:
			m[r.ID] = shortHash(r.File.Content + "\x00" + r.File.Mode)
		case r.Command != nil:
			m[r.ID] = shortHash(r.Command.Check + "\x00" + r.Command.Set)
		case r.Service != nil:
			m[r.ID] = r.Service.State
		}
	}
	return m
}

type target struct{ release, action, reason string }

func (t target) String() string {
	if t.release == "" {
		return "none"
	}
	return t.release + " (" + t.action + ")"
}

func osTarget(st *desired.State) target {
	if st.OS == nil {
		return target{}
	}
	return target{st.OS.Release, st.OS.Action, st.OS.Reason}
}

func shortHash(s string) string {
	var h uint64 = 14695981039346656037
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return fmt.Sprintf("content %08x", uint32(h))
}
