package compile

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"

	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/desired"
)

func TestGroupAndOS(t *testing.T) {
	cat := fixture(t)
	ix := newIndexT(t, cat)
	tests := []struct {
		name    string
		dev     Device
		profile string
		os      *desired.OSTarget
		conds   []string
	}{
		{
			name:    "certified target: upgrade",
			dev:     with(dell, map[string]string{"role": "staff"}),
			profile: "region-norr/staff/broad/dell-latitude-5450/win11-23h2",
			os:      &desired.OSTarget{Release: "win11-24h2", Build: "26100", Action: "upgrade"},
			conds:   []string{"NoUpgradePath/NoUpgradePath", "DependencyUnsatisfied/Dependencies", "DependencyUnsatisfied/Dependencies", "NoAcceptableVersion/NoPackages", "NoAcceptableVersion/NoStageForRing"},
		},
		{
			name:    "target only in testing: stay",
			dev:     with(hp, map[string]string{"role": "staff"}),
			profile: "region-norr/staff/broad/hp-elitebook-840-g10/win11-23h2",
			os:      &desired.OSTarget{Release: "win11-23h2", Build: "22631", Action: "stay", Reason: "NotCertified"},
			conds:   []string{"NotCertified/Testing", "DependencyUnsatisfied/Dependencies", "DependencyUnsatisfied/Dependencies", "NoAcceptableVersion/NoPackages", "NoAcceptableVersion/NoStageForRing"},
		},
		{
			name:    "no certification at all: stay",
			dev:     onBuild(with(hp, map[string]string{"role": "staff", "site": "lulea"}), "22621"),
			profile: "region-norr/staff/broad/hp-elitebook-840-g10/win11-22h2",
			os:      &desired.OSTarget{Release: "win11-22h2", Build: "22621", Action: "stay", Reason: "NotCertified"},
		},
		{
			name:    "unknown hardware: stay",
			dev:     with(odd, map[string]string{"role": "staff"}),
			profile: "region-norr/staff/broad/-/win11-23h2",
			os:      &desired.OSTarget{Release: "win11-23h2", Build: "22631", Action: "stay", Reason: "UnknownHardware"},
		},
		{
			name:    "SMBIOS strings padded and in other case",
			dev:     with(Device{Member: "region-norr", Vendor: "DELL INC. ", Model: " latitude 5450", OSFamily: "Windows", OSBuild: "22631"}, map[string]string{"role": "staff"}),
			profile: "region-norr/staff/broad/dell-latitude-5450/win11-23h2",
			os:      &desired.OSTarget{Release: "win11-24h2", Build: "26100", Action: "upgrade"},
		},
		{
			name:    "already on target",
			dev:     with(dell, map[string]string{"role": "staff", "site": "lulea"}),
			profile: "region-norr/dell-staff/early/dell-latitude-5450/win11-23h2",
			os:      &desired.OSTarget{Release: "win11-23h2", Build: "22631", Action: "stay"},
			conds:   []string{},
		},
		{
			name:    "newer than target: no downgrade",
			dev:     onBuild(with(dell, map[string]string{"role": "staff", "site": "lulea"}), "26100"),
			profile: "region-norr/dell-staff/early/dell-latitude-5450/win11-24h2",
			os:      &desired.OSTarget{Release: "win11-24h2", Build: "26100", Action: "stay", Reason: "AheadOfTarget"},
			conds:   []string{"AheadOfTarget/NewerBuild"},
		},
		{
			name:    "group without target",
			dev:     dell,
			profile: "region-norr/everyone/broad/dell-latitude-5450/win11-23h2",
			conds:   []string{},
		},
		{
			name:    "unknown OS build, certified target: upgrade",
			dev:     onBuild(with(dell, map[string]string{"role": "staff"}), "99999"),
			profile: "region-norr/staff/broad/dell-latitude-5450/-",
			os:      &desired.OSTarget{Release: "win11-24h2", Build: "26100", Action: "upgrade"},
		},
		{
			name:    "unknown OS build, unknown hardware: nothing to choose",
			dev:     onBuild(with(odd, map[string]string{"role": "staff"}), "99999"),
			profile: "region-norr/staff/broad/-/-",
			os:      &desired.OSTarget{Action: "stay", Reason: "UnknownHardware"},
			conds:   []string{"UnknownHardware/NoHardwareModel", "UnknownOSRelease/NoOSRelease"},
		},
		{
			name:    "no selector matches",
			dev:     Device{Member: "uni-syd", Labels: map[string]string{"room": "office"}, Vendor: "HP", Model: "HP EliteBook 840 G10", OSFamily: "windows", OSBuild: "22631"},
			profile: "uni-syd/-/-/hp-elitebook-840-g10/win11-23h2",
			conds:   []string{"NoGroup/NoSelectorMatched"},
		},
		{
			name:    "member without groups",
			dev:     Device{Member: "nobody", OSFamily: "windows", OSBuild: "22631"},
			profile: "nobody/-/-/-/win11-23h2",
			conds:   []string{"NoGroup/NoDeviceGroups"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, p := ix.Compile(tt.dev, "rev1")
			if p.Key() != tt.profile {
				t.Errorf("profile %s, want %s", p.Key(), tt.profile)
			}
			if got, want := jsonOf(st.OS), jsonOf(tt.os); got != want {
				t.Errorf("os %s, want %s", got, want)
			}
			if tt.conds != nil && !slices.Equal(condTypes(st), tt.conds) && !(len(tt.conds) == 0 && len(st.Conditions) == 0) {
				t.Errorf("conditions %v, want %v", condTypes(st), tt.conds)
			}
			if st.Revision != "rev1" {
				t.Errorf("revision %q", st.Revision)
			}
			checkState(t, nil, st)
			if p.Group == "" && (len(st.Resources) != 0 || st.OS != nil || st.Resources == nil) {
				t.Errorf("no group, yet resources %v os %v", ids(st), st.OS)
			}
		})
	}
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestGroupPriority(t *testing.T) {
	ix := newIndexT(t, fixture(t))
	tests := []struct {
		name   string
		dev    Device
		group  string
		ring   string
		mode   string
		member string
	}{
		{"lowest priority number first", with(dell, map[string]string{"role": "staff", "ring": "pilot", "site": "lulea"}), "pilot-laptops", "pilot", "enforce", "region-norr"},
		{"equal priority: by name", with(dell, map[string]string{"role": "staff", "site": "lulea"}), "dell-staff", "early", "enforce", "region-norr"},
		{"hardware selector excludes other models", with(hp, map[string]string{"role": "staff", "site": "lulea"}), "staff", "broad", "enforce", "region-norr"},
		{"hardware selector excludes unknown hardware", with(odd, map[string]string{"role": "staff", "site": "lulea"}), "staff", "broad", "enforce", "region-norr"},
		{"label value must be equal", with(dell, map[string]string{"role": "student"}), "everyone", "broad", "detect", "region-norr"},
		{"empty selector matches all", dell, "everyone", "broad", "detect", "region-norr"},
		{"groups of other members never match", Device{Member: "uni-syd", Labels: map[string]string{"role": "staff"}}, "", "", "enforce", "uni-syd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, p := ix.Compile(tt.dev, "r")
			if st.Group != tt.group || p.Group != tt.group || st.Ring != tt.ring || p.Ring != tt.ring || st.Mode != tt.mode || st.Member != tt.member {
				t.Errorf("got group %q/%q ring %q/%q mode %q member %q; want %q ring %q mode %q member %q",
					st.Group, p.Group, st.Ring, p.Ring, st.Mode, st.Member, tt.group, tt.ring, tt.mode, tt.member)
			}
		})
	}
}

