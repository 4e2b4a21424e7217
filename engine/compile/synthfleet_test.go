package compile

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/pkgversion"
	"samverk.io/samverk/engine/synth"
)

// engineSynthFleet is a fleet over the catalog engine/synth generates. That catalog has no
// devices, so they are made from its device groups: each group gets an even share, with the
// labels its selector asks for, one of its hardware models (or one certified by its member),
// and an OS build mostly near the group's target.
func engineSynthFleet(tb testing.TB, devices int, seed int64) *synthFleet {
	tb.Helper()
	fsys, _, err := synth.FS(synth.Options{Seed: seed})
	if err != nil {
		tb.Fatal(err)
	}
	res, err := catalog.Load(fsys, catalog.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	if len(res.Findings) > 0 {
		tb.Fatalf("synth catalog: %v", res.Findings[0])
	}
	cat := res.Catalog
	ix, _ := NewIndex(cat)
	r := rand.New(rand.NewPCG(uint64(seed), 7))

	// Hardware by the member that certified it, and OS releases by family, oldest build first.
	hwOf := map[string][]*hwModel{}
	var allHW []*hwModel
	for _, name := range slices.Sorted(mapKeys(ix.hwByName)) {
		h := ix.hwByName[name]
		allHW = append(allHW, h)
		for _, c := range h.spec.Certifications {
			if c.Member != "" && !slices.Contains(hwOf[c.Member], h) {
				hwOf[c.Member] = append(hwOf[c.Member], h)
			}
		}
	}
	osOfFamily := map[string][]*osRelease{}
	for _, name := range slices.Sorted(mapKeys(ix.osByName)) {
		o := ix.osByName[name]
		osOfFamily[o.spec.Family] = append(osOfFamily[o.spec.Family], o)
	}
	for _, rs := range osOfFamily {
		slices.SortFunc(rs, func(a, b *osRelease) int {
			return cmp.Or(pkgversion.Compare(a.spec.Build, b.spec.Build), cmp.Compare(a.name, b.name))
		})
	}

	groups := cat.OfKind(catalog.KindDeviceGroup)
	f := &synthFleet{cat: cat, docs: cat.Docs}
	use := map[string]int{}
	for gi, d := range groups {
		g := ix.docs[d.Ref()].val.(*group)
		for _, p := range g.spec.Products {
			use[p]++
		}
		n := devices / len(groups)
		if gi < devices%len(groups) {
			n++
		}
		family := "windows"
		if t := ix.osByName[g.spec.OSRelease]; t != nil {
			family = t.spec.Family
		}
		releases := osOfFamily[family]
		pool := hwOf[g.ref.Namespace]
		if len(pool) == 0 {
			pool = allHW
		}
		for range n {
			dev := Device{Member: g.ref.Namespace, OSFamily: family, Labels: map[string]string{}}
			for k, v := range g.spec.Selector.Labels {
				dev.Labels[k] = v
			}
			var h *hwModel
			switch {
			case r.IntN(50) == 0:
				dev.Vendor, dev.Model = "Whitebox", "Custom"
			case len(g.spec.Selector.HardwareModels) > 0:
				h = ix.hwByName[g.spec.Selector.HardwareModels[r.IntN(len(g.spec.Selector.HardwareModels))]]
			default:
				h = pool[r.IntN(len(pool))]
			}
			if h != nil {
				dev.Vendor, dev.Model = h.spec.Vendor, h.spec.Model
			}
			// Most devices on the newest builds, a tail on older ones.
			i := len(releases) - 1 - min(len(releases)-1, int(float64(len(releases))*r.Float64()*r.Float64()))
			dev.OSBuild = releases[i].spec.Build
			if r.IntN(500) == 0 {
				dev.OSBuild = "99999"
			}
			f.devices = append(f.devices, dev)
		}
	}
	f.productsByUse = slices.SortedFunc(mapKeys(use), func(a, b string) int { return cmp.Or(use[b]-use[a], cmp.Compare(a, b)) })
	return f
}

var (
	engineSynthOnce sync.Once
	engineSynth     *synthFleet
)

func benchEngineSynthFleet(b *testing.B) *synthFleet {
	engineSynthOnce.Do(func() { engineSynth = engineSynthFleet(b, 370_000, 1) })
	return engineSynth
}

func TestEngineSynthFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 10,000-document catalog")
	}
	f := engineSynthFleet(t, testFleetDevices, 2)
	c := New(f.cat, "r1")
	profiles := map[Profile]bool{}
	var resources, noGroup int
	for _, d := range f.devices {
		st, p := c.Desired(d)
		profiles[p] = true
		resources += len(st.Resources)
		if st.Group == "" {
			noGroup++
		}
	}
	t.Logf("%d devices, %d profiles, %d states, %d bodies, %.0f resources per device, %d without group; index: %v",
		len(f.devices), len(profiles), c.Stats().Compiled, c.Stats().Bodies, float64(resources)/float64(len(f.devices)), noGroup, c.Err())
	if resources/len(f.devices) < 20 || noGroup > len(f.devices)/10 {
		t.Errorf("devices do not exercise the catalog")
	}
	cat2 := f.withChangedPackageFresh(t, f.productsByUse[len(f.productsByUse)/2])
	next, full := c.Next(cat2, "r2"), New(cat2, "r2")
	for _, d := range f.devices[:min(3000, len(f.devices))] {
		a, _ := next.Desired(d)
		b, _ := full.Desired(d)
		if a.Hash != b.Hash {
			t.Fatalf("incremental and full compile disagree for %+v", d)
		}
	}
}
