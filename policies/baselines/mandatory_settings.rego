# METADATA
# title: Device groups apply the consortium's mandatory settings
# description: >-
#   Every device gets the hardening settings the consortium has made mandatory for its OS family
#   (account lockout, disk encryption, firewall, automatic updates, ...), whatever else its
#   member adds. The baselines a device group names, with everything they extend and only those
#   that cover the group's target OS release, must together set every mandatory setting id.
# custom:
#   id: SV-BL-001
#   severity: deny
#   principle: G2 Work actively with security
package samverk.policies.baselines.mandatory_settings

import data.samverk.lib
import data.samverk.policies.baselines.graph

# mandatory lists the setting ids every device of an OS family must get: the core of the shared
# base baselines (windows-grund, ubuntu-24-04-grund), which member baselines extend.
mandatory := {
	"windows": {
		"account-lockout-threshold",
		"firewall-domain-enabled",
		"firewall-private-enabled",
		"firewall-public-enabled",
		"machine-inactivity-limit",
		"minimum-password-length",
		"no-lm-hash",
		"smb-client-signing",
		"smb1-client-disabled",
		"smb1-server-disabled",
		"wdigest-disabled",
	},
	"linux": {
		"apparmor-running",
		"sshd-hardening",
		"time-synchronisation",
		"unattended-security-upgrades",
	},
}

deny contains f if {
	some group in input.documents.DeviceGroup
	os := input.inventory.OSRelease[group.spec.osRelease]
	missing := group_missing(group, mandatory[os.spec.family])
	count(missing) > 0
	f := lib.finding(group, path(group), sprintf(
		"devices on %s would lack the mandatory %s settings %s: apply a baseline that sets them",
		[group.spec.osRelease, os.spec.family, concat(", ", sort(missing))],
	))
}

# missing_in maps a baseline's key and an OS release it lists to the mandatory ids it does not
# apply there. Computed once per evaluation, so each group costs only a few set operations.
missing_in := {k: {os: m |
	some os, ids in by_os
	m := mandatory[input.inventory.OSRelease[os].spec.family] - ids
} |
	some k, by_os in graph.setting_ids
}

# group_missing is what none of the group's baselines applies: a setting is missing only if it
# is missing from every one (a baseline that does not list the OS applies nothing).
group_missing(group, all) := intersection({all} | {m |
	some name in object.get(group.spec, "baselines", [])
	b := lib.resolve("Baseline", lib.namespace(group), name)
	m := object.get(missing_in, [lib.key(b), group.spec.osRelease], all)
})

path(group) := ["spec", "baselines"] if group.spec.baselines

path(group) := ["spec", "osRelease"] if not group.spec.baselines
