package samverk.policies.packages.usertest_after_infratest_test

import data.samverk.policies.packages.usertest_after_infratest as rule
import data.samverk.testing

in_user_test := json.patch(testing.package_ok, [
	{"op": "replace", "path": "/spec/lifecycle/stage", "value": "user-test"},
	{"op": "remove", "path": "/spec/lifecycle/records/1"},
])

test_user_test_after_infra_test_passes if {
	count(rule.deny) == 0 with input as testing.mock([in_user_test])
}

test_user_test_without_infra_test_fails if {
	pkg := json.remove(in_user_test, ["/spec/lifecycle/records"])
	fs := rule.deny with input as testing.mock([pkg])
	[f] := [f | some f in fs]
	f.path == ["spec", "lifecycle", "stage"]
	contains(f.msg, "there is no infra-test record")
}

test_failed_infra_test_fails if {
	pkg := json.patch(in_user_test, [{"op": "replace", "path": "/spec/lifecycle/records/0/result", "value": "fail"}])
	fs := rule.deny with input as testing.mock([pkg])
	[f] := [f | some f in fs]
	f.path == ["spec", "lifecycle", "records", 0, "result"]
}
