package samverk.policies.services.max_days_bound_test

import data.samverk.policies.services.max_days_bound as rule
import data.samverk.testing

lasting(duration) := json.patch(testing.service_ok, [{"op": "replace", "path": "/spec/duration", "value": duration}])

test_a_year_passes if {
	count(rule.deny) == 0 with input as testing.mock([lasting({"type": "time-limited", "maxDays": 365})])
}

test_longer_than_a_year_fails if {
	fs := rule.deny with input as testing.mock([lasting({"type": "time-limited", "maxDays": 730})])
	[f] := [f | some f in fs]
	f.path == ["spec", "duration", "maxDays"]
	contains(f.msg, "730")
}

test_subscription_is_not_bounded if {
	count(rule.deny) == 0 with input as testing.mock([lasting({"type": "subscription", "maxDays": 730, "renewalDays": 365})])
}
