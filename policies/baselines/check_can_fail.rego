# METADATA
# title: A command setting's check can fail
# description: >-
#   A command setting's check decides compliance: exit status 0 is compliant, and only
#   otherwise does its set run. A check that cannot fail — true, ":", exit 0, an echo, or a
#   script whose last statement is one of those and that has no other way to exit non-zero
#   (no exit with another status, no false, throw, set -e or $ErrorActionPreference) — reports
#   every device compliant whatever its state, while the setting's value still claims the
#   guidance is met. Make the check test what the value says.
# custom:
#   id: SV-BL-004
#   severity: deny
#   principle: G2 Work actively with security
package samverk.policies.baselines.check_can_fail

import data.samverk.lib

deny contains f if {
	some b in input.documents.Baseline
	some i, s in b.spec.settings
	s.type == "command"
	cannot_fail(s.check)
	f := lib.finding(b, ["spec", "settings", i, "check"], sprintf(
		"the check of command setting %s cannot fail (it ends in %q), so every device reports compliant whatever its state: make it test what the setting claims%s",
		[s.id, last(s.check), claim(s)],
	))
}

claim(s) := sprintf(" (value %s)", [json.marshal(s.value)]) if "value" in object.keys(s)

claim(s) := "" if not "value" in object.keys(s)

# statements are the check's non-empty lines and ";"-separated parts, comments removed.
statements(check) := [st |
	some line in split(check, "\n")
	some part in split(line, ";")
	st := trim_space(regex.replace(part, `(^|\s)#.*$`, ""))
	st != ""
	not regex.match(`^(?i)(rem\s.*|rem|::.*)$`, st)
]

last(check) := st[count(st) - 1] if st := statements(check)

cannot_fail(check) if {
	count(statements(check)) > 0
	succeeds(last(check))
	not can_exit_nonzero(check)
}

# succeeds holds for a statement that always exits 0.
succeeds(st) if regex.match(`^(?i)(true|:|/bin/true|/usr/bin/true|\$true|\$null|exit\s+0|exit\s*\(\s*0\s*\)|exit\s+/b\s+0|(echo|write-output|write-host|printf)(\s.*)?)$`, st)

# can_exit_nonzero holds when some statement may end the check with another status.
can_exit_nonzero(check) if regex.match(`(?i)(\bexit\s*(/b\s*)?\(?\s*([1-9]|-|\$|%)|\bfalse\b|\bthrow\b|\breturn\s+[1-9]|\bset\s+-[a-z]*e|errexit|erroractionpreference|\$lastexitcode|\bexit\s*$)`, check)
