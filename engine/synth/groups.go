package synth

import (
	"fmt"
	"slices"
	"strings"

	"samverk.io/samverk/engine/catalog"
)

type service struct {
	name string
	// standard says that a device group may deliver the service: approval none, permanent.
	standard bool
	// memberTypes and members are who may order it; neither: every member.
	memberTypes, members []string
}

// orderableBy reports whether member m may order s.
func (s *service) orderableBy(m *member) bool {
	if len(s.memberTypes) == 0 && len(s.members) == 0 {
		return true
	}
	return slices.Contains(s.memberTypes, m.typ) || slices.Contains(s.members, m.name)
}

// deliverable returns the products a group or service may name: applications with a version
// that is not retired, of family.
func (g *gen) deliverable(family string) []*prod {
	var out []*prod
	for _, p := range g.prods {
		if p.kind == "application" && !p.retired && p.family == family {
			out = append(out, p)
		}
	}
	return out
}

func ids(ps []*prod) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.id
	}
	return out
}

func (g *gen) services(n int) {
	var names []named
	names = append(names, serviceFoundation...)
	var combos []named
	for _, a := range serviceAreas {
		for _, o := range serviceOfferings {
			combos = append(combos, named{a.slug + "-" + o.slug, a.display + " – " + o.display})
		}
	}
	g.rng.Shuffle(len(combos), func(i, j int) { combos[i], combos[j] = combos[j], combos[i] })
	names = append(names, combos...)
	apps := map[string][]*prod{"windows": g.deliverable("windows"), "linux": g.deliverable("linux")}
	types := []string{"region", "municipality", "university", "agency", "company"}

	for i := range n {
		nm := named{fmt.Sprintf("service-%03d", i), fmt.Sprintf("Tjänst %d", i)}
		if i < len(names) {
			nm = names[i]
		}
		delivers := obj{}
		if g.chance(0.55) {
			family := "windows"
			if g.chance(0.15) {
				family = "linux"
			}
			delivers.set("products", ids(some(g, apps[family], g.between(1, 3))))
		}
		sensitive := false
		var ents []any
		if g.chance(0.7) {
			for range g.between(1, 2) {
				e := obj{}
				switch t := pickWeighted(g, []string{"directory-group", "licence", "role", "network-access"}, []float64{0.5, 0.2, 0.2, 0.1}); t {
				case "directory-group":
					e = obj{{"type", t}, {"name", "G-SVC-" + strings.ToUpper(nm.slug) + "-USERS"}}
				case "licence":
					e = obj{{"type", t}, {"name", nm.display + " licens"}}
				case "role":
					e = obj{{"type", t}, {"name", nm.slug + "-admin"}, {"sensitive", true}}
					sensitive = true
				case "network-access":
					e = obj{{"type", t}, {"name", fmt.Sprintf("VLAN %d", g.between(100, 999))}}
					if g.chance(0.3) {
						e.set("sensitive", true)
						sensitive = true
					}
				}
				ents = append(ents, e)
			}
		}
		delivers.set("entitlements", ents)

		req := obj{}
		svc := &service{name: nm.slug}
		switch r := g.rng.Float64(); {
		case r < 0.5:
			svc.memberTypes = some(g, types, g.between(1, 5))
			req.set("memberTypes", svc.memberTypes)
		case r < 0.8:
			for _, m := range some(g, g.mems, g.between(1, 5)) {
				svc.members = append(svc.members, m.name)
			}
			req.set("members", svc.members)
		}
		if len(req) == 0 || g.chance(0.4) {
			req.set("roles", []string{pick(g, []string{"employee", "manager", "it-admin", "teacher", "clinician"})})
		}

		approval := pick(g, []string{"none", "none", "manager", "service-owner"})
		if sensitive {
			approval = pick(g, []string{"manager", "service-owner", "both"})
		}
		duration := obj{{"type", "permanent"}}
		switch r := g.rng.Float64(); {
		case r < 0.2 || sensitive && r < 0.5:
			duration = obj{{"type", "time-limited"}, {"maxDays", pick(g, []int{30, 90, 180, 365})}}
		case r < 0.7:
			duration = obj{{"type", "subscription"}, {"renewalDays", pick(g, []int{30, 365})}}
		}
		cost := obj{{"model", "free"}}
		if m := pick(g, []string{"free", "monthly", "monthly", "one-time", "per-use"}); m != "free" {
			cost = obj{{"model", m}, {"amountSEK", pick(g, []int{49, 99, 150, 250, 495, 1200, 2000})}}
		}
		var deps []string
		if i > 0 {
			for _, j := range some(g, []int{0, g.rng.IntN(i), g.rng.IntN(i), g.rng.IntN(min(i, len(serviceFoundation)))}, g.between(0, 3)) {
				deps = append(deps, g.svcs[j].name)
			}
			slices.Sort(deps)
			deps = slices.Compact(deps)
		}

		spec := obj{}
		spec.set("displayName", nm.display)
		spec.set("description", "Beställs i tjänstekatalogen: "+nm.display+".")
		spec = append(spec, kv{"delivers", delivers})
		spec = append(spec, kv{"requestableBy", req})
		spec.set("approval", approval)
		spec.set("duration", duration)
		spec.set("provisioning", pick(g, []string{"automated", "automated", "semi-manual", "manual"}))
		spec.set("cost", cost)
		spec.set("dependsOn", deps)
		g.emit("services/"+nm.slug+".yaml", catalog.KindService, obj{{"name", nm.slug}, {"owner", pick(g, g.mems).name}}, spec)
		svc.standard = approval == "none" && duration[0].v == "permanent"
		g.svcs = append(g.svcs, svc)
	}
}

