# METADATA
# title: Setting ids are unique within a baseline
# description: >-
#   A setting id names one setting: members override it by id, reports and waivers refer to it.
#   The same id twice in one baseline makes the later silently win.
# custom:
#   id: SV-BL-003
#   severity: deny
#   principle: G3 Adopt standards and industry practice
package samverk.policies.baselines.unique_ids

import data.samverk.lib

deny contains f if {
	some b in input.documents.Baseline
	ids := sort([s.id | some s in b.spec.settings])
	repeated := {ids[k] | some k in numbers.range(1, count(ids) - 1); ids[k] == ids[k - 1]}
	some j, s in b.spec.settings
	s.id in repeated
	i := min([i | some i, other in b.spec.settings; other.id == s.id])
	i < j
	f := lib.finding(b, ["spec", "settings", j, "id"], sprintf("setting id %s is already used by settings[%d]", [s.id, i]))
}
