package refs

import (
	"os"
	"slices"
	"strings"
	"testing"

	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/finding"
)

// parse loads testdata/base.yaml plus the given case file into a catalog.
func parse(t testing.TB, caseYAML string) *catalog.Catalog {
	t.Helper()
	base, err := os.ReadFile("testdata/base.yaml")
	if err != nil {
		t.Fatal(err)
	}
	docs, fnd := catalog.ParseYAML("base.yaml", base, 0)
	more, fnd2 := catalog.ParseYAML("case.yaml", []byte(caseYAML), 0)
	if fnd = append(fnd, fnd2...); len(fnd) > 0 {
		t.Fatalf("fixture does not parse: %v", fnd)
	}
	cat, dups := catalog.New(append(docs, more...))
	if len(dups) > 0 {
		t.Fatalf("fixture has duplicate documents: %v", dups[0][1].Ref())
	}
	return cat
}

func render(fs []finding.Finding) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.String()
	}
	return out
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{
			name: "clean",
			yaml: "",
			want: nil,
		},
		{
			name: "device group os release with suggestion",
			yaml: `apiVersion: samverk.io/v1
kind: DeviceGroup
metadata: {name: desktops-broad, namespace: region-norr}
spec:
  ring: broad
  osRelease: windows-11-25h2
`,
			want: []string{
				`case.yaml:6:3: deny ref/dangling: spec.osRelease: OSRelease "windows-11-25h2" does not exist; did you mean windows-11-24h2?`,
			},
		},
		{
			name: "hardware model certifications and driver package",
			yaml: `apiVersion: samverk.io/v1
kind: HardwareModel
metadata: {name: hp-elitebook-840}
spec:
  vendor: HP
  model: EliteBook 840
  formFactor: laptop
  driverPackage: drivers-dell-latitud
  certifications:
    - osRelease: windows-11-24h2
      status: certified
      member: region-nor
    - osRelease: windows-12
      status: planned
`,
			want: []string{
				`case.yaml:8:3: deny ref/dangling: spec.driverPackage: product "drivers-dell-latitud" does not exist: no Package has spec.product "drivers-dell-latitud"; did you mean drivers-dell-latitude?`,
				`case.yaml:12:7: deny ref/dangling: spec.certifications[0].member: Member "region-nor" does not exist; did you mean region-norr?`,
				`case.yaml:13:7: deny ref/dangling: spec.certifications[1].osRelease: OSRelease "windows-12" does not exist`,
			},
		},
		{
			name: "upgrade path sources",
			yaml: `apiVersion: samverk.io/v1
kind: OSRelease
metadata: {name: windows-11-25h2}
spec:
  family: windows
  version: 25H2
  build: "26200"
  releaseDate: "2025-09-30"
  endOfSupport: "2028-10-10"
  upgrade:
    paths:
      - from: [windows-11-24h2, windows-11-24h3]
        installer: {type: feature-update}
`,
			want: []string{
				`case.yaml:12:33: deny ref/dangling: spec.upgrade.paths[0].from[1]: OSRelease "windows-11-24h3" does not exist; did you mean windows-11-24h2?`,
			},
		},
		{
			name: "package references",
			yaml: `apiVersion: samverk.io/v1
kind: Package
metadata: {name: thunderbird-128-0}
spec:
  product: thunderbird
  version: "128.0"
  osReleases: [windows-11-24h2, ubuntu-22-04]
  lifecycle:
    stage: user-test
    records:
      - {stage: infra-test, date: "2026-05-01", member: region-syd, result: pass}
  dependencies:
    - {product: vcredist}
    - {product: dotnet-runtime}
  supersedes: [thunderbird-127-0]
`,
			want: []string{
				`case.yaml:7:33: deny ref/dangling: spec.osReleases[1]: OSRelease "ubuntu-22-04" does not exist; did you mean ubuntu-24-04?`,
				`case.yaml:11:49: deny ref/dangling: spec.lifecycle.records[0].member: Member "region-syd" does not exist`,
				`case.yaml:14:8: deny ref/dangling: spec.dependencies[1].product: product "dotnet-runtime" does not exist: no Package has spec.product "dotnet-runtime"`,
				`case.yaml:15:16: deny ref/dangling: spec.supersedes[0]: Package "thunderbird-127-0" does not exist; did you mean thunderbird-128-0?`,
			},
		},
		{
			name: "baseline references",
			yaml: `apiVersion: samverk.io/v1
kind: Baseline
metadata: {name: kiosk, namespace: kommun-umea}
spec:
  osReleases: [windows-11-24h2, windows-11-24h3]
  extends: [windows-laptop, norr-laptop, windows-basee]
  settings: []
---
apiVersion: samverk.io/v1
kind: Baseline
metadata: {name: shared-kiosk}
spec:
  osReleases: [windows-11-24h2]
  extends: [norr-laptop]
  settings: []
`,
			want: []string{
				`case.yaml:5:33: deny ref/dangling: spec.osReleases[1]: OSRelease "windows-11-24h3" does not exist; did you mean windows-11-24h2?`,
				`case.yaml:6:29: deny ref/dangling: spec.extends[1]: Baseline "norr-laptop" does not exist in namespace kommun-umea or among shared baselines`,
				`case.yaml:6:42: deny ref/dangling: spec.extends[2]: Baseline "windows-basee" does not exist in namespace kommun-umea or among shared baselines; did you mean windows-base?`,
				`case.yaml:14:13: deny ref/dangling: spec.extends[0]: Baseline "norr-laptop" exists only in member namespace region-norr: a shared baseline may not extend a member-scoped one`,
			},
		},
		{
			name: "service references",
			yaml: `apiVersion: samverk.io/v1
kind: Service
metadata: {name: mail}
spec:
  displayName: Mail
  delivers:
    products: [thunderbird, firefox]
  requestableBy:
    members: [kommun-umea, kommun-lulea]
  dependsOn: [directory, dns]
`,
			want: []string{
				`case.yaml:7:16: deny ref/dangling: spec.delivers.products[0]: product "thunderbird" does not exist: no Package has spec.product "thunderbird"`,
				`case.yaml:9:28: deny ref/dangling: spec.requestableBy.members[1]: Member "kommun-lulea" does not exist; did you mean kommun-umea?`,
				`case.yaml:10:26: deny ref/dangling: spec.dependsOn[1]: Service "dns" does not exist`,
			},
		},
		{
			name: "device group references",
			yaml: `apiVersion: samverk.io/v1
kind: DeviceGroup
metadata: {name: laptops-broad, namespace: region-norr}
spec:
  ring: broad
  osRelease: windows-11-24h2
  selector:
    hardwareModels:
      - dell-latitude-5450
      - dell-latitude-5440
  baselines:
    - norr-laptop
    - kommun-kiosk
  services: [office, offfice]
  products: [firefox, chrome]
`,
			want: []string{
				`case.yaml:10:9: deny ref/dangling: spec.selector.hardwareModels[1]: HardwareModel "dell-latitude-5440" does not exist; did you mean dell-latitude-5450?`,
				`case.yaml:13:7: deny ref/dangling: spec.baselines[1]: Baseline "kommun-kiosk" does not exist in namespace region-norr or among shared baselines`,
				`case.yaml:14:22: deny ref/dangling: spec.services[1]: Service "offfice" does not exist; did you mean office?`,
				`case.yaml:15:23: deny ref/dangling: spec.products[1]: product "chrome" does not exist: no Package has spec.product "chrome"`,
			},
		},
		{
			name: "waiver targets",
			yaml: `apiVersion: samverk.io/v1
kind: Waiver
metadata: {name: broad-exception}
spec:
  policy: SV-DG-001
  targets:
    - {kind: DeviceGroup, name: laptops-pilot, namespace: region-norr}
    - {kind: DeviceGroup, name: laptops-pilot}
    - {kind: DeviceGroup, name: laptops-pilot, namespace: kommun-umea}
    - {kind: Package, name: firefox-126-0}
    - {kind: Baseline, name: norr-laptop}
    - {kind: Package, name: firefox-128-0, namespace: region-norr}
  reason: waiting for the vendor
  approvedBy: strategy group
  expires: "2027-01-01"
`,
			want: []string{
				`case.yaml:8:27: deny ref/dangling: spec.targets[1].name: DeviceGroup "laptops-pilot" needs a namespace: a shared waiver must say which Member's DeviceGroup it means`,
				`case.yaml:9:27: deny ref/dangling: spec.targets[2].name: DeviceGroup "laptops-pilot" does not exist in namespace kommun-umea`,
				`case.yaml:10:23: deny ref/dangling: spec.targets[3].name: Package "firefox-126-0" does not exist; did you mean firefox-127-0?`,
				`case.yaml:11:24: deny ref/dangling: spec.targets[4].name: Baseline "norr-laptop" does not exist`,
				`case.yaml:12:44: deny ref/dangling: spec.targets[5].namespace: Package is a shared kind: Package "firefox-128-0" has no namespace, so the target must not give one`,
			},
		},
		{
			name: "owner",
			yaml: `apiVersion: samverk.io/v1
kind: Service
metadata:
  name: print
  owner: kommun-umeaa
spec: {displayName: Print, delivers: {}}
`,
			want: []string{
				`case.yaml:5:3: deny ref/dangling: metadata.owner: Member "kommun-umeaa" does not exist; did you mean kommun-umea?`,
			},
		},
		{
			name: "namespace is not a member",
			yaml: `apiVersion: samverk.io/v1
kind: DeviceGroup
metadata: {name: all, namespace: region-nor}
spec: {ring: broad, selector: {}}
---
apiVersion: samverk.io/v1
kind: Baseline
metadata:
  name: lab
  namespace: university-x
spec: {osReleases: [windows-11-24h2], settings: []}
---
apiVersion: samverk.io/v1
kind: Waiver
metadata: {name: lab, namespace: university-x}
spec:
  policy: SV-PKG-002
  targets: [{kind: Baseline, name: lab}]
  reason: waiting for the vendor
  approvedBy: strategy group
  expires: "2027-01-01"
`,
			want: []string{
				`case.yaml:3:23: deny ref/member-namespace: metadata.namespace: namespace "region-nor" is not a Member: a DeviceGroup's namespace must name the Member that owns it; did you mean region-norr?`,
				`case.yaml:10:3: deny ref/member-namespace: metadata.namespace: namespace "university-x" is not a Member: a Baseline's namespace must name the Member that owns it`,
				`case.yaml:15:23: deny ref/member-namespace: metadata.namespace: namespace "university-x" is not a Member: a Waiver's namespace must name the Member that owns it`,
			},
		},
		{
			name: "baseline extends cycle",
			yaml: `apiVersion: samverk.io/v1
kind: Baseline
metadata: {name: c}
spec: {osReleases: [windows-11-24h2], extends: [windows-base, a], settings: []}
---
apiVersion: samverk.io/v1
kind: Baseline
metadata: {name: b}
spec: {osReleases: [windows-11-24h2], extends: [c], settings: []}
---
apiVersion: samverk.io/v1
kind: Baseline
metadata: {name: a}
spec: {osReleases: [windows-11-24h2], extends: [b], settings: []}
---
apiVersion: samverk.io/v1
kind: Baseline
metadata: {name: self, namespace: region-norr}
spec: {osReleases: [windows-11-24h2], extends: [self], settings: []}
`,
			want: []string{
				`case.yaml:14:49: deny ref/cycle: spec.extends[0]: baseline extends cycle: a → b → c → a`,
				`case.yaml:19:49: deny ref/cycle: spec.extends[0]: baseline extends cycle: region-norr/self → region-norr/self`,
			},
		},
		{
			name: "service dependsOn cycle reported once",
			yaml: `apiVersion: samverk.io/v1
kind: Service
metadata: {name: vpn}
spec: {displayName: VPN, delivers: {}, dependsOn: [directory, mfa]}
---
apiVersion: samverk.io/v1
kind: Service
metadata: {name: mfa}
spec: {displayName: MFA, delivers: {}, dependsOn: [vpn, radius]}
---
apiVersion: samverk.io/v1
kind: Service
metadata: {name: radius}
spec: {displayName: RADIUS, delivers: {}, dependsOn: [vpn]}
`,
			want: []string{
				`case.yaml:9:52: deny ref/cycle: spec.dependsOn[0]: service dependsOn cycle: mfa → vpn → mfa; radius also in a cycle with these`,
			},
		},
		{
			name: "product dependency cycle",
			yaml: `apiVersion: samverk.io/v1
kind: Package
metadata: {name: vcredist-14-42}
spec:
  product: vcredist
  version: "14.42"
  osReleases: [windows-11-24h2]
  lifecycle: {stage: user-test}
  dependencies:
    - {product: drivers-dell-latitude}
    - {product: firefox}
`,
			want: []string{
				`base.yaml:79:8: deny ref/cycle: spec.dependencies[0].product: product dependency cycle: firefox → vcredist → firefox`,
			},
		},
		{
			name: "retired products",
			yaml: `apiVersion: samverk.io/v1
kind: Service
metadata: {name: legacy}
spec: {displayName: Legacy, delivers: {products: [legacy-app]}}
---
apiVersion: samverk.io/v1
kind: DeviceGroup
metadata: {name: archive-broad, namespace: kommun-umea}
spec:
  ring: broad
  selector: {}
  services: [office, legacy]
  products: [legacy-app, firefox, legacy-app-2]
`,
			want: []string{
				`case.yaml:12:22: deny ref/retired-package: spec.services[1]: Service "legacy" delivers product "legacy-app", whose every version is retired`,
				`case.yaml:13:14: deny ref/retired-package: spec.products[0]: every version of product "legacy-app" is retired`,
				`case.yaml:13:35: deny ref/dangling: spec.products[2]: product "legacy-app-2" does not exist: no Package has spec.product "legacy-app-2"; did you mean legacy-app?`,
			},
		},
		{
			name: "wrong shapes are skipped",
			yaml: `apiVersion: samverk.io/v1
kind: DeviceGroup
metadata: {name: odd, namespace: region-norr}
spec:
  ring: broad
  osRelease: [windows-11-24h2]
  selector: [dell-latitude-5450]
  baselines: norr-laptop
  services: [{name: office}, 42, null, "", "missing"]
  products: {firefox: true}
---
apiVersion: samverk.io/v1
kind: HardwareModel
metadata: {name: odd}
spec:
  certifications: {osRelease: windows-12}
  driverPackage: 7
---
apiVersion: samverk.io/v1
kind: Package
metadata: {name: odd}
spec: [product, odd]
---
apiVersion: samverk.io/v1
kind: Baseline
metadata: {name: odd}
spec: {extends: [[a], {b: c}, 1.5], osReleases: windows-12}
---
apiVersion: samverk.io/v1
kind: Waiver
metadata: {name: odd}
spec: {targets: [{kind: Nonsense, name: x}, {kind: Package}, {kind: [Package], name: y}, "Package/x"]}
`,
			want: []string{
				`case.yaml:9:44: deny ref/dangling: spec.services[4]: Service "missing" does not exist`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := render(Check(parse(t, tt.yaml)))
			if !slices.Equal(got, tt.want) {
				t.Errorf("Check() =\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(tt.want, "\n\t"))
			}
		})
	}
}

// TestOwnerMayBeATeam: metadata.owner names a Member or a consortium team a Member lists in
// spec.teams; anything else is dangling.
func TestOwnerMayBeATeam(t *testing.T) {
	cat := parse(t, `apiVersion: samverk.io/v1
kind: Member
metadata: {name: kommun-team}
spec: {teams: [paketeringsgruppen]}
---
apiVersion: samverk.io/v1
kind: OSRelease
metadata: {name: team-owned, owner: paketeringsgruppen}
---
apiVersion: samverk.io/v1
kind: OSRelease
metadata: {name: nobody-owned, owner: nobody-team}
`)
	var got []string
	for _, f := range Check(cat) {
		if f.Path == "metadata.owner" {
			got = append(got, f.String())
		}
	}
	if len(got) != 1 || !strings.Contains(got[0], `Member "nobody-team" does not exist`) {
		t.Errorf("owner findings = %v, want one about nobody-team", got)
	}
}
