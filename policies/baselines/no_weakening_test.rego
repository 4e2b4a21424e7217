package samverk.policies.baselines.no_weakening_test

import data.samverk.policies.baselines.no_weakening as rule
import data.samverk.testing

shared := json.patch(testing.baseline_ok, [{"op": "replace", "path": "/spec/settings", "value": [
	object.union(testing.setting("password-min-length", 14), {"enforce": "at-least"}),
	object.union(testing.setting("screen-lock-timeout", 900), {"enforce": "at-most"}),
	object.union(testing.setting("smb1", "disabled"), {"enforce": "exact"}),
	testing.setting("wallpaper", "blue"),
]}])

# member makes a member baseline extending the shared one (through a member middle layer).
member(settings) := [
	{
		"apiVersion": "samverk.io/v1", "kind": "Baseline",
		"metadata": {"name": "norr-middle", "namespace": "region-norr"},
		"spec": {"osReleases": ["windows-11-24h2"], "extends": ["windows-base"], "settings": []},
	},
	{
		"apiVersion": "samverk.io/v1", "kind": "Baseline",
		"metadata": {"name": "norr", "namespace": "region-norr"},
		"spec": {"osReleases": ["windows-11-24h2"], "extends": ["norr-middle"], "settings": settings},
	},
]

findings(settings) := fs if {
	fs := rule.deny with input as testing.mock(array.concat([shared], member(settings)))
}

test_stricter_overrides_pass if {
	count(findings([
		testing.setting("password-min-length", 16),
		testing.setting("screen-lock-timeout", 300),
		testing.setting("smb1", "disabled"),
		testing.setting("wallpaper", "blue"),
	])) == 0
}

test_shorter_password_fails if {
	[f] := [f | some f in findings([testing.setting("password-min-length", 8)])]
	f.path == ["spec", "settings", 0, "value"]
	f.doc.name == "norr"
	contains(f.msg, "lower than 14")
}

test_longer_timeout_fails if {
	[f] := [f | some f in findings([testing.setting("wallpaper", "blue"), testing.setting("screen-lock-timeout", 3600)])]
	f.path == ["spec", "settings", 1, "value"]
}

test_changed_exact_value_fails if {
	count(findings([testing.setting("smb1", "enabled")])) == 1
}

test_non_numbers_cannot_be_compared if {
	count(findings([
		testing.setting("password-min-length", "long"),
		testing.setting("screen-lock-timeout", "short"),
	])) == 2
}

test_shared_baselines_may_change_their_own if {
	other := json.patch(testing.baseline_ok, [
		{"op": "replace", "path": "/metadata/name", "value": "windows-lax"},
		{"op": "add", "path": "/spec/extends", "value": ["windows-base"]},
		{"op": "replace", "path": "/spec/settings", "value": [testing.setting("password-min-length", 4)]},
	])
	count(rule.deny) == 0 with input as testing.mock([shared, other])
}

test_settings_without_enforce_keep_their_value if {
	[f] := [f | some f in findings([testing.setting("wallpaper", "red"), testing.setting("wallpaper", "blue")])]
	f.path == ["spec", "settings", 0, "value"]
	contains(f.msg, "no enforce")
}

# shared_without_numbers has at-least and at-most settings whose value is missing (a command
# setting may leave it out) or not a number: there is nothing to compare a member's value with.
shared_without_numbers := json.patch(testing.baseline_ok, [{"op": "replace", "path": "/spec/settings", "value": [
	object.union(json.remove(testing.setting("password-min-length", 0), ["/value"]), {"enforce": "at-least"}),
	object.union(testing.setting("screen-lock-timeout", "15 minutes"), {"enforce": "at-most"}),
	json.remove(testing.setting("wallpaper", ""), ["/value"]),
]}])

test_shared_value_that_is_not_a_number_is_not_compared if {
	every settings in [
		[testing.setting("password-min-length", 8), testing.setting("screen-lock-timeout", 3600)],
		[json.remove(testing.setting("password-min-length", 0), ["/value"]), testing.setting("screen-lock-timeout", "short")],
	] {
		count(rule.deny) == 0 with input as testing.mock(array.concat([shared_without_numbers], member(settings)))
	}
}

test_missing_values_are_named_not_printed_as_null if {
	fs := rule.deny with input as testing.mock(array.concat([shared_without_numbers], member([testing.setting("wallpaper", "red")])))
	[f] := [f | some f in fs]
	contains(f.msg, "is red but has no value in shared baseline windows-base")
	not contains(f.msg, "null")
	[g] := [g | some g in findings([json.remove(testing.setting("wallpaper", ""), ["/value"])])]
	contains(g.msg, "has no value but must stay blue as in")
	not contains(g.msg, "null")
}
