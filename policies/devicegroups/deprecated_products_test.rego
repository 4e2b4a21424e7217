package samverk.policies.devicegroups.deprecated_products_test

import data.samverk.policies.devicegroups.deprecated_products as rule
import data.samverk.testing

version(name, stage) := json.patch(testing.package_ok, [
	{"op": "replace", "path": "/metadata/name", "value": name},
	{"op": "replace", "path": "/spec/lifecycle/stage", "value": stage},
])

test_approved_product_passes if {
	count(rule.warn) == 0 with input as testing.mock([testing.group_ok, version("firefox-128", "approved")])
}

test_deprecated_product_warns if {
	fs := rule.warn with input as testing.mock([
		testing.group_ok,
		version("firefox-115", "retired"),
		version("firefox-128", "deprecated"),
	])
	[f] := [f | some f in fs]
	f.path == ["spec", "products", 0]
}

test_deprecated_old_version_beside_approved_passes if {
	count(rule.warn) == 0 with input as testing.mock([
		testing.group_ok,
		version("firefox-115", "deprecated"),
		version("firefox-128", "approved"),
	])
}

test_deprecated_product_through_service_warns if {
	group := json.patch(testing.group_ok, [
		{"op": "remove", "path": "/spec/products"},
		{"op": "add", "path": "/spec/services", "value": ["visio"]},
	])
	fs := rule.warn with input as testing.mock([group, testing.service_ok, version("firefox-128", "deprecated")])
	[f] := [f | some f in fs]
	f.path == ["spec", "services", 0]
}
