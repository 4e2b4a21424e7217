package samverk.policies.baselines.check_can_fail_test

import data.samverk.policies.baselines.check_can_fail as rule
import data.samverk.testing

command(id, check) := {"id": id, "type": "command", "target": "x", "value": 14, "check": check, "set": "net accounts /minpwlen:4"}

findings(settings) := fs if {
	fs := rule.deny with input as testing.mock([json.patch(testing.baseline_ok, [
		{"op": "replace", "path": "/spec/settings", "value": settings},
	])])
}

test_checks_that_cannot_fail if {
	every check in [
		"true", ":", "exit 0", "  exit 0  ", "Exit 0", "exit(0)", "exit /b 0", "/bin/true", "$true",
		"echo compliant", "Write-Output ok", "# a comment\ntrue # always", "rem nothing\nexit 0",
		"grep -q x /etc/y; exit 0", "Get-Item HKLM:\\x | Out-Null\nexit 0",
	] {
		count(findings([command("weak", check)])) == 1
	}
}

test_checks_that_can_fail if {
	every check in [
		"grep -q x /etc/y", "[ -f /x ] || exit 1\nexit 0", "if ($v -ge 14) { exit 0 } else { exit 1 }",
		"test -f /x; exit $?", "false", "set -e\ngrep -q x y\nexit 0", "$ErrorActionPreference = 'Stop'\nGet-Item x\nexit 0",
		"throw 'no'\nexit 0", "exit %ERRORLEVEL%", "exit", "f() { return 1; }\nexit 0", "",
	] {
		count(findings([command("fine", check)])) == 0
	}
}

test_finding_names_the_check if {
	[f] := [f | some f in findings([testing.setting("a", 1), command("weak", "exit 0")])]
	f.path == ["spec", "settings", 1, "check"]
	contains(f.msg, "weak")
	contains(f.msg, `"exit 0"`)
	contains(f.msg, "(value 14)")
}

test_command_without_value if {
	[f] := [f | some f in findings([object.remove(command("weak", "true"), ["value"])])]
	not contains(f.msg, "value")
}

test_other_types_are_not_checks if {
	count(findings([testing.setting("a", "true")])) == 0
}
