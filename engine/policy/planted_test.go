package policy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"samverk.io/samverk/engine/finding"
	"samverk.io/samverk/engine/policy"
	"samverk.io/samverk/engine/report"
	"samverk.io/samverk/engine/validate"
)

// planted is a document that violates one rule. The line marked "#!" is where the finding must
// point: the column of its key (or list item).
type planted struct {
	rule string
	doc  string
}

// plantedDocs are self-contained: besides the violating document they bring whatever it refers
// to, named planted-*, and otherwise rely only on OS releases windows-10-22h2, windows-11-24h2
// and ubuntu-24-04 and members region-norr and kommun-vasterby, which both the testdata catalog
// and the reference catalog have.
var plantedDocs = []planted{
	{"SV-PKG-001", `kind: Package
metadata:
  name: planted-tool-1-0
spec:
  product: planted-tool
  displayName: Planted tool
  vendor: Planted AB
  version: "1.0"
  installer:
    type: winget
    wingetId: Planted.Tool
  osReleases: [windows-11-24h2]
  lifecycle:
    stage: approved #!
    records:
      - stage: infra-test
        date: 2026-03-01
        member: region-norr
        result: pass
        evidence: https://evidence.example.se/planted`},
	{"SV-PKG-002", `kind: Package
metadata:
  name: planted-tool-1-0
spec:
  product: planted-tool
  displayName: Planted tool
  vendor: Planted AB
  version: "1.0"
  installer:
    type: winget
    wingetId: Planted.Tool
  osReleases: [windows-11-24h2]
  lifecycle:
    records:
      - stage: infra-test
        date: 2026-03-01
        member: region-norr
        result: fail #!
        evidence: https://evidence.example.se/planted
    stage: user-test`},
	{"SV-PKG-003", `kind: Package
metadata:
  name: planted-tool-1-0
spec:
  product: planted-tool
  displayName: Planted tool
  vendor: Planted AB
  version: "1.0"
  installer: #!
    type: msi
    detect:
      productCode: "{11111111-2222-3333-4444-555555555555}"
  osReleases: [windows-11-24h2]
  lifecycle:
    stage: packaging`},
	{"SV-PKG-004", `kind: Package
metadata:
  name: planted-tool-1-0
spec:
  product: planted-tool
  displayName: Planted tool
  vendor: Planted AB
  version: "1.0"
  installer: #!
    type: msi
    source:
      url: https://dl.example.se/planted.msi
      sha256: bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb
  osReleases: [windows-11-24h2]
  lifecycle:
    stage: packaging`},
	{"SV-PKG-005", `kind: Package
metadata:
  name: planted-tool-1-0
spec:
  product: planted-tool
  displayName: Planted tool
  vendor: Planted AB
  version: "1.0"
  installer: #!
    type: winget
  osReleases: [windows-11-24h2]
  lifecycle:
    stage: packaging`},
	{"SV-PKG-006", `kind: Package
metadata:
  name: planted-tool-1-0
spec:
  product: planted-tool
  displayName: Planted tool
  vendor: Planted AB
  version: "1.0"
  installer:
    type: msi
    source:
      url: http://dl.example.se/planted.msi
      sha256: bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb
      allowHTTP: true #!
    detect:
      productCode: "{11111111-2222-3333-4444-555555555555}"
  osReleases: [windows-11-24h2]
  lifecycle:
    stage: packaging`},
	{"SV-HW-001", `kind: HardwareModel
metadata:
  name: planted-laptop
spec:
  vendor: Planted AB
  model: Planted Laptop 14
  formFactor: laptop
  certifications:
    - osRelease: windows-11-24h2 #!
      status: certified
      member: region-norr
      date: 2026-04-01`},
	{"SV-HW-002", `kind: HardwareModel
metadata:
  name: planted-laptop
spec:
  vendor: Planted AB
  model: Planted Laptop 14
  formFactor: laptop
  certifications:
    - osRelease: windows-11-24h2
      status: certified
      member: region-norr
      date: 2026-04-01
      evidence: https://evidence.example.se/hw/planted
    - osRelease: ubuntu-24-04 #!
      status: withdrawn`},
	{"SV-HW-003", `kind: HardwareModel
metadata:
  name: planted-laptop
spec:
  vendor: Planted AB
  model: Planted Laptop 14
  formFactor: laptop
  certifications:
    - osRelease: windows-11-24h2
      status: certified
      member: region-norr
      date: 2026-04-01
      evidence: https://evidence.example.se/hw/planted
      results:
        - test: sleep-resume
          outcome: fail #!`},
	{"SV-DG-001", `kind: DeviceGroup
metadata:
  name: planted-old-desktops
  namespace: region-norr
  owner: region-norr
spec:
  selector:
    labels: {site: planted}
  ring: broad
  osRelease: windows-10-22h2 #!`},
	{"SV-DG-002", `kind: HardwareModel
metadata:
  name: planted-laptop
spec:
  vendor: Planted AB
  model: Planted Laptop 14
  formFactor: laptop
  certifications:
    - osRelease: ubuntu-24-04
      status: rejected
      member: region-norr
      date: 2026-04-01
      reason: No driver for the fingerprint reader.
---
kind: DeviceGroup
metadata:
  name: planted-linux-laptops
  namespace: region-norr
  owner: region-norr
spec:
  selector:
    hardwareModels: [planted-laptop]
  ring: pilot
  osRelease: ubuntu-24-04 #!`},
	{"SV-DG-006", `kind: Service
metadata:
  name: planted-vasterby-only
spec:
  displayName: Västerby's own archive
  delivers:
    entitlements:
      - {type: directory-group, name: planted-archive}
  requestableBy: {members: [kommun-vasterby]}
  approval: none
  duration: {type: permanent}
  provisioning: automated
  cost: {model: free}
---
kind: DeviceGroup
metadata:
  name: planted-archivists
  namespace: region-norr
  owner: region-norr
spec:
  selector:
    labels: {site: planted}
  ring: broad
  services:
    - planted-vasterby-only #!`},
	{"SV-DG-007", `kind: Service
metadata:
  name: planted-remote-access
spec:
  displayName: Remote access
  delivers:
    entitlements:
      - {type: network-access, name: planted-vpn, sensitive: true}
  requestableBy: {memberTypes: [region]}
  approval: both
  duration: {type: time-limited, maxDays: 90}
  provisioning: automated
  cost: {model: free}
---
kind: DeviceGroup
metadata:
  name: planted-travellers
  namespace: region-norr
  owner: region-norr
spec:
  selector:
    labels: {site: planted}
  ring: broad
  services:
    - planted-remote-access #!`},
	{"SV-DG-004", `kind: OSRelease
metadata:
  name: planted-os-old
spec: {family: windows, version: P1, build: "90000", releaseDate: 2026-01-01, endOfSupport: 2030-01-01}
---
kind: OSRelease
metadata:
  name: planted-os
spec:
  family: windows
  version: P2
  build: "99999"
  releaseDate: 2026-02-01
  endOfSupport: 2030-02-01
  upgrade:
    paths:
      - from: [windows-11-24h2]
        installer: {type: script, script: "exit 0"}
        freeDiskMiB: 1
        reboot: false
        maxDurationMinutes: 5
---
kind: HardwareModel
metadata:
  name: planted-box
spec:
  vendor: Planted AB
  model: Planted Box
  formFactor: desktop
  certifications:
    - {osRelease: planted-os-old, status: certified, member: region-norr, date: 2026-04-01, evidence: "https://example.org/e/1", results: [{test: boot, outcome: pass}]}
    - {osRelease: planted-os, status: certified, member: region-norr, date: 2026-04-01, evidence: "https://example.org/e/2", results: [{test: boot, outcome: pass}]}
---
kind: DeviceGroup
metadata:
  name: planted-boxes
  namespace: region-norr
  owner: region-norr
spec:
  selector:
    hardwareModels: [planted-box]
  ring: broad
  osRelease: planted-os #!`},
	{"SV-DG-005", `kind: OSRelease
metadata:
  name: planted-os-old
spec: {family: windows, version: P1, build: "90000", releaseDate: 2026-01-01, endOfSupport: 2030-01-01}
---
kind: OSRelease
metadata:
  name: planted-os
spec:
  family: windows
  version: P2
  build: "99999"
  releaseDate: 2026-02-01
  endOfSupport: 2030-02-01
---
kind: HardwareModel
metadata:
  name: planted-box
spec:
  vendor: Planted AB
  model: Planted Box
  formFactor: desktop
  certifications:
    - {osRelease: planted-os-old, status: certified, member: region-norr, date: 2026-04-01, evidence: "https://example.org/e/1", results: [{test: boot, outcome: pass}]}
    - {osRelease: planted-os, status: certified, member: region-norr, date: 2026-04-01, evidence: "https://example.org/e/2", results: [{test: boot, outcome: pass}]}
---
kind: DeviceGroup
metadata:
  name: planted-boxes
  namespace: region-norr
  owner: region-norr
spec:
  selector:
    hardwareModels: [planted-box]
  ring: broad
  osRelease: planted-os #!`},
	{"SV-DG-003", `kind: Package
metadata:
  name: planted-java-8
spec:
  product: planted-java
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
  name: planted-finance
  namespace: region-norr
  owner: region-norr
spec:
  selector:
    labels: {department: planted}
  ring: broad
  osRelease: windows-11-24h2
  products:
    - planted-java #!`},
	{"SV-BL-001", `kind: Baseline
metadata:
  name: planted-kiosk
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
  name: planted-kiosks
  namespace: region-norr
  owner: region-norr
spec:
  selector:
    labels: {role: planted-kiosk}
  ring: broad
  osRelease: windows-11-24h2
  baselines: [planted-kiosk] #!`},
	{"SV-BL-002", `kind: Baseline
metadata:
  name: planted-shared
spec:
  osReleases: [windows-11-24h2]
  settings:
    - id: planted-password-length
      type: registry
      target: HKLM\SYSTEM\Policies\PlantedPasswordLength
      value: 14
      enforce: at-least
---
kind: Baseline
metadata:
  name: planted-lab
  namespace: region-norr
  owner: region-norr
spec:
  osReleases: [windows-11-24h2]
  extends: [planted-shared]
  settings:
    - id: planted-password-length
      type: registry
      target: HKLM\SYSTEM\Policies\PlantedPasswordLength
      value: 8 #!`},
	// N2 bypass (a): the value claims compliance while the check cannot fail.
	{"SV-BL-004", `kind: Baseline
metadata:
  name: planted-secpol
spec:
  osReleases: [windows-11-24h2]
  settings:
    - id: planted-password-length
      type: command
      target: Account policy MinimumPasswordLength
      value: 14
      check: exit 0 #!
      set: net accounts /minpwlen:4`},
	{"SV-BL-005", `kind: Baseline
metadata:
  name: planted-shared-secpol
spec:
  osReleases: [windows-11-24h2]
  settings:
    - id: planted-password-length
      type: command
      target: Account policy MinimumPasswordLength
      value: 14
      enforce: at-least
      check: if (Get-PlantedLength -ge 14) { exit 0 } else { exit 1 }
      set: net accounts /minpwlen:14
---
kind: Baseline
metadata:
  name: planted-lab-secpol
  namespace: region-norr
  owner: region-norr
spec:
  osReleases: [windows-11-24h2]
  extends: [planted-shared-secpol]
  settings:
    - id: planted-password-length #!
      type: command
      target: Account policy MinimumPasswordLength
      value: 16
      enforce: at-least
      check: if (Get-PlantedLength -ge 16) { exit 0 } else { exit 1 }
      set: net accounts /minpwlen:4`},
	// N2 bypass (b): a new id writing a weaker value to a shared setting's registry value.
	{"SV-BL-006", `kind: Baseline
metadata:
  name: planted-shared-lock
spec:
  osReleases: [windows-11-24h2]
  settings:
    - id: planted-inactivity-limit
      type: registry
      target: HKLM\SOFTWARE\Policies\Planted\InactivityTimeoutSecs
      value: 900
      enforce: at-most
---
kind: Baseline
metadata:
  name: planted-lab-lock
  namespace: region-norr
  owner: region-norr
spec:
  osReleases: [windows-11-24h2]
  extends: [planted-shared-lock]
  settings:
    - id: planted-no-lock
      type: registry
      target: HKLM\SOFTWARE\Policies\Planted\InactivityTimeoutSecs #!
      value: 99999`},
	{"SV-BL-003", `kind: Baseline
metadata:
  name: planted-edge
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
  name: planted-admin-rights
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
  name: planted-guest-wifi
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
  name: planted-guest-wifi
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
  name: planted-shared-pcs
  namespace: region-norr
spec:
  selector:
    labels: {use: planted}
  ring: broad
  osRelease: windows-11-24h2`},
	{"SV-RO-001", `kind: RolloutPolicy
metadata:
  name: zz-consortium
spec:
  rings: [pilot, early, broad]
  steps:
    - {to: early, soak: 24h, successPercent: 95}
    - {to: broad, soak: 48h, successPercent: 98}
---
kind: RolloutPolicy
metadata:
  name: planted-hurry
  namespace: region-norr
spec:
  rings: [pilot, early, broad]
  steps:
    - to: early
      soak: 1h #!
      minDevices: 100
      minAppliedPercent: 90
      successPercent: 99
      maxPerHour: 100
    - {to: broad, soak: 168h, minDevices: 100, minAppliedPercent: 90, successPercent: 99, maxPerHour: 100}`},
	{"SV-RO-002", `kind: RolloutPolicy
metadata:
  name: planted-twice
  namespace: kommun-vasterby
spec:
  rings: [pilot, early, broad]
  steps:
    - {to: early, soak: 24h, successPercent: 95}
    - {to: broad, soak: 48h, successPercent: 98}
    - to: early #!
      soak: 24h
      successPercent: 95`},
	{"SV-MEM-001", `kind: Member
metadata:
  name: planted-university
spec:
  type: university
  displayName: Planted universitet
  contacts: #!
    - role: operations
      name: IT-service
      email: it@planted.example.se`},
	{"SV-WAIVER-001", `kind: Package
metadata:
  name: planted-tool-1-0
spec:
  product: planted-tool
  displayName: Planted tool
  vendor: Planted AB
  version: "1.0"
  installer:
    type: msi
    source:
      url: https://dl.example.se/planted.msi
      sha256: bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb
  osReleases: [windows-11-24h2]
  lifecycle:
    stage: packaging
---
kind: Waiver
metadata:
  name: planted-old-exception
spec:
  policy: SV-PKG-004
  targets:
    - kind: Package
      name: planted-tool-1-0
  reason: Vendor promised a fixed installer last year.
  approvedBy: strategy group
  expires: 2026-04-30 #!`},
	{"SV-WAIVER-002", `kind: DeviceGroup
metadata:
  name: planted-archive
  namespace: kommun-vasterby
  owner: kommun-vasterby
spec:
  selector:
    labels: {site: planted-archive}
  ring: broad
  osRelease: windows-10-22h2
---
kind: Waiver
metadata:
  name: planted-soon-over
  namespace: kommun-vasterby
  owner: kommun-vasterby
spec:
  policy: SV-DG-001
  targets:
    - kind: DeviceGroup
      name: planted-archive
  reason: The archive PCs are replaced in May.
  approvedBy: strategy group
  expires: 2026-05-20 #!`},
	{"SV-WAIVER-003", `kind: Package
metadata:
  name: planted-tool-1-0
spec:
  product: planted-tool
  displayName: Planted tool
  vendor: Planted AB
  version: "1.0"
  installer:
    type: winget
    wingetId: Planted.Tool
  osReleases: [windows-11-24h2]
  lifecycle:
    stage: packaging
---
kind: Waiver
metadata:
  name: planted-needless
spec:
  policy: SV-PKG-004
  targets:
    - kind: Package #!
      name: planted-tool-1-0
  reason: Detection by product code did not work in 2025.
  approvedBy: strategy group
  expires: 2027-01-01`},
	{"SV-WAIVER-004", `kind: DeviceGroup
metadata:
  name: planted-archive
  namespace: kommun-vasterby
  owner: kommun-vasterby
spec:
  selector:
    labels: {site: planted-archive}
  ring: broad
  osRelease: windows-10-22h2
---
kind: Waiver
metadata:
  name: planted-overreach
  namespace: region-norr
  owner: region-norr
spec:
  policy: SV-DG-001
  targets:
    - kind: DeviceGroup
      name: planted-archive
      namespace: kommun-vasterby #!
  reason: Region Norr tries to exempt another member's group.
  approvedBy: region-norr CISO
  expires: 2027-01-01`},
}

