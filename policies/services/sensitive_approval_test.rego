package samverk.policies.services.sensitive_approval_test

import data.samverk.policies.services.sensitive_approval as rule
import data.samverk.testing

granting(approval, sensitive) := json.patch(testing.service_ok, [
	{"op": "replace", "path": "/spec/approval", "value": approval},
	{"op": "add", "path": "/spec/delivers/entitlements", "value": [
		{"type": "directory-group", "name": "Visio users"},
		{"type": "role", "name": "Journal reader", "sensitive": sensitive},
	]},
])

test_sensitive_with_approval_passes if {
	count(rule.deny) == 0 with input as testing.mock([granting("manager", true)])
}

test_sensitive_without_approval_fails if {
	fs := rule.deny with input as testing.mock([granting("none", true)])
	[f] := [f | some f in fs]
	f.path == ["spec", "approval"]
	contains(f.msg, "Journal reader")
	not contains(f.msg, "Visio users")
}

test_nothing_sensitive_needs_no_approval if {
	count(rule.deny) == 0 with input as testing.mock([granting("none", false)])
}
