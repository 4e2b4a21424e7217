package samverk.policies.baselines.unique_ids_test

import data.samverk.policies.baselines.unique_ids as rule
import data.samverk.testing

with_settings(settings) := json.patch(testing.baseline_ok, [{"op": "replace", "path": "/spec/settings", "value": settings}])

test_unique_ids_pass if {
	b := with_settings([testing.setting("a", 1), testing.setting("b", 2)])
	count(rule.deny) == 0 with input as testing.mock([b])
}

test_repeated_id_fails_at_the_repeat if {
	b := with_settings([testing.setting("a", 1), testing.setting("b", 2), testing.setting("a", 3)])
	fs := rule.deny with input as testing.mock([b])
	[f] := [f | some f in fs]
	f.path == ["spec", "settings", 2, "id"]
	contains(f.msg, "settings[0]")
}
