package samverk.policies.devicegroups.services_requestable_test

import data.samverk.policies.devicegroups.services_requestable as rule
import data.samverk.testing

# group_ok is region-norr's; member_ok is region-norr, a region.
listing := json.patch(testing.group_ok, [{"op": "add", "path": "/spec/services", "value": ["visio"]}])

requestable_by(r) := json.patch(testing.service_ok, [{"op": "replace", "path": "/spec/requestableBy", "value": r}])

test_member_type_admits if {
	count(rule.deny) == 0 with input as testing.mock([listing, testing.member_ok, requestable_by({"memberTypes": ["municipality", "region"]})])
}

test_named_member_admits if {
	count(rule.deny) == 0 with input as testing.mock([listing, testing.member_ok, requestable_by({"members": ["region-norr"]})])
}

test_either_list_admits if {
	r := {"memberTypes": ["municipality"], "members": ["region-norr"]}
	count(rule.deny) == 0 with input as testing.mock([listing, testing.member_ok, requestable_by(r)])
}

test_no_restriction_admits_every_member if {
	count(rule.deny) == 0 with input as testing.mock([listing, testing.member_ok, requestable_by({"roles": ["chef"]})])
}

test_other_member_type_fails if {
	fs := rule.deny with input as testing.mock([listing, testing.member_ok, requestable_by({"memberTypes": ["municipality", "university"]})])
	[f] := [f | some f in fs]
	f.path == ["spec", "services", 0]
	f.doc == {"kind": "DeviceGroup", "namespace": "region-norr", "name": "laptops"}
	f.msg == "service visio may not be ordered by region-norr (region): it may be ordered by member types municipality, university"
}

test_other_members_fail if {
	r := {"memberTypes": ["agency"], "members": ["kommun-vasterby"]}
	fs := rule.deny with input as testing.mock([listing, testing.member_ok, requestable_by(r)])
	[f] := [f | some f in fs]
	f.msg == "service visio may not be ordered by region-norr (region): it may be ordered by member types agency and members kommun-vasterby"
}

test_only_named_members_fail if {
	fs := rule.deny with input as testing.mock([listing, testing.member_ok, requestable_by({"members": ["kommun-vasterby"]})])
	[f] := [f | some f in fs]
	contains(f.msg, "it may be ordered by members kommun-vasterby")
}

test_unknown_member_or_service_is_not_this_rules_finding if {
	count(rule.deny) == 0 with input as testing.mock([listing, requestable_by({"members": ["kommun-vasterby"]})])
	count(rule.deny) == 0 with input as testing.mock([listing, testing.member_ok])
}
