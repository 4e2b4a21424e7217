# METADATA
# title: Device groups target an OS release certified on their hardware
# description: >-
#   A device moves to its group's target OS release only if its hardware model is certified
#   for that release. A target no model of the group is certified for moves no device at all,
#   which is almost always a mistake. When the group selects hardware models, one of those must
#   be certified; otherwise any certified model will do.
# custom:
#   id: SV-DG-002
#   severity: deny
#   principle: G1 Focus on the user experience
package samverk.policies.devicegroups.os_certified

import data.samverk.lib

# certified holds [os release, hardware model] for every certified pair: computed once.
certified := {[cert.osRelease, name] |
	some name, hw in input.inventory.HardwareModel
	some cert in hw.spec.certifications
	cert.status == "certified"
}

certified_os := {pair[0] | some pair in certified}

deny contains f if {
	some group in input.documents.DeviceGroup
	os := group.spec.osRelease
	models := object.get(group.spec.selector, "hardwareModels", [])
	count(models) > 0
	not any_certified(os, models)
	f := lib.finding(group, ["spec", "osRelease"], sprintf(
		"none of the selected hardware models (%s) is certified for %s",
		[concat(", ", models), os],
	))
}

deny contains f if {
	some group in input.documents.DeviceGroup
	os := group.spec.osRelease
	count(object.get(group.spec.selector, "hardwareModels", [])) == 0
	not os in certified_os
	f := lib.finding(group, ["spec", "osRelease"], sprintf("no hardware model is certified for %s", [os]))
}

any_certified(os, models) if {
	some m in models
	[os, m] in certified
}
