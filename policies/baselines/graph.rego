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
	some os in os_releases
}

# os_releases are the OS releases some baseline lists, each once however many list it.
os_releases := {os | some b in input.inventory.Baseline; some os in b.spec.osReleases}

# closures maps each baseline's key to its closure, computed once per evaluation.
closures := {k: graph.reachable(edges, {k}) | some k, _ in input.inventory.Baseline}

# key_sets are the sets of baseline keys device groups apply, what they extend included: one
# for each distinct namespace and baselines list, however many groups share it.
key_sets := {ks |
	some [ns, names] in group_baselines
	ks := {k |
		some name in names
		r := lib.resolve("Baseline", ns, name)
		some k in closures[lib.key(r)]
	}
}

# group_baselines are the distinct namespaces and baselines lists of the device groups (the
# namespace read in place of lib.namespace: a call per group costs more than the rest).
group_baselines := {[object.get(g.metadata, "namespace", ""), object.get(g.spec, "baselines", [])] |
	some g in input.inventory.DeviceGroup
}

# together maps each member baseline's key to the keys of the baselines whose settings reach a
# device beside its own: those it extends, and those its device groups apply with it.
together := {k: union({closures[k]} | {ks | some ks in key_sets; k in ks}) |
	some k, b in input.inventory.Baseline
	lib.namespace(b) != ""
}
