package samverk.policies.packages.approved_tested_test

import data.samverk.policies.packages.approved_tested as rule
import data.samverk.testing

test_fully_tested_package_passes if {
	count(rule.deny) == 0 with input as testing.mock([testing.package_ok])
}

test_missing_user_test_record if {
	pkg := json.patch(testing.package_ok, [{"op": "remove", "path": "/spec/lifecycle/records/1"}])
	fs := rule.deny with input as testing.mock([pkg])
	fs == {{
		"doc": {"kind": "Package", "namespace": "", "name": "firefox-128-3"},
		"path": ["spec", "lifecycle", "stage"],
		"msg": "approved, but there is no user-test record: approval needs a passing user-test record with evidence",
	}}
}

test_failed_infra_test_points_at_result if {
	pkg := json.patch(testing.package_ok, [{"op": "replace", "path": "/spec/lifecycle/records/0/result", "value": "fail"}])
	fs := rule.deny with input as testing.mock([pkg])
	[f] := [f | some f in fs]
	f.path == ["spec", "lifecycle", "records", 0, "result"]
}

test_missing_evidence_points_at_evidence if {
	pkg := json.patch(testing.package_ok, [{"op": "remove", "path": "/spec/lifecycle/records/1/evidence"}])
	fs := rule.deny with input as testing.mock([pkg])
	[f] := [f | some f in fs]
	f.path == ["spec", "lifecycle", "records", 1, "evidence"]
}

test_no_records_at_all_fails_twice if {
	pkg := json.remove(testing.package_ok, ["/spec/lifecycle/records"])
	count(rule.deny) == 2 with input as testing.mock([pkg])
}

test_other_stages_are_not_checked if {
	pkg := json.patch(testing.package_ok, [
		{"op": "replace", "path": "/spec/lifecycle/stage", "value": "packaging"},
		{"op": "remove", "path": "/spec/lifecycle/records"},
	])
	count(rule.deny) == 0 with input as testing.mock([pkg])
}
