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
	all := mandatory[os.spec.family]
	by_name := object.get(own_missing, object.get(group.metadata, "namespace", ""), shared_missing)

	# A setting is missing only if every baseline of the group lacks it (a baseline that does
	# not list the OS release applies nothing).
	missing := intersection({all} | {m |
		some name in object.get(group.spec, "baselines", [])
		m := object.get(by_name, [name, group.spec.osRelease], all)
	})
	count(missing) > 0
	f := lib.finding(group, path(group), sprintf(
		"devices on %s would lack the mandatory %s settings %s: apply a baseline that sets them",
		[group.spec.osRelease, os.spec.family, concat(", ", sort(missing))],
	))
}

# missing_in maps a baseline's key and an OS release it lists to the mandatory ids it does not
# apply there.
missing_in := {k: {os: m |
	some os, ids in by_os
	m := mandatory[input.inventory.OSRelease[os].spec.family] - ids
} |
	some k, by_os in graph.setting_ids
}

# shared_missing is missing_in by what a device group calls a baseline when its member has no
# baseline of that name: the shared baselines, whose keys are their names.
shared_missing := {k: missing_in[k] | some k, b in input.inventory.Baseline; lib.namespace(b) == ""}

# own_missing is missing_in by what a group of a member with baselines of its own calls a
# baseline: the member's own baseline of that name, else the shared one. Groups of other
# members read shared_missing. Both are built once an evaluation, so a group costs a few
# lookups.
own_missing := {ns: {name: m |
	some name in baseline_names
	m := missing_in[object.get(own_keys, [ns, name], name)]
} |
	some ns, _ in own_keys
}

# own_keys maps each member with baselines of its own to their keys by name.
own_keys := {ns: {b.metadata.name: k | some k, b in input.inventory.Baseline; lib.namespace(b) == ns} |
	some ns in {lib.namespace(b) | some b in input.inventory.Baseline} - {""}
}

baseline_names := {b.metadata.name | some b in input.inventory.Baseline}

path(group) := ["spec", "baselines"] if group.spec.baselines

path(group) := ["spec", "osRelease"] if not group.spec.baselines
