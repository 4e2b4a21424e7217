# METADATA
# title: Member documents name an owner
# description: >-
#   metadata.owner says who maintains a document and who reviews changes to it. Member-scoped
#   documents should name one, even when it is the member itself, so that review requests reach
#   the right team.
# custom:
#   id: SV-META-001
#   severity: info
#   principle: G10 Collaborate broadly and actively
package samverk.policies.members.owner_present

import data.samverk.lib

# member_scoped_kinds are the kinds whose documents may have a namespace.
member_scoped_kinds := ["DeviceGroup", "Baseline", "Waiver"]

info contains f if {
	some kind in member_scoped_kinds
	some doc in input.documents[kind]
	object.get(doc.metadata, "namespace", "") != "" # lib.namespace, without a call per document
	object.get(doc.metadata, "owner", "") == ""
	f := lib.finding(doc, ["metadata", "owner"], "no metadata.owner: name the member (or team) that maintains this document")
}
