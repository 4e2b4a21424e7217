package samverk.policies.devicegroups.os_supported_test

import data.samverk.policies.devicegroups.os_supported as rule
import data.samverk.testing

test_supported_os_passes if {
	count(rule.deny) == 0 with input as testing.mock([testing.group_ok, testing.os_windows])
}

test_os_out_of_support_fails if {
	os := json.patch(testing.os_windows, [{"op": "replace", "path": "/spec/endOfSupport", "value": "2026-04-30"}])
	fs := rule.deny with input as testing.mock([testing.group_ok, os])
	[f] := [f | some f in fs]
	f.path == ["spec", "osRelease"]
	f.doc == {"kind": "DeviceGroup", "namespace": "region-norr", "name": "laptops"}
}

test_end_of_support_today_fails if {
	os := json.patch(testing.os_windows, [{"op": "replace", "path": "/spec/endOfSupport", "value": testing.today}])
	count(rule.deny) == 1 with input as testing.mock([testing.group_ok, os])
}

test_group_without_target_os_passes if {
	group := json.remove(testing.group_ok, ["/spec/osRelease"])
	count(rule.deny) == 0 with input as testing.mock([group, testing.os_windows])
}
