# METADATA
# title: Device groups list only standard services
# description: >-
#   A device group delivers its services to every device it selects, for as long as the device
#   is in the group, without anyone ordering or approving anything. It may therefore list only
#   standard services: approval none and duration permanent. A service that needs a manager's or
#   its owner's approval, or that is time-limited or a subscription, is ordered by a request,
#   and the grant puts it on the devices the request names until it ends.
# custom:
#   id: SV-DG-007
#   severity: deny
#   principle: G2 Work actively with security
package samverk.policies.devicegroups.services_standard

import data.samverk.lib

deny contains f if {
	some group in input.documents.DeviceGroup
	some i, name in group.spec.services
	reasons := not_standard[name]
	f := lib.finding(group, ["spec", "services", i], sprintf(
		"service %s %s: it is ordered by a request, not listed in a device group",
		[name, concat(" and ", reasons)],
	))
}

# not_standard maps each service a device group may not list to why: built once an evaluation,
# so a group's service costs a lookup.
not_standard := {name: reasons |
	some name, svc in input.inventory.Service
	reasons := array.concat(
		[sprintf("needs approval (%s)", [svc.spec.approval]) | svc.spec.approval != "none"],
		[sprintf("is %s, not permanent", [svc.spec.duration.type]) | svc.spec.duration.type != "permanent"],
	)
	count(reasons) > 0
}
