package synth

import (
	"fmt"
	"slices"
	"strings"

	"samverk.io/samverk/engine/catalog"
)

type service struct {
	name string
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
		switch r := g.rng.Float64(); {
		case r < 0.5:
			req.set("memberTypes", some(g, types, g.between(1, 5)))
		case r < 0.8:
			var ms []string
			for _, m := range some(g, g.mems, g.between(1, 5)) {
				ms = append(ms, m.name)
			}
			req.set("members", ms)
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
		g.svcs = append(g.svcs, &service{name: nm.slug})
	}
}

var rings = []string{catalog.RingPilot, catalog.RingEarly, catalog.RingBroad}

// deviceGroups gives each member its share of n groups: per department a pilot, an early and
// a broad group that agree on what the department runs, and differ in the OS they move to.
func (g *gen) deviceGroups(n int) {
	apps := map[string][]*prod{"windows": g.deliverable("windows"), "linux": g.deliverable("linux")}
	shared := map[string][]string{}
	own := map[[2]string][]string{}
	for _, b := range g.bases {
		if b.ns == "" {
			shared[b.family] = append(shared[b.family], b.name)
		} else {
			own[[2]string{b.ns, b.family}] = append(own[[2]string{b.ns, b.family}], b.name)
		}
	}
	for mi, m := range g.mems {
		count := n / len(g.mems)
		if mi < n%len(g.mems) {
			count++
		}
		var dept named
		var family string
		var baselines, services, products, models []string
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
				baselines = []string{pick(g, shared[family])}
				if mine := own[[2]string{m.name, family}]; len(mine) > 0 && g.chance(0.6) {
					baselines = append(baselines, pick(g, mine))
				}
				services = nil
				for _, s := range some(g, g.svcs, g.between(0, 4)) {
					services = append(services, s.name)
				}
				products = ids(some(g, apps[family], g.between(1, 8)))
				models = nil
				if g.chance(0.4) {
					models = some(g, g.hardware, g.between(1, 5))
				}
				detect = g.chance(0.08)
			}
			osRelease := "ubuntu-24-04"
			if family == "windows" {
				osRelease = "windows-11-24h2"
				if ring == catalog.RingPilot || ring == catalog.RingEarly && g.chance(0.5) {
					osRelease = "windows-11-25h2"
				}
			}
			name := dept.slug + "-" + ring
			selector := obj{{"labels", obj{{"department", dept.slug}, {"ring", ring}}}}
			selector.set("hardwareModels", models)
			spec := obj{}
			spec.set("description", fmt.Sprintf("%s, %s ring", dept.display, ring))
			spec = append(spec, kv{"priority", d*10 + ringIdx})
			spec.set("selector", selector)
			spec.set("ring", ring)
			spec.set("osRelease", osRelease)
			spec.set("baselines", baselines)
			spec.set("services", services)
			spec.set("products", products)
			if detect {
				spec.set("mode", "detect")
			}
			md := obj{{"name", name}, {"namespace", m.name}, {"owner", m.name}}
			g.emit("members/"+m.name+"/device-groups/"+dept.slug+".yaml", catalog.KindDeviceGroup, md, spec)
			g.groups = append(g.groups, &group{name: name, ns: m.name})
		}
	}
}

// policiesFor returns the policies about device groups, or about every other kind.
func policiesFor(deviceGroups bool) []struct{ id, kind, reason string } {
	var out []struct{ id, kind, reason string }
	for _, p := range policies {
		if (p.kind == catalog.KindDeviceGroup) == deviceGroups {
			out = append(out, p)
		}
	}
	return out
}

// waivers alternate between a member's waiver for one of its device groups and a shared waiver
// for packages, hardware models, services or baselines; a fifth of them have expired.
func (g *gen) waivers(n int) {
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
	var pkgs []string
	for _, p := range g.prods {
		for _, v := range p.versions {
			pkgs = append(pkgs, p.pkgName(v))
		}
	}
	var sharedBases []string
	for _, b := range g.bases {
		if b.ns == "" {
			sharedBases = append(sharedBases, b.name)
		}
	}
	for i := range n {
		var ns, file string
		var policy struct{ id, kind, reason string }
		var targets []any
		var first string
		if i%2 == 0 && len(g.groups) > 0 {
			grp := pick(g, g.groups)
			ns, file = grp.ns, "members/"+grp.ns+"/waivers.yaml"
			policy = pick(g, policiesFor(true))
			t := obj{{"kind", catalog.KindDeviceGroup}, {"name", grp.name}}
			if g.chance(0.5) {
				t.set("namespace", grp.ns)
			}
			targets, first = []any{t}, grp.name
		} else {
			policy = pick(g, policiesFor(false))
			var pool []string
			switch policy.kind {
			case catalog.KindPackage:
				pool = pkgs
			case catalog.KindHardwareModel:
				pool = g.hardware
			case catalog.KindService:
				for _, s := range g.svcs {
					pool = append(pool, s.name)
				}
			case catalog.KindBaseline:
				pool = sharedBases
			}
			for _, t := range some(g, pool, g.between(1, 3)) {
				targets = append(targets, obj{{"kind", policy.kind}, {"name", t}})
				if first == "" {
					first = t
				}
			}
		}
		nm := name(ns, policy.id, first)
		expires := daysAgo(-g.between(14, 365))
		if g.chance(0.2) {
			expires = daysAgo(g.between(1, 120))
		}
		spec := obj{}
		spec.set("policy", policy.id)
		spec.set("targets", targets)
		spec.set("reason", policy.reason)
		spec.set("approvedBy", pick(g, []string{"Strategigruppen", "Strategigruppen, beslut 2026-14", "Säkerhetsrådet", "Samverkansråd klient"}))
		spec.set("expires", date(expires))
		md := obj{{"name", nm}}
		if ns != "" {
			md = append(md, kv{"namespace", ns})
		} else {
			file = "waivers/" + nm + ".yaml"
		}
		md.set("owner", pick(g, g.mems).name)
		g.emit(file, catalog.KindWaiver, md, spec)
	}
}
