# METADATA
# title: A member setting does not write a shared setting's target under another id
# description: >-
#   A member may change a shared setting only under the shared setting's id, where SV-BL-002
#   compares the values. A setting with a new id that writes the same registry value, file,
#   service or command target as a shared setting would sidestep that comparison, and the two
#   would fight on every device. Two settings with one target are denied unless the member's
#   value is at least as strict by the shared setting's enforce (exact: equal; at-least: not
#   lower; at-most: not higher). A member command whose set script writes a shared setting's
#   registry value, file or service is denied too: no comparison can vouch for a script.
# custom:
#   id: SV-BL-006
#   severity: deny
#   principle: G2 Work actively with security
package samverk.policies.baselines.one_target

import data.samverk.lib
import data.samverk.policies.baselines.graph

deny contains f if {
	some b in input.documents.Baseline
	lib.namespace(b) != ""
	some i, s in b.spec.settings
	some k in graph.together[lib.key(b)]
	shared := input.inventory.Baseline[k]
	lib.namespace(shared) == ""
	some t in shared.spec.settings
	t.id != s.id
	s.type == t.type
	target(s) == target(t)
	not as_strict(t, s)
	f := lib.finding(b, ["spec", "settings", i, "target"], sprintf(
		"setting %s writes %s, which setting %s of shared baseline %s manages (%s): override %s by its id instead, within its enforce",
		[s.id, s.target, t.id, shared.metadata.name, want(t), t.id],
	))
}

deny contains f if {
	some b in input.documents.Baseline
	lib.namespace(b) != ""
	some i, s in b.spec.settings
	s.type == "command"
	some k in graph.together[lib.key(b)]
	shared := input.inventory.Baseline[k]
	lib.namespace(shared) == ""
	some t in shared.spec.settings
	t.type != "command"
	writes(s.set, t)
	f := lib.finding(b, ["spec", "settings", i, "set"], sprintf(
		"the set script of command setting %s writes %s, which setting %s of shared baseline %s manages: override %s by its id instead, within its enforce",
		[s.id, t.target, t.id, shared.metadata.name, t.id],
	))
}

# target is a setting's target in a form two spellings of one target share: registry paths
# and service names ignore case, HKEY_LOCAL_MACHINE is HKLM; Windows file paths ignore case.
target(s) := concat(":", [s.type, registry(s.target)]) if s.type == "registry"

target(s) := concat(":", [s.type, lower(trim_space(s.target))]) if s.type in {"service", "command"}

target(s) := concat(":", [s.type, windows_path(s.target)]) if {
	s.type == "file"
	regex.match(`^[A-Za-z]:|\\`, s.target)
}

target(s) := concat(":", [s.type, trim_space(s.target)]) if {
	s.type == "file"
	not regex.match(`^[A-Za-z]:|\\`, s.target)
}

registry(p) := regex.replace(
	regex.replace(lower(trim_space(p)), `^hkey_local_machine`, "hklm"),
	`[\\/]+`, `\`,
)

windows_path(p) := regex.replace(lower(trim_space(p)), `[\\/]+`, `\`)

want(t) := sprintf("enforce %s, value %s", [t.enforce, json.marshal(object.get(t, "value", null))]) if t.enforce

want(t) := sprintf("value %s, not to be changed", [json.marshal(object.get(t, "value", null))]) if not t.enforce

as_strict(t, s) if {
	object.get(t, "enforce", "exact") == "exact"
	object.get(t, "value", null) == object.get(s, "value", null)
}

as_strict(t, s) if {
	t.enforce == "at-least"
	is_number(t.value)
	is_number(s.value)
	s.value >= t.value
}

as_strict(t, s) if {
	t.enforce == "at-most"
	is_number(t.value)
	is_number(s.value)
	s.value <= t.value
}

# writes holds when a set script names a shared setting's registry value (its key path, hive
# left out, and its value name), file path or service.
writes(script, t) if {
	t.type == "registry"
	parts := split(registry(t.target), `\`)
	count(parts) > 2
	s := registry(script)
	contains(s, concat(`\`, array.slice(parts, 1, count(parts) - 1)))
	contains(s, parts[count(parts) - 1])
}

writes(script, t) if {
	t.type == "file"
	contains(script, t.target)
}

writes(script, t) if {
	t.type == "service"
	regex.match(`(?i)(systemctl|\bsc(\.exe)?\s|set-service|stop-service|\bservice\s|update-rc\.d)`, script)
	regex.match(sprintf(`(?i)(^|[^a-z0-9_.-])%s([^a-z0-9_.-]|$)`, [t.target]), script)
}
