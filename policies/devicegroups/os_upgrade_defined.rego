# METADATA
# title: Device groups' target OS releases say how they are installed
# description: >-
#   An OSRelease without an upgrade section gives the agent nothing to run: devices certified
#   for the group's target stay where they are, with a NoUpgradePath condition. That is a
#   warning while a release's installer is being packaged, not yet an error.
# custom:
#   id: SV-DG-005
#   severity: warn
#   principle: G1 Focus on the user experience
package samverk.policies.devicegroups.os_upgrade_defined

import data.samverk.lib
import data.samverk.policies.devicegroups.os_upgrade_path as path

warn contains f if {
	some group in input.documents.DeviceGroup
	target := input.inventory.OSRelease[group.spec.osRelease]
	count(object.get(target.spec, ["upgrade", "paths"], [])) == 0
	sources := path.sources(group, target)
	count(sources) > 0
	f := lib.finding(group, ["spec", "osRelease"], sprintf(
		"%s has no upgrade section, so devices on %s stay there even when certified",
		[group.spec.osRelease, concat(", ", sort([s | some s in sources]))],
	))
}
