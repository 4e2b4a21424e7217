package compile

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/desired"
)

// A synthetic consortium for benchmarks: a catalog of about 10,000 documents in the
// proportions of the real one (62% packages, 31% device groups, 3% hardware models, 2%
// services, 1% waivers, 0.4% baselines, 8 OS releases, 45 members), and a fleet of devices
// spread over the members the way PCs are: a few models per member, most on the newest two
// builds, a few on unknown hardware or an unknown build.

type synthOS struct{ name, family, version, build string }

var synthOSReleases = []synthOS{
	{"win10-22h2", "windows", "22H2", "19045"},
	{"win11-22h2", "windows", "22H2", "22621"},
	{"win11-23h2", "windows", "23H2", "22631"},
	{"win11-24h2", "windows", "24H2", "26100"},
	{"win11-25h2", "windows", "25H2", "26200"},
	{"win11-26h1", "windows", "26H1", "28000"},
	{"ubuntu-2204", "linux", "22.04", "5.15"},
	{"ubuntu-2404", "linux", "24.04", "6.8"},
}

// The Windows releases packages and baselines name, and how devices are spread over them.
var (
	synthWin       = []string{"win10-22h2", "win11-22h2", "win11-23h2", "win11-24h2", "win11-25h2", "win11-26h1"}
	synthBuildMix  = []int{1, 3, 25, 55, 13, 3} // percent, per synthWin entry
	synthRoles     = []string{"staff", "student", "clinician", "teacher", "admin", "kiosk", "lab", "developer"}
	synthSites     = []string{"north", "south", "east", "west", "centre", "harbour", "campus", "depot"}
	synthVendors   = []string{"Dell Inc.", "HP", "LENOVO", "Microsoft Corporation", "FUJITSU"}
	synthRuntimes  = []string{"vcredist", "dotnet-desktop", "webview2", "java-runtime", "python"}
	synthStatusMix = []string{"certified", "certified", "certified", "certified", "certified", "certified", "testing", "testing", "planned", "rejected"}
)

type synthFleet struct {
	cat     *catalog.Catalog
	docs    []*catalog.Document
	devices []Device
	// products by how many groups name them, most first.
	productsByUse []string
}

type synthGen struct {
	r     *rand.Rand
	files map[string]*strings.Builder
	docs  int
}

func (g *synthGen) emit(file, format string, args ...any) {
	b := g.files[file]
	if b == nil {
		b = &strings.Builder{}
		g.files[file] = b
	}
	fmt.Fprintf(b, "---\napiVersion: samverk.io/v1\n"+format, args...)
	g.docs++
}

// zipf picks an index in [0,n) with a heavy head.
func (g *synthGen) zipf(n int) int {
	for {
		i := int(float64(n) * g.r.Float64() * g.r.Float64() * g.r.Float64())
		if i < n {
			return i
		}
	}
}

func (g *synthGen) pickN(n, k int, skew bool) []int {
	seen := map[int]bool{}
	var out []int
	for len(out) < k && len(seen) < n {
		i := g.r.IntN(n)
		if skew {
			i = g.zipf(n)
		}
		if !seen[i] {
			seen[i] = true
			out = append(out, i)
		}
	}
	slices.Sort(out)
	return out
}

func yamlList(items []string) string { return "[" + strings.Join(items, ", ") + "]" }