func TestSoftware(t *testing.T) {
	ix := newIndexT(t, fixture(t))
	type pkgWant struct{ id, version string }
	tests := []struct {
		name    string
		dev     Device
		present []pkgWant
		absent  []string
		missing []string // products that must not be present
	}{
		{
			name: "broad on 24H2: highest approved for the OS",
			dev:  with(dell, map[string]string{"role": "staff"}),
			present: []pkgWant{{"package/firefox", "131.0"}, {"package/m365-apps", "16.1"}, {"package/teams", "24.1"},
				{"package/webview2", "121.0"}, {"package/vcredist", "14.40"}},
			absent:  []string{"package/firefox@127.0", "package/msoffice-2019@16.0"},
			missing: []string{"package/newapp", "package/legacy-erp", "package/unpackaged", "package/nowhere"},
		},
		{
			name: "broad on 23H2: 131.0 does not support it, 128.10.0 > 128.9.1",
			dev:  with(hp, map[string]string{"role": "staff"}),
			present: []pkgWant{{"package/firefox", "128.10.0"}, {"package/m365-apps", "16.1"}, {"package/teams", "24.1"},
				{"package/webview2", "121.0"}, {"package/vcredist", "14.40"}},
			absent: []string{"package/firefox@127.0", "package/firefox@128.8.0", "package/firefox@128.9.1", "package/msoffice-2019@16.0"},
		},
		{
			name:    "pilot gets user-test",
			dev:     with(dell, map[string]string{"ring": "pilot"}),
			present: []pkgWant{{"package/firefox", "132.0"}, {"package/newapp", "1.0"}, {"package/webview2", "125.0"}, {"package/vcredist", "14.40"}, {"package/teams", "24.1"}},
			absent:  []string{"package/firefox@127.0"},
		},
		{
			name:    "early takes approved only",
			dev:     with(dell, map[string]string{"role": "staff", "site": "lulea"}),
			present: []pkgWant{{"package/vcredist", "14.40"}},
			missing: []string{"package/firefox", "package/firefox@127.0"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, _ := ix.Compile(tt.dev, "r")
			for _, w := range tt.present {
				r := resource(st, w.id)
				if r == nil || r.Ensure != "present" || r.Package == nil || r.Package.Version != w.version {
					t.Errorf("%s: got %+v, want present %s", w.id, r, w.version)
				}
			}
			for _, id := range tt.absent {
				if r := resource(st, id); r == nil || r.Ensure != "absent" {
					t.Errorf("%s: got %+v, want absent", id, r)
				}
			}
			for _, id := range tt.missing {
				if r := resource(st, id); r != nil {
					t.Errorf("%s: got %+v, want none", id, r)
				}
			}
			var pkgs []string
			for _, r := range st.Resources {
				if r.Type == "package" {
					pkgs = append(pkgs, r.ID)
				}
			}
			if want := len(tt.present) + len(tt.absent); len(pkgs) != want {
				t.Errorf("package resources %v, want %d", pkgs, want)
			}
		})
	}
}

