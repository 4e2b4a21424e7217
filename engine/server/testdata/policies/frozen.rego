# METADATA
# title: frozen members take no changes
# description: A member labelled frozen is under a change freeze; a commit that marks one is refused.
# custom:
#   id: SV-TEST-001
#   severity: deny
package samverk.policies.test.frozen

deny contains f if {
	some m in input.documents.Member
	m.metadata.labels.frozen == "true"
	f := {
		"doc": {"kind": "Member", "namespace": "", "name": m.metadata.name},
		"path": ["metadata", "labels", "frozen"],
		"msg": "member is frozen: no changes until the freeze ends",
	}
}
