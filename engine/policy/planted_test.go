package policy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"samverk.io/samverk/engine/finding"
	"samverk.io/samverk/engine/report"
	"samverk.io/samverk/engine/validate"
)

// planted is a document that violates one rule. The line marked "#!" is where the finding must
// point: the column of its key (or list item).
type planted struct {
	rule string
	doc  string
}

var plantedDocs = []planted{
	{"SV-PKG-001", `kind: Package
metadata:
  name: vlc-3-0-21
spec:
  product: vlc
  displayName: VLC
  vendor: VideoLAN
  version: 3.0.21
  installer:
    type: winget
    wingetId: VideoLAN.VLC
  osReleases: [windows-11-24h2]
  lifecycle:
    stage: approved #!
    records:
      - stage: infra-test
        date: 2026-03-01
        member: region-norr
        result: pass
        evidence: https://evidence.example.se/vlc`},
	{"SV-PKG-002", `kind: Package
metadata:
  name: vlc-3-0-21
spec:
  product: vlc
  displayName: VLC
  vendor: VideoLAN
  version: 3.0.21
  installer:
    type: winget
    wingetId: VideoLAN.VLC
  osReleases: [windows-11-24h2]
  lifecycle:
    records:
      - stage: infra-test
        date: 2026-03-01
        member: region-norr
        result: fail #!
        evidence: https://evidence.example.se/vlc
    stage: user-test`},
	{"SV-PKG-003", `kind: Package
metadata:
  name: putty-0-81
spec:
  product: putty
  displayName: PuTTY
  vendor: Simon Tatham
  version: "0.81"
  installer: #!
    type: msi
    detect:
      productCode: "{11111111-2222-3333-4444-555555555555}"
  osReleases: [windows-11-24h2]
  lifecycle:
    stage: packaging`},
	{"SV-PKG-004", `kind: Package
metadata:
  name: putty-0-81
spec:
  product: putty
  displayName: PuTTY
  vendor: Simon Tatham
  version: "0.81"
  installer: #!
    type: msi
    source:
      url: https://dl.example.se/putty.msi
      sha256: bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb
  osReleases: [windows-11-24h2]
  lifecycle:
    stage: packaging`},
	{"SV-PKG-005", `kind: Package
metadata:
  name: putty-0-81
spec:
  product: putty
  displayName: PuTTY
  vendor: Simon Tatham
  version: "0.81"
  installer: #!
    type: winget
  osReleases: [windows-11-24h2]
  lifecycle:
    stage: packaging`},
	{"SV-HW-001", `kind: HardwareModel
metadata:
  name: hp-elitebook-840-g11
spec:
  vendor: HP
  model: HP EliteBook 840 14 inch G11 Notebook PC
  formFactor: laptop
  certifications:
    - osRelease: windows-11-24h2 #!
      status: certified
      member: region-norr
      date: 2026-04-01`},
	{"SV-HW-002", `kind: HardwareModel
metadata:
  name: hp-elitebook-840-g11
spec:
  vendor: HP
  model: HP EliteBook 840 14 inch G11 Notebook PC
  formFactor: laptop
  certifications:
    - osRelease: windows-11-24h2
      status: certified
      member: region-norr
      date: 2026-04-01
      evidence: https://evidence.example.se/hw/840
    - osRelease: ubuntu-24-04 #!
      status: withdrawn`},
	{"SV-HW-003", `kind: HardwareModel
metadata:
  name: hp-elitebook-840-g11
spec:
  vendor: HP
  model: HP EliteBook 840 14 inch G11 Notebook PC
  formFactor: laptop
  certifications:
    - osRelease: windows-11-24h2
      status: certified
      member: region-norr
      date: 2026-04-01
      evidence: https://evidence.example.se/hw/840
      results:
        - test: sleep-resume
          outcome: fail #!`},
	{"SV-DG-001", `kind: DeviceGroup
metadata:
  name: old-desktops
  namespace: region-norr
  owner: region-norr
spec:
  selector:
    labels: {site: lab}
  ring: broad
  osRelease: windows-10-22h2 #!
  baselines: [windows-base]`},
	{"SV-DG-002", `kind: DeviceGroup
metadata:
  name: linux-laptops
  namespace: region-norr
  owner: region-norr
spec:
  selector:
    hardwareModels: [dell-latitude-5450]
  ring: pilot
  osRelease: ubuntu-24-04 #!`},
	{"SV-DG-003", `kind: Package
metadata:
  name: java-8
spec:
  product: java
  displayName: Java 8
  vendor: Oracle
  version: "8.0"
  installer:
    type: winget
    wingetId: Oracle.JavaRuntimeEnvironment
  osReleases: [windows-11-24h2]
  lifecycle:
    stage: deprecated
---
kind: DeviceGroup
metadata:
  name: finance
  namespace: region-norr
  owner: region-norr
spec:
  selector:
    labels: {department: finance}
  ring: broad
  osRelease: windows-11-24h2
  baselines: [windows-base]
  products:
    - 7zip
    - java #!`},
	{"SV-BL-001", `kind: Baseline
metadata:
  name: kiosk
  namespace: region-norr
  owner: region-norr
spec:
  osReleases: [windows-11-24h2]
  settings:
    - id: kiosk-mode
      type: registry
      target: HKLM\SOFTWARE\Kiosk\Enabled
      value: 1
---
kind: DeviceGroup
metadata:
  name: kiosks
  namespace: region-norr
  owner: region-norr
spec:
  selector:
    labels: {role: kiosk}
  ring: broad
  osRelease: windows-11-24h2
  baselines: [kiosk] #!`},
	{"SV-BL-002", `kind: Baseline
metadata:
  name: norr-lab
  namespace: region-norr
  owner: region-norr
spec:
  osReleases: [windows-11-24h2]
  extends: [norr-laptops]
  settings:
    - id: minimum-password-length
      type: registry
      target: HKLM\SYSTEM\Policies\MinimumPasswordLength
      value: 8 #!`},
	{"SV-BL-003", `kind: Baseline
metadata:
  name: edge
spec:
  osReleases: [windows-11-24h2]
  settings:
    - id: edge-smartscreen
      type: registry
      target: HKLM\SOFTWARE\Policies\Microsoft\Edge\SmartScreenEnabled
      value: 1
    - id: edge-smartscreen #!
      type: registry
      target: HKLM\SOFTWARE\Policies\Microsoft\Edge\SmartScreenPuaEnabled
      value: 1`},
	{"SV-SVC-001", `kind: Service
metadata:
  name: admin-rights
spec:
  displayName: Local administrator
  delivers:
    entitlements:
      - type: role
        name: Local administrators
        sensitive: true
  requestableBy: {memberTypes: [region]}
  approval: none #!
  duration: {type: time-limited, maxDays: 30}
  provisioning: automated
  cost: {model: free}`},
	{"SV-SVC-002", `kind: Service
metadata:
  name: guest-wifi
spec:
  displayName: Guest Wi-Fi
  delivers:
    entitlements:
      - {type: network-access, name: guest}
  requestableBy: {memberTypes: [region]}
  approval: manager
  duration: #!
    type: time-limited
  provisioning: automated
  cost: {model: free}`},
	{"SV-SVC-003", `kind: Service
metadata:
  name: guest-wifi
spec:
  displayName: Guest Wi-Fi
  delivers:
    entitlements:
      - {type: network-access, name: guest}
  requestableBy: {memberTypes: [region]}
  approval: manager
  duration:
    type: time-limited
    maxDays: 400 #!
  provisioning: automated
  cost: {model: free}`},
	{"SV-META-001", `kind: DeviceGroup
metadata: #!
  name: shared-pcs
  namespace: region-norr
spec:
  selector:
    labels: {use: shared}
  ring: broad
  osRelease: windows-11-24h2
  baselines: [norr-laptops]`},
	{"SV-MEM-001", `kind: Member
metadata:
  name: mittlands-universitet
spec:
  type: university
  displayName: Mittlands universitet
  contacts: #!
    - role: operations
      name: IT-service
      email: it@mittland.example.se`},
	{"SV-WAIVER-001", `kind: Waiver
metadata:
  name: old-exception
spec:
  policy: SV-PKG-004
  targets:
    - kind: Package
      name: firefox-esr-128-3
  reason: Vendor promised a fixed installer last year.
  approvedBy: strategy group
  expires: 2026-04-30 #!`},
	{"SV-WAIVER-002", `kind: Waiver
metadata:
  name: soon-over
  namespace: kommun-vasterby
  owner: kommun-vasterby
spec:
  policy: SV-DG-001
  targets:
    - kind: DeviceGroup
      name: legacy
  reason: Second approval for the archive PCs, ending sooner.
  approvedBy: strategy group
  expires: 2026-05-20 #!`},
	{"SV-WAIVER-003", `kind: Waiver
metadata:
  name: needless
spec:
  policy: SV-PKG-004
  targets:
    - kind: Package #!
      name: firefox-esr-128-3
  reason: Detection by product code did not work in 2025.
  approvedBy: strategy group
  expires: 2027-01-01`},
	{"SV-WAIVER-004", `kind: Waiver
metadata:
  name: overreach
  namespace: region-norr
  owner: region-norr
spec:
  policy: SV-DG-001
  targets:
    - kind: DeviceGroup
      name: legacy
      namespace: kommun-vasterby #!
  reason: Region Norr tries to exempt another member's group.
  approvedBy: region-norr CISO
  expires: 2027-01-01`},
}

