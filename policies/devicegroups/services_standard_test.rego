package samverk.policies.devicegroups.services_standard_test

import data.samverk.policies.devicegroups.services_standard as rule
import data.samverk.testing

listing := json.patch(testing.group_ok, [{"op": "add", "path": "/spec/services", "value": ["standard", "visio"]}])

standard := json.patch(testing.service_ok, [{"op": "replace", "path": "/metadata/name", "value": "standard"}])

visio(patch) := json.patch(testing.service_ok, patch)

test_standard_services_pass if {
	count(rule.deny) == 0 with input as testing.mock([listing, standard, visio([])])
}

test_approval_fails if {
	fs := rule.deny with input as testing.mock([listing, standard, visio([{"op": "replace", "path": "/spec/approval", "value": "manager"}])])
	[f] := [f | some f in fs]
	f.path == ["spec", "services", 1]
	f.doc == {"kind": "DeviceGroup", "namespace": "region-norr", "name": "laptops"}
	f.msg == "service visio needs approval (manager): it is ordered by a request, not listed in a device group"
}

test_time_limited_fails if {
	svc := visio([{"op": "replace", "path": "/spec/duration", "value": {"type": "time-limited", "maxDays": 30}}])
	fs := rule.deny with input as testing.mock([listing, standard, svc])
	[f] := [f | some f in fs]
	contains(f.msg, "is time-limited, not permanent")
}

test_both_reasons_in_one_finding if {
	svc := visio([
		{"op": "replace", "path": "/spec/approval", "value": "both"},
		{"op": "replace", "path": "/spec/duration", "value": {"type": "subscription", "renewalDays": 365}},
	])
	fs := rule.deny with input as testing.mock([listing, standard, svc])
	[f] := [f | some f in fs]
	f.msg == "service visio needs approval (both) and is subscription, not permanent: it is ordered by a request, not listed in a device group"
}

test_unknown_service_is_not_this_rules_finding if {
	count(rule.deny) == 0 with input as testing.mock([listing, standard])
}
