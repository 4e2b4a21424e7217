// Package compile turns a catalog and a device's facts into that device's desired state,
// computing each distinct profile once and recomputing only what a new commit touches.
package compile

import (
	"cmp"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/desired"
	"samverk.io/samverk/engine/finding"
	"samverk.io/samverk/engine/pkgversion"
)

// Condition types a State may carry. The condition's Reason narrows the type down (for
// NotCertified, the certification status); its Message is for people.
const (
	CondNoGroup               = "NoGroup"
	CondUnknownHardware       = "UnknownHardware"
	CondNotCertified          = "NotCertified"
	CondAheadOfTarget         = "AheadOfTarget"
	CondUnknownOSRelease      = "UnknownOSRelease"
	CondNoAcceptableVersion   = "NoAcceptableVersion"
	CondDependencyUnsatisfied = "DependencyUnsatisfied"
	CondDependencyCycle       = "DependencyCycle"
	CondSupersedeConflict     = "SupersedeConflict"
	CondUnresolvedReference   = "UnresolvedReference"
	CondBaselineCycle         = "BaselineCycle"
	CondInvalidSetting        = "InvalidSetting"
	// CondNoUpgradePath: the hardware is certified for the target, but the target OSRelease
	// has no upgrade path from the device's release; the agent cannot act.
	CondNoUpgradePath = "NoUpgradePath"
)

// OS actions and the reasons for staying.
const (
	ActionStay    = "stay"
	ActionUpgrade = "upgrade"
)

// Modes of a State.
const (
	ModeEnforce = "enforce"
	ModeDetect  = "detect"
)

const certified = "certified"

// Ensure values.
const (
	present = "present"
	absent  = "absent"
)

// outcome is everything that decides a State. Devices of many profiles share one outcome:
// hardware models matter only through the OS decision they lead to.
type outcome struct {
	member string
	group  string // empty: no group selects the device
	// current is the OS release the device runs ("" when unknown).
	current string
	os      osDecision
	// driver is the driver pack product of the device's hardware model, when the model is
	// certified for the release the device will run, and driverModel that model.
	driver, driverModel string
	// extra is the device's own products on top of its group's (Overlay.key), "" for none.
	extra string
}

// osDecision is the OS part of an outcome.
type osDecision struct {
	action string // "" when the group has no target
	reason string // a condition type, or "" when nothing needs saying
	target string
	status string // the certification status when not certified
	// path is the index of the upgrade path taken, -1 for none (action upgrade only).
	path int
}

// Compile compiles the desired state of one device afresh. Only the parts States share (see
// Stats.Bodies) are remembered, in the index; a Compiler also remembers whole States.
//
// The State is built as DESIGN's "Desired state of one device" says:
//
//   - Group: the first of the member's DeviceGroups, by priority and then name, whose
//     selector matches. None matching is a NoGroup condition and a State without resources.
//   - OS: the group's target when the device's HardwareModel has a "certified" certification
//     for it (action "upgrade"); else action "stay" with a reason and a condition of the same
//     name (NotCertified, UnknownHardware, AheadOfTarget: never a downgrade). No target, no OS.
//   - Settings: the group's baselines (the member's own first, then shared) for the OS
//     release the device will run, extends resolved depth-first, the extending baseline's
//     setting of an id replacing the base's. Resource "setting/<setting id>".
//   - Software: per product the group or its services name, the highest version whose stage
//     the ring accepts and that supports the OS; then dependencies, the same way, honouring
//     minVersion (a product whose dependency fails is not installed: DependencyUnsatisfied).
//     The version to have is resource "package/<product>"; versions to remove (superseded by
//     a chosen version, or retired) are "package/<product>@<version>", each after the
//     version that replaces it.
//   - Order: each resource after those in its DependsOn, otherwise by id.
//   - Hash: see HashOf.
func (ix *Index) Compile(dev Device, revision string) (*desired.State, Profile) {
	p, g := ix.profileOf(dev)
	st, _, _ := ix.compileOutcome(ix.outcomeOf(p, g))
	st.Revision = revision
	return st, p
}

// outcomeOf decides the OS for a profile.
func (ix *Index) outcomeOf(p Profile, g *group) outcome {
	o := outcome{member: p.Member, current: p.OSRelease}
	if g == nil {
		return o
	}
	o.group = g.ref.Name
	t := g.spec.OSRelease
	if t == "" {
		return o
	}
	o.os.target = t
	o.os.action = ActionStay
	target := ix.osByName[t]
	cur := ix.osByName[p.OSRelease]
	switch {
	case target == nil:
		o.os.reason = CondUnresolvedReference
	case t == p.OSRelease:
		// Already there.
	case cur != nil && strings.EqualFold(cur.spec.Family, target.spec.Family) &&
		pkgversion.Compare(target.spec.Build, cur.spec.Build) < 0:
		// Never a downgrade.
		o.os.reason = CondAheadOfTarget
	case p.HardwareModel == "":
		o.os.reason = CondUnknownHardware
	default:
		status, ok := ix.hwByName[p.HardwareModel].status[t]
		if !ok {
			status = "none"
		}
		if status != certified {
			o.os.reason, o.os.status = CondNotCertified, status
			break
		}
		o.os.action = ActionUpgrade
		// Where the device comes from shows in the State only through the upgrade path it
		// takes: devices on releases that share a path share a State.
		if p := upgradePath(target, cur); p >= 0 {
			o.os.path = p
		} else {
			o.os.path = -1
		}
	}
	o.driver, o.driverModel = ix.driverOf(p.HardwareModel, o)
	return o
}

