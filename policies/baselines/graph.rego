# METADATA
# title: Baseline graph
# description: >-
#   The extends graph of every baseline and the setting ids each applies per OS release,
#   computed once per evaluation and resolved the way the compiler resolves them.
package samverk.policies.baselines.graph

import data.samverk.lib

# edges maps each baseline's inventory key to the keys of the baselines it extends (a member's
# own baseline first, then the shared one). Unresolvable names are left out; refs reports them.
edges := {k: [lib.key(lib.resolve("Baseline", lib.namespace(b), name)) | some name in object.get(b.spec, "extends", [])] |
	some k, b in input.inventory.Baseline
}

# closure is the set of keys of baseline b and every baseline it extends, directly or not.
closure(b) := graph.reachable(edges, {lib.key(b)})

# setting_ids maps each baseline's key and each OS release it lists to the ids of the settings
# it applies there, its own and those it inherits. Computed once per evaluation.
setting_ids := {k: {os: ids |
	some os in b.spec.osReleases
	ids := {s.id |
		some r in graph.reachable(os_edges[os], {k})
		some s in input.inventory.Baseline[r].spec.settings
	}
} |
	some k, b in input.inventory.Baseline
}

# os_edges is the extends graph restricted, for each OS release, to the baselines that list it.
os_edges := {os: {k: [t | some t in targets; os in input.inventory.Baseline[t].spec.osReleases] |
	some k, targets in edges
	os in input.inventory.Baseline[k].spec.osReleases
} |
	some b in input.inventory.Baseline
	some os in b.spec.osReleases
}

# group_keys maps each device group's key to the keys of every baseline it applies, what they
# extend included.
group_keys := {lib.key(g): {k |
	some name in object.get(g.spec, "baselines", [])
	r := lib.resolve("Baseline", lib.namespace(g), name)
	some k in closure(r)
} |
	some g in input.inventory.DeviceGroup
}

# together maps each member baseline's key to the keys of the baselines whose settings reach a
# device beside its own: those it extends, and those its device groups apply with it.
together := {k: union({closure(b), beside}) |
	some k, b in input.inventory.Baseline
	lib.namespace(b) != ""
	beside := union({ks | some ks in group_keys; k in ks})
}
