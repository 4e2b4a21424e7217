package compile

import (
	"slices"
	"strings"
	"testing"
)

// upgradePaths gives win11-24h2 a setup-media path from 23H2 and a feature update from any
// older Windows.
const upgradePaths = `apiVersion: samverk.io/v1
kind: OSRelease
metadata: {name: win11-24h2}
spec:
  family: windows
  version: 24H2
  build: "26100"
  releaseDate: 2024-10-01
  endOfSupport: 2027-10-12
  upgrade:
    paths:
      - from: [win11-23h2]
        installer:
          type: setup-media
          source: {url: "https://dist.example.org/win11-24h2.iso", sha256: "ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789"}
          arguments: [/auto, upgrade, /quiet]
        freeDiskMiB: 20480
        reboot: true
        maxDurationMinutes: 180
      - fromFamily: true
        installer:
          type: feature-update
          source: {url: "https://dist.example.org/win11-24h2.msu", sha256: "0000000000000000000000000000000000000000000000000000000000000000"}
        freeDiskMiB: 10240
        reboot: true
        maxDurationMinutes: 120
        requireAC: false
`

const driverPack = `apiVersion: samverk.io/v1
kind: HardwareModel
metadata: {name: dell-latitude-5450}
spec:
  vendor: Dell Inc.
  model: Latitude 5450
  formFactor: laptop
  driverPackage: dell-drivers
  certifications:
    - {osRelease: win11-23h2, status: certified, member: region-norr}
    - {osRelease: win11-24h2, status: certified, member: region-norr}
---
apiVersion: samverk.io/v1
kind: Package
metadata: {name: dell-drivers-a03}
spec:
  product: dell-drivers
  version: A03
  installer: {type: script, install: "install A03", detect: {command: "check A03"}}
  osReleases: [win11-23h2]
  lifecycle: {stage: approved}
---
apiVersion: samverk.io/v1
kind: Package
metadata: {name: dell-drivers-a05}
spec:
  product: dell-drivers
  version: A05
  installer: {type: script, install: "install A05", detect: {command: "check A05"}}
  osReleases: [win11-24h2]
  lifecycle: {stage: approved}
`

func TestUpgradePath(t *testing.T) {
	ix := newIndexT(t, fixture(t, upgradePaths))
	tests := []struct {
		name      string
		dev       Device
		from      string
		installer string
		reqAC     bool
	}{
		{"named source release", with(dell, map[string]string{"role": "staff"}), "win11-23h2", "setup-media", true},
		{"any older release of the family", onBuild(with(dell, map[string]string{"role": "staff"}), "22621"), "win11-22h2", "feature-update", false},
		{"unknown release takes the family path", onBuild(with(dell, map[string]string{"role": "staff"}), "99999"), "", "feature-update", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, _ := ix.Compile(tt.dev, "rev1")
			if st.OS == nil || st.OS.Action != ActionUpgrade || st.OS.Upgrade == nil {
				t.Fatalf("os %s, want an upgrade with a path", jsonOf(st.OS))
			}
			u := st.OS.Upgrade
			if u.From != tt.from || u.Installer.Type != tt.installer || u.RequireAC != tt.reqAC || !u.Reboot {
				t.Errorf("upgrade %s, want from %q by %s, requireAC %v", jsonOf(u), tt.from, tt.installer, tt.reqAC)
			}
			if u.Installer.SHA256 != strings.ToLower(u.Installer.SHA256) {
				t.Errorf("sha256 %s not lower case", u.Installer.SHA256)
			}
			if slices.Contains(condTypes(st), CondNoUpgradePath+"/"+CondNoUpgradePath) {
				t.Errorf("conditions %v name a missing path", condTypes(st))
			}
			checkState(t, nil, st) // the hand encoding of the upgrade must be encoding/json's
		})
	}

	t.Run("no path from the release: condition, nothing to install", func(t *testing.T) {
		ix := newIndexT(t, fixture(t, strings.Replace(strings.Replace(upgradePaths, "fromFamily: true", "from: [win11-22h2]", 1), "[win11-23h2]", "[win11-22h2]", 1)))
		st, _ := ix.Compile(with(dell, map[string]string{"role": "staff"}), "rev1")
		if st.OS.Action != ActionUpgrade || st.OS.Upgrade != nil || !slices.Contains(condTypes(st), "NoUpgradePath/NoUpgradePath") {
			t.Errorf("os %s conditions %v, want upgrade without a path and NoUpgradePath", jsonOf(st.OS), condTypes(st))
		}
	})
}

func TestDriverPack(t *testing.T) {
	ix := newIndexT(t, fixture(t, upgradePaths, driverPack))
	t.Run("upgrading device gets the pack for the target", func(t *testing.T) {
		st, _ := ix.Compile(with(dell, map[string]string{"role": "staff"}), "rev1")
		r := resource(st, "package/dell-drivers")
		if r == nil || r.Package.Version != "A05" || !strings.Contains(r.Why, "driver pack of hardware model dell-latitude-5450") {
			t.Fatalf("driver resource %+v in %v, want A05 for the target", r, ids(st))
		}
		checkState(t, nil, st)
	})
	t.Run("staying device gets the pack for its own release", func(t *testing.T) {
		st, _ := ix.Compile(with(dell, map[string]string{"role": "staff", "site": "lulea"}), "rev1")
		if st.OS == nil || st.OS.Action != ActionStay {
			t.Skipf("group of this device does not keep it: %s", jsonOf(st.OS))
		}
		r := resource(st, "package/dell-drivers")
		if r == nil || r.Package.Version != "A03" {
			t.Fatalf("driver resource %+v in %v, want A03 for win11-23h2", r, ids(st))
		}
	})
	t.Run("model not certified for the release: no pack", func(t *testing.T) {
		ix := newIndexT(t, fixture(t, upgradePaths, strings.Replace(driverPack, "{osRelease: win11-23h2, status: certified", "{osRelease: win11-23h2, status: testing", 1)))
		st, _ := ix.Compile(with(dell, map[string]string{"role": "staff", "site": "lulea"}), "rev1")
		if r := resource(st, "package/dell-drivers"); r != nil {
			t.Errorf("driver pack %s on a release the model is not certified for", r.Package.Version)
		}
	})
	t.Run("other models share no pack", func(t *testing.T) {
		st, _ := ix.Compile(with(hp, map[string]string{"role": "staff"}), "rev1")
		if r := resource(st, "package/dell-drivers"); r != nil {
			t.Errorf("hp device got %s", r.ID)
		}
	})
}

func TestPlanTellsTheUpgrade(t *testing.T) {
	ix := newIndexT(t, fixture(t, upgradePaths))
	st, _ := ix.Compile(with(dell, map[string]string{"role": "staff"}), "rev1")
	var b strings.Builder
	if err := Plan(&b, st); err != nil {
		t.Fatal(err)
	}
	want := "OS: upgrade to win11-24h2 (build 26100)\n  from win11-23h2 by setup-media https://dist.example.org/win11-24h2.iso; needs 20480 MiB free, AC power; restarts; at most 180 minutes\n"
	if !strings.Contains(b.String(), want) {
		t.Errorf("plan lacks\n%s\nin\n%s", want, b.String())
	}
}
