package samverk.policies.hardware.certification_evidence_test

import data.samverk.policies.hardware.certification_evidence as rule
import data.samverk.testing

test_complete_certification_passes if {
	count(rule.deny) == 0 with input as testing.mock([testing.hardware_ok])
}

test_each_missing_field_is_a_finding if {
	hw := json.remove(testing.hardware_ok, ["/spec/certifications/0/evidence", "/spec/certifications/0/member"])
	fs := rule.deny with input as testing.mock([hw])
	{f.path | some f in fs} == {
		["spec", "certifications", 0, "evidence"],
		["spec", "certifications", 0, "member"],
	}
}

test_planned_certification_needs_nothing if {
	hw := json.patch(testing.hardware_ok, [{"op": "replace", "path": "/spec/certifications/0", "value": {"osRelease": "windows-11-24h2", "status": "planned"}}])
	count(rule.deny) == 0 with input as testing.mock([hw])
}
