package synth

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"samverk.io/samverk/engine/catalog"
)

type member struct {
	name, typ, display, domain string
}

// prod is one product and the versions generated for it.
type prod struct {
	productT
	kind    string // runtime, driver or application
	retired bool   // every version is retired
	owner   string
	licence obj
	class   string // information classification
	deps    []*prod
	os      []string
	// versions are oldest first; approved is the newest approved version, if any.
	versions []string
	approved string
}

func (p *prod) pkgName(version string) string {
	return p.id + "-" + strings.NewReplacer(".", "-", "+", "-", "_", "-").Replace(version)
}

type baseline struct {
	name, ns, family string
	extends          []*baseline
	osReleases       []string
	// values are the values of the baseline's own settings, by id.
	values map[string]any
	// covers holds the OS releases for which the baseline, with what it extends, applies its
	// family's core settings (the ones policy SV-BL-001 requires): the base carries them for
	// every release it lists, any other baseline covers the releases it lists that a baseline
	// it extends covers.
	covers map[string]bool
}

// closure returns the baselines b extends, directly or not, each once.
func (b *baseline) closure() []*baseline {
	var out []*baseline
	var walk func(*baseline)
	walk = func(b *baseline) {
		for _, e := range b.extends {
			if !slices.Contains(out, e) {
				out = append(out, e)
				walk(e)
			}
		}
	}
	walk(b)
	return out
}

// coversAll says whether b covers every release in releases.
func (b *baseline) coversAll(releases []string) bool {
	for _, r := range releases {
		if !b.covers[r] {
			return false
		}
	}
	return true
}

// osOf returns the names of the OS releases of family.
func osOf(family string) []string {
	var out []string
	for _, r := range osReleases {
		if r.family == family {
			out = append(out, r.name)
		}
	}
	return out
}

func (g *gen) osReleases() {
	for _, r := range osReleases {
		spec := obj{}
		spec.set("family", r.family)
		spec.set("edition", r.edition)
		spec.set("version", r.version)
		spec.set("build", r.build)
		spec.set("channel", r.channel)
		spec.set("releaseDate", r.released)
		spec.set("endOfSupport", r.endOfSupport)
		// Every release can be reached from any older one of its family: setup media on
		// Windows, a release-upgrade script on Linux.
		inst := obj{{"type", "setup-media"}, {"source", obj{{"url", "https://dist.example.org/os/" + r.name + ".zip"},
			{"sha256", fmt.Sprintf("%064x", len(r.name))}}}, {"arguments", []string{"/auto", "upgrade", "/quiet"}}}
		if r.family == "linux" {
			inst = obj{{"type", "script"}, {"script", "do-release-upgrade -f DistUpgradeViewNonInteractive"}}
		}
		spec.set("upgrade", obj{{"paths", []any{obj{{"fromFamily", true}, {"installer", inst}, {"freeDiskMiB", 20480},
			{"reboot", true}, {"maxDurationMinutes", 240}}}}})
		g.emit("os-releases.yaml", catalog.KindOSRelease, obj{{"name", r.name}, {"labels", obj{{"family", r.family}}}}, spec)
	}
}

var asciiFold = strings.NewReplacer("å", "a", "ä", "a", "ö", "o", "Å", "A", "Ä", "A", "Ö", "O", "é", "e")

