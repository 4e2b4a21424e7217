package samverk.policies.rollout.only_slower_test

import data.samverk.policies.rollout.only_slower as rule
import data.samverk.testing

member(patch) := json.patch(testing.rollout_ok, array.concat(
	[
		{"op": "replace", "path": "/metadata/name", "value": "region-norr"},
		{"op": "add", "path": "/metadata/namespace", "value": "region-norr"},
	],
	patch,
))

test_same_as_consortium_passes if {
	count(rule.deny) == 0 with input as testing.mock([testing.rollout_ok, member([])])
}

test_slower_passes if {
	count(rule.deny) == 0 with input as testing.mock([testing.rollout_ok, member([
		{"op": "replace", "path": "/spec/steps/1/soak", "value": "168h"},
		{"op": "replace", "path": "/spec/steps/1/successPercent", "value": 99.5},
		{"op": "replace", "path": "/spec/steps/1/maxPerHour", "value": 500},
	])])
}

test_shorter_soak_fails if {
	fs := rule.deny with input as testing.mock([testing.rollout_ok, member([
		{"op": "replace", "path": "/spec/steps/1/soak", "value": "1h30m"},
	])])
	[f] := [f | some f in fs]
	f.path == ["spec", "steps", 1, "soak"]
	contains(f.msg, "1h30m")
	contains(f.msg, "48h")
}

test_lower_thresholds_fail if {
	fs := rule.deny with input as testing.mock([testing.rollout_ok, member([
		{"op": "replace", "path": "/spec/steps/0/minDevices", "value": 1},
		{"op": "replace", "path": "/spec/steps/0/successPercent", "value": 80},
		{"op": "remove", "path": "/spec/steps/0/minAppliedPercent"},
	])])
	{f.path | some f in fs} == {
		["spec", "steps", 0, "minDevices"],
		["spec", "steps", 0, "successPercent"],
		["spec", "steps", 0, "minAppliedPercent"],
	}
}

test_faster_or_unbounded_rate_fails if {
	faster := rule.deny with input as testing.mock([testing.rollout_ok, member([
		{"op": "replace", "path": "/spec/steps/0/maxPerHour", "value": 5000},
	])])
	[f] := [f | some f in faster]
	f.path == ["spec", "steps", 0, "maxPerHour"]
	unbounded := rule.deny with input as testing.mock([testing.rollout_ok, member([
		{"op": "remove", "path": "/spec/steps/0/maxPerHour"},
	])])
	[g] := [g | some g in unbounded]
	contains(g.msg, "unbounded")
}

test_missing_step_and_other_rings_fail if {
	fs := rule.deny with input as testing.mock([testing.rollout_ok, member([
		{"op": "replace", "path": "/spec/rings", "value": ["pilot", "broad"]},
		{"op": "remove", "path": "/spec/steps/0"},
	])])
	{f.path | some f in fs} == {["spec", "rings"], ["spec", "steps"]}
}

test_shared_policy_itself_is_not_judged if {
	count(rule.deny) == 0 with input as testing.mock([json.patch(testing.rollout_ok, [
		{"op": "replace", "path": "/spec/steps/0/soak", "value": "1m"},
	])])
}
