# METADATA
# title: Device groups list only services their member may order
# description: >-
#   A service says who may order it (spec.requestableBy): member types, named members, or both,
#   either of which admits a member; a service that names neither admits every member. A device
#   group puts its services on every device it selects, so it may list only those its own
#   member may order: a region-only patient-record service has no place in a municipality's
#   group.
# custom:
#   id: SV-DG-006
#   severity: deny
#   principle: G2 Work actively with security
package samverk.policies.devicegroups.services_requestable

import data.samverk.lib

deny contains f if {
	some group in input.documents.DeviceGroup
	member := input.inventory.Member[object.get(group.metadata, "namespace", "")]
	some i, name in group.spec.services
	admitted := limited[name]
	not admitted.memberTypes[member.spec.type]
	not admitted.members[member.metadata.name]
	f := lib.finding(group, ["spec", "services", i], sprintf(
		"service %s may not be ordered by %s (%s): it may be ordered by %s",
		[name, member.metadata.name, member.spec.type, who(input.inventory.Service[name].spec.requestableBy)],
	))
}

# limited maps each service that names who may order it to the member types and the members it
# admits, as sets. It is built once an evaluation, so a group's service costs a few lookups.
limited := {name: {field: {x | some x in object.get(requestable, field, [])} | some field in ["memberTypes", "members"]} |
	some name, svc in input.inventory.Service
	requestable := svc.spec.requestableBy
	count(object.get(requestable, "memberTypes", [])) + count(object.get(requestable, "members", [])) > 0
}

# who tells who may order a service, for a message.
who(requestable) := concat(" and ", [s |
	some s in [
		list("member types", object.get(requestable, "memberTypes", [])),
		list("members", object.get(requestable, "members", [])),
	]
	s != ""
])

list(_, items) := "" if count(items) == 0

list(label, items) := sprintf("%s %s", [label, concat(", ", items)]) if count(items) > 0
