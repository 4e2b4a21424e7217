package samverk.policies.hardware.certification_reason_test

import data.samverk.policies.hardware.certification_reason as rule
import data.samverk.testing

cert(c) := json.patch(testing.hardware_ok, [{"op": "replace", "path": "/spec/certifications/0", "value": c}])

test_rejected_with_reason_passes if {
	hw := cert({"osRelease": "windows-11-24h2", "status": "rejected", "reason": "Wi-Fi driver crashes on resume"})
	count(rule.deny) == 0 with input as testing.mock([hw])
}

test_withdrawn_without_reason_fails if {
	hw := cert({"osRelease": "windows-11-24h2", "status": "withdrawn"})
	fs := rule.deny with input as testing.mock([hw])
	[f] := [f | some f in fs]
	f.path == ["spec", "certifications", 0, "reason"]
}

test_blank_reason_fails if {
	hw := cert({"osRelease": "windows-11-24h2", "status": "rejected", "reason": "  "})
	count(rule.deny) == 1 with input as testing.mock([hw])
}

test_certified_needs_no_reason if {
	count(rule.deny) == 0 with input as testing.mock([testing.hardware_ok])
}