func TestDependencies(t *testing.T) {
	ix := newIndexT(t, fixture(t))
	st, _ := ix.Compile(with(dell, map[string]string{"role": "staff"}), "r")

	teams, webview, vc := resource(st, "package/teams"), resource(st, "package/webview2"), resource(st, "package/vcredist")
	if teams == nil || webview == nil || vc == nil {
		t.Fatalf("transitive dependencies missing: %v", ids(st))
	}
	if !slices.Equal(teams.DependsOn, []string{"package/webview2"}) || !slices.Equal(webview.DependsOn, []string{"package/vcredist"}) {
		t.Errorf("dependsOn: teams %v, webview2 %v", teams.DependsOn, webview.DependsOn)
	}
	if !strings.Contains(webview.Why, "needed by teams (120 or later)") || !strings.Contains(vc.Why, "needed by webview2") {
		t.Errorf("why: webview2 %q, vcredist %q", webview.Why, vc.Why)
	}
	if !strings.Contains(teams.Why, "delivered by service collaboration") {
		t.Errorf("why teams: %q", teams.Why)
	}

	// Dependencies come before their dependents, and otherwise resources are in id order.
	pos := map[string]int{}
	for i, r := range st.Resources {
		pos[r.ID] = i
	}
	for _, r := range st.Resources {
		for _, d := range r.DependsOn {
			if pos[d] >= pos[r.ID] {
				t.Errorf("%s at %d comes before its dependency %s at %d", r.ID, pos[r.ID], d, pos[d])
			}
		}
	}
	want := []string{"package/firefox", "package/firefox@127.0", "package/m365-apps", "package/msoffice-2019@16.0",
		"package/vcredist", "package/webview2", "package/teams",
		"setting/hosts", "setting/legal-notice", "setting/lockout-threshold", "setting/qword-value", "setting/remote-registry", "setting/smb1-off"}
	if got := ids(st); !slices.Equal(got, want) {
		t.Errorf("order\n got %v\nwant %v", got, want)
	}

	// minVersion: newapp needs webview2 125, which broad does not get; legacy-erp needs 200.
	var msgs []string
	for _, c := range st.Conditions {
		if c.Type == CondDependencyUnsatisfied {
			msgs = append(msgs, c.Message)
		}
	}
	if len(msgs) != 2 || !strings.Contains(msgs[0], "legacy-erp") || !strings.Contains(msgs[0], "webview2 200 or later") ||
		!strings.Contains(msgs[1], "newapp") || !strings.Contains(msgs[1], "highest acceptable version is 121.0") {
		t.Errorf("dependency conditions: %q", msgs)
	}
}

