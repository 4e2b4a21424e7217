package samverk.policies.devicegroups.os_upgrade_path_test

import data.samverk.policies.devicegroups.os_upgrade_path as rule
import data.samverk.testing

os_23h2 := json.patch(testing.os_windows, [
	{"op": "replace", "path": "/metadata/name", "value": "windows-11-23h2"},
	{"op": "replace", "path": "/spec/build", "value": "22631"},
])

hardware := json.patch(testing.hardware_ok, [{"op": "add", "path": "/spec/certifications/-", "value": {
	"osRelease": "windows-11-23h2", "status": "certified", "member": "region-norr",
	"date": "2025-01-01", "evidence": testing.evidence, "results": [{"test": "boot", "outcome": "pass"}],
}}])

with_paths(paths) := json.patch(testing.os_windows, [{"op": "add", "path": "/spec/upgrade", "value": {"paths": paths}}])

path_from(from) := {
	"from": from, "installer": {"type": "feature-update", "source": {"url": "https://d.example.se/x.msu", "sha256": "a"}},
	"freeDiskMiB": 1024, "reboot": true, "maxDurationMinutes": 60,
}

test_path_from_the_certified_source_passes if {
	docs := [testing.group_ok, hardware, os_23h2, with_paths([path_from(["windows-11-23h2"])])]
	count(rule.deny) == 0 with input as testing.mock(docs)
}

test_family_path_covers_every_source if {
	p := json.patch(path_from([]), [{"op": "remove", "path": "/from"}, {"op": "add", "path": "/fromFamily", "value": true}])
	count(rule.deny) == 0 with input as testing.mock([testing.group_ok, hardware, os_23h2, with_paths([p])])
}

test_missing_source_fails if {
	other := json.patch(os_23h2, [
		{"op": "replace", "path": "/metadata/name", "value": "windows-11-22h2"},
		{"op": "replace", "path": "/spec/build", "value": "22621"},
	])
	fs := rule.deny with input as testing.mock([testing.group_ok, hardware, os_23h2, other, with_paths([path_from(["windows-11-22h2"])])])
	[f] := [f | some f in fs]
	f.path == ["spec", "osRelease"]
	contains(f.msg, "no upgrade path from windows-11-23h2")
}

test_uncertified_or_newer_sources_need_no_path if {
	newer := json.patch(os_23h2, [
		{"op": "replace", "path": "/metadata/name", "value": "windows-11-25h2"},
		{"op": "replace", "path": "/spec/build", "value": "26200"},
	])
	hw := json.patch(testing.hardware_ok, [{"op": "add", "path": "/spec/certifications/-", "value": {
		"osRelease": "windows-11-25h2", "status": "certified", "member": "region-norr",
	}}])
	count(rule.deny) == 0 with input as testing.mock([testing.group_ok, hw, os_23h2, newer, with_paths([path_from(["windows-10-22h2"])])])
}

test_builds_compare_as_numbers if {
	rule.build("9.10") > rule.build("9.9")
	rule.build("22.04") < rule.build("24.04")
}

test_a_group_selecting_no_model_counts_every_model if {
	group := json.patch(testing.group_ok, [{"op": "remove", "path": "/spec/selector/hardwareModels"}])
	fs := rule.deny with input as testing.mock([group, hardware, os_23h2, with_paths([path_from(["windows-10-22h2"])])])
	[f] := [f | some f in fs]
	contains(f.msg, "no upgrade path from windows-11-23h2")
}
