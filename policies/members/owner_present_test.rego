package samverk.policies.members.owner_present_test

import data.samverk.policies.members.owner_present as rule
import data.samverk.testing

test_owned_member_document_passes if {
	count(rule.info) == 0 with input as testing.mock([testing.group_ok])
}

test_unowned_member_document_is_noted if {
	group := json.remove(testing.group_ok, ["/metadata/owner"])
	fs := rule.info with input as testing.mock([group])
	[f] := [f | some f in fs]
	f.path == ["metadata", "owner"]
}

test_shared_documents_are_not_checked if {
	count(rule.info) == 0 with input as testing.mock([testing.package_ok])
}