func TestDependencyEdgeCases(t *testing.T) {
	t.Run("dependency without any version", func(t *testing.T) {
		cat := fixture(t, `apiVersion: samverk.io/v1
kind: Package
metadata: {name: vcredist-14-40}
spec:
  product: vcredist
  displayName: Visual C++ Redistributable
  vendor: Microsoft
  version: "14.40"
  installer: {type: winget}
  osReleases: [win11-22h2]
  lifecycle: {stage: approved}
`)
		st, _ := newIndexT(t, cat).Compile(with(dell, map[string]string{"role": "staff"}), "r")
		for _, id := range []string{"package/teams", "package/webview2", "package/vcredist"} {
			if resource(st, id) != nil {
				t.Errorf("%s present though vcredist has no version for the OS", id)
			}
		}
		got := strings.Join(condTypes(st), ",")
		if !strings.Contains(got, "NoAcceptableVersion/NoOSSupport") {
			t.Errorf("conditions %s", got)
		}
	})
	t.Run("cycle is reported and broken", func(t *testing.T) {
		cat := fixture(t, `apiVersion: samverk.io/v1
kind: Package
metadata: {name: vcredist-14-40}
spec:
  product: vcredist
  displayName: Visual C++ Redistributable
  vendor: Microsoft
  version: "14.40"
  installer: {type: winget}
  osReleases: [win11-23h2, win11-24h2]
  lifecycle: {stage: approved}
  dependencies: [{product: teams}]
`)
		st, _ := newIndexT(t, cat).Compile(with(dell, map[string]string{"role": "staff"}), "r")
		if !slices.Contains(condTypes(st), "DependencyCycle/Dependencies") {
			t.Errorf("conditions %v", condTypes(st))
		}
		if len(st.Resources) == 0 || resource(st, "package/teams") == nil {
			t.Errorf("resources %v", ids(st))
		}
	})
}