// driverOf returns the driver pack product of a hardware model, and the model, when the model
// is certified for the release the outcome has the device run.
func (ix *Index) driverOf(model string, o outcome) (string, string) {
	hw := ix.hwByName[model]
	if hw == nil || hw.spec.DriverPackage == "" {
		return "", ""
	}
	runs := o.current
	if o.os.action == ActionUpgrade {
		runs = o.os.target
	}
	if runs == "" || hw.status[runs] != certified {
		return "", ""
	}
	return hw.spec.DriverPackage, hw.name
}

// upgradePath is the index of the first path of target's upgrade that starts from cur (nil:
// the device's release is unknown), or -1.
func upgradePath(target, cur *osRelease) int {
	if target.spec.Upgrade == nil {
		return -1
	}
	for i, p := range target.spec.Upgrade.Paths {
		if cur != nil && slices.Contains(p.From, cur.name) {
			return i
		}
		if p.FromFamily && (cur == nil || strings.EqualFold(cur.spec.Family, target.spec.Family)) {
			return i
		}
	}
	return -1
}

// dep is one lookup a compilation made: a document by reference (found or not), all the
// versions of a product, or the set of a member's groups. A new catalog in which none of an
// outcome's deps changed yields the same State.
type dep struct {
	kind depKind
	ref  finding.DocRef // depProduct: Name is the product; depMemberGroups: Namespace is the member
}

type depKind uint8

const (
	depDoc depKind = iota
	depProduct
	depMemberGroups
)

// deps lists lookups. A lookup may be listed twice; that costs a comparison, not a mistake.
type deps []dep

func (d *deps) read(kind, ns, name string) {
	*d = append(*d, dep{kind: depDoc, ref: finding.DocRef{Kind: kind, Namespace: ns, Name: name}})
}

// resolve looks a name up in namespace ns and then among shared documents, recording both
// lookups: a document added later in ns would change the answer.
func (d *deps) resolve(ix *Index, kind, ns, name string) finding.DocRef {
	if ns != "" {
		d.read(kind, ns, name)
		ref := finding.DocRef{Kind: kind, Namespace: ns, Name: name}
		if _, ok := ix.docs[ref]; ok {
			return ref
		}
	}
	d.read(kind, "", name)
	return finding.DocRef{Kind: kind, Name: name}
}

// conds collects conditions.
type conds []desired.Condition

func (c *conds) add(typ, reason, format string, args ...any) {
	*c = append(*c, desired.Condition{Type: typ, Reason: reason, Message: fmt.Sprintf(format, args...)})
}

// builder collects the body of a group's State on one OS release: its resources, the
// conditions they raise and the lookups made.
type builder struct {
	ix       *Index
	deps     deps
	conds    conds
	pkgs     []*item
	settings *settingsBody
	sc       *scratch
}

// scratch is the working memory of a body's compilation, none of which the body keeps: a
// commit recompiles thousands of bodies, and allocating (and collecting) it afresh for each
// was a large part of their cost. Slices are kept with their capacity, emptied.
type scratch struct {
	deps       deps
	pkgs       []*item
	roots      []root
	choices    map[string]*choice
	choiceSlab []choice
	ids        []string
	items      []item
	removals   []*item
	order      orderScratch
	buf        []byte
	enc        [][]byte
}

var scratchPool = sync.Pool{New: func() any {
	return &scratch{deps: make(deps, 0, 128), choices: map[string]*choice{}}
}}

// release empties sc, dropping what it points to (the index's documents among others, which
// must not outlive their index through the pool), and returns it to the pool.
func (sc *scratch) release(b *builder) {
	sc.deps = clearSlice(b.deps)
	sc.pkgs = clearSlice(b.pkgs)
	sc.roots = clearSlice(sc.roots)
	clear(sc.choices)
	sc.choiceSlab = clearSlice(sc.choiceSlab)
	sc.ids = clearSlice(sc.ids)
	sc.items = clearSlice(sc.items)
	sc.removals = clearSlice(sc.removals)
	sc.order.out = clearSlice(sc.order.out)
	sc.enc = clearSlice(sc.enc)
	scratchPool.Put(sc)
}

// clearSlice zeroes s and returns it empty, with its capacity.
func clearSlice[T any](s []T) []T {
	clear(s)
	return s[:0]
}

// body is what a group's States on one OS release share: everything but the OS target and
// its condition. It is computed once per index and shared by all the outcomes it serves.
type body struct {
	// resources are the State's Resources, shared by every State of the body. A resource is
	// shared further: with the previous body of the key where it is the same, with every body
	// of the settings for the settings', with the index for a removal.
	resources []*desired.Resource
	// enc is, per package resource (those before the settings' in resources), its JSON, or
	// for a package to install (whose Why names the group) the JSON of its package field.
	// The settings' are settings.enc.
	enc [][]byte
	// sums are the SHA-256 of each package resource's JSON, and pkgDigest the digest of their
	// run (see HashOf).
	sums      []digest
	pkgDigest digest
	conds     []desired.Condition
	// deps are the lookups made for the body; settings holds those made for its settings.
	deps     deps
	settings *settingsBody
}

// find returns the index of the package resource with id in bd, looking at from first; -1
// for none.
func (bd *body) find(id string, from int) int {
	n := len(bd.enc)
	if from < n && bd.resources[from].ID == id {
		return from
	}
	for k := range n {
		if bd.resources[k].ID == id {
			return k
		}
	}
	return -1
}

