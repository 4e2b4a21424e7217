# METADATA
# title: Member baselines do not weaken shared settings
# description: >-
#   A member may extend a shared baseline and override its settings by id, but only in the
#   direction the shared setting's enforce allows: exact keeps the value, at-least allows a value
#   at least as high (a longer password), at-most one at most as high (a shorter screen-lock
#   timeout). A shared setting without enforce is not meant to be overridden: a member may
#   repeat its value, not change it. The at-least and at-most checks compare numbers: a shared
#   setting whose value is missing or not a number gives nothing to compare with, and no finding.
# custom:
#   id: SV-BL-002
#   severity: deny
#   principle: G2 Work actively with security
package samverk.policies.baselines.no_weakening

import data.samverk.lib
import data.samverk.policies.baselines.graph

deny contains f if {
	some b in input.documents.Baseline
	lib.namespace(b) != ""
	some k in graph.closure(b)
	shared := input.inventory.Baseline[k]
	lib.namespace(shared) == ""
	some i, s in b.spec.settings
	some t in shared.spec.settings
	t.id == s.id
	enforce := object.get(t, "enforce", "exact")
	problem := weaker(enforce, object.get(t, "value", null), object.get(s, "value", null))
	f := lib.finding(b, ["spec", "settings", i, "value"], sprintf(
		"setting %s %s shared baseline %s (%s)",
		[s.id, problem, shared.metadata.name, how(t)],
	))
}

how(t) := sprintf("enforce: %s", [t.enforce]) if t.enforce

how(t) := "no enforce: not to be changed by members" if not t.enforce

weaker("exact", want, got) := sprintf("is %v but must stay %v as in", [got, want]) if {
	got != want
	want != null
	got != null
}

weaker("exact", want, got) := sprintf("has no value but must stay %v as in", [want]) if {
	want != null
	got == null
}

weaker("exact", want, got) := sprintf("is %v but has no value in", [got]) if {
	want == null
	got != null
}

weaker("at-least", want, got) := sprintf("must be a number of at least %v as in", [want]) if {
	is_number(want)
	not is_number(got)
}

weaker("at-least", want, got) := sprintf("is %v, lower than %v in", [got, want]) if {
	is_number(want)
	is_number(got)
	got < want
}

weaker("at-most", want, got) := sprintf("must be a number of at most %v as in", [want]) if {
	is_number(want)
	not is_number(got)
}

weaker("at-most", want, got) := sprintf("is %v, higher than %v in", [got, want]) if {
	is_number(want)
	is_number(got)
	got > want
}