func TestSupersedesAndRetired(t *testing.T) {
	ix := newIndexT(t, fixture(t))
	st, _ := ix.Compile(with(hp, map[string]string{"role": "staff"}), "r")
	tests := []struct {
		id, why   string
		dependsOn []string
	}{
		{"package/firefox@128.8.0", "superseded by firefox 128.10.0", []string{"package/firefox"}},
		{"package/firefox@128.9.1", "superseded by firefox 128.10.0", []string{"package/firefox"}},
		{"package/firefox@127.0", "retired", []string{"package/firefox"}},
		{"package/msoffice-2019@16.0", "superseded by m365-apps 16.1", []string{"package/m365-apps"}},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			r := resource(st, tt.id)
			if r == nil {
				t.Fatalf("missing; have %v", ids(st))
			}
			if r.Ensure != "absent" || r.Why != tt.why || !slices.Equal(r.DependsOn, tt.dependsOn) || r.Package == nil || r.Package.Installer.Type == "" {
				t.Errorf("got %+v", r)
			}
		})
	}

	t.Run("superseding a version that is to stay", func(t *testing.T) {
		// m365-apps now supersedes the teams version the device is to have.
		cat := fixture(t, `apiVersion: samverk.io/v1
kind: Package
metadata: {name: m365-apps-16-1}
spec:
  product: m365-apps
  displayName: Microsoft 365 Apps
  vendor: Microsoft
  version: "16.1"
  installer: {type: winget, wingetId: Microsoft.Office}
  osReleases: [win11-23h2, win11-24h2]
  lifecycle: {stage: approved}
  supersedes: [teams-24-1, gone-1-0]
`)
		st, _ := newIndexT(t, cat).Compile(with(hp, map[string]string{"role": "staff"}), "r")
		if r := resource(st, "package/teams@24.1"); r != nil {
			t.Errorf("teams both present and absent: %+v", r)
		}
		if r := resource(st, "package/teams"); r == nil {
			t.Errorf("teams removed")
		}
		got := condTypes(st)
		if !slices.Contains(got, "SupersedeConflict/Package") || !slices.Contains(got, "UnresolvedReference/Package") {
			t.Errorf("conditions %v", got)
		}
	})
}

func TestSettings(t *testing.T) {
	t.Run("extends and override", func(t *testing.T) {
		ix := newIndexT(t, fixture(t))
		st, _ := ix.Compile(with(dell, map[string]string{"role": "staff"}), "r")
		tests := []struct {
			id  string
			why string
			reg *desired.Registry
		}{
			{"setting/lockout-threshold", "baseline cis-l1; overrides baseline win11-base",
				&desired.Registry{Key: `HKLM\SYSTEM\CurrentControlSet\Services\RemoteAccess\Parameters\AccountLockout`, Name: "MaxDenials", ValueType: "dword", Value: int64(5)}},
			{"setting/legal-notice", "baseline cis-l1 (extends win11-base)",
				&desired.Registry{Key: `HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\System`, Name: "legalnoticecaption", ValueType: "string", Value: "Authorised use only"}},
			{"setting/qword-value", "baseline cis-l1",
				&desired.Registry{Key: `HKLM\SOFTWARE\Policies\Samverk`, Name: "Big", ValueType: "qword", Value: int64(8589934592)}},
		}
		for _, tt := range tests {
			r := resource(st, tt.id)
			if r == nil {
				t.Fatalf("%s missing; have %v", tt.id, ids(st))
			}
			if r.Why != tt.why || jsonOf(r.Registry) != jsonOf(tt.reg) {
				t.Errorf("%s: why %q registry %s\nwant why %q registry %s", tt.id, r.Why, jsonOf(r.Registry), tt.why, jsonOf(tt.reg))
			}
		}
		if r := resource(st, "setting/old-setting"); r != nil {
			t.Errorf("baseline for another OS applied: %+v", r)
		}
		if r := resource(st, "setting/remote-registry"); r == nil || r.Service == nil || *r.Service != (desired.Service{Name: "RemoteRegistry", State: "disabled"}) {
			t.Errorf("service: %+v", r)
		}
		if r := resource(st, "setting/hosts"); r == nil || r.File == nil || *r.File != (desired.File{Path: `C:\Windows\System32\drivers\etc\hosts`, Content: "127.0.0.1 localhost\n", Mode: "0644"}) {
			t.Errorf("file: %+v", r)
		}
		if r := resource(st, "setting/smb1-off"); r == nil || r.Command == nil || r.Command.TimeoutSeconds != 60 || !strings.HasPrefix(r.Command.Set, "Set-SmbServerConfiguration") {
			t.Errorf("command: %+v", r)
		}
	})
	t.Run("member baseline first, extending a shared one", func(t *testing.T) {
		ix := newIndexT(t, fixture(t))
		st, _ := ix.Compile(with(dell, map[string]string{"ring": "pilot"}), "r")
		if r := resource(st, "setting/legal-notice"); r == nil || r.Registry.Value != "Region Norr" || r.Why != "baseline norr-hardening; overrides baseline win11-base" {
			t.Errorf("legal-notice: %+v", r)
		}
		if r := resource(st, "setting/lockout-threshold"); r == nil || r.Registry.Value != int64(5) || r.Why != "baseline norr-hardening (extends cis-l1); overrides baseline win11-base" {
			t.Errorf("lockout: %+v", r)
		}
		if r := resource(st, "setting/hosts"); r == nil || r.Why != "baseline norr-hardening (extends cis-l1, which extends win11-base)" {
			t.Errorf("hosts: %+v", r)
		}
	})
	t.Run("member namespace shadows shared", func(t *testing.T) {
		cat := fixture(t, `apiVersion: samverk.io/v1
kind: Baseline
metadata: {name: cis-l1, namespace: region-norr}
spec:
  osReleases: [win11-24h2]
  settings:
    - {id: norr-only, type: service, target: Spooler, value: stopped}
`)
		st, _ := newIndexT(t, cat).Compile(with(dell, map[string]string{"role": "staff"}), "r")
		if got := ids(st); !slices.Contains(got, "setting/norr-only") || slices.Contains(got, "setting/lockout-threshold") {
			t.Errorf("settings %v", got)
		}
	})
	t.Run("cycle and dangling extends", func(t *testing.T) {
		cat := fixture(t, `apiVersion: samverk.io/v1
kind: Baseline
metadata: {name: win11-base}
spec:
  osReleases: [win11-23h2, win11-24h2]
  extends: [cis-l1, missing]
  settings:
    - {id: lockout-threshold, type: registry, target: 'HKLM\X\MaxDenials', value: 10}
    - {id: bad-registry, type: registry, target: NoBackslash, value: 1}
    - {id: expect, type: command, target: x, check: c, set: s, value: "ok"}
`)
		st, _ := newIndexT(t, cat).Compile(with(dell, map[string]string{"role": "staff"}), "r")
		got := condTypes(st)
		for _, want := range []string{"BaselineCycle/Extends", "UnresolvedReference/Baseline", "InvalidSetting/Setting"} {
			if !slices.Contains(got, want) {
				t.Errorf("conditions %v lack %s", got, want)
			}
		}
		if r := resource(st, "setting/lockout-threshold"); r == nil || r.Registry.Value != int64(5) {
			t.Errorf("lockout: %+v", r)
		}
		if resource(st, "setting/bad-registry") != nil || resource(st, "setting/expect") == nil {
			t.Errorf("resources %v", ids(st))
		}
	})
}