// newSynthFleet builds the catalog and the devices; the same seed gives the same fleet.
func newSynthFleet(tb testing.TB, devices int, seed uint64) *synthFleet {
	tb.Helper()
	g := &synthGen{r: rand.New(rand.NewPCG(seed, 42)), files: map[string]*strings.Builder{}}
	const (
		members   = 45
		hardware  = 300
		baselines = 40
		services  = 200
		waivers   = 100
		groups    = 3100
		packages  = 10_000 - 8 - members - hardware - baselines - services - waivers - groups
	)
	for _, o := range synthOSReleases {
		g.emit("os.yaml", "kind: OSRelease\nmetadata: {name: %s}\nspec: {family: %s, version: %q, build: %q, releaseDate: 2024-01-01, endOfSupport: 2030-01-01}\n",
			o.name, o.family, o.version, o.build)
	}
	memberNames := make([]string, members)
	for i := range members {
		memberNames[i] = fmt.Sprintf("member-%02d", i)
		g.emit("members.yaml", "kind: Member\nmetadata: {name: %s}\nspec: {type: region, displayName: Member %d, contacts: [{role: operations, name: Ops, email: ops@m%d.example}]}\n",
			memberNames[i], i, i)
	}

	// Hardware: certified for the established releases, mixed for the newest two.
	type hw struct{ name, vendor, model string }
	hws := make([]hw, hardware)
	for i := range hardware {
		v := synthVendors[i%len(synthVendors)]
		h := hw{fmt.Sprintf("hw-%03d", i), v, fmt.Sprintf("Model %03d G%d", i, 1+i%9)}
		hws[i] = h
		var certs []string
		for j, os := range synthWin {
			status := "certified"
			if j >= 4 {
				status = synthStatusMix[g.r.IntN(len(synthStatusMix))]
			}
			certs = append(certs, fmt.Sprintf("    - {osRelease: %s, status: %s, member: %s}", os, status, memberNames[i%members]))
		}
		g.emit(fmt.Sprintf("hardware/%s.yaml", strings.ToLower(strings.Fields(v)[0])),
			"kind: HardwareModel\nmetadata: {name: %s}\nspec:\n  vendor: %s\n  model: %s\n  formFactor: laptop\n  certifications:\n%s\n",
			h.name, h.vendor, h.model, strings.Join(certs, "\n"))
	}

	// Packages: runtimes first, then products of 1 to 8 versions each until the budget is spent.
	type prod struct {
		id       string
		versions int
	}
	var prods []prod
	left := packages
	for _, rt := range synthRuntimes {
		prods = append(prods, prod{rt, 6})
		left -= 6
	}
	for i := 0; left > 0; i++ {
		n := min(left, 1+g.r.IntN(8))
		prods = append(prods, prod{fmt.Sprintf("app-%04d", i), n})
		left -= n
	}
	productIDs := make([]string, len(prods))
	for pi, p := range prods {
		productIDs[pi] = p.id
		major := 1 + g.r.IntN(120)
		for v := range p.versions {
			version := fmt.Sprintf("%d.%d.%d", major, v*3+g.r.IntN(3), g.r.IntN(20))
			stage := "approved"
			switch {
			case v == p.versions-1 && p.versions > 1 && g.r.IntN(4) == 0:
				stage = "user-test"
			case v == 0 && p.versions > 3:
				stage = "retired"
			case v == 1 && p.versions > 4:
				stage = "deprecated"
			}
			oses := synthWin[1:]
			if v < p.versions/2 {
				oses = synthWin[:5] // older versions predate the newest release
			}
			var extra strings.Builder
			if pi >= len(synthRuntimes) && g.r.IntN(6) == 0 {
				rt := synthRuntimes[g.r.IntN(len(synthRuntimes))]
				fmt.Fprintf(&extra, "  dependencies: [{product: %s", rt)
				if g.r.IntN(2) == 0 {
					fmt.Fprintf(&extra, ", minVersion: \"1\"")
				}
				extra.WriteString("}]\n")
			}
			if v > 0 && g.r.IntN(2) == 0 {
				fmt.Fprintf(&extra, "  supersedes: [%s-v%d]\n", p.id, v-1)
			}
			g.emit(fmt.Sprintf("packages/%s.yaml", p.id),
				"kind: Package\nmetadata: {name: %s-v%d}\nspec:\n  product: %s\n  displayName: %s\n  vendor: Example\n  version: %q\n"+
					"  installer: {type: msi, source: {url: https://pkg.example/%s/%s.msi, sha256: \"%064x\"}, detect: {productCode: \"{%08X-0000-0000-0000-%012X}\"}, arguments: [/qn, /norestart]}\n"+
					"  osReleases: %s\n  lifecycle: {stage: %s, records: [{stage: infra-test, date: 2026-01-10, member: %s, result: pass}]}\n%s",
				p.id, v, p.id, p.id, version, p.id, version, g.r.Uint64(), pi, v, yamlList(oses), stage, memberNames[pi%members], extra.String())
		}
	}

	// Baselines: 10 shared roots, 15 shared extending them, 15 member baselines extending those.
	var shared []string
	for i := range baselines {
		name := fmt.Sprintf("baseline-%02d", i)
		ns, ext := "", ""
		switch {
		case i >= 25:
			ns = fmt.Sprintf(", namespace: %s", memberNames[i-25])
			ext = fmt.Sprintf("  extends: [%s]\n", shared[10+g.r.IntN(15)])
		case i >= 10:
			ext = fmt.Sprintf("  extends: [%s]\n", shared[g.r.IntN(10)])
		}
		if ns == "" {
			shared = append(shared, name)
		}
		var settings strings.Builder
		for s := range 40 + g.r.IntN(60) {
			id := fmt.Sprintf("s%03d", g.r.IntN(300)) // overlapping ids: extending baselines override
			if s%7 == 0 {
				fmt.Fprintf(&settings, "    - {id: %s-%d, type: service, target: Svc%d, value: disabled, references: [{source: CIS, item: \"5.%d\"}]}\n", id, s, s, s)
			} else if s%11 == 0 {
				fmt.Fprintf(&settings, "    - {id: %s-%d, type: command, target: c%d, check: 'Test-Thing %d', set: 'Set-Thing %d', timeoutSeconds: 30}\n", id, s, s, s, s)
			} else {
				fmt.Fprintf(&settings, "    - {id: %s, type: registry, target: 'HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows\\Area%d\\Value%d', value: %d, references: [{source: MSB, item: \"%d.%d\"}]}\n",
					id, s%17, s, g.r.IntN(100), i, s)
			}
		}
		g.emit("baselines.yaml", "kind: Baseline\nmetadata: {name: %s%s}\nspec:\n  osReleases: %s\n%s  settings:\n%s",
			name, ns, yamlList(synthWin[2:]), ext, settings.String())
	}

	serviceNames := make([]string, services)
	for i := range services {
		serviceNames[i] = fmt.Sprintf("service-%03d", i)
		var ps []string
		for _, j := range g.pickN(len(prods), 1+g.r.IntN(4), true) {
			ps = append(ps, productIDs[j])
		}
		g.emit("services.yaml", "kind: Service\nmetadata: {name: %s}\nspec:\n  displayName: Service %d\n  delivers: {products: %s}\n  requestableBy: {memberTypes: [region]}\n  approval: none\n  duration: {type: permanent}\n  provisioning: automated\n  cost: {model: free}\n",
			serviceNames[i], i, yamlList(ps))
	}
	for i := range waivers {
		g.emit("waivers.yaml", "kind: Waiver\nmetadata: {name: waiver-%03d}\nspec: {policy: SV-PKG-002, targets: [{kind: Package, name: %s-v0}], reason: a synthetic waiver for benchmarks, approvedBy: board, expires: 2027-01-01}\n",
			i, productIDs[i%len(productIDs)])
	}

	// Device groups: each member has a catch-all, a group per role and site, and a few for
	// hardware models, up to 3,100 in all.
	memberHW := make([][]hw, members)
	use := map[string]int{}
	for m := range members {
		for _, j := range g.pickN(hardware, 8+g.r.IntN(8), false) {
			memberHW[m] = append(memberHW[m], hws[j])
		}
	}
	for i := range groups {
		m := i % members
		k := i / members // the member's k-th group
		sel, prio := "{}", 1000
		switch {
		case k == 0:
		case k <= len(synthRoles)*len(synthSites):
			sel = fmt.Sprintf("{labels: {role: %s, site: %s}}", synthRoles[(k-1)%len(synthRoles)], synthSites[(k-1)/len(synthRoles)])
			prio = 100 + g.r.IntN(50)
		default:
			sel = fmt.Sprintf("{labels: {role: %s}, hardwareModels: [%s]}", synthRoles[g.r.IntN(len(synthRoles))], memberHW[m][g.r.IntN(len(memberHW[m]))].name)
			prio = 10 + g.r.IntN(50)
		}
		ring := "broad"
		switch r := g.r.IntN(20); {
		case r == 0:
			ring = "pilot"
		case r < 4:
			ring = "early"
		}
		target := "win11-24h2"
		if ring == "pilot" {
			target = "win11-25h2"
		}
		bls := []string{shared[g.r.IntN(len(shared))]}
		if own := 25 + m%15; m < 15 && g.r.IntN(2) == 0 {
			bls = append(bls, fmt.Sprintf("baseline-%02d", own))
		}
		var ps, ss []string
		for _, j := range g.pickN(len(prods), 10+g.r.IntN(30), true) {
			ps = append(ps, productIDs[j])
			use[productIDs[j]]++
		}
		for _, j := range g.pickN(services, 2+g.r.IntN(5), true) {
			ss = append(ss, serviceNames[j])
		}
		g.emit(fmt.Sprintf("members/%s/groups.yaml", memberNames[m]),
			"kind: DeviceGroup\nmetadata: {name: group-%03d, namespace: %s}\nspec:\n  priority: %d\n  selector: %s\n  ring: %s\n  osRelease: %s\n  baselines: %s\n  services: %s\n  products: %s\n",
			k, memberNames[m], prio, sel, ring, target, yamlList(bls), yamlList(ss), yamlList(ps))
	}

	var docs []*catalog.Document
	for _, name := range slices.Sorted(mapKeys(g.files)) {
		ds, findings := catalog.ParseYAML(name, []byte(g.files[name].String()), 0)
		if len(findings) > 0 {
			tb.Fatalf("synthetic %s: %v", name, findings[0])
		}
		docs = append(docs, ds...)
	}
	cat, dups := catalog.New(slices.Clone(docs))
	if len(dups) > 0 || cat.Len() != 10_000 {
		tb.Fatalf("synthetic catalog: %d documents, %d duplicates", cat.Len(), len(dups))
	}

	// Devices: members of very different sizes.
	weights := make([]float64, members)
	total := 0.0
	for m := range members {
		weights[m] = 1 / float64(1+m%15)
		total += weights[m]
	}
	f := &synthFleet{cat: cat, docs: docs}
	for m := range members {
		n := int(float64(devices) * weights[m] / total)
		if m == members-1 {
			n = devices - len(f.devices)
		}
		for range n {
			d := Device{Member: memberNames[m], OSFamily: "windows",
				Labels: map[string]string{"role": synthRoles[g.zipf(len(synthRoles))], "site": synthSites[g.zipf(len(synthSites))]}}
			if g.r.IntN(50) == 0 {
				d.Vendor, d.Model = "Whitebox", fmt.Sprintf("Custom %d", g.r.IntN(20))
			} else {
				h := memberHW[m][g.zipf(len(memberHW[m]))]
				d.Vendor, d.Model = h.vendor, h.model
			}
			p := g.r.IntN(100)
			for i, pct := range synthBuildMix {
				if p -= pct; p < 0 {
					d.OSBuild = synthOSReleases[i].build
					break
				}
			}
			if g.r.IntN(500) == 0 {
				d.OSBuild = "99999"
			}
			f.devices = append(f.devices, d)
		}
	}
	f.productsByUse = slices.SortedFunc(mapKeys(use), func(a, b string) int {
		if use[a] != use[b] {
			return use[b] - use[a]
		}
		return strings.Compare(a, b)
	})
	return f
}