func (g *gen) members(n int) {
	used := map[string]int{}
	for i := range n {
		typ := memberPattern[i%len(memberPattern)]
		t := memberTypes[typ]
		k := used[typ]
		used[typ]++
		nm := named{fmt.Sprintf("%s-%d", typ, k+1), fmt.Sprintf("Consortium %s %d", typ, k+1)}
		if k < len(t.names) {
			nm = t.names[k]
		}
		m := &member{name: nm.slug, typ: typ, display: nm.display, domain: nm.slug + ".se"}
		g.mems = append(g.mems, m)

		var contacts []any
		for _, role := range []string{"operations", "security", "packaging", "certification", "service-desk", "management"} {
			if role != "operations" && role != "security" && !g.chance(0.6) {
				continue
			}
			first, last := pick(g, firstNames), pick(g, lastNames)
			c := obj{{"role", role}, {"name", first + " " + last},
				{"email", strings.ToLower(asciiFold.Replace(first+"."+last)) + "@" + m.domain}}
			if g.chance(0.5) {
				c.set("phone", fmt.Sprintf("+46 %d %03d %02d %02d", g.between(10, 99), g.between(100, 999), g.between(0, 99), g.between(0, 99)))
			}
			contacts = append(contacts, c)
		}
		var centres []any
		for j := range g.between(1, 3) {
			centres = append(centres, obj{{"id", fmt.Sprintf("KS-%d", 1000+10*j+g.between(0, 9))}, {"name", pick(g, []string{"IT-enheten", "Digitaliseringsenheten", "Servicecenter", "Verksamhetsstöd", "Kansliet"})}})
		}
		spec := obj{}
		spec.set("type", typ)
		spec.set("displayName", m.display)
		spec.set("organisationNumber", fmt.Sprintf("%s%02d-%04d", t.orgPfx, g.between(0, 99), g.between(0, 9999)))
		spec.set("contacts", contacts)
		spec.set("costCentres", centres)
		g.emit("members/"+m.name+"/member.yaml", catalog.KindMember, obj{{"name", m.name}, {"labels", obj{{"memberType", typ}}}}, spec)
	}
}

// products generates n packages: runtimes and a driver pack per hardware series first, then
// applications, each product with one to nine versions.
func (g *gen) products(n, hardware int) {
	nSeries := min(hardware, len(hardwareSeries))
	var sources []*prod
	for _, t := range runtimes {
		sources = append(sources, &prod{productT: t, kind: "runtime"})
	}
	for _, s := range hardwareSeries[:nSeries] {
		sources = append(sources, &prod{kind: "driver", productT: productT{
			id: "drivers-" + s.vendorSlug + "-" + s.key, display: s.display + " driver pack",
			vendor: s.vendor, family: "windows", category: "driver", installer: "script"}})
	}
	mandatory := len(sources)
	for _, t := range applications {
		sources = append(sources, &prod{productT: t, kind: "application"})
	}
	var lob []*prod
	for _, v := range lobVendors {
		for _, d := range lobDomains {
			for _, k := range lobKinds {
				lob = append(lob, &prod{kind: "application", productT: productT{
					id: v.slug + "-" + d.slug + "-" + k.slug, display: strings.SplitN(v.display, " ", 2)[0] + " " + d.display + " " + k.display,
					vendor: v.display, family: "windows", category: "line-of-business", installer: pick(g, []string{"msi", "msi", "script", "winget"})}})
			}
		}
	}
	g.rng.Shuffle(len(lob), func(i, j int) { lob[i], lob[j] = lob[j], lob[i] })
	sources = append(sources, lob...)

	remaining := n
	for i := 0; remaining > 0; i++ {
		var p *prod
		if i < len(sources) {
			p = sources[i]
		} else {
			p = &prod{kind: "application", productT: productT{id: fmt.Sprintf("app-%05d", i), display: fmt.Sprintf("Application %d", i),
				vendor: pick(g, lobVendors).display, family: "windows", category: "line-of-business", installer: "msi"}}
		}
		if p.category == "line-of-business" && p.installer == "winget" {
			p.wingetID = strings.ReplaceAll(p.display, " ", ".")
		}
		want := g.between(1, 7)
		switch p.kind {
		case "runtime":
			want = g.between(3, 8)
		case "driver":
			want = g.between(2, 6)
		}
		if p.kind == "application" && p.category != "line-of-business" {
			want = g.between(3, 9)
		}
		k := min(want, remaining-max(0, mandatory-i-1))
		remaining -= k
		p.retired = p.kind == "application" && g.chance(0.03)
		p.owner = pick(g, g.mems).name
		p.licence = g.licence(p)
		p.class = "public"
		if p.category == "line-of-business" {
			p.class = pick(g, []string{"internal", "internal", "confidential", "restricted"})
		}
		p.os = g.productOS(p.family)
		p.deps = g.dependencies(p)
		g.versions(p, k)
		g.prods = append(g.prods, p)
		g.packages(p)
		switch {
		case p.retired:
		case p.kind == "runtime":
			g.runtimesOf[p.family] = append(g.runtimesOf[p.family], p)
		case p.kind == "application":
			g.appsOf[p.family] = append(g.appsOf[p.family], p)
		}
	}
}

