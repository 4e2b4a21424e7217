# METADATA
# title: Device groups target a supported OS release
# description: >-
#   A device group may only target an OS release whose end of support lies in the future: a
#   release without security updates is a risk for the member and for everyone its devices talk
#   to. Members that pay for extended updates record that with a waiver.
# custom:
#   id: SV-DG-001
#   severity: deny
#   principle: G2 Work actively with security
package samverk.policies.devicegroups.os_supported

import data.samverk.lib

deny contains f if {
	some group in input.documents.DeviceGroup
	os := input.inventory.OSRelease[group.spec.osRelease]
	os.spec.endOfSupport <= input.today
	f := lib.finding(group, ["spec", "osRelease"], sprintf(
		"targets %s, which left support on %s",
		[group.spec.osRelease, os.spec.endOfSupport],
	))
}
