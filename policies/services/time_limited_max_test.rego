package samverk.policies.services.time_limited_max_test

import data.samverk.policies.services.time_limited_max as rule
import data.samverk.testing

lasting(duration) := json.patch(testing.service_ok, [{"op": "replace", "path": "/spec/duration", "value": duration}])

test_time_limited_with_max_passes if {
	count(rule.deny) == 0 with input as testing.mock([lasting({"type": "time-limited", "maxDays": 90})])
}

test_time_limited_without_max_fails if {
	fs := rule.deny with input as testing.mock([lasting({"type": "time-limited"})])
	[f] := [f | some f in fs]
	f.path == ["spec", "duration", "maxDays"]
}

test_permanent_needs_no_max if {
	count(rule.deny) == 0 with input as testing.mock([testing.service_ok])
}