var rings = []string{catalog.RingPilot, catalog.RingEarly, catalog.RingBroad}

// A device group, planned before it is written so that exceptions can be planted in it.
type group struct {
	name, ns, file, description string
	department, ring            string
	family, osRelease           string
	priority                    int
	baselines                   []*baseline
	services, products, models  []string
	detect                      bool
	exception                   bool
}

// An exceptionKind is a deliberate policy exception: groups of ring that target osRelease
// break policy, for reason.
type exceptionKind struct {
	policy, osRelease, ring, reason string
	detect                          bool
}

// A waiverPlan is a waiver and the exception groups it covers.
type waiverPlan struct {
	kind   exceptionKind
	shared bool
	groups []*group
}

// deviceGroups gives each member its share of n groups: per department a pilot, an early and
// a broad group that agree on what the department runs, and differ in the OS they move to.
// Then it plants in a few groups the exceptions that the given number of waivers cover, and
// writes every group.
func (g *gen) deviceGroups(n, waivers int) {
	g.planGroups(n)
	g.plantExceptions(waivers)
	for _, grp := range g.groups {
		var baselines []string
		for _, b := range grp.baselines {
			baselines = append(baselines, b.name)
		}
		selector := obj{{"labels", obj{{"department", grp.department}, {"ring", grp.ring}}}}
		selector.set("hardwareModels", grp.models)
		spec := obj{}
		spec.set("description", grp.description)
		spec = append(spec, kv{"priority", grp.priority})
		spec.set("selector", selector)
		spec.set("ring", grp.ring)
		spec.set("osRelease", grp.osRelease)
		spec.set("baselines", baselines)
		spec.set("services", grp.services)
		spec.set("products", grp.products)
		if grp.detect {
			spec.set("mode", "detect")
		}
		md := obj{{"name", grp.name}, {"namespace", grp.ns}, {"owner", grp.ns}}
		g.emit(grp.file, catalog.KindDeviceGroup, md, spec)
	}
}

