# METADATA
# title: Members name a security contact
# description: >-
#   When a package, a hardware model or a shared service turns out to be vulnerable, the
#   consortium must reach every member's security function at once. Each member lists at least
#   one contact with role security.
# custom:
#   id: SV-MEM-001
#   severity: warn
#   principle: G2 Work actively with security
package samverk.policies.members.security_contact

import data.samverk.lib

warn contains f if {
	some member in input.documents.Member
	not has_security_contact(member)
	f := lib.finding(member, ["spec", "contacts"], "no contact with role security: add one, so incidents reach the member")
}

has_security_contact(member) if {
	some c in member.spec.contacts
	c.role == "security"
}
