package samverk.policies.baselines.one_target_test

import data.samverk.policies.baselines.one_target as rule
import data.samverk.testing

lock := {"id": "screen-lock", "type": "registry", "target": `HKLM\SOFTWARE\Policies\System\InactivityTimeoutSecs`, "value": 900, "enforce": "at-most"}

pwlen := {"id": "password-length", "type": "registry", "target": `HKLM\SOFTWARE\Policies\LAPS\PasswordLength`, "value": 14, "enforce": "at-least"}

smb := {"id": "smb1", "type": "service", "target": "mrxsmb10", "value": "disabled"}

hosts := {"id": "hosts", "type": "file", "target": "/etc/hosts.allow", "value": "sshd: 10.0.0.0/8"}

winfile := {"id": "winfile", "type": "file", "target": `C:\ProgramData\x.ini`, "value": "a"}

cmd := {"id": "secpol", "type": "command", "target": "Account policy MinimumPasswordLength", "value": 14, "enforce": "at-least", "check": "exit 1", "set": "x"}

shared := json.patch(testing.baseline_ok, [{"op": "replace", "path": "/spec/settings", "value": [lock, pwlen, smb, hosts, winfile, cmd]}])

member(settings) := {
	"apiVersion": "samverk.io/v1", "kind": "Baseline",
	"metadata": {"name": "norr", "namespace": "region-norr"},
	"spec": {"osReleases": ["windows-11-24h2"], "extends": ["windows-base"], "settings": settings},
}

findings(settings) := fs if {
	fs := rule.deny with input as testing.mock([shared, member(settings)])
}

test_weaker_value_under_a_new_id if {
	[f] := [f | some f in findings([object.union(lock, {"id": "my-lock", "value": 99999})])]
	f.path == ["spec", "settings", 0, "target"]
	contains(f.msg, "screen-lock")
	contains(f.msg, "enforce at-most")
}

test_other_spelling_of_the_same_key if {
	count(findings([object.union(lock, {"id": "my-lock", "target": `HKEY_LOCAL_MACHINE\Software\Policies\\System\InactivityTimeoutSecs`, "value": 99999})])) == 1
}

test_stricter_or_equal_under_a_new_id_passes if {
	count(findings([
		object.union(lock, {"id": "my-lock", "value": 300}),
		object.union(pwlen, {"id": "my-len", "value": 20}),
		object.union(smb, {"id": "my-smb"}),
		object.union(cmd, {"id": "my-secpol", "value": 16}),
	])) == 0
}

test_every_kind_of_target if {
	count(findings([
		object.union(pwlen, {"id": "a", "value": 8}),
		object.union(pwlen, {"id": "b", "value": "long"}),
		object.union(smb, {"id": "c", "value": "running"}),
		object.union(hosts, {"id": "d", "value": "ALL: ALL"}),
		object.union(winfile, {"id": "e", "target": `c:/programdata/X.ini`, "value": "b"}),
		object.union(cmd, {"id": "f", "value": 4}),
	])) == 6
}

test_same_id_is_the_no_weakening_rule if {
	count(findings([object.union(lock, {"value": 99999})])) == 0
}

test_command_writing_a_shared_registry_value if {
	c := {"id": "tweak", "type": "command", "target": "speed", "check": "exit 1", "set": `reg add "HKLM\Software\Policies\System" /v InactivityTimeoutSecs /t REG_DWORD /d 99999 /f`}
	[f] := [f | some f in findings([c])]
	f.path == ["spec", "settings", 0, "set"]
	contains(f.msg, "screen-lock")
}

test_command_writing_a_shared_file_or_service if {
	count(findings([{"id": "t1", "type": "command", "target": "x", "check": "exit 1", "set": "echo 'ALL: ALL' > /etc/hosts.allow"}])) == 1
	count(findings([{"id": "t2", "type": "command", "target": "x", "check": "exit 1", "set": "sc.exe config mrxsmb10 start= auto"}])) == 1
	count(findings([{"id": "t3", "type": "command", "target": "x", "check": "exit 1", "set": "Write-Output mrxsmb10"}])) == 0
	count(findings([{"id": "t4", "type": "command", "target": "x", "check": "exit 1", "set": "systemctl restart mrxsmb100"}])) == 0
}

test_shared_baselines_are_not_judged if {
	other := json.patch(shared, [
		{"op": "replace", "path": "/metadata/name", "value": "other"},
		{"op": "add", "path": "/spec/extends", "value": ["windows-base"]},
		{"op": "replace", "path": "/spec/settings", "value": [object.union(lock, {"id": "x", "value": 99999})]},
	])
	count(rule.deny) == 0 with input as testing.mock([shared, other])
}

test_no_enforce_means_equal if {
	[f] := [f | some f in findings([object.union(hosts, {"id": "d", "value": "ALL: ALL"})])]
	contains(f.msg, "not to be changed")
}
