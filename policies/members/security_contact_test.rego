package samverk.policies.members.security_contact_test

import data.samverk.policies.members.security_contact as rule
import data.samverk.testing

test_member_with_security_contact_passes if {
	count(rule.warn) == 0 with input as testing.mock([testing.member_ok])
}

test_member_without_security_contact_warns if {
	member := json.remove(testing.member_ok, ["/spec/contacts/1"])
	fs := rule.warn with input as testing.mock([member])
	[f] := [f | some f in fs]
	f.path == ["spec", "contacts"]
}