func (g *gen) planGroups(n int) {
	apps := map[string][]*prod{"windows": g.deliverable("windows"), "linux": g.deliverable("linux")}
	shared := map[string][]*baseline{}
	own := map[[2]string][]*baseline{}
	for _, b := range g.bases {
		if b.ns == "" {
			shared[b.family] = append(shared[b.family], b)
		} else {
			own[[2]string{b.ns, b.family}] = append(own[[2]string{b.ns, b.family}], b)
		}
	}
	for mi, m := range g.mems {
		count := n / len(g.mems)
		if mi < n%len(g.mems) {
			count++
		}
		var dept named
		var family string
		var releases []string
		var baselines []*baseline
		var services, products, models []string
		detect := false
		for i := range count {
			d, ringIdx := i/3, i%3
			ring := rings[ringIdx]
			if ringIdx == 0 {
				dept = departments[d%len(departments)]
				if d >= len(departments) {
					dept.slug = fmt.Sprintf("%s-%d", dept.slug, d/len(departments)+1)
				}
				family = "windows"
				if linuxDepartments[dept.slug] && g.chance(0.5) || len(apps["windows"]) == 0 {
					family = "linux"
				}
				models = nil
				if g.chance(0.4) {
					models = some(g, g.modelsFor(family), g.between(1, 5))
				}
				family, models, releases = g.targets(family, models)
				var fitting []*baseline
				for _, b := range shared[family] {
					if b.coversAll(releases) {
						fitting = append(fitting, b)
					}
				}
				baselines = []*baseline{pick(g, fitting)}
				if mine := own[[2]string{m.name, family}]; len(mine) > 0 && g.chance(0.6) {
					baselines = append(baselines, pick(g, mine))
				}
				// Only the standard services the member may order (SV-DG-006, SV-DG-007); the
				// others are ordered by a request.
				var orderable []*service
				for _, s := range g.svcs {
					if s.standard && s.orderableBy(m) {
						orderable = append(orderable, s)
					}
				}
				services = nil
				for _, s := range some(g, orderable, g.between(0, 4)) {
					services = append(services, s.name)
				}
				products = ids(some(g, apps[family], g.between(1, 8)))
				detect = g.chance(0.08)
			}
			g.groups = append(g.groups, &group{
				name: dept.slug + "-" + ring, ns: m.name, file: "members/" + m.name + "/device-groups/" + dept.slug + ".yaml",
				description: fmt.Sprintf("%s, %s ring", dept.display, ring), priority: d*10 + ringIdx,
				department: dept.slug, ring: ring, family: family, osRelease: releases[ringIdx],
				baselines: baselines, services: services, products: products, models: models, detect: detect,
			})
		}
	}
}

// modelsFor returns the hardware models a department of family may select: any for Windows,
// those certified for an Ubuntu release for Linux.
func (g *gen) modelsFor(family string) []string {
	if family == "windows" {
		return g.hardware
	}
	var out []string
	for _, m := range g.hardware {
		if slices.ContainsFunc(osOf("linux"), func(r string) bool { return g.certifiedOn[[2]string{r, m}] }) {
			out = append(out, m)
		}
	}
	return out
}

// targets returns the OS release each ring of a department moves to: the first of the ring's
// preferred releases that one of models is certified for (or any model, when the department
// selects none). A department whose models are certified for none drops its selection; a
// Linux department with no Ubuntu certification anywhere runs Windows.
func (g *gen) targets(family string, models []string) (string, []string, []string) {
	for {
		releases := make([]string, len(rings))
		ok := true
		for i, ring := range rings {
			prefs := []string{"ubuntu-24-04", "ubuntu-22-04"}
			if family == "windows" {
				prefs = []string{"windows-11-24h2", "windows-11-25h2", "windows-11-ltsc-2024", "windows-10-ltsc-2021"}
				if ring == catalog.RingPilot || ring == catalog.RingEarly && g.chance(0.5) {
					prefs[0], prefs[1] = prefs[1], prefs[0]
				}
			}
			releases[i] = prefs[0]
			j := slices.IndexFunc(prefs, func(r string) bool { return g.certifiedFor(r, models) })
			if j < 0 {
				ok = false
				continue
			}
			releases[i] = prefs[j]
		}
		switch {
		case ok:
		case len(models) > 0:
			models = nil
			continue
		case family == "linux":
			family = "windows"
			continue
		}
		// With no Windows certification at all, the groups keep their preferred release.
		return family, models, releases
	}
}

// certifiedFor says whether one of models is certified for release, or any model if models is
// empty.
func (g *gen) certifiedFor(release string, models []string) bool {
	if len(models) == 0 {
		return len(g.certified[release]) > 0
	}
	return slices.ContainsFunc(models, func(m string) bool { return g.certifiedOn[[2]string{release, m}] })
}

// plantExceptions turns device groups into the exceptions n waivers cover: a member's waiver
// covers one group of the member's own, a shared waiver one to three groups of any members.
// There are always n waivers; should the hardware or the groups leave no room for an
// exception, a waiver covers a group that complies, and validation reports it as unused.
func (g *gen) plantExceptions(n int) {
	kinds := slices.DeleteFunc(slices.Clone(exceptionKinds), func(k exceptionKind) bool { return !g.plantable(k) })
	if len(kinds) == 0 {
		kinds = exceptionKinds
	}
	order := g.rng.Perm(len(g.groups))
	for i := range n {
		w := &waiverPlan{kind: pick(g, kinds), shared: i%2 == 1}
		want := 1
		if w.shared {
			want = g.between(1, 3)
		}
		for range want {
			if grp := g.exceptionGroup(order, w.kind.ring); grp != nil {
				g.plant(grp, w.kind)
				w.groups = append(w.groups, grp)
			}
		}
		if len(w.groups) == 0 {
			w.groups = []*group{pick(g, g.groups)}
		}
		g.waiverPlans = append(g.waiverPlans, w)
	}
}