func (g *gen) productOS(family string) []string {
	if family == "linux" {
		if g.chance(0.6) {
			return []string{"ubuntu-22-04", "ubuntu-24-04"}
		}
		return []string{"ubuntu-24-04"}
	}
	var out []string
	for _, r := range osOf("windows") {
		switch r {
		case "windows-11-23h2", "windows-11-24h2":
			out = append(out, r)
		case "windows-11-25h2":
			if g.chance(0.8) {
				out = append(out, r)
			}
		default:
			if g.chance(0.4) {
				out = append(out, r)
			}
		}
	}
	return out
}

// dependencies only ever name products generated earlier, so they cannot form a cycle.
func (g *gen) dependencies(p *prod) []*prod {
	if p.kind == "driver" {
		return nil
	}
	rts, apps := g.runtimesOf[p.family], g.appsOf[p.family]
	var deps []*prod
	switch {
	case len(rts) == 0:
	case p.kind == "runtime" && g.chance(0.3):
		deps = append(deps, pick(g, rts))
	case p.kind == "application" && g.chance(0.45):
		deps = append(deps, some(g, rts, g.between(1, 2))...)
	}
	if p.kind == "application" && len(apps) > 0 && (strings.HasSuffix(p.id, "-plugin") || strings.HasSuffix(p.id, "-office-addin") || strings.HasSuffix(p.id, "-connector")) && g.chance(0.6) {
		deps = append(deps, pick(g, apps))
	}
	return deps
}

func (g *gen) versions(p *prod, k int) {
	major, minor, patch := g.between(1, 30), g.between(0, 9), g.between(0, 20)
	for range k {
		p.versions = append(p.versions, fmt.Sprintf("%d.%d.%d", major, minor, patch))
		switch r := g.rng.Float64(); {
		case r < 0.6:
			patch += g.between(1, 3)
		case r < 0.9:
			minor, patch = minor+1, 0
		default:
			major, minor, patch = major+1, 0, 0
		}
	}
}

// stages assigns lifecycle stages, oldest first: the newest version may still be on its way
// through testing; the newest approved one is in use, the one before it deprecated, and older
// ones retired.
func (g *gen) stages(p *prod) []string {
	k := len(p.versions)
	st := make([]string, k)
	if p.retired {
		for j := range st {
			st[j] = catalog.StageRetired
		}
		return st
	}
	newest := catalog.StageApproved
	switch r := g.rng.Float64(); {
	case r < 0.10:
		newest = catalog.StagePackaging
	case r < 0.25:
		newest = catalog.StageInfraTest
	case r < 0.45:
		newest = catalog.StageUserTest
	}
	st[k-1] = newest
	latest := k - 1
	if newest != catalog.StageApproved {
		latest = k - 2
	}
	for j := latest; j >= 0; j-- {
		switch {
		case j == latest:
			st[j] = catalog.StageApproved
		case j == latest-1:
			st[j] = catalog.StageDeprecated
		default:
			st[j] = catalog.StageRetired
		}
	}
	return st
}

