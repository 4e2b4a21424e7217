# Fixtures for policy tests: the input the engine builds, made from a list of documents, and
# documents that pass every policy, for a test to change in one place.
package samverk.testing

import data.samverk.lib

kinds := ["OSRelease", "HardwareModel", "Package", "Baseline", "Service", "Member", "DeviceGroup", "Waiver", "RolloutPolicy"]

# today is the fixed date tests judge support dates against.
today := "2026-05-01"

# mock is the input the engine gives policies when docs are the whole catalog.
mock(docs) := {
	"now": concat("", [today, "T00:00:00Z"]),
	"today": today,
	"documents": {kind: [d | some d in docs; d.kind == kind] | some kind in kinds},
	"inventory": object.union(
		{kind: {lib.key(d): d | some d in docs; d.kind == kind} | some kind in kinds},
		{"products": {p: {d.metadata.name: d | some d in docs; d.kind == "Package"; d.spec.product == p} |
			some pkg in docs
			pkg.kind == "Package"
			p := pkg.spec.product
		}},
	),
}

# with_docs is mock(docs), checking only the documents in check against the whole of docs.
with_docs(check, docs) := object.union(mock(docs), {"documents": mock(check).documents})

os_windows := {
	"apiVersion": "samverk.io/v1", "kind": "OSRelease",
	"metadata": {"name": "windows-11-24h2"},
	"spec": {
		"family": "windows", "version": "24H2", "build": "26100",
		"releaseDate": "2024-10-01", "endOfSupport": "2027-10-12",
	},
}

os_ubuntu := {
	"apiVersion": "samverk.io/v1", "kind": "OSRelease",
	"metadata": {"name": "ubuntu-24-04"},
	"spec": {
		"family": "linux", "version": "24.04", "build": "6.8",
		"releaseDate": "2024-04-25", "endOfSupport": "2029-05-31",
	},
}

evidence := "https://evidence.example.se/run/1"

package_ok := {
	"apiVersion": "samverk.io/v1", "kind": "Package",
	"metadata": {"name": "firefox-128-3"},
	"spec": {
		"product": "firefox", "displayName": "Firefox ESR", "vendor": "Mozilla", "version": "128.3",
		"installer": {
			"type": "msi",
			"source": {"url": "https://dl.example.se/firefox.msi", "sha256": concat("", ["a" | some _ in numbers.range(1, 64)])},
			"detect": {"productCode": "{11111111-2222-3333-4444-555555555555}"},
		},
		"osReleases": ["windows-11-24h2"],
		"lifecycle": {
			"stage": "approved",
			"records": [
				{"stage": "infra-test", "date": "2026-01-10", "member": "region-norr", "result": "pass", "evidence": evidence},
				{"stage": "user-test", "date": "2026-02-10", "member": "region-norr", "result": "pass", "evidence": evidence},
			],
		},
	},
}

hardware_ok := {
	"apiVersion": "samverk.io/v1", "kind": "HardwareModel",
	"metadata": {"name": "dell-latitude-5450"},
	"spec": {
		"vendor": "Dell Inc.", "model": "Latitude 5450", "formFactor": "laptop",
		"certifications": [{
			"osRelease": "windows-11-24h2", "status": "certified", "member": "region-norr",
			"date": "2026-03-01", "evidence": evidence,
			"results": [{"test": "boot", "outcome": "pass"}],
		}],
	},
}

group_ok := {
	"apiVersion": "samverk.io/v1", "kind": "DeviceGroup",
	"metadata": {"name": "laptops", "namespace": "region-norr", "owner": "region-norr"},
	"spec": {
		"selector": {"hardwareModels": ["dell-latitude-5450"]},
		"ring": "broad", "osRelease": "windows-11-24h2",
		"baselines": ["windows-base"], "products": ["firefox"],
	},
}

service_ok := {
	"apiVersion": "samverk.io/v1", "kind": "Service",
	"metadata": {"name": "visio"},
	"spec": {
		"displayName": "Visio", "delivers": {"products": ["firefox"]},
		"requestableBy": {"memberTypes": ["region"]}, "approval": "none",
		"duration": {"type": "permanent"}, "provisioning": "automated", "cost": {"model": "free"},
	},
}

member_ok := {
	"apiVersion": "samverk.io/v1", "kind": "Member",
	"metadata": {"name": "region-norr"},
	"spec": {
		"type": "region", "displayName": "Region Norr",
		"contacts": [
			{"role": "operations", "name": "Drift", "email": "drift@example.se"},
			{"role": "security", "name": "CISO", "email": "ciso@example.se"},
		],
	},
}

baseline_ok := {
	"apiVersion": "samverk.io/v1", "kind": "Baseline",
	"metadata": {"name": "windows-base"},
	"spec": {"osReleases": ["windows-11-24h2"], "settings": []},
}

# setting makes a baseline setting with id and value.
setting(id, value) := {"id": id, "type": "registry", "target": concat("", ["HKLM\\Software\\Policies\\", id]), "value": value}

rollout_ok := {
	"apiVersion": "samverk.io/v1", "kind": "RolloutPolicy",
	"metadata": {"name": "consortium"},
	"spec": {
		"rings": ["pilot", "early", "broad"],
		"steps": [
			{"to": "early", "soak": "24h", "minDevices": 5, "minAppliedPercent": 50, "successPercent": 95, "maxPerHour": 2000, "onFailure": "halt"},
			{"to": "broad", "soak": "48h", "minDevices": 20, "minAppliedPercent": 60, "successPercent": 98, "maxPerHour": 10000, "onFailure": "halt"},
		],
	},
}
