package samverk.policies.baselines.mandatory_settings_test

import data.samverk.policies.baselines.mandatory_settings as rule
import data.samverk.testing

windows_settings := [testing.setting(id, 1) | some id in rule.mandatory.windows]

base := json.patch(testing.baseline_ok, [{"op": "replace", "path": "/spec/settings", "value": windows_settings}])

# member_baseline extends the shared base and adds a setting of its own.
member_baseline := {
	"apiVersion": "samverk.io/v1", "kind": "Baseline",
	"metadata": {"name": "norr-laptops", "namespace": "region-norr"},
	"spec": {"osReleases": ["windows-11-24h2"], "extends": ["windows-base"], "settings": [testing.setting("wallpaper", "blue")]},
}

test_group_with_full_baseline_passes if {
	count(rule.deny) == 0 with input as testing.mock([testing.group_ok, testing.os_windows, base])
}

test_settings_inherited_through_extends_count if {
	group := json.patch(testing.group_ok, [{"op": "replace", "path": "/spec/baselines", "value": ["norr-laptops"]}])
	count(rule.deny) == 0 with input as testing.mock([group, testing.os_windows, base, member_baseline])
}

test_missing_setting_fails if {
	partial := json.patch(base, [{"op": "remove", "path": "/spec/settings/0"}])
	fs := rule.deny with input as testing.mock([testing.group_ok, testing.os_windows, partial])
	[f] := [f | some f in fs]
	f.path == ["spec", "baselines"]
	contains(f.msg, windows_settings[0].id)
}

test_baseline_for_another_os_does_not_count if {
	other_os := json.patch(base, [{"op": "replace", "path": "/spec/osReleases", "value": ["windows-10-22h2"]}])
	count(rule.deny) == 1 with input as testing.mock([testing.group_ok, testing.os_windows, other_os])
}

test_extended_baseline_for_another_os_does_not_count if {
	other_os := json.patch(base, [{"op": "replace", "path": "/spec/osReleases", "value": ["windows-10-22h2"]}])
	group := json.patch(testing.group_ok, [{"op": "replace", "path": "/spec/baselines", "value": ["norr-laptops"]}])
	count(rule.deny) == 1 with input as testing.mock([group, testing.os_windows, other_os, member_baseline])
}

test_group_without_baselines_fails_at_os if {
	group := json.remove(testing.group_ok, ["/spec/baselines"])
	fs := rule.deny with input as testing.mock([group, testing.os_windows, base])
	[f] := [f | some f in fs]
	f.path == ["spec", "osRelease"]
}