func (g *gen) packages(p *prod) {
	stages := g.stages(p)
	k := len(p.versions)
	spacing := g.between(45, 120)
	newestBase := g.between(60, 120)
	// approvedAt records when each version was approved, to date deprecations and retirements.
	approvedAt := make([]time.Time, k)
	packaged := make([]time.Time, k)
	for j := range k {
		packaged[j] = daysAgo(newestBase + (k-1-j)*spacing + g.between(0, 20))
	}
	for j := range k {
		ver := p.versions[j]
		name := p.pkgName(ver)
		stage := stages[j]
		rank := slices.Index([]string{catalog.StagePackaging, catalog.StageInfraTest, catalog.StageUserTest, catalog.StageApproved, catalog.StageDeprecated, catalog.StageRetired}, stage)

		var records []any
		t := packaged[j]
		record := func(stage, result string, notes string) {
			mem := pick(g, g.mems).name
			r := obj{{"stage", stage}, {"date", date(t)}, {"member", mem}, {"result", result}}
			if stage == catalog.StageInfraTest || stage == catalog.StageUserTest || stage == catalog.StageApproved {
				r.set("evidence", fmt.Sprintf("https://evidence.samverk.example/%s/packages/%s/%s", mem, name, stage))
			}
			r.set("notes", notes)
			records = append(records, r)
		}
		if rank >= 2 {
			if g.chance(0.1) {
				t = t.AddDate(0, 0, g.between(2, 5))
				record(catalog.StageInfraTest, "fail", "Installer left a reboot pending; repackaged")
			}
			t = t.AddDate(0, 0, g.between(3, 10))
			record(catalog.StageInfraTest, "pass", "")
		}
		if rank >= 3 {
			t = t.AddDate(0, 0, g.between(7, 21))
			record(catalog.StageUserTest, "pass", "")
			t = t.AddDate(0, 0, g.between(3, 10))
			record(catalog.StageApproved, "pass", "")
			approvedAt[j] = t
		}
		if rank >= 4 {
			t = t.AddDate(0, 0, spacing)
			if j+1 < k && !approvedAt[j+1].IsZero() {
				t = approvedAt[j+1]
			}
			t = minTime(t, daysAgo(2))
			record(catalog.StageDeprecated, "pass", "Superseded by a newer version")
		}
		if rank >= 5 {
			t = minTime(t.AddDate(0, 0, g.between(30, 120)), daysAgo(1))
			record(catalog.StageRetired, "pass", "")
		}
		if stage == catalog.StageApproved {
			p.approved = ver
		}

		spec := obj{}
		spec.set("product", p.id)
		spec.set("displayName", p.display)
		spec.set("vendor", p.vendor)
		spec.set("version", ver)
		spec.set("installer", g.installer(p, ver))
		spec.set("osReleases", p.os)
		lc := obj{{"stage", stage}}
		lc.set("records", records)
		spec.set("lifecycle", lc)
		var deps []any
		for _, d := range p.deps {
			dep := obj{{"product", d.id}}
			dep.set("minVersion", d.approved)
			deps = append(deps, dep)
		}
		spec.set("dependencies", deps)
		if j > 0 && rank >= 3 {
			spec.set("supersedes", []string{p.pkgName(p.versions[j-1])})
		}
		spec.set("licence", p.licence)
		spec.set("classification", p.class)
		md := obj{{"name", name}, {"owner", p.owner}, {"labels", obj{{"category", p.category}}}}
		g.emit("packages/"+p.id+".yaml", catalog.KindPackage, md, spec)
	}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func digest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func (g *gen) guid() string {
	return fmt.Sprintf("{%08X-%04X-%04X-%04X-%012X}", g.rng.Uint32(), g.rng.Uint32()&0xffff, 0x4000|g.rng.Uint32()&0x0fff,
		0x8000|g.rng.Uint32()&0x3fff, g.rng.Uint64()&0xffffffffffff)
}

func (g *gen) installer(p *prod, ver string) obj {
	base := fmt.Sprintf("https://dl.samverk.example/packages/%s/%s/", p.id, ver)
	source := func(file string) obj {
		return obj{{"url", base + file}, {"sha256", digest(base + file)}}
	}
	typ, family, _ := strings.Cut(p.installer, "/")
	in := obj{{"type", typ}}
	switch typ {
	case "exe":
		in.set("installerFamily", family)
		in.set("source", source(p.id+"-"+ver+"-setup.exe"))
		in.set("detect", obj{{"uninstallEntry", obj{{"displayName", p.display}, {"version", ver}}}})
	case "msix":
		in.set("source", source(p.id+"-"+ver+".msix"))
		in.set("detect", obj{{"packageFamilyName", msixName.ReplaceAllString(p.display, "") + "_8wekyb3d8bbwe"}})
	case "zip":
		in.set("source", source(p.id+"-"+ver+".zip"))
		in.set("installDir", `C:\Program Files\`+p.display)
		in.set("extract", []string{p.id + ".exe"})
	case "msi":
		in.set("source", source(p.id+"-"+ver+".msi"))
		in.set("arguments", []string{"/qn", "/norestart"})
		in.set("detect", obj{{"productCode", g.guid()}})
	case "winget":
		id := p.wingetID
		if id == "" {
			id = strings.ReplaceAll(p.display, " ", ".")
		}
		in.set("wingetId", id)
		in.set("arguments", []string{"--scope", "machine", "--version", ver})
		in.set("detect", obj{{"command", fmt.Sprintf("winget list --id %s --exact --version %s", id, ver)}})
	case "script":
		in.set("source", source(p.id+"-"+ver+".zip"))
		if p.kind == "driver" {
			in.set("install", "pnputil.exe /add-driver *.inf /subdirs /install")
			in.set("detect", obj{{"command", fmt.Sprintf("Get-ItemProperty HKLM:\\SOFTWARE\\Samverk\\Drivers\\%s | Where-Object Version -eq '%s'", p.id, ver)}})
		} else {
			in.set("install", "powershell.exe -NoProfile -ExecutionPolicy Bypass -File Install.ps1")
			in.set("uninstall", "powershell.exe -NoProfile -ExecutionPolicy Bypass -File Uninstall.ps1")
			in.set("detect", obj{{"file", fmt.Sprintf(`C:\Program Files\%s\%s\%s.exe`, p.vendor, p.display, p.id)}})
		}
	case "deb":
		in.set("source", source(fmt.Sprintf("%s_%s_amd64.deb", p.id, ver)))
		in.set("detect", obj{{"debPackage", p.id}})
	}
	if g.chance(0.3) {
		in.set("timeoutSeconds", pick(g, []int{600, 900, 1800, 3600}))
	}
	return in
}

// msixName matches what an MSIX package name may not hold.
var msixName = regexp.MustCompile(`[^A-Za-z0-9.-]`)

var spdx = []string{"MPL-2.0", "GPL-2.0-only", "GPL-3.0-or-later", "LGPL-3.0-only", "Apache-2.0", "MIT", "BSD-3-Clause"}

// commercial are the real-world products sold under a commercial or freeware licence.
var commercial = map[string]bool{
	"vcredist-2015-2022": true, "webview2-runtime": true, "google-chrome": true, "microsoft-edge": true,
	"adobe-acrobat-reader": true, "microsoft-365-apps": true, "microsoft-teams": true, "zoom-workplace": true,
	"citrix-workspace": true, "vmware-horizon-client": true, "ibm-spss-statistics": true, "matlab": true,
	"endnote": true, "cisco-secure-client": true, "bankid-security-app": true, "net-id-enterprise": true,
	"siths-eid-client": true, "arcgis-pro": true, "autocad-lt": true, "sketchup": true, "teamviewer-host": true,
	"openvpn-connect": true, "paint-net": true,
}

func (g *gen) licence(p *prod) obj {
	switch {
	case p.kind == "driver":
		return obj{{"type", "commercial"}}
	case p.category == "line-of-business":
		if g.chance(0.3) {
			return obj{{"type", "consortium"}}
		}
		return obj{{"type", "commercial"}, {"seats", g.between(50, 20000)}}
	case commercial[p.id]:
		l := obj{{"type", "commercial"}}
		if g.chance(0.6) {
			l.set("seats", g.between(100, 50000))
		}
		return l
	default:
		return obj{{"type", "open-source"}, {"spdx", spdx[len(p.id)%len(spdx)]}}
	}
}

func (g *gen) hardwareModels(n int) {
	nSeries := min(n, len(hardwareSeries))
	perSeries := (n + nSeries - 1) / nSeries
	for i := range n {
		s := hardwareSeries[i%nSeries]
		idx := i / nSeries
		number := s.base + idx*s.step
		name := s.vendorSlug + "-" + fmt.Sprintf(s.slugFmt, number)
		g.hardware = append(g.hardware, name)
		age := float64(idx) / float64(perSeries) // 0 for the oldest model of a series, towards 1 for the newest

		var certs []any
		for _, r := range osReleases {
			status := ""
			switch r.name {
			case "windows-10-22h2":
				if age < 0.4 {
					status = "certified"
					if g.chance(0.2) {
						status = "withdrawn"
					}
				}
			case "windows-10-ltsc-2021":
				if s.formFactor == "thin-client" || s.formFactor == "all-in-one" || g.chance(0.2) {
					status = "certified"
				}
			case "windows-11-23h2":
				status = "certified"
				if g.chance(0.05) {
					status = "rejected"
				}
			case "windows-11-24h2":
				status = pickWeighted(g, []string{"certified", "testing", "rejected"}, []float64{0.85, 0.10, 0.05})
			case "windows-11-25h2":
				status = "planned"
				if age > 0.3 {
					status = pickWeighted(g, []string{"certified", "testing", "planned"}, []float64{0.45, 0.35, 0.20})
				}
			case "windows-11-ltsc-2024":
				if g.chance(0.3) {
					status = "certified"
				}
			case "ubuntu-22-04", "ubuntu-24-04":
				if (s.formFactor == "laptop" || s.formFactor == "desktop" || s.formFactor == "workstation") && g.chance(0.15) {
					status = "certified"
				}
			}
			if status == "certified" {
				g.certified[r.name] = append(g.certified[r.name], name)
				g.certifiedOn[[2]string{r.name, name}] = true
			}
			if status != "" {
				certs = append(certs, g.certification(name, s, r, status))
			}
		}
		spec := obj{}
		spec.set("vendor", s.vendor)
		spec.set("model", fmt.Sprintf(s.modelFmt, number))
		spec.set("formFactor", s.formFactor)
		if g.chance(0.75) {
			spec.set("driverPackage", "drivers-"+s.vendorSlug+"-"+s.key)
		}
		spec.set("certifications", certs)
		md := obj{{"name", name}, {"owner", pick(g, g.mems).name}, {"labels", obj{{"formFactor", s.formFactor}, {"vendor", s.vendorSlug}}}}
		g.emit("hardware/"+s.vendorSlug+"/"+name+".yaml", catalog.KindHardwareModel, md, spec)
	}
}

func pickWeighted(g *gen, l []string, w []float64) string {
	r := g.rng.Float64()
	for i, x := range w {
		if r < x {
			return l[i]
		}
		r -= x
	}
	return l[len(l)-1]
}

func (g *gen) certification(model string, s seriesT, r osRelease, status string) obj {
	c := obj{{"osRelease", r.name}, {"status", status}}
	if status == "planned" {
		return c
	}
	released, _ := time.Parse(time.DateOnly, r.released)
	span := int(Reference.Sub(released).Hours()/24) - 15
	when := released.AddDate(0, 0, 14+g.rng.IntN(max(span, 1)))
	mem := pick(g, g.mems).name
	c.set("member", mem)
	c.set("date", date(when))
	reason := ""
	switch status {
	case "certified":
		c.set("evidence", fmt.Sprintf("https://evidence.samverk.example/%s/hardware/%s/%s", mem, model, r.name))
	case "rejected":
		reason = pick(g, []string{"TPM firmware below the required version", "Docking station loses network after resume", "Fingerprint reader has no driver for this release"})
	case "withdrawn":
		reason = "The OS release has reached end of support"
	}
	c.set("reason", reason)
	var results []any
	tests := []string{"boot", "drivers", "bitlocker", "smart-card-reader", "display-scaling"}
	if s.formFactor == "laptop" || s.formFactor == "tablet" {
		tests = append(tests, "sleep-resume", "wifi", "docking")
	}
	for i, t := range tests {
		res := obj{{"test", t}, {"outcome", "pass"}}
		switch {
		case status == "rejected" && i == len(tests)-1:
			res = obj{{"test", t}, {"outcome", "fail"}, {"notes", reason}}
		case status == "testing" && i >= len(tests)/2:
			continue
		case t == "docking" && g.chance(0.2):
			res = obj{{"test", t}, {"outcome", "skipped"}, {"notes", "No dock of this model at the test site"}}
		}
		results = append(results, res)
	}
	c.set("results", results)
	return c
}

// choice is a setting template and the value a baseline gives it.
type choice struct {
	t     settingT
	value any
}

func (g *gen) baselines(n int) {
	shared := max(3, n*6/10)
	winN := max(1, shared*3/4)
	linN := shared - winN
	pool := map[string][]settingT{"windows": windowsSettings, "linux": linuxSettings}
	var sharedList []*baseline
	add := func(b *baseline, description string, settings []choice) {
		b.values = make(map[string]any, len(settings))
		b.covers = make(map[string]bool, len(b.osReleases))
		for _, r := range b.osReleases {
			// Only a family's base extends nothing, and it carries the core settings.
			b.covers[r] = len(b.extends) == 0 || slices.ContainsFunc(b.extends, func(e *baseline) bool { return e.covers[r] })
		}
		var ext []string
		for _, e := range b.extends {
			ext = append(ext, e.name)
		}
		var sets []any
		for _, c := range settings {
			b.values[c.t.id] = c.value
			sets = append(sets, setting(c.t, c.value))
		}
		spec := obj{}
		spec.set("description", description)
		spec.set("osReleases", b.osReleases)
		spec.set("extends", ext)
		spec.set("settings", sets)
		md := obj{{"name", b.name}}
		file := "baselines/" + b.name + ".yaml"
		if b.ns != "" {
			md = append(md, kv{"namespace", b.ns})
			file = "members/" + b.ns + "/baselines/" + b.name + ".yaml"
		}
		// A member's baseline is owned by the member whose folder it lies in; the draw is made
		// either way, so the rest of the catalog comes out the same for a seed.
		owner := pick(g, g.mems).name
		if b.ns != "" {
			owner = b.ns
		}
		md.set("owner", owner)
		g.emit(file, catalog.KindBaseline, md, spec)
		g.bases = append(g.bases, b)
	}
	// Families in order: windows-base first, then linux-base, then mostly Windows.
	var fams []string
	for w, l := winN, linN; w+l > 0; {
		if l > 0 && (len(fams)%4 == 1 || w == 0) {
			fams, l = append(fams, "linux"), l-1
		} else {
			fams, w = append(fams, "windows"), w-1
		}
	}
	for _, family := range fams {
		list := windowsBaselines
		if family == "linux" {
			list = linuxBaselines
		}
		var same []*baseline
		for _, b := range sharedList {
			if b.family == family {
				same = append(same, b)
			}
		}
		nm := named{fmt.Sprintf("%s-profile-%d", family, len(same)), fmt.Sprintf("%s profile %d", family, len(same))}
		if len(same) < len(list) {
			nm = list[len(same)]
		}
		b := &baseline{name: nm.slug, family: family, osReleases: osOf(family)}
		var settings []choice
		if len(same) == 0 {
			// The base: every core setting, and half or more of the others.
			var rest []settingT
			for _, t := range pool[family] {
				if !t.core {
					rest = append(rest, t)
				}
			}
			chosen := map[string]bool{}
			for _, t := range some(g, rest, g.between(len(rest)/2, len(rest))) {
				chosen[t.id] = true
			}
			for _, t := range pool[family] {
				if t.core || chosen[t.id] {
					settings = append(settings, choice{t, t.value})
				}
			}
		} else {
			parent := pick(g, same)
			b.extends = append(b.extends, parent)
			if parent != same[0] && g.chance(0.3) {
				b.extends = append(b.extends, same[0])
			}
			for _, t := range some(g, pool[family], g.between(3, 10)) {
				settings = append(settings, choice{t, g.variant(t)})
			}
			if family == "windows" {
				b.osReleases = some(g, b.osReleases, g.between(2, len(b.osReleases)))
			}
		}
		add(b, nm.display, settings)
		sharedList = append(sharedList, b)
	}
	perNS := map[string][]*baseline{}
	for range n - shared {
		m := pick(g, g.mems)
		family := "windows"
		if g.chance(0.15) {
			family = "linux"
		}
		own := perNS[m.name]
		name := memberBaselinePurposes[len(own)%len(memberBaselinePurposes)]
		if len(own) >= len(memberBaselinePurposes) {
			name = fmt.Sprintf("%s-%d", name, len(own)/len(memberBaselinePurposes)+1)
		}
		b := &baseline{name: name, ns: m.name, family: family, osReleases: osOf(family)}
		var parents []*baseline
		for _, s := range sharedList {
			if s.family == family {
				parents = append(parents, s)
			}
		}
		b.extends = []*baseline{pick(g, parents)}
		for _, o := range own {
			if o.family == family && g.chance(0.3) {
				b.extends = append(b.extends, o)
				break
			}
		}
		add(b, "Local additions of "+m.display, some(g, memberChoices(b, pool[family]), g.between(2, 8)))
		perNS[m.name] = append(own, b)
	}
}

// memberChoices are the settings a member baseline b may write: its own additions, which no
// shared baseline it extends sets, and overrides of shared settings that only tighten them
// (SV-BL-002: a member never weakens a shared setting). Command settings are left to the
// shared baselines: a member's script in place of the consortium's needs a shared waiver
// (SV-BL-005), which the generator does not grant.
func memberChoices(b *baseline, pool []settingT) []choice {
	inherited := map[string][]any{}
	for _, e := range b.closure() {
		if e.ns != "" {
			continue
		}
		for id, v := range e.values {
			inherited[id] = append(inherited[id], v)
		}
	}
	var out []choice
	for _, t := range pool {
		if t.typ == "command" {
			continue
		}
		values, ok := inherited[t.id]
		if !ok {
			out = append(out, choice{t, t.value})
			continue
		}
		if v, ok := stricter(t, strictest(t, values)); ok {
			out = append(out, choice{t, v})
		}
	}
	return out
}

// strictest is the strictest of the values shared baselines give a setting, or nil when they
// are not all numbers.
func strictest(t settingT, values []any) any {
	var best int
	for i, v := range values {
		n, ok := v.(int)
		if !ok {
			return nil
		}
		if i == 0 || t.enforce == "at-most" && n < best || t.enforce == "at-least" && n > best {
			best = n
		}
	}
	return best
}

// stricter returns a value stricter than v in the direction the setting's enforce allows, if
// there is one: a longer password, a shorter timeout.
func stricter(t settingT, v any) (any, bool) {
	n, ok := v.(int)
	switch {
	case !ok:
	case t.enforce == "at-most" && n > 1:
		return n * 2 / 3, true
	case t.enforce == "at-least":
		return n + max(1, n/7), true
	}
	return nil, false
}

// variant is the value a derived shared baseline gives a setting: mostly the template's,
// sometimes a stricter or an alternative one.
func (g *gen) variant(t settingT) any {
	if !g.chance(0.3) {
		return t.value
	}
	if v, ok := stricter(t, t.value); ok {
		return v
	}
	if t.alt != nil {
		return t.alt
	}
	return t.value
}

// setting writes a template with value.
func setting(t settingT, value any) obj {
	s := obj{{"id", t.id}}
	s.set("title", t.title)
	s.set("type", t.typ)
	s.set("target", t.target)
	if value != nil {
		s.set("value", value)
	}
	s.set("valueType", t.valueType)
	s.set("mode", t.mode)
	s.set("check", t.check)
	s.set("set", t.set)
	if t.typ == "command" {
		s.set("timeoutSeconds", 120)
	}
	s.set("enforce", t.enforce)
	var refs []any
	for _, r := range t.refs {
		refs = append(refs, obj{{"source", r[0]}, {"item", r[1]}})
	}
	s.set("references", refs)
	return s
}
