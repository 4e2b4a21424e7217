package samverk.policies.hardware.certification_tests_pass_test

import data.samverk.policies.hardware.certification_tests_pass as rule
import data.samverk.testing

with_result(r) := json.patch(testing.hardware_ok, [{"op": "add", "path": "/spec/certifications/0/results/-", "value": r}])

test_all_passed if {
	count(rule.warn) == 0 with input as testing.mock([testing.hardware_ok])
}

test_unexplained_failure_warns if {
	hw := with_result({"test": "docking-station", "outcome": "fail"})
	fs := rule.warn with input as testing.mock([hw])
	[f] := [f | some f in fs]
	f.path == ["spec", "certifications", 0, "results", 1, "outcome"]
}

test_explained_failure_passes if {
	hw := with_result({"test": "docking-station", "outcome": "fail", "notes": "Only the old WD15 dock; WD19 works."})
	count(rule.warn) == 0 with input as testing.mock([hw])
}