// markedPosition finds the "#!" line and the column of its key or list item.
func markedPosition(t *testing.T, src string) (line, col int) {
	t.Helper()
	for i, l := range strings.Split(src, "\n") {
		if !strings.Contains(l, "#!") {
			continue
		}
		trimmed := strings.TrimLeft(l, " ")
		for strings.HasPrefix(trimmed, "- ") {
			trimmed = strings.TrimLeft(trimmed[2:], " ")
		}
		return i + 1, len(l) - len(trimmed) + 1
	}
	t.Fatalf("no #! marker in\n%s", src)
	return 0, 0
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestPlantedViolations plants a violation of each rule in a copy of the testdata catalog and
// runs the whole validate pipeline: the rule's id must come out at the marked file:line:col in
// text and JSON output.
func TestPlantedViolations(t *testing.T) {
	pol := bundled(t)
	ids := map[string]bool{}
	for _, p := range plantedDocs {
		ids[p.rule] = true
	}
	for _, r := range pol.Rules() {
		if !ids[r.ID] {
			t.Errorf("rule %s has no planted violation", r.ID)
		}
	}
	base, err := validate.Dir(context.Background(), "testdata/catalog", validate.Options{Policies: pol, Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	if s := base.Report.Summary; !base.Report.Passed || s.Deny+s.Warn+s.Info != 0 {
		t.Fatalf("testdata catalog is not clean: %+v\n%s", s, join(base.Report.Findings))
	}
	for _, p := range plantedDocs {
		t.Run(p.rule, func(t *testing.T) {
			dir := t.TempDir()
			copyDir(t, "testdata/catalog", dir)
			src := "apiVersion: samverk.io/v1\n" + strings.ReplaceAll(p.doc, "\n---\n", "\n---\napiVersion: samverk.io/v1\n") + "\n"
			file := "zz-planted.yaml"
			if err := os.WriteFile(filepath.Join(dir, file), []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
			line, col := markedPosition(t, src)
			res, err := validate.Dir(context.Background(), dir, validate.Options{Policies: pol, Now: func() time.Time { return clock }})
			if err != nil {
				t.Fatal(err)
			}
			var hit *finding.Finding
			for i, f := range res.Report.Findings {
				if f.Rule == p.rule && f.WaivedBy == nil {
					hit = &res.Report.Findings[i]
				}
				if !strings.HasPrefix(f.Rule, "SV-") {
					t.Errorf("planted document is not schema- and reference-clean: %s", f)
				}
			}
			if hit == nil {
				t.Fatalf("no %s finding:\n%s", p.rule, join(res.Report.Findings))
			}
			if hit.File != file || hit.Line != line || hit.Column != col {
				t.Errorf("%s at %s, want %s:%d:%d", p.rule, hit.Location(), file, line, col)
			}
			wantLoc := fmt.Sprintf("%s:%d:%d: %s %s: ", file, line, col, hit.Severity, p.rule)
			var text, js bytes.Buffer
			if err := report.Write(&text, "text", res.Report); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(text.String(), wantLoc) {
				t.Errorf("text output lacks %q:\n%s", wantLoc, text.String())
			}
			if err := report.Write(&js, "json", res.Report); err != nil {
				t.Fatal(err)
			}
			var parsed struct {
				Findings []finding.Finding `json:"findings"`
			}
			if err := json.Unmarshal(js.Bytes(), &parsed); err != nil {
				t.Fatal(err)
			}
			found := false
			for _, f := range parsed.Findings {
				found = found || f.Rule == p.rule && f.File == file && f.Line == line && f.Column == col
			}
			if !found {
				t.Errorf("JSON output lacks %s at %s:%d:%d", p.rule, file, line, col)
			}
			if hit.Severity == finding.Deny && res.Report.Passed {
				t.Errorf("a deny finding must fail the run")
			}
		})
	}
}

// TestPlantedSARIFAndJUnit checks that policy ids and positions reach SARIF and JUnit.
func TestPlantedSARIFAndJUnit(t *testing.T) {
	pol := bundled(t)
	dir := t.TempDir()
	copyDir(t, "testdata/catalog", dir)
	p := plantedDocs[slices.IndexFunc(plantedDocs, func(p planted) bool { return p.rule == "SV-SVC-001" })]
	src := "apiVersion: samverk.io/v1\n" + p.doc + "\n"
	if err := os.WriteFile(filepath.Join(dir, "zz-planted.yaml"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	line, col := markedPosition(t, src)
	res, err := validate.Dir(context.Background(), dir, validate.Options{Policies: pol, Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}

	var sarif bytes.Buffer
	if err := report.Write(&sarif, "sarif", res.Report); err != nil {
		t.Fatal(err)
	}
	var s struct {
		Runs []struct {
			Tool struct {
				Driver struct {
					Rules []struct {
						ID string `json:"id"`
					} `json:"rules"`
				} `json:"driver"`
			} `json:"tool"`
			Results []struct {
				RuleID    string `json:"ruleId"`
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct {
							URI string `json:"uri"`
						} `json:"artifactLocation"`
						Region struct {
							StartLine   int `json:"startLine"`
							StartColumn int `json:"startColumn"`
						} `json:"region"`
					} `json:"physicalLocation"`
				} `json:"locations"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(sarif.Bytes(), &s); err != nil {
		t.Fatal(err)
	}
	ruleListed, resultFound := false, false
	for _, r := range s.Runs[0].Tool.Driver.Rules {
		ruleListed = ruleListed || r.ID == "SV-SVC-001"
	}
	for _, r := range s.Runs[0].Results {
		for _, l := range r.Locations {
			pl := l.PhysicalLocation
			resultFound = resultFound || r.RuleID == "SV-SVC-001" && strings.HasSuffix(pl.ArtifactLocation.URI, "zz-planted.yaml") &&
				pl.Region.StartLine == line && pl.Region.StartColumn == col
		}
	}
	if !ruleListed || !resultFound {
		t.Errorf("SARIF: rule listed %v, result at %d:%d found %v\n%s", ruleListed, line, col, resultFound, sarif.String())
	}

	var junit bytes.Buffer
	if err := report.Write(&junit, "junit", res.Report); err != nil {
		t.Fatal(err)
	}
	var suite struct {
		Cases []struct {
			Name    string `xml:"name,attr"`
			File    string `xml:"file,attr"`
			Line    int    `xml:"line,attr"`
			Failure *struct {
				Text string `xml:",chardata"`
			} `xml:"failure"`
		} `xml:"testcase"`
	}
	if err := xml.Unmarshal(junit.Bytes(), &suite); err != nil {
		t.Fatal(err)
	}
	failed := false
	for _, c := range suite.Cases {
		if strings.Contains(c.Name, "SV-SVC-001") && c.Failure != nil {
			failed = true
			if c.File != "zz-planted.yaml" || c.Line != line {
				t.Errorf("JUnit case %q at %s:%d, want zz-planted.yaml:%d", c.Name, c.File, c.Line, line)
			}
		}
	}
	if !failed {
		t.Errorf("JUnit has no failing SV-SVC-001 case:\n%s", junit.String())
	}
}
