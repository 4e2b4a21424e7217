package samverk.policies.packages.msi_product_code_test

import data.samverk.policies.packages.msi_product_code as rule
import data.samverk.testing

test_msi_with_product_code_passes if {
	count(rule.deny) == 0 with input as testing.mock([testing.package_ok])
}

test_msi_without_detect_fails if {
	pkg := json.remove(testing.package_ok, ["/spec/installer/detect"])
	fs := rule.deny with input as testing.mock([pkg])
	[f] := [f | some f in fs]
	f.path == ["spec", "installer", "detect", "productCode"]
}

test_other_installers_need_no_product_code if {
	pkg := json.patch(testing.package_ok, [
		{"op": "replace", "path": "/spec/installer/type", "value": "script"},
		{"op": "remove", "path": "/spec/installer/detect"},
	])
	count(rule.deny) == 0 with input as testing.mock([pkg])
}