var (
	namespaceRE = regexp.MustCompile(`(?m)^  namespace: (\S+)`)
	memberRE    = regexp.MustCompile(`(?m)^kind: Member\n(?:.*\n)*?  name: (\S+)`)
)

// writePlanted writes each document of a planted source to its own file, in the folder the
// catalog's layout gives it: members/<namespace>/ for a member's document, members/<name>/ for
// a Member, the catalog root for shared documents. It returns where the "#!" marker landed.
func writePlanted(t *testing.T, dir, doc string) (file string, line, col int) {
	t.Helper()
	for i, part := range strings.Split(doc, "\n---\n") {
		src := "apiVersion: samverk.io/v1\n" + part + "\n"
		folder := ""
		if m := namespaceRE.FindStringSubmatch(part); m != nil {
			folder = "members/" + m[1] + "/"
		} else if m := memberRE.FindStringSubmatch(part); m != nil {
			folder = "members/" + m[1] + "/"
		}
		name := folder + "zz-planted.yaml"
		if i > 0 {
			name = fmt.Sprintf("%szz-planted-%d.yaml", folder, i)
		}
		if err := os.MkdirAll(filepath.Join(dir, filepath.FromSlash(folder)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.FromSlash(name)), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(part, "#!") {
			file = name
			line, col = markedPosition(t, src)
		}
	}
	if file == "" {
		t.Fatalf("no #! marker in\n%s", doc)
	}
	return file, line, col
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

// plantBases are the catalogs violations are planted in: this package's testdata catalog and,
// when it is there, the reference catalog.
func plantBases() map[string]string {
	bases := map[string]string{"testdata": "testdata/catalog"}
	if _, err := os.Stat("../../catalog"); err == nil {
		bases["reference"] = "../../catalog"
	}
	return bases
}

// TestPlantedViolations plants a violation of each rule in a copy of each base catalog and
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
	now := func() time.Time { return clock }
	for name, baseDir := range plantBases() {
		t.Run(name, func(t *testing.T) {
			base, err := validate.Dir(context.Background(), baseDir, validate.Options{Policies: pol, Now: now})
			if err != nil {
				t.Fatal(err)
			}
			if s := base.Report.Summary; !base.Report.Passed || s.Deny+s.Warn+s.Info != 0 {
				t.Fatalf("%s is not clean at %s: %+v\n%s", baseDir, clock.Format(time.DateOnly), s, join(base.Report.Findings))
			}
			for _, p := range plantedDocs {
				t.Run(p.rule, func(t *testing.T) { plant(t, pol, baseDir, p) })
			}
		})
	}
}

func plant(t *testing.T, pol validate.Policies, baseDir string, p planted) {
	dir := t.TempDir()
	copyDir(t, baseDir, dir)
	file, line, col := writePlanted(t, dir, p.doc)
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
		if strings.Contains(f.Message, "%!") {
			t.Errorf("message shows a Go format verb: %s", f)
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
}

// TestSchemaInvalidGetsNoPolicyFinding: a document that fails its schema is reported by the
// schema alone. With maxDays: "180" (a string), SV-SVC-003 used to compare and print a string
// as a number: a false finding reading "maxDays is %!d(string=180)". No planted document, valid
// or not, may show a Go format verb in any message.
func TestSchemaInvalidGetsNoPolicyFinding(t *testing.T) {
	pol := bundled(t)
	svc := plantedDocs[slices.IndexFunc(plantedDocs, func(p planted) bool { return p.rule == "SV-SVC-003" })].doc
	tests := []struct {
		name, from, to string
		schemaRule     string
	}{
		{"maxDays a string", "maxDays: 400 #!", `maxDays: "180" #!`, finding.RuleSchemaType},
		{"maxDays a string over the limit", "maxDays: 400 #!", `maxDays: "4000" #!`, finding.RuleSchemaType},
		{"maxDays a list", "maxDays: 400 #!", `maxDays: [400] #!`, finding.RuleSchemaType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			copyDir(t, "testdata/catalog", dir)
			file, line, col := writePlanted(t, dir, strings.Replace(svc, tt.from, tt.to, 1))
			res, err := validate.Dir(context.Background(), dir, validate.Options{Policies: pol, Now: func() time.Time { return clock }})
			if err != nil {
				t.Fatal(err)
			}
			var schemaHit bool
			for _, f := range res.Report.Findings {
				if strings.Contains(f.Message, "%!") {
					t.Errorf("message shows a Go format verb: %s", f)
				}
				if f.File != file {
					continue
				}
				if strings.HasPrefix(f.Rule, "SV-") {
					t.Errorf("policy finding on a document that failed its schema: %s", f)
				}
				schemaHit = schemaHit || f.Rule == tt.schemaRule && f.Line == line && f.Column == col
			}
			if !schemaHit || res.Report.Passed {
				t.Errorf("want %s at %s:%d:%d failing the run:\n%s", tt.schemaRule, file, line, col, join(res.Report.Findings))
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

// TestSharedOnlyWaiver: SV-BL-005 (custom.waivers: shared) is exempted only by a shared waiver.
// A member cannot approve its own scripts in place of the consortium's: its waiver, in its own
// folder, exempts nothing and is itself a finding.
func TestSharedOnlyWaiver(t *testing.T) {
	pol := bundled(t)
	p := plantedDocs[slices.IndexFunc(plantedDocs, func(p planted) bool { return p.rule == "SV-BL-005" })]
	waiver := func(ns string) string {
		md := "metadata:\n  name: planted-secpol-waiver\n"
		if ns != "" {
			md += "  namespace: " + ns + "\n  owner: " + ns + "\n"
		}
		return "apiVersion: samverk.io/v1\nkind: Waiver\n" + md + `spec:
  policy: SV-BL-005
  targets:
    - {kind: Baseline, name: planted-lab-secpol, namespace: region-norr}
  reason: The member approves its own password scripts.
  approvedBy: region-norr CISO
  expires: 2027-01-01
`
	}
	tests := []struct {
		name, file, ns string
		waived         bool
	}{
		{"member waiver", "members/region-norr/waiver.yaml", "region-norr", false},
		{"shared waiver", "waivers/planted.yaml", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			copyDir(t, "testdata/catalog", dir)
			writePlanted(t, dir, p.doc)
			if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, tt.file)), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, tt.file), []byte(waiver(tt.ns)), 0o644); err != nil {
				t.Fatal(err)
			}
			res, err := validate.Dir(context.Background(), dir, validate.Options{Policies: pol, Now: func() time.Time { return clock }})
			if err != nil {
				t.Fatal(err)
			}
			var rule, scope *finding.Finding
			for i, f := range res.Report.Findings {
				switch f.Rule {
				case "SV-BL-005":
					rule = &res.Report.Findings[i]
				case policy.RuleWaiverScope:
					scope = &res.Report.Findings[i]
				}
			}
			if rule == nil || (rule.WaivedBy != nil) != tt.waived || res.Report.Passed != tt.waived {
				t.Fatalf("SV-BL-005 = %v, passed %v; want waived %v:\n%s", rule, res.Report.Passed, tt.waived, join(res.Report.Findings))
			}
			if !tt.waived && (scope == nil || scope.File != tt.file || !strings.Contains(scope.Message, "only be waived by a shared waiver")) {
				t.Errorf("%s = %v, want the member waiver refused", policy.RuleWaiverScope, scope)
			}
		})
	}
}