// withChangedPackage returns the fleet's catalog with the newest version of product promoted
// (or demoted) between user-test and approved: the commit of a packager. The other documents
// are shared with the fleet's catalog, as a load through a catalog.Cache shares them.
func (f *synthFleet) withChangedPackage(tb testing.TB, product string) *catalog.Catalog {
	return f.changePackage(tb, product, false)
}

// withChangedPackageFresh is withChangedPackage with every document a new one, as a load
// without a cache makes them.
func (f *synthFleet) withChangedPackageFresh(tb testing.TB, product string) *catalog.Catalog {
	return f.changePackage(tb, product, true)
}

func (f *synthFleet) changePackage(tb testing.TB, product string, fresh bool) *catalog.Catalog {
	tb.Helper()
	var last *catalog.Document
	for _, d := range f.docs {
		if d.Kind == catalog.KindPackage && d.Spec()["product"] == product {
			last = d
		}
	}
	if last == nil {
		tb.Fatalf("no package of %s", product)
	}
	changed := editedDoc(last, func(spec map[string]any) {
		stage := "approved"
		if spec["lifecycle"].(map[string]any)["stage"] == "approved" {
			stage = "user-test"
		}
		spec["lifecycle"] = map[string]any{"stage": stage}
	})
	docs := make([]*catalog.Document, 0, len(f.docs))
	for _, d := range f.docs {
		switch {
		case d == last:
			d = changed
		case fresh:
			c := *d
			d = &c
		}
		docs = append(docs, d)
	}
	cat, _ := catalog.New(docs)
	return cat
}

