package samverk.policies.packages.winget_id_test

import data.samverk.policies.packages.winget_id as rule
import data.samverk.testing

winget(installer) := json.patch(testing.package_ok, [{"op": "replace", "path": "/spec/installer", "value": installer}])

test_winget_with_id_passes if {
	pkg := winget({"type": "winget", "wingetId": "Mozilla.Firefox.ESR"})
	count(rule.deny) == 0 with input as testing.mock([pkg])
}

test_winget_without_id_fails if {
	pkg := winget({"type": "winget"})
	fs := rule.deny with input as testing.mock([pkg])
	[f] := [f | some f in fs]
	f.path == ["spec", "installer", "wingetId"]
}

test_msi_is_not_checked if {
	count(rule.deny) == 0 with input as testing.mock([testing.package_ok])
}
