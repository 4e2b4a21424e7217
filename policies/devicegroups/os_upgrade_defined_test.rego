package samverk.policies.devicegroups.os_upgrade_defined_test

import data.samverk.policies.devicegroups.os_upgrade_defined as rule
import data.samverk.policies.devicegroups.os_upgrade_path_test as fx
import data.samverk.testing

test_no_upgrade_section_warns if {
	fs := rule.warn with input as testing.mock([testing.group_ok, fx.hardware, fx.os_23h2, testing.os_windows])
	[f] := [f | some f in fs]
	contains(f.msg, "windows-11-23h2 stay there")
}

test_target_with_paths_does_not_warn if {
	docs := [testing.group_ok, fx.hardware, fx.os_23h2, fx.with_paths([fx.path_from(["windows-11-23h2"])])]
	count(rule.warn) == 0 with input as testing.mock(docs)
}
