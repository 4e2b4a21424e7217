package samverk.policies.baselines.command_override_test

import data.samverk.policies.baselines.command_override as rule
import data.samverk.testing

secpol := {"id": "minimum-password-length", "type": "command", "target": "MinimumPasswordLength", "value": 14, "check": "exit 1", "set": "net accounts /minpwlen:14"}

shared := json.patch(testing.baseline_ok, [{"op": "replace", "path": "/spec/settings", "value": [secpol, testing.setting("screen-lock", 900)]}])

member(extends, settings) := {
	"apiVersion": "samverk.io/v1", "kind": "Baseline",
	"metadata": {"name": "norr", "namespace": "region-norr"},
	"spec": {"osReleases": ["windows-11-24h2"], "extends": extends, "settings": settings},
}

test_member_command_over_shared_command if {
	[f] := [f | some f in rule.deny] with input as testing.mock([shared, member(["windows-base"], [object.union(secpol, {"value": 16, "set": "net accounts /minpwlen:4"})])])
	f.doc.name == "norr"
	f.path == ["spec", "settings", 0, "id"]
	contains(f.msg, "shared waiver")
}

test_member_command_over_shared_registry if {
	cmd := {"id": "screen-lock", "type": "command", "target": "x", "check": "exit 1", "set": "reg add x"}
	count(rule.deny) == 1 with input as testing.mock([shared, member(["windows-base"], [cmd])])
}

test_member_registry_over_shared_registry_is_no_command if {
	count(rule.deny) == 0 with input as testing.mock([shared, member(["windows-base"], [testing.setting("screen-lock", 600)])])
}

test_new_command_is_no_override if {
	cmd := object.union(secpol, {"id": "own-thing"})
	count(rule.deny) == 0 with input as testing.mock([shared, member(["windows-base"], [cmd])])
}

# A group that applies the shared baseline beside the member's own, without extends, merges
# their settings by id just the same.
test_beside_in_a_device_group if {
	cmd := object.union(secpol, {"set": "net accounts /minpwlen:4"})
	group := json.patch(testing.group_ok, [{"op": "replace", "path": "/spec/baselines", "value": ["windows-base", "norr"]}])
	count(rule.deny) == 1 with input as testing.mock([shared, member([], [cmd]), group])
	count(rule.deny) == 0 with input as testing.mock([shared, member([], [cmd])])
}

test_shared_baselines_may_override if {
	other := json.patch(shared, [{"op": "replace", "path": "/metadata/name", "value": "other"}, {"op": "add", "path": "/spec/extends", "value": ["windows-base"]}])
	count(rule.deny) == 0 with input as testing.mock([shared, other])
}

test_command_shadowing_shared_guidance if {
	ref := {"source": "CIS", "item": "1.1.4"}
	shared_ref := json.patch(shared, [{"op": "add", "path": "/spec/settings/0/references", "value": [ref]}])
	cmd := object.union(secpol, {"id": "my-password-length", "references": [{"source": "MSB", "item": "x"}, ref]})
	[f] := [f | some f in rule.deny] with input as testing.mock([shared_ref, member(["windows-base"], [cmd])])
	contains(f.msg, "implements CIS 1.1.4")
	f.path == ["spec", "settings", 0, "id"]
	overriding := object.union(cmd, {"id": "minimum-password-length"})
	[g] := [g | some g in rule.deny] with input as testing.mock([shared_ref, member(["windows-base"], [overriding])])
	contains(g.msg, "overrides")
	other := object.union(cmd, {"references": [{"source": "CIS", "item": "1.1.5"}]})
	count(rule.deny) == 0 with input as testing.mock([shared_ref, member(["windows-base"], [other])])
}