// sameBytes reports whether a and b hold the very same encodings (documents' encodings are
// read-only, so the same memory is the same content).
func sameBytes(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if len(a[i]) != len(b[i]) || len(a[i]) > 0 && &a[i][0] != &b[i][0] {
			return false
		}
	}
	return true
}

// partial reports whether a body's encoding of r is of its package field only.
func partial(r *desired.Resource) bool { return r.Type == desired.TypePackage && r.Ensure == present }

type bodyKey struct {
	group finding.DocRef
	os    string
	// driver and driverModel: see outcome.
	driver, driverModel string
	// extra: see outcome.
	extra string
}

type bodyEntry struct {
	once sync.Once
	body atomic.Pointer[body]
	// prev is the body of the same key in the previous index, which a change touched: the
	// packages the change left as they were are taken from it. Only once touches it.
	prev *body
	// patchable: prev's settings are the new index's, so the index's slots may patch prev.
	patchable bool
}

var noResources = []*desired.Resource{}

// compileOutcome builds the State of an outcome. It returns the lookups it made itself, and
// the body it shares with other outcomes (nil for none), which has its own.
func (ix *Index) compileOutcome(o outcome) (*desired.State, deps, *body) {
	st := &desired.State{Member: o.member, Mode: ModeEnforce, Resources: noResources}
	var own deps
	var cs conds
	var bd *body
	if o.group == "" {
		own = append(own, dep{kind: depMemberGroups, ref: finding.DocRef{Namespace: o.member}})
		if len(ix.groups[o.member]) == 0 {
			cs.add(CondNoGroup, "NoDeviceGroups", "member %s has no device groups", o.member)
		} else {
			cs.add(CondNoGroup, "NoSelectorMatched", "no device group of member %s selects this device by its labels and hardware model", o.member)
		}
		if o.extra != "" {
			// Without a group there is no ring to choose versions by, and nothing is enforced.
			cs.add(CondNoGroup, "OverlayNotDelivered", "the products granted to this device (%s) are not delivered: no device group selects it", describeOverlay(o.extra))
		}
	} else {
		ref := finding.DocRef{Kind: catalog.KindDeviceGroup, Namespace: o.member, Name: o.group}
		own.read(ref.Kind, ref.Namespace, ref.Name)
		g := ix.docs[ref].val.(*group)
		st.Group, st.Ring = g.ref.Name, g.spec.Ring
		if g.spec.Mode != "" {
			st.Mode = g.spec.Mode
		}
		effective := ix.operatingSystem(o, st, &own, &cs)
		if effective == "" {
			cs.add(CondUnknownOSRelease, "NoOSRelease",
				"the device's OS family and build match no OSRelease, so no baseline or package can be chosen for it")
		} else {
			bd = ix.bodyFor(g, effective, o.driver, o.driverModel, o.extra)
			st.Resources = bd.resources
			cs = append(cs, bd.conds...)
		}
	}
	st.Conditions = dedupe(cs)

	st.Hash = hashState(st, bd)
	return st, own, bd
}

// bodyFor returns the body of group g's States on the OS release os.
func (ix *Index) bodyFor(g *group, os, driver, driverModel, extra string) *body {
	k := bodyKey{g.ref, os, driver, driverModel, extra}
	ix.bodyMu.Lock()
	e := ix.bodyMemo[k]
	if e == nil {
		e = &bodyEntry{}
		ix.bodyMemo[k] = e
	}
	ix.bodyMu.Unlock()
	e.once.Do(func() {
		defer func() { e.prev = nil }()
		if e.patchable && ix.slots != nil {
			if bd := ix.slots.patch(g, os, e.prev); bd != nil {
				ix.patched.Add(1)
				e.body.Store(bd)
				return
			}
		}
		e.body.Store(ix.compileBody(g, os, driver, driverModel, extra, e.prev))
	})
	return e.body.Load()
}

// compileBody compiles a body; prev, if not nil, is the body of the same key in the previous
// index, whose package resources are reused where they are the same.
func (ix *Index) compileBody(g *group, os, driver, driverModel, extra string, prev *body) *body {
	ix.bodies.Add(1)
	sc := scratchPool.Get().(*scratch)
	b := &builder{ix: ix, deps: sc.deps, pkgs: sc.pkgs, sc: sc}
	defer sc.release(b)
	b.settings = b.settingsFor(g, os)
	b.conds = append(b.conds, b.settings.conds...)
	b.software(g, os, driver, driverModel, extra)

	// Packages in dependency order; settings, which neither depend nor are depended on, after
	// them: together that is dependency order and then id order ("package/" < "setting/").
	pkgs := sc.order.orderItems(b.pkgs)
	set := b.settings.resources
	bd := &body{conds: b.conds, settings: b.settings,
		resources: make([]*desired.Resource, len(pkgs)+len(set)), enc: sc.enc[:0], sums: make([]digest, len(pkgs))}
	// The lookups and encodings are most often the previous body's: those are shared.
	if prev != nil && slices.Equal(prev.deps, b.deps) {
		bd.deps = prev.deps
	} else {
		bd.deps = slices.Clone(b.deps)
	}
	for _, it := range pkgs {
		if partial(&it.r) {
			bd.enc = append(bd.enc, it.part)
		} else {
			bd.enc = append(bd.enc, it.full)
		}
	}
	if sc.enc = bd.enc; prev != nil && sameBytes(prev.enc, bd.enc) {
		bd.enc = prev.enc
	} else {
		bd.enc = slices.Clone(bd.enc)
	}
	buf := sc.buf
	j := 0                      // where in prev the next resource is likeliest
	var slab []desired.Resource // the packages to install that prev does not have
	for i, it := range pkgs {
		if !partial(&it.r) {
			// A removal is an item of its own, never changed once made.
			bd.resources[i] = &it.r
			bd.sums[i] = it.sum
			continue
		}
		if prev != nil {
			if k := prev.find(it.r.ID, j); k >= 0 && it.same(prev.resources[k]) {
				bd.resources[i], bd.sums[i] = prev.resources[k], prev.sums[k]
				j = k + 1
				continue
			}
		}
		if slab == nil {
			slab = make([]desired.Resource, 0, len(pkgs)-i)
		}
		it.r.Why = it.why()
		slab = append(slab, it.r)
		bd.resources[i] = &slab[len(slab)-1]
		buf = appendResource(buf[:0], &it.r, it.part)
		bd.sums[i] = sha256.Sum256(buf)
	}
	sc.buf, bd.pkgDigest = runDigest(buf, bd.sums)
	copy(bd.resources[len(pkgs):], set)
	return bd
}

