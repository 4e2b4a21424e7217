package samverk.policies.packages.plain_http_test

import data.samverk.policies.packages.plain_http as rule
import data.samverk.testing

test_https_source_passes if {
	count(rule.warn) == 0 with input as testing.mock([testing.package_ok])
}

test_http_with_allow_http_warns if {
	pkg := json.patch(testing.package_ok, [
		{"op": "replace", "path": "/spec/installer/source/url", "value": "http://dist.example.org/tool.msi"},
		{"op": "add", "path": "/spec/installer/source/allowHTTP", "value": true},
	])
	fs := rule.warn with input as testing.mock([pkg])
	[f] := [f | some f in fs]
	f.path == ["spec", "installer", "source", "allowHTTP"]
}

test_allow_http_with_an_https_url_passes if {
	pkg := json.patch(testing.package_ok, [{"op": "add", "path": "/spec/installer/source/allowHTTP", "value": true}])
	count(rule.warn) == 0 with input as testing.mock([pkg])
}
