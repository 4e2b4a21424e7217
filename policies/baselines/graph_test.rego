package samverk.policies.baselines.graph_test

import data.samverk.policies.baselines.graph
import data.samverk.testing

baseline(name, ns, extends) := {
	"apiVersion": "samverk.io/v1", "kind": "Baseline",
	"metadata": object.union({"name": name}, {"namespace": ns | ns != ""}),
	"spec": {"osReleases": ["windows-11-24h2"], "extends": extends, "settings": []},
}

catalog := [
	baseline("base", "", []),
	baseline("hardened", "", ["base"]),
	baseline("base", "region-norr", ["hardened"]),
	baseline("laptops", "region-norr", ["base", "missing"]),
]

test_member_names_resolve_to_the_member_first if {
	e := graph.edges with input as testing.mock(catalog)
	e["region-norr/laptops"] == ["region-norr/base"]
	e["region-norr/base"] == ["hardened"]
}

test_closure_follows_every_level if {
	c := graph.closure(catalog[3]) with input as testing.mock(catalog)
	c == {"region-norr/laptops", "region-norr/base", "hardened", "base"}
}

test_setting_ids_follow_only_baselines_of_the_os if {
	b := [
		object.union(baseline("base", "", []), {"spec": {"settings": [testing.setting("a", 1)]}}),
		object.union(baseline("old", "", []), {"spec": {"osReleases": ["windows-10-22h2"], "settings": [testing.setting("b", 1)]}}),
		object.union(baseline("top", "", ["base", "old"]), {"spec": {"settings": [testing.setting("c", 1)]}}),
	]
	ids := graph.setting_ids with input as testing.mock(b)
	ids.top == {"windows-11-24h2": {"a", "c"}}
	ids.old == {"windows-10-22h2": {"b"}}
}
