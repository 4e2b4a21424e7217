package compile

import (
	"encoding/json"
	"sync"
	"testing"

	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/desired"
)

// fleet is one device of every outcome the fixture has, and some twins.
var fleet = []Device{
	with(dell, map[string]string{"role": "staff"}),                  // staff, upgrade
	with(hp, map[string]string{"role": "staff"}),                    // staff, not certified
	with(odd, map[string]string{"role": "staff"}),                   // staff, unknown hardware
	with(dell, map[string]string{"ring": "pilot"}),                  // pilot-laptops, upgrade
	with(dell, map[string]string{"role": "staff", "site": "lulea"}), // dell-staff, at target
	dell, // everyone
	{Member: "uni-syd", OSFamily: "windows", OSBuild: "22631"}, // no group
	{Member: "nobody"}, // no groups at all
	with(dell, map[string]string{"role": "staff", "site": "umea"}), // twin of the first
	with(hp, map[string]string{"ring": "pilot", "role": "staff"}),  // pilot-laptops, not certified
}

const distinctOutcomes = 9

func TestCompilerSharesStates(t *testing.T) {
	c := New(fixture(t), "r1")
	if err := c.Err(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	got := make([][]*desired.State, 8)
	for g := range got {
		wg.Go(func() {
			for range 50 {
				for _, d := range fleet {
					st, _ := c.Desired(d)
					got[g] = append(got[g], st)
				}
			}
		})
	}
	wg.Wait()
	if s := c.Stats(); s.Compiled != distinctOutcomes || s.Reused != 0 {
		t.Errorf("stats %+v, want %d compiled", s, distinctOutcomes)
	}
	for g := range got {
		for i, st := range got[g] {
			if st != got[0][i] {
				t.Fatalf("goroutine %d got another State for device %d", g, i%len(fleet))
			}
		}
	}
	// Shared states are what an uncached compile gives.
	ix := c.Index()
	for _, d := range fleet {
		st, p := c.Desired(d)
		want, wp := ix.Compile(d, "r1")
		if p != wp || mustJSON(t, st) != mustJSON(t, want) {
			t.Errorf("device %+v: memoised state differs from a fresh compile", d)
		}
	}
	a, _ := c.Desired(fleet[0])
	b, _ := c.Desired(fleet[8])
	if a != b {
		t.Errorf("twins do not share a State")
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestNext(t *testing.T) {
	tests := []struct {
		name  string
		patch string
		// recompiled is how many of the fleet's outcomes compile again, bodies how many of
		// their shared bodies (-1: do not check), patched how many bodies are patched instead.
		recompiled, bodies, patched int
	}{
		{name: "nothing changed", recompiled: 0},
		{
			name: "an OS release: the States that name it, but no body",
			patch: `apiVersion: samverk.io/v1
kind: OSRelease
metadata: {name: win11-24h2}
spec: {family: windows, version: 24H2, build: "26100", releaseDate: 2024-10-01, endOfSupport: 2028-10-10}
`,
			// staff and pilot-laptops upgrades (dell; hp on pilot is not certified but names it).
			recompiled: 5,
		},
		{
			name: "a document compile does not read",
			patch: `apiVersion: samverk.io/v1
kind: Member
metadata: {name: region-norr}
spec: {type: region, displayName: Region Norr, contacts: []}
`,
		},
		{
			name: "a new version of a product two groups use",
			patch: `apiVersion: samverk.io/v1
kind: Package
metadata: {name: newapp-1-1}
spec:
  product: newapp
  displayName: New App
  vendor: Example
  version: "1.1"
  installer: {type: script, install: install.ps1}
  osReleases: [win11-23h2, win11-24h2]
  lifecycle: {stage: approved}
`,
			// staff x3 outcomes, pilot-laptops x2; one body each for staff on 23H2 and 24H2, one
			// for pilot-laptops on 24H2 and one on 23H2. None is patched: 1.0 needs webview2,
			// 1.1 nothing.
			recompiled: 5, bodies: 4,
		},
		{
			name: "a dependency's new version reaches its dependents' outcomes",
			patch: `apiVersion: samverk.io/v1
kind: Package
metadata: {name: vcredist-14-40}
spec:
  product: vcredist
  displayName: Visual C++ Redistributable
  vendor: Microsoft
  version: "14.40"
  installer: {type: winget, wingetId: Microsoft.VCRedist.2015+.x64.fixed}
  osReleases: [win11-22h2, win11-23h2, win11-24h2]
  lifecycle: {stage: approved}
`,
			// staff x3, pilot-laptops x2, dell-staff. Only vcredist's resource changes in their
			// bodies: each is patched.
			recompiled: 6, bodies: 0, patched: 5,
		},
		{
			name: "a member baseline that shadows a shared one",
			patch: `apiVersion: samverk.io/v1
kind: Baseline
metadata: {name: cis-l1, namespace: region-norr}
spec:
  osReleases: [win11-24h2]
  settings: [{id: x, type: service, target: Fax, value: stopped}]
`,
			// staff x3 name cis-l1; pilot-laptops' norr-hardening extends it.
			recompiled: 5, bodies: 4,
		},
		{
			name: "a base baseline",
			patch: `apiVersion: samverk.io/v1
kind: Baseline
metadata: {name: win11-base}
spec:
  osReleases: [win11-23h2, win11-24h2]
  settings: [{id: x, type: service, target: Fax, value: stopped}]
`,
			// Everyone that reaches it: staff x3, pilot x2, everyone.
			recompiled: 6, bodies: 5,
		},
		{
			name: "certification moves a device to an outcome compiled already",
			patch: `apiVersion: samverk.io/v1
kind: HardwareModel
metadata: {name: hp-elitebook-840-g10}
spec:
  vendor: HP
  model: HP EliteBook 840 G10
  formFactor: laptop
  certifications:
    - {osRelease: win11-23h2, status: certified}
    - {osRelease: win11-24h2, status: certified}
`,
			recompiled: 0,
		},
		{
			name: "a new group for a member",
			patch: `apiVersion: samverk.io/v1
kind: DeviceGroup
metadata: {name: all, namespace: uni-syd}
spec: {selector: {}, ring: broad}
`,
			recompiled: 1, bodies: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := New(fixture(t), "r1")
			bodies := 0
			before := map[int]*desired.State{}
			for i, d := range fleet {
				before[i], _ = old.Desired(d)
			}
			var patches []string
			if tt.patch != "" {
				patches = append(patches, tt.patch)
			}
			cat := fixture(t, patches...)
			next := old.Next(cat, "r2")
			fresh := New(cat, "r2")
			for i, d := range fleet {
				st, p := next.Desired(d)
				want, wp := fresh.Desired(d)
				if p != wp || mustJSON(t, st) != mustJSON(t, want) {
					t.Errorf("device %d: incremental state differs from a full compile:\n%s\n%s", i, mustJSON(t, st), mustJSON(t, want))
				}
				if st.Revision != "r2" {
					t.Errorf("device %d: revision %q", i, st.Revision)
				}
				if b, _ := old.Desired(d); b != before[i] || b.Revision != "r1" {
					t.Errorf("device %d: the old compiler's state changed", i)
				}
			}
			s := next.Stats()
			if s.Compiled != tt.recompiled || s.Reused != distinctOutcomes-tt.recompiled {
				t.Errorf("stats %+v, want %d compiled, %d reused", s, tt.recompiled, distinctOutcomes-tt.recompiled)
			}
			bodies = fresh.Stats().Bodies
			if tt.bodies >= 0 && s.Bodies != tt.bodies || s.Bodies+s.Patched > bodies {
				t.Errorf("%d bodies compiled, want %d (a full compile: %d)", s.Bodies, tt.bodies, bodies)
			}
			if s.Patched != tt.patched {
				t.Errorf("%d bodies patched, want %d", s.Patched, tt.patched)
			}
		})
	}
}

func TestNextChained(t *testing.T) {
	c := New(fixture(t), "r1")
	for _, d := range fleet {
		c.Desired(d)
	}
	cat := fixture(t)
	for i := range 3 {
		c = c.Next(cat, "r"+string(rune('2'+i)))
	}
	for _, d := range fleet {
		c.Desired(d)
	}
	if s := c.Stats(); s.Compiled != 0 || s.Reused != distinctOutcomes {
		t.Errorf("stats %+v", s)
	}
	// A document removed: every outcome that read it compiles again.
	var docs []*catalog.Document
	for _, d := range cat.Docs {
		if d.Name != "collaboration" {
			docs = append(docs, d)
		}
	}
	cat2, _ := catalog.New(docs)
	c = c.Next(cat2, "r9")
	st, _ := c.Desired(fleet[0])
	if resource(st, "package/teams") != nil || c.Stats().Compiled != 1 {
		t.Errorf("teams still present after its service went, stats %+v", c.Stats())
	}
}

// A daemon serves the old revision while it prepares the next; both must stay consistent.
func TestNextWhileServing(t *testing.T) {
	old := New(fixture(t), "r1")
	for _, d := range fleet[:4] {
		old.Desired(d)
	}
	cat := fixture(t, `apiVersion: samverk.io/v1
kind: Package
metadata: {name: newapp-1-1}
spec:
  product: newapp
  displayName: New App
  vendor: Example
  version: "1.1"
  installer: {type: script, install: install.ps1}
  osReleases: [win11-23h2, win11-24h2]
  lifecycle: {stage: approved}
`)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				for _, d := range fleet {
					if st, _ := old.Desired(d); st.Revision != "r1" {
						t.Errorf("old compiler serves %s", st.Revision)
						return
					}
				}
			}
		})
	}
	next := old
	for i := range 5 {
		next = next.Next(cat, "r2-"+string(rune('a'+i)))
		serve(next, fleet, 3)
	}
	close(stop)
	wg.Wait()
	fresh := New(cat, "x")
	for _, d := range fleet {
		a, _ := next.Desired(d)
		b, _ := fresh.Desired(d)
		if a.Hash != b.Hash {
			t.Errorf("%+v: %s != %s", d, a.Hash, b.Hash)
		}
	}
}