// plantable says whether the hardware allows exceptions of kind k: for SV-DG-002 models not
// yet certified for the release, otherwise models certified for it.
func (g *gen) plantable(k exceptionKind) bool {
	if k.policy == "SV-DG-002" {
		return len(g.uncertified(k.osRelease)) > 0
	}
	return len(g.certified[k.osRelease]) > 0
}

// uncertified returns the hardware models not certified for release.
func (g *gen) uncertified(release string) []string {
	var out []string
	for _, m := range g.hardware {
		if !g.certifiedOn[[2]string{release, m}] {
			out = append(out, m)
		}
	}
	return out
}

// exceptionGroup returns the first Windows group in order of ring that is not an exception
// yet, or of any ring if there is none.
func (g *gen) exceptionGroup(order []int, ring string) *group {
	var fallback *group
	for _, i := range order {
		grp := g.groups[i]
		if grp.exception || grp.family != "windows" {
			continue
		}
		if grp.ring == ring {
			return grp
		}
		if fallback == nil {
			fallback = grp
		}
	}
	return fallback
}

// plant makes grp an exception of kind k: it targets the kind's release on hardware that
// keeps the other policies satisfied, with a shared baseline that covers the release.
func (g *gen) plant(grp *group, k exceptionKind) {
	grp.exception = true
	grp.osRelease = k.osRelease
	grp.detect = grp.detect || k.detect
	switch {
	case k.policy == "SV-DG-002":
		grp.models = some(g, g.uncertified(k.osRelease), g.between(1, 3))
	case !g.certifiedFor(k.osRelease, grp.models):
		grp.models = some(g, g.certified[k.osRelease], g.between(1, 2))
	}
	if !grp.baselines[0].coversAll([]string{k.osRelease}) {
		var fitting []*baseline
		for _, b := range g.bases {
			if b.ns == "" && b.family == grp.family && b.covers[k.osRelease] {
				fitting = append(fitting, b)
			}
		}
		grp.baselines = append([]*baseline{pick(g, fitting)}, grp.baselines[1:]...)
	}
}

// waivers writes a waiver for each planned exception: member waivers in the member's
// waivers.yaml, shared ones in waivers/. All of them still count at Reference, with more
// than the 30 days' notice SV-WAIVER-002 asks for.
func (g *gen) waivers() {
	used := map[[2]string]bool{}
	name := func(ns, policy, target string) string {
		base := strings.ToLower(policy) + "-" + target
		if len(base) > 56 {
			base = strings.TrimRight(base[:56], "-")
		}
		nm := base
		for k := 2; used[[2]string{ns, nm}]; k++ {
			nm = fmt.Sprintf("%s-%d", base, k)
		}
		used[[2]string{ns, nm}] = true
		return nm
	}
	for _, w := range g.waiverPlans {
		var ns, file, owner string
		var targets []any
		for _, grp := range w.groups {
			t := obj{{"kind", catalog.KindDeviceGroup}, {"name", grp.name}}
			if w.shared || g.chance(0.5) {
				t.set("namespace", grp.ns)
			}
			targets = append(targets, t)
		}
		if w.shared {
			owner = pick(g, g.mems).name
		} else {
			ns, file, owner = w.groups[0].ns, "members/"+w.groups[0].ns+"/waivers.yaml", w.groups[0].ns
		}
		nm := name(ns, w.kind.policy, w.groups[0].name)
		spec := obj{}
		spec.set("policy", w.kind.policy)
		spec.set("targets", targets)
		spec.set("reason", w.kind.reason)
		spec.set("approvedBy", pick(g, []string{"Strategigruppen", "Strategigruppen, beslut 2026-14", "Säkerhetsrådet", "Samverkansråd klient"}))
		spec.set("expires", date(daysAgo(-g.between(60, 365))))
		md := obj{{"name", nm}}
		if ns != "" {
			md = append(md, kv{"namespace", ns})
		} else {
			file = "waivers/" + nm + ".yaml"
		}
		md.set("owner", owner)
		g.emit(file, catalog.KindWaiver, md, spec)
	}
}