func TestPrepareSetting(t *testing.T) {
	tests := []struct {
		name    string
		s       catalog.Setting
		raw     any
		want    any // *desired.Registry, *desired.File, ... or nil when invalid
		invalid bool
	}{
		{"dword by default", catalog.Setting{Type: "registry", Target: `HKLM\K\V`}, int64(1), &desired.Registry{Key: `HKLM\K`, Name: "V", ValueType: "dword", Value: int64(1)}, false},
		{"negative fits dword", catalog.Setting{Type: "registry", Target: `HKLM\K\V`}, int64(-1), &desired.Registry{Key: `HKLM\K`, Name: "V", ValueType: "dword", Value: int64(-1)}, false},
		{"max uint32 is dword", catalog.Setting{Type: "registry", Target: `HKLM\K\V`}, int64(4294967295), &desired.Registry{Key: `HKLM\K`, Name: "V", ValueType: "dword", Value: int64(4294967295)}, false},
		{"too big for dword: qword", catalog.Setting{Type: "registry", Target: `HKLM\K\V`}, int64(4294967296), &desired.Registry{Key: `HKLM\K`, Name: "V", ValueType: "qword", Value: int64(4294967296)}, false},
		{"explicit dword too big", catalog.Setting{Type: "registry", Target: `HKLM\K\V`, ValueType: "dword"}, int64(4294967296), nil, true},
		{"float that is whole", catalog.Setting{Type: "registry", Target: `HKLM\K\V`}, 3.0, &desired.Registry{Key: `HKLM\K`, Name: "V", ValueType: "dword", Value: int64(3)}, false},
		{"fraction is no dword", catalog.Setting{Type: "registry", Target: `HKLM\K\V`}, 3.5, nil, true},
		{"bool as dword", catalog.Setting{Type: "registry", Target: `HKLM\K\V`}, true, &desired.Registry{Key: `HKLM\K`, Name: "V", ValueType: "dword", Value: int64(1)}, false},
		{"string by default", catalog.Setting{Type: "registry", Target: `HKLM\K\V`}, "x", &desired.Registry{Key: `HKLM\K`, Name: "V", ValueType: "string", Value: "x"}, false},
		{"number as explicit string", catalog.Setting{Type: "registry", Target: `HKLM\K\V`, ValueType: "string"}, int64(7), &desired.Registry{Key: `HKLM\K`, Name: "V", ValueType: "string", Value: "7"}, false},
		{"hex string as dword", catalog.Setting{Type: "registry", Target: `HKLM\K\V`, ValueType: "dword"}, "0x10", &desired.Registry{Key: `HKLM\K`, Name: "V", ValueType: "dword", Value: int64(16)}, false},
		{"default value of a key", catalog.Setting{Type: "registry", Target: `HKLM\K\`}, "x", &desired.Registry{Key: `HKLM\K`, Name: "", ValueType: "string", Value: "x"}, false},
		{"no key", catalog.Setting{Type: "registry", Target: `V`}, int64(1), nil, true},
		{"no value", catalog.Setting{Type: "registry", Target: `HKLM\K\V`}, nil, nil, true},
		{"file with number content", catalog.Setting{Type: "file", Target: "/etc/x", Mode: "0600"}, int64(42), &desired.File{Path: "/etc/x", Content: "42", Mode: "0600"}, false},
		{"service state", catalog.Setting{Type: "service", Target: "Fax"}, "stopped", &desired.Service{Name: "Fax", State: "stopped"}, false},
		{"bad service state", catalog.Setting{Type: "service", Target: "Fax"}, "paused", nil, true},
		{"command", catalog.Setting{Type: "command", Target: "x", Check: "c", Set: "s", TimeoutSeconds: 5}, nil, &desired.Command{Check: "c", Set: "s", TimeoutSeconds: 5}, false},
		{"command without set", catalog.Setting{Type: "command", Target: "x", Check: "c"}, nil, nil, true},
		{"unknown type", catalog.Setting{Type: "gpo", Target: "x"}, "y", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.s.ID = "s"
			p := prepare(tt.s, tt.raw)
			if (p.invalid != "") != tt.invalid {
				t.Fatalf("invalid %q, want invalid %v", p.invalid, tt.invalid)
			}
			if tt.invalid {
				return
			}
			var got any
			switch {
			case p.res.Registry != nil:
				got = p.res.Registry
			case p.res.File != nil:
				got = p.res.File
			case p.res.Service != nil:
				got = p.res.Service
			case p.res.Command != nil:
				got = p.res.Command
			}
			if jsonOf(got) != jsonOf(tt.want) || p.res.ID != "setting/s" || p.res.Type != tt.s.Type {
				t.Errorf("got %s %+v, want %s", jsonOf(got), p.res, jsonOf(tt.want))
			}
		})
	}
}

func TestHashDeterministic(t *testing.T) {
	src, err := os.ReadFile("testdata/catalog.yaml")
	if err != nil {
		t.Fatal(err)
	}
	devs := []Device{
		with(dell, map[string]string{"role": "staff"}), with(hp, map[string]string{"role": "staff"}),
		with(dell, map[string]string{"ring": "pilot"}), dell, {Member: "nobody"},
	}
	first := map[int]string{}
	for round := range 5 {
		// Documents in other files and another order, loaded afresh each round.
		docs := parse(t, "a.yaml", string(src))
		r := rand.New(rand.NewPCG(uint64(round), 7))
		r.Shuffle(len(docs), func(i, j int) { docs[i], docs[j] = docs[j], docs[i] })
		for i, d := range docs {
			d.File, d.Index = string(rune('a'+r.IntN(5)))+".yaml", i
		}
		cat, _ := catalog.New(docs)
		c := New(cat, "rev-"+string(rune('a'+round)))
		for i, dev := range devs {
			st, _ := c.Desired(dev)
			b, _ := json.Marshal(st)
			if !checkState(t, c, st) {
				t.FailNow()
			}
			canon := strings.Replace(string(b), st.Revision, "", 1)
			if round == 0 {
				first[i] = canon
			} else if canon != first[i] {
				t.Errorf("device %d: round %d differs:\n%s\n%s", i, round, canon, first[i])
			}
		}
	}
	// And the hash does change with the content.
	ix := newIndexT(t, fixture(t))
	a, _ := ix.Compile(with(dell, map[string]string{"role": "staff"}), "r")
	b, _ := ix.Compile(with(hp, map[string]string{"role": "staff"}), "r")
	if a.Hash == b.Hash || len(a.Hash) != 64 {
		t.Errorf("hashes %q %q", a.Hash, b.Hash)
	}
}

func TestPlan(t *testing.T) {
	ix := newIndexT(t, fixture(t))
	st, _ := ix.Compile(with(hp, map[string]string{"role": "staff"}), "0123abcd")
	var buf bytes.Buffer
	if err := Plan(&buf, st); err != nil {
		t.Fatal(err)
	}
	golden := "testdata/plan.golden"
	if os.Getenv("SAMVERK_UPDATE") != "" {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("plan differs from %s (SAMVERK_UPDATE=1 to update):\n%s", golden, buf.String())
	}
	ex := Explain(st)
	if len(ex) != len(st.Resources) {
		t.Fatalf("%d explanations for %d resources", len(ex), len(st.Resources))
	}
	for i, e := range ex {
		if e.ID != st.Resources[i].ID || e.Why == "" || e.Summary == "" {
			t.Errorf("explanation %d: %+v", i, e)
		}
	}
}

func TestIndexProblems(t *testing.T) {
	cat := fixture(t, `apiVersion: samverk.io/v1
kind: OSRelease
metadata: {name: win11-23h2-edu}
spec: {family: windows, version: 23H2, build: "22631", releaseDate: 2023-10-31, endOfSupport: 2026-11-10}
---
apiVersion: samverk.io/v1
kind: Package
metadata: {name: broken-1}
spec: {product: [not, a, string]}
`)
	ix, err := NewIndex(cat)
	if err == nil || !strings.Contains(err.Error(), "compile: Package/broken-1: spec.product: want a string, got a list") || !strings.Contains(err.Error(), "build 22631") {
		t.Fatalf("err %v", err)
	}
	// Still usable, and the choice between the two releases is stable.
	if p := ix.ProfileOf(dell); p.OSRelease != "win11-23h2" {
		t.Errorf("profile %v", p)
	}
}

func TestOSReleasesSharingABuild(t *testing.T) {
	cat := fixture(t, `apiVersion: samverk.io/v1
kind: OSRelease
metadata: {name: a-win11-ltsc-2024}
spec: {family: windows, edition: Enterprise LTSC, version: 24H2, build: "26100", channel: ltsc, releaseDate: 2024-10-01, endOfSupport: 2029-10-09}
`)
	ix := newIndexT(t, cat)
	tests := []struct{ edition, want string }{
		{"", "win11-24h2"},                       // a general release before an LTSC one
		{"Enterprise LTSC", "a-win11-ltsc-2024"}, // the edition tells them apart
		{"enterprise ltsc ", "a-win11-ltsc-2024"},
		{"Education", "win11-24h2"}, // no such edition: the general one
	}
	for _, tt := range tests {
		d := onBuild(dell, "26100")
		d.OSEdition = tt.edition
		if p := ix.ProfileOf(d); p.OSRelease != tt.want {
			t.Errorf("edition %q: %s, want %s", tt.edition, p.OSRelease, tt.want)
		}
	}
}
