package samverk.policies.devicegroups.os_certified_test

import data.samverk.policies.devicegroups.os_certified as rule
import data.samverk.testing

other_model := json.patch(testing.hardware_ok, [
	{"op": "replace", "path": "/metadata/name", "value": "hp-elitebook-840"},
	{"op": "replace", "path": "/spec/certifications/0/status", "value": "testing"},
])

test_certified_selected_model_passes if {
	count(rule.deny) == 0 with input as testing.mock([testing.group_ok, testing.hardware_ok])
}

test_selected_model_not_certified_fails if {
	group := json.patch(testing.group_ok, [{"op": "replace", "path": "/spec/selector/hardwareModels", "value": ["hp-elitebook-840"]}])
	fs := rule.deny with input as testing.mock([group, testing.hardware_ok, other_model])
	[f] := [f | some f in fs]
	f.path == ["spec", "osRelease"]
	contains(f.msg, "hp-elitebook-840")
}

test_any_certified_model_will_do_without_selection if {
	group := json.remove(testing.group_ok, ["/spec/selector/hardwareModels"])
	count(rule.deny) == 0 with input as testing.mock([group, testing.hardware_ok, other_model])
}

test_no_model_certified_fails_without_selection if {
	group := json.remove(testing.group_ok, ["/spec/selector/hardwareModels"])
	count(rule.deny) == 1 with input as testing.mock([group, other_model])
}