// operatingSystem fills in the OS target and returns the OS release the device will run.
func (ix *Index) operatingSystem(o outcome, st *desired.State, d *deps, cs *conds) string {
	var cur *osRelease
	if o.current != "" {
		d.read(catalog.KindOSRelease, "", o.current)
		cur = ix.osByName[o.current]
	}
	if o.os.action == "" {
		return o.current
	}
	d.read(catalog.KindOSRelease, "", o.os.target)
	if o.os.action == ActionUpgrade {
		t := ix.osByName[o.os.target]
		st.OS = &desired.OSTarget{Release: t.name, Build: t.spec.Build, Action: ActionUpgrade}
		if o.os.path < 0 {
			from := "its release"
			if cur != nil {
				from = cur.name
			}
			cs.add(CondNoUpgradePath, "NoUpgradePath",
				"the device's hardware model is certified for %s, but that OSRelease has no upgrade path from %s; nothing is installed", t.name, from)
			return t.name
		}
		st.OS.Upgrade = upgradeOf(t.spec.Upgrade.Paths[o.os.path], cur)
		return t.name
	}
	os := &desired.OSTarget{Action: ActionStay, Reason: o.os.reason}
	if cur != nil {
		os.Release, os.Build = cur.name, cur.spec.Build
	}
	st.OS = os
	switch o.os.reason {
	case CondUnresolvedReference:
		cs.add(CondUnresolvedReference, "OSRelease", "device group %s targets OS release %s, which does not exist", o.group, o.os.target)
	case CondUnknownHardware:
		cs.add(CondUnknownHardware, "NoHardwareModel",
			"no HardwareModel matches the device's vendor and model, so it cannot be moved to %s; it stays on its current OS", o.os.target)
	case CondNotCertified:
		cs.add(CondNotCertified, statusReason(o.os.status),
			"the device's hardware model is not certified for %s (certification: %s); it stays on its current OS", o.os.target, o.os.status)
	case CondAheadOfTarget:
		cs.add(CondAheadOfTarget, "NewerBuild", "the device runs %s, newer than the group's target %s; it stays", o.current, o.os.target)
	}
	return o.current
}

// upgradeOf is the desired form of an upgrade path taken from cur (nil when unknown).
func upgradeOf(p catalog.UpgradePath, cur *osRelease) *desired.OSUpgrade {
	u := &desired.OSUpgrade{FreeDiskMiB: p.FreeDiskMiB, Reboot: p.Reboot, MaxDurationMinutes: p.MaxDurationMinutes,
		RequireAC: p.RequireAC == nil || *p.RequireAC}
	if cur != nil {
		u.From, u.FromBuild = cur.name, cur.spec.Build
	}
	in := p.Installer
	u.Installer = desired.OSInstaller{Type: in.Type, Arguments: in.Arguments, Script: in.Script, Command: in.Command, LogFile: in.LogFile}
	if in.Source != nil {
		u.Installer.URL, u.Installer.SHA256 = in.Source.URL, strings.ToLower(in.Source.SHA256)
	}
	return u
}

