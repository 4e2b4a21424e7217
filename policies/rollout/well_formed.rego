# METADATA
# title: A rollout policy names each ring once and gates each ring after the first
# description: >-
#   The promotion controller reads the rings in order and the step to each ring after the first.
#   A ring listed twice, a step to the first ring or to a ring not listed, two steps to one ring,
#   or more than one shared policy (or more than one per member) leaves it no single answer.
# custom:
#   id: SV-RO-002
#   severity: deny
#   principle: G4 Security and continuity first
package samverk.policies.rollout.well_formed

import data.samverk.lib

deny contains f if {
	some p in input.documents.RolloutPolicy
	some i, ring in p.spec.rings
	some j, other in p.spec.rings
	j < i
	ring == other
	f := lib.finding(p, ["spec", "rings", i], sprintf("ring %s is listed twice", [ring]))
}

deny contains f if {
	some p in input.documents.RolloutPolicy
	some i, step in p.spec.steps
	not step.to in array.slice(p.spec.rings, 1, count(p.spec.rings))
	f := lib.finding(p, ["spec", "steps", i, "to"], sprintf(
		"step to %s: steps gate the rings after the first, here %v",
		[step.to, array.slice(p.spec.rings, 1, count(p.spec.rings))],
	))
}

deny contains f if {
	some p in input.documents.RolloutPolicy
	some i, step in p.spec.steps
	some j, other in p.spec.steps
	j < i
	step.to == other.to
	f := lib.finding(p, ["spec", "steps", i, "to"], sprintf("a second step to %s", [step.to]))
}

deny contains f if {
	some p in input.documents.RolloutPolicy
	some other in input.inventory.RolloutPolicy
	lib.namespace(other) == lib.namespace(p)
	other.metadata.name < p.metadata.name
	f := lib.finding(p, ["metadata", "name"], sprintf(
		"%s is a second rollout policy of %s beside %s: there is one per member and one for the consortium",
		[p.metadata.name, scope(p), other.metadata.name],
	))
}

scope(p) := "the consortium" if lib.namespace(p) == ""

scope(p) := lib.namespace(p) if lib.namespace(p) != ""
