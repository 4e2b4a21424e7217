# METADATA
# title: Device groups' target OS releases say how to get there from every release their hardware runs
# description: >-
#   A device moves to its group's target only along an upgrade path of the target OSRelease
#   (spec.upgrade.paths). When the target has paths, one must start from every older release of
#   its family that the group's hardware is certified for (the selected models, or any model
#   when the group selects none): a device on a release without a path would be certified and
#   yet never move. A target with no upgrade section at all is SV-DG-005's warning.
# custom:
#   id: SV-DG-004
#   severity: deny
#   principle: G1 Focus on the user experience
package samverk.policies.devicegroups.os_upgrade_path

import data.samverk.lib

deny contains f if {
	some group in input.documents.DeviceGroup
	pathless := without_path[group.spec.osRelease]
	missing := sort([s | some s in pathless; certified_for(group, s)])
	count(missing) > 0
	f := lib.finding(group, ["spec", "osRelease"], sprintf(
		"%s has no upgrade path from %s, which this group's hardware is certified for; add one to its spec.upgrade.paths",
		[group.spec.osRelease, concat(", ", missing)],
	))
}

# without_path maps each release with upgrade paths to the older releases of its family that no
# path starts from. It is built once an evaluation, so a group costs a lookup and a check of
# those few releases against its hardware.
without_path := {key: {name |
	some name in older[key]
	not has_path(target, name)
} |
	some key, target in input.inventory.OSRelease
	count(object.get(target.spec, ["upgrade", "paths"], [])) > 0
}

# sources are the older releases of the target's family the group's hardware is certified for.
sources(group, target) := {name |
	some name in older[lib.key(target)]
	certified_for(group, name)
}

# older maps each release to the older releases of its family, built once an evaluation.
older := {key: {name |
	some name, os in input.inventory.OSRelease
	name != target.metadata.name
	os.spec.family == target.spec.family
	build(os.spec.build) < build(target.spec.build)
} |
	some key, target in input.inventory.OSRelease
}

# certified_for holds when one of the group's models (the selected ones, or any model when the
# group selects none) is certified for the release named.
certified_for(group, name) if {
	some model in group.spec.selector.hardwareModels
	model in certified[name]
}

certified_for(group, name) if {
	not selects_models(group)
	count(certified[name]) > 0
}

selects_models(group) if count(group.spec.selector.hardwareModels) > 0

# certified maps each release to the hardware models certified for it. It is built once an
# evaluation: looking certifications up again for every group made this rule cost as much as
# all the others together on a large catalog.
certified[name] contains model if {
	some model, hw in input.inventory.HardwareModel
	some cert in hw.spec.certifications
	cert.status == "certified"
	name := cert.osRelease
}

has_path(target, source) if {
	some p in target.spec.upgrade.paths
	source in object.get(p, "from", [])
}

has_path(target, _) if {
	some p in target.spec.upgrade.paths
	p.fromFamily == true
}

# build is a dotted build as numbers, compared element by element: 22.04 < 24.04, 26100 < 26200.
build(b) := [to_number(x) | some x in split(b, ".")]
