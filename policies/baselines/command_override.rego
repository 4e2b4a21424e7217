# METADATA
# title: A member's command setting does not replace a shared one without a shared waiver
# description: >-
#   A command setting is a script run as root (or SYSTEM): its check decides compliance and its
#   set changes the device. When a member baseline overrides a shared setting by id with a
#   command (or a shared command setting with anything), the consortium's guidance is no longer
#   what runs, and no value comparison can tell whether the new scripts are as strict. Such an
#   override needs a shared waiver of this rule, granted by the strategy group: a waiver in the
#   member's own namespace does not count. So does a member command setting under a new id that
#   implements the same guidance item (references source and item) as a shared setting: it
#   shadows the consortium's way of meeting that guidance. It applies to the shared baselines the member's
#   baseline extends and to those its device groups apply beside it.
# custom:
#   id: SV-BL-005
#   severity: deny
#   principle: G2 Work actively with security
#   waivers: shared
package samverk.policies.baselines.command_override

import data.samverk.lib
import data.samverk.policies.baselines.graph

deny contains f if {
	some b in input.documents.Baseline
	lib.namespace(b) != ""
	some k in graph.together[lib.key(b)]
	shared := input.inventory.Baseline[k]
	lib.namespace(shared) == ""
	some i, s in b.spec.settings
	some t in shared.spec.settings
	t.id == s.id
	"command" in {s.type, t.type}
	f := lib.finding(b, ["spec", "settings", i, "id"], sprintf(
		"%s setting %s overrides the %s setting of shared baseline %s: a member's scripts replace the consortium's, which needs a shared waiver of SV-BL-005 from the strategy group",
		[s.type, s.id, t.type, shared.metadata.name],
	))
}

deny contains f if {
	some b in input.documents.Baseline
	lib.namespace(b) != ""
	some i, s in b.spec.settings
	s.type == "command"
	not s.id in shared_ids(b)
	some r in object.get(s, "references", [])
	some k in graph.together[lib.key(b)]
	shared := input.inventory.Baseline[k]
	lib.namespace(shared) == ""
	some t in shared.spec.settings
	t.id != s.id
	some u in object.get(t, "references", [])
	[r.source, r.item] == [u.source, u.item]
	f := lib.finding(b, ["spec", "settings", i, "id"], sprintf(
		"command setting %s implements %s %s, as setting %s of shared baseline %s does: a member's script shadowing the consortium's needs a shared waiver of SV-BL-005 from the strategy group",
		[s.id, r.source, r.item, t.id, shared.metadata.name],
	))
}

# shared_ids are the ids of the shared settings that reach a device beside baseline b's own; an
# override of one of them is reported by the first rule, once.
shared_ids(b) := {t.id |
	some k in graph.together[lib.key(b)]
	lib.namespace(input.inventory.Baseline[k]) == ""
	some t in input.inventory.Baseline[k].spec.settings
}