// statusReason is a certification status as a condition reason: "testing" -> "Testing".
func statusReason(s string) string {
	if s == "" {
		return ""
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// covers reports whether a baseline or package supports the OS release.
func covers(releases []string, os string) bool { return slices.Contains(releases, os) }

// setting is a setting chosen so far, with where it came from.
type setting struct {
	p *prepared
	// chain is the path of baselines from the group's baseline to the one defining the setting,
	// and why its Why without overrides.
	chain      []string
	why        string
	overridden []string
}

// settingsBody is the settings part of a State: the same for every group of a member that
// names the same baselines, on one OS release, so it is computed once per index and shared.
type settingsBody struct {
	// resources are the settings' resources, by id, as they follow the packages in a State's
	// Resources; each is shared with the settings bodies that have the same setting with the
	// same Why.
	resources []*desired.Resource
	// enc is each one's JSON, shared with the settings bodies that have the same setting with
	// the same Why: a State is encoded from them.
	enc [][]byte
	// digest is the digest of the settings' run (see HashOf).
	digest digest
	conds  conds
	deps   deps
}

// settingsScratch is the working memory of compileSettings, kept for the next settings body.
type settingsScratch struct {
	chosen         map[string]int
	all            []setting
	ids            []string
	merged, onPath map[finding.DocRef]bool
	sums           []digest
	buf            []byte
}

var settingsScratchPool = sync.Pool{New: func() any {
	return &settingsScratch{chosen: map[string]int{}, merged: map[finding.DocRef]bool{}, onPath: map[finding.DocRef]bool{}}
}}

// release empties sc, so that it holds on to no index, and returns it to the pool.
func (sc *settingsScratch) release() {
	clear(sc.chosen)
	clear(sc.merged)
	clear(sc.onPath)
	sc.all = clearSlice(sc.all)
	sc.ids = clearSlice(sc.ids)
	sc.sums = sc.sums[:0]
	settingsScratchPool.Put(sc)
}

// settingsKey identifies a list of baselines (resolved) and an OS release.
type settingsKey struct{ baselines, os string }

type settingsEntry struct {
	once sync.Once
	body atomic.Pointer[settingsBody]
}

// settingsFor returns the settings of the group's baselines for the OS release os. The names
// are resolved here, so that groups of all members naming the same shared baselines share
// one settingsBody; what the baselines extend resolves from their own namespaces.
func (b *builder) settingsFor(g *group, os string) *settingsBody {
	refs := make([]finding.DocRef, len(g.spec.Baselines))
	var key strings.Builder
	for i, name := range g.spec.Baselines {
		refs[i] = b.deps.resolve(b.ix, catalog.KindBaseline, g.ref.Namespace, name)
		key.WriteString(refs[i].Namespace)
		key.WriteByte('/')
		key.WriteString(refs[i].Name)
		key.WriteByte(0)
	}
	ix := b.ix
	k := settingsKey{key.String(), os}
	ix.settingsMu.Lock()
	e := ix.settingsMemo[k]
	if e == nil {
		e = &settingsEntry{}
		ix.settingsMemo[k] = e
	}
	ix.settingsMu.Unlock()
	e.once.Do(func() { e.body.Store(ix.compileSettings(refs, os)) })
	return e.body.Load()
}

// compileSettings merges the settings of baselines for the OS release os: extends
// depth-first, a later setting with the same id replacing an earlier one.
func (ix *Index) compileSettings(baselines []finding.DocRef, os string) *settingsBody {
	sb := &settingsBody{}
	sc := settingsScratchPool.Get().(*settingsScratch)
	defer sc.release()
	// chosen is the setting of each id so far, an index in all.
	chosen, all, ids := sc.chosen, sc.all, sc.ids
	defer func() { sc.all, sc.ids = all, ids }()
	// merged holds the baselines whose settings are in already: a base reached again (two
	// baselines extending it) must not undo the overrides made since.
	merged, onPath := sc.merged, sc.onPath
	var walk func(ref finding.DocRef, path []string)
	walk = func(ref finding.DocRef, path []string) {
		if merged[ref] {
			return
		}
		bl := ix.baselines[ref]
		if bl == nil {
			if len(path) == 0 {
				sb.conds.add(CondUnresolvedReference, "Baseline", "the device group names baseline %s, which does not exist", ref.Name)
			} else {
				sb.conds.add(CondUnresolvedReference, "Baseline", "baseline %s extends %s, which does not exist", path[len(path)-1], ref.Name)
			}
			return
		}
		// A baseline that does not cover the OS contributes nothing, nor does what it extends.
		if !covers(bl.spec.OSReleases, os) {
			return
		}
		merged[ref] = true
		path = append(slices.Clip(path), bl.ref.Name)
		onPath[ref] = true
		defer delete(onPath, ref)
		for _, ext := range bl.spec.Extends {
			r := sb.deps.resolve(ix, catalog.KindBaseline, bl.ref.Namespace, ext)
			if onPath[r] {
				sb.conds.add(CondBaselineCycle, "Extends", "baseline %s extends %s, which extends it in turn; that link is ignored", bl.ref.Name, ext)
				continue
			}
			walk(r, path)
		}
		why := chainWhy(path)
		for i := range bl.settings {
			p := &bl.settings[i]
			s := setting{p: p, chain: path, why: why}
			if j, ok := chosen[p.id]; ok {
				prev := &all[j]
				s.overridden = append(slices.Clip(prev.overridden), prev.chain[len(prev.chain)-1])
			} else {
				ids = append(ids, p.id)
			}
			chosen[p.id] = len(all)
			all = append(all, s)
		}
	}
	for _, ref := range baselines {
		sb.deps.read(ref.Kind, ref.Namespace, ref.Name)
		walk(ref, nil)
	}
	slices.Sort(ids)
	sb.resources = make([]*desired.Resource, 0, len(ids))
	sums := sc.sums[:0]
	defer func() { sc.sums = sums }()
	sb.enc = make([][]byte, 0, len(ids))
	for _, id := range ids {
		s := &all[chosen[id]]
		if s.p.invalid != "" {
			sb.conds.add(CondInvalidSetting, "Setting", "setting %s of baseline %s is left out: %s", id, s.chain[len(s.chain)-1], s.p.invalid)
			continue
		}
		it := item{r: s.p.res, part: s.p.part}
		it.r.Why = settingWhy(s)
		// Most settings have one of a few Whys in every settings body they are in: each is
		// encoded once.
		var r *desired.Resource
		r, it.full, it.sum = s.p.encoded(&it.r)
		sb.resources = append(sb.resources, r)
		sb.enc = append(sb.enc, it.full)
		sums = append(sums, it.sum)
	}
	sc.buf, sb.digest = runDigest(sc.buf, sums)
	return sb
}

// chainWhy: "baseline B", "baseline B (extends A)", "baseline C (extends B, which extends A)".
func chainWhy(chain []string) string {
	if len(chain) == 1 {
		return "baseline " + chain[0]
	}
	var w strings.Builder
	w.WriteString("baseline ")
	w.WriteString(chain[0])
	for i, name := range chain[1:] {
		if i == 0 {
			w.WriteString(" (extends ")
		} else {
			w.WriteString(", which extends ")
		}
		w.WriteString(name)
	}
	w.WriteString(")")
	return w.String()
}

// settingWhy is chainWhy with "; overrides baseline X" for each baseline whose setting of the
// same id this one replaced.
func settingWhy(s *setting) string {
	if len(s.overridden) == 0 {
		return s.why
	}
	w := s.why
	self := s.chain[len(s.chain)-1]
	for i, o := range s.overridden {
		if o != self && !slices.Contains(s.overridden[:i], o) {
			w += "; overrides baseline " + o
		}
	}
	return w
}

// picked is the version of a product a ring takes on an OS release, or why there is none.
type picked struct {
	ring, os            string
	pick                *pkg
	noneReason, noneMsg string
}

// pick returns the highest version of p whose stage ring accepts and that supports os. The
// answer is kept on p: thousands of bodies ask it of the same product, ring and release, of
// which there are a few.
func (p *product) pick(ring, os string) picked {
	p.picksMu.Lock()
	defer p.picksMu.Unlock()
	for i := range p.picks {
		if k := &p.picks[i]; k.ring == ring && k.os == os {
			return *k
		}
	}
	pk := picked{ring: ring, os: os}
	staged := false
	for _, v := range p.versions {
		if !accepts(ring, v.spec.Lifecycle.Stage) {
			continue
		}
		staged = true
		if covers(v.spec.OSReleases, os) {
			pk.pick = v
			break
		}
	}
	switch {
	case pk.pick != nil:
	case staged:
		pk.noneReason, pk.noneMsg = "NoOSSupport", fmt.Sprintf("no version of product %s that ring %s accepts supports %s", p.id, ring, os)
	default:
		pk.noneReason, pk.noneMsg = "NoStageForRing", fmt.Sprintf("no version of product %s is at a stage ring %s accepts (%s)", p.id, ring, ringStages(ring))
	}
	p.picks = append(p.picks, pk)
	return pk
}

// root is a product a group installs for its own sake, and why.
type root struct{ id, why string }

// choice is the version of a product chosen for the outcome, and what became of it.
type choice struct {
	id   string
	prod *product
	pick *pkg
	// none says why there is no pick: a condition reason and message.
	noneReason, noneMsg string
	state               visit
	// failed names what made an installable-looking pick fail (a dependency).
	failed    string
	why       []string
	installed bool
}

type visit uint8

const (
	unvisited visit = iota
	visiting
	ok
	bad
)

// accepts reports whether a ring installs a lifecycle stage.
// Accepts reports whether a device group's ring takes package versions at a lifecycle stage:
// pilot takes user-test and approved, early and broad approved only.
func Accepts(ring, stage string) bool { return accepts(ring, stage) }

func accepts(ring, stage string) bool {
	switch ring {
	case catalog.RingPilot:
		return stage == catalog.StageUserTest || stage == catalog.StageApproved
	default:
		return stage == catalog.StageApproved
	}
}

// software adds the packages of the group's products and services, their dependencies, and the
// superseded and retired versions to remove; then the device's own products (extra, see
// Overlay): those granted to it as the group's are, and a removal of each of those to be
// absent that the group does not install itself.
func (b *builder) software(g *group, os, driver, driverModel, extra string) {
	ring := g.spec.Ring
	granted, ungranted := splitOverlay(extra)
	sc := b.sc
	roots := sc.roots
	for _, p := range g.spec.Products {
		roots = append(roots, root{p, g.namedBy})
	}
	for _, p := range granted {
		roots = append(roots, root{p, whyGranted})
	}
	if driver != "" {
		b.deps.read(catalog.KindHardwareModel, "", driverModel)
		roots = append(roots, root{driver, "driver pack of hardware model " + driverModel + ", certified for " + os})
	}
	for _, s := range g.spec.Services {
		b.deps.read(catalog.KindService, "", s)
		svc := b.ix.services[s]
		if svc == nil {
			b.conds.add(CondUnresolvedReference, "Service", "device group %s names service %s, which does not exist", g.ref.Name, s)
			continue
		}
		for _, p := range svc.spec.Delivers.Products {
			roots = append(roots, root{p, svc.deliveredBy})
		}
	}
	slices.SortStableFunc(roots, func(a, b root) int { return strings.Compare(a.id, b.id) })
	sc.roots = roots

	choices := sc.choices
	// Choices and items come from slabs: one allocation for many. A full slab is not grown,
	// as choices point into it: the next one is bigger, and kept for the next body.
	choiceSlab := sc.choiceSlab
	if cap(choiceSlab) < len(roots)+8 {
		choiceSlab = make([]choice, 0, len(roots)+8)
	}
	defer func() { sc.choiceSlab = choiceSlab }()
	ids := sc.ids[:0] // every product considered
	defer func() { sc.ids = ids }()
	choose := func(id string) *choice {
		if c := choices[id]; c != nil {
			return c
		}
		if len(choiceSlab) == cap(choiceSlab) {
			choiceSlab = make([]choice, 0, 2*cap(choiceSlab))
		}
		choiceSlab = append(choiceSlab, choice{id: id})
		c := &choiceSlab[len(choiceSlab)-1]
		choices[id] = c
		ids = append(ids, id)
		b.deps = append(b.deps, dep{kind: depProduct, ref: finding.DocRef{Name: id}})
		c.prod = b.ix.products[id]
		if c.prod == nil {
			c.noneReason, c.noneMsg = "NoPackages", "product "+id+" has no Package documents"
			return c
		}
		pk := c.prod.pick(ring, os)
		c.pick, c.noneReason, c.noneMsg = pk.pick, pk.noneReason, pk.noneMsg
		return c
	}
	var visitFn func(c *choice) bool
	visitFn = func(c *choice) bool {
		switch c.state {
		case visiting:
			b.conds.add(CondDependencyCycle, "Dependencies", "product %s depends on itself through its dependencies", c.id)
			return true
		case ok:
			return true
		case bad:
			return false
		}
		if c.pick == nil {
			c.state = bad
			return false
		}
		c.state = visiting
		good := true
		for _, d := range c.pick.spec.Dependencies {
			dc := choose(d.Product)
			switch {
			case !visitFn(dc):
				good = false
				if c.failed == "" {
					c.failed = "its dependency " + d.Product + " cannot be installed"
				}
			case d.MinVersion != "" && pkgversion.Compare(dc.pick.spec.Version, d.MinVersion) < 0:
				good = false
				if c.failed == "" {
					c.failed = fmt.Sprintf("it needs %s %s or later, and the highest acceptable version is %s", d.Product, d.MinVersion, dc.pick.spec.Version)
				}
			}
		}
		c.state = ok
		if !good {
			c.state = bad
		}
		return good
	}
	var rootChoices []*choice
	for i, r := range roots {
		c := choose(r.id)
		c.why = append(c.why, r.why)
		if i == 0 || roots[i-1].id != r.id {
			rootChoices = append(rootChoices, c)
			visitFn(c)
		}
	}

	// Install the good roots and, transitively, what they depend on.
	var install func(c *choice)
	install = func(c *choice) {
		if c.installed {
			return
		}
		c.installed = true
		for i, d := range c.pick.spec.Dependencies {
			dc := choices[d.Product]
			dc.why = append(dc.why, c.pick.neededBy[i])
			install(dc)
		}
	}
	for _, c := range rootChoices {
		if c.state == ok {
			install(c)
		}
	}

	slices.Sort(ids)
	// Removals are collected in order and merged by id at the end: a package version to
	// remove for two reasons is one resource.
	removals := sc.removals
	defer func() { sc.removals = removals }()
	remove := func(it *item) { removals = append(removals, it) }
	itemSlab := sc.items
	if cap(itemSlab) < len(ids) {
		itemSlab = make([]item, 0, len(ids))
	}
	defer func() { sc.items = itemSlab }()
	for _, id := range ids {
		c := choices[id]
		switch {
		case c.pick == nil:
			b.conds.add(CondNoAcceptableVersion, c.noneReason, "%s", c.noneMsg)
			continue
		case c.state == bad:
			b.conds.add(CondDependencyUnsatisfied, "Dependencies", "product %s %s is not installed: %s", id, c.pick.spec.Version, c.failed)
		}
		if !c.installed {
			continue
		}
		v := c.pick
		// The Why is written once the body knows it needs it: the previous body may have it.
		itemSlab = append(itemSlab, item{r: desired.Resource{ID: v.presentID, Type: desired.TypePackage, Ensure: present,
			DependsOn: v.dependsOn, Package: &v.resource}, part: v.enc, whyPrefix: v.whyPrefix, whys: dedupe(c.why)})
		b.pkgs = append(b.pkgs, &itemSlab[len(itemSlab)-1])

		for _, sup := range b.ix.supersedes[v] {
			b.deps.read(catalog.KindPackage, "", sup.name)
			switch old := sup.old; {
			case old == nil:
				b.conds.add(CondUnresolvedReference, "Package", "package %s supersedes %s, which does not exist", v.name, sup.name)
			case choices[old.spec.Product] != nil && choices[old.spec.Product].installed && choices[old.spec.Product].pick == old:
				b.conds.add(CondSupersedeConflict, "Package", "package %s supersedes %s, which this device is to have as %s %s; it stays",
					v.name, sup.name, old.spec.Product, old.spec.Version)
			default:
				remove(sup.item)
			}
		}
	}
	for _, id := range ids {
		c := choices[id]
		if c.prod == nil {
			continue
		}
		for _, v := range c.prod.retired {
			if c.installed {
				remove(v.retiredAfter)
			} else {
				remove(v.retiredAlone)
			}
		}
	}
	for _, id := range ungranted {
		if c := choices[id]; c != nil && c.installed {
			continue // the group has it itself
		}
		b.deps = append(b.deps, dep{kind: depProduct, ref: finding.DocRef{Name: id}})
		v := removable(b.ix.products[id], ring, os)
		if v == nil {
			b.conds.add(CondNoAcceptableVersion, "NoPackages", "product %s, no longer granted to this device, has no Package documents to remove it by", id)
			continue
		}
		remove(removal(v, whyUngranted, ""))
	}
	// Stable: removals of one id merge in the order they were made.
	slices.SortStableFunc(removals, func(x, y *item) int { return strings.Compare(x.r.ID, y.r.ID) })
	for i, it := range removals {
		if i > 0 && removals[i-1].r.ID == it.r.ID {
			b.pkgs[len(b.pkgs)-1] = mergeRemovals(b.pkgs[len(b.pkgs)-1], it)
			continue
		}
		b.pkgs = append(b.pkgs, it)
	}
}

// mergeRemovals joins two removals of the same package version: both reasons, and after what
// either must come.
func mergeRemovals(a, b *item) *item {
	m := &item{r: a.r, part: a.part}
	if !containsPart(m.r.Why, b.r.Why) {
		m.r.Why += "; " + b.r.Why
	}
	m.r.DependsOn = slices.Compact(slices.Sorted(slices.Values(append(slices.Clip(a.r.DependsOn), b.r.DependsOn...))))
	m.full = appendResource(nil, &m.r, m.part)
	m.sum = sha256.Sum256(m.full)
	return m
}

// removal is the resource that removes v, for why, after the resource after (if not empty).
func removal(v *pkg, why, after string) *item {
	it := &item{r: desired.Resource{ID: v.absentID, Type: desired.TypePackage, Ensure: absent, Why: why, Package: &v.resource}, part: v.enc}
	if after != "" {
		it.r.DependsOn = []string{after}
	}
	it.full = appendResource(nil, &it.r, it.part)
	it.sum = sha256.Sum256(it.full)
	return it
}

// containsPart reports whether a "; "-separated list holds part.
func containsPart(list, part string) bool {
	for list != "" {
		var head string
		head, list, _ = strings.Cut(list, "; ")
		if head == part {
			return true
		}
	}
	return false
}

func ringStages(ring string) string {
	if ring == catalog.RingPilot {
		return "user-test or approved"
	}
	return "approved"
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func dedupe[T comparable](s []T) []T {
	if len(s) < 2 {
		return s
	}
	seen := make(map[T]bool, len(s))
	out := s[:0:0]
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// orderItems sorts resources so that each comes after those it depends on, and otherwise by
// id. A dependency cycle (reported already) is broken at the smallest id. The result and the
// working memory are w's, valid until its next use.
func (w *orderScratch) orderItems(res []*item) []*item {
	n := len(res)
	byID := func(x *item, id string) int { return cmp.Compare(x.r.ID, id) }
	slices.SortFunc(res, func(x, y *item) int { return byID(x, y.r.ID) })
	// waiting counts the unmet dependencies of each resource; the resources waiting on j are
	// dependents[start[j]:start[j+1]], in id order.
	waiting := resize(w.waiting, n)
	start := resize(w.start, n+1)
	edges := w.edges[:0] // (dependency, dependent)
	for i, it := range res {
		for _, d := range it.r.DependsOn {
			if j, ok := slices.BinarySearchFunc(res, d, byID); ok && j != i {
				waiting[i]++
				start[j+1]++
				edges = append(edges, [2]int32{int32(j), int32(i)})
			}
		}
	}
	for j := range n {
		start[j+1] += start[j]
	}
	dependents := resize(w.dependents, len(edges))
	next := resize(w.next, n)
	copy(next, start[:n])
	for _, e := range edges {
		dependents[next[e[0]]] = e[1]
		next[e[0]]++
	}
	done := resize(w.done, n)
	out := w.out[:0]
	// ready is a min-heap of indices; indices follow id order.
	ready := w.ready[:0]
	for i := range n {
		if waiting[i] == 0 {
			ready.push(i)
		}
	}
	for len(out) < n {
		if len(ready) == 0 {
			for i := range n { // a cycle: release the smallest id left
				if !done[i] {
					waiting[i] = 0
					ready.push(i)
					break
				}
			}
		}
		i := ready.pop()
		if done[i] {
			continue
		}
		done[i] = true
		out = append(out, res[i])
		for _, j := range dependents[start[i]:start[i+1]] {
			if waiting[j]--; waiting[j] == 0 && !done[j] {
				ready.push(int(j))
			}
		}
	}
	w.waiting, w.start, w.edges, w.dependents, w.next, w.done, w.out, w.ready =
		waiting, start, edges, dependents, next, done, out, ready
	return out
}

// orderScratch is the working memory of orderItems.
type orderScratch struct {
	waiting, start, next []int32
	edges                [][2]int32
	dependents           []int32
	done                 []bool
	out                  []*item
	ready                intHeap
}

// resize returns s with length n, zeroed, reusing its array when it is big enough.
func resize[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	s = s[:n]
	clear(s)
	return s
}

type intHeap []int

func (h *intHeap) push(x int) {
	*h = append(*h, x)
	s := *h
	for i := len(s) - 1; i > 0; {
		p := (i - 1) / 2
		if s[p] <= s[i] {
			break
		}
		s[p], s[i] = s[i], s[p]
		i = p
	}
}

func (h *intHeap) pop() int {
	s := *h
	top := s[0]
	last := len(s) - 1
	s[0] = s[last]
	s = s[:last]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(s) && s[l] < s[m] {
			m = l
		}
		if r < len(s) && s[r] < s[m] {
			m = r
		}
		if m == i {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
	*h = s
	return top
}

func joinErrs(errs []error) error { return errors.Join(errs...) }
