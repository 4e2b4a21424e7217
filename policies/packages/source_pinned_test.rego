package samverk.policies.packages.source_pinned_test

import data.samverk.policies.packages.source_pinned as rule
import data.samverk.testing

test_pinned_source_passes if {
	count(rule.deny) == 0 with input as testing.mock([testing.package_ok])
}

test_source_without_sha256_fails if {
	pkg := json.remove(testing.package_ok, ["/spec/installer/source/sha256"])
	fs := rule.deny with input as testing.mock([pkg])
	[f] := [f | some f in fs]
	f.path == ["spec", "installer", "source", "sha256"]
}

test_msi_without_source_fails if {
	pkg := json.remove(testing.package_ok, ["/spec/installer/source"])
	fs := rule.deny with input as testing.mock([pkg])
	[f] := [f | some f in fs]
	f.path == ["spec", "installer", "source"]
}

test_winget_without_source_passes if {
	pkg := json.patch(testing.package_ok, [
		{"op": "replace", "path": "/spec/installer", "value": {"type": "winget", "wingetId": "Mozilla.Firefox.ESR"}},
	])
	count(rule.deny) == 0 with input as testing.mock([pkg])
}

test_exe_without_source_fails if {
	pkg := json.patch(testing.package_ok, [
		{"op": "replace", "path": "/spec/installer", "value": {"type": "exe", "installerFamily": "inno"}},
	])
	fs := rule.deny with input as testing.mock([pkg])
	[f] := [f | some f in fs]
	f.msg == "an exe installer needs a source with url and sha256"
}