// editedDoc returns a copy of doc, a fresh document as a loader reading a new commit makes
// it, with its spec changed by edit.
func editedDoc(doc *catalog.Document, edit func(spec map[string]any)) *catalog.Document {
	spec := maps.Clone(doc.Spec())
	edit(spec)
	obj := maps.Clone(doc.Object)
	obj["spec"] = spec
	changed := *doc
	changed.Object = obj
	return &changed
}

var (
	ownFleetOnce sync.Once
	ownFleet     *synthFleet
)

func benchFleet(b *testing.B) *synthFleet {
	ownFleetOnce.Do(func() { ownFleet = newSynthFleet(b, 370_000, 1) })
	return ownFleet
}

// serve computes the desired state of every device on all processors, as the daemon's pollers
// would ask for them.
func serve(c *Compiler, devs []Device, workers int) {
	var wg sync.WaitGroup
	chunk := (len(devs) + workers - 1) / workers
	for lo := 0; lo < len(devs); lo += chunk {
		part := devs[lo:min(lo+chunk, len(devs))]
		wg.Go(func() {
			for _, d := range part {
				c.Desired(d)
			}
		})
	}
	wg.Wait()
}

func TestSynthFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 10,000-document catalog")
	}
	f := newSynthFleet(t, testFleetDevices, 1)
	c := New(f.cat, "r1")
	if err := c.Err(); err != nil {
		t.Fatalf("synthetic catalog does not index cleanly: %v", err)
	}
	profiles := map[Profile]bool{}
	states := map[string]bool{}
	var resources, noGroup int
	checked := map[*desired.State]bool{}
	for _, d := range f.devices {
		st, p := c.Desired(d)
		profiles[p] = true
		states[st.Hash] = true
		resources += len(st.Resources)
		if st.Group == "" {
			noGroup++
		}
		if !checked[st] {
			checked[st] = true
			if !checkState(t, c, st) {
				t.Fatalf("profile %s", p)
			}
		}
	}
	t.Logf("%d devices, %d profiles, %d states compiled (%d distinct) from %d bodies and %d settings bodies, %.0f resources per device, %d without group",
		len(f.devices), len(profiles), c.Stats().Compiled, len(states), len(c.ix.bodyMemo), len(c.ix.settingsMemo),
		float64(resources)/float64(len(f.devices)), noGroup)
	if c.Stats().Compiled > len(profiles) || len(states) > c.Stats().Compiled {
		t.Errorf("more states than profiles")
	}
	if resources/len(f.devices) < 50 {
		t.Errorf("synthetic devices get only %d resources each; the benchmark would flatter", resources/len(f.devices))
	}
	// Incremental compilation agrees with a full one on the synthetic catalog too.
	cat2 := f.withChangedPackage(t, f.productsByUse[len(f.productsByUse)/4])
	next, full := c.Next(cat2, "r2"), New(cat2, "r2")
	for _, d := range f.devices[:2000] {
		a, _ := next.Desired(d)
		b, _ := full.Desired(d)
		if a.Hash != b.Hash {
			t.Fatalf("incremental and full compile disagree for %+v", d)
		}
	}
	if s := next.Stats(); s.Reused == 0 || s.Compiled == 0 {
		t.Errorf("stats %+v", s)
	}
}
