package samverk.policies.rollout.well_formed_test

import data.samverk.policies.rollout.well_formed as rule
import data.samverk.testing

test_consortium_policy_passes if {
	count(rule.deny) == 0 with input as testing.mock([testing.rollout_ok])
}

test_ring_twice_fails if {
	fs := rule.deny with input as testing.mock([json.patch(testing.rollout_ok, [
		{"op": "replace", "path": "/spec/rings", "value": ["pilot", "early", "early", "broad"]},
	])])
	[f] := [f | some f in fs]
	f.path == ["spec", "rings", 2]
}

test_step_to_first_or_unknown_ring_fails if {
	fs := rule.deny with input as testing.mock([json.patch(testing.rollout_ok, [
		{"op": "replace", "path": "/spec/steps/0/to", "value": "pilot"},
		{"op": "replace", "path": "/spec/rings", "value": ["pilot", "early"]},
	])])
	{f.path | some f in fs} == {["spec", "steps", 0, "to"], ["spec", "steps", 1, "to"]}
}

test_two_steps_to_one_ring_fail if {
	fs := rule.deny with input as testing.mock([json.patch(testing.rollout_ok, [
		{"op": "replace", "path": "/spec/steps/1/to", "value": "early"},
	])])
	[f] := [f | some f in fs]
	f.path == ["spec", "steps", 1, "to"]
}

test_second_shared_policy_fails if {
	fs := rule.deny with input as testing.mock([
		testing.rollout_ok,
		json.patch(testing.rollout_ok, [{"op": "replace", "path": "/metadata/name", "value": "fast"}]),
	])
	[f] := [f | some f in fs]
	f.doc.name == "fast"
}

test_second_member_policy_fails if {
	mine := json.patch(testing.rollout_ok, [{"op": "add", "path": "/metadata/namespace", "value": "region-norr"}])
	fs := rule.deny with input as testing.mock([
		testing.rollout_ok,
		mine,
		json.patch(mine, [{"op": "replace", "path": "/metadata/name", "value": "other"}]),
	])
	[f] := [f | some f in fs]
	contains(f.msg, "of region-norr beside")
}
