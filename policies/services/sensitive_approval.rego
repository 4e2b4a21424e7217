# METADATA
# title: Sensitive entitlements need approval
# description: >-
#   A service that grants a sensitive entitlement (a privileged directory group, access to
#   patient or personal data, a network zone) must not be handed out on request alone: a
#   manager, the service owner, or both must approve every order.
# custom:
#   id: SV-SVC-001
#   severity: deny
#   principle: G2 Work actively with security
package samverk.policies.services.sensitive_approval

import data.samverk.lib

deny contains f if {
	some svc in input.documents.Service
	svc.spec.approval == "none"
	sensitive := [e.name | some e in svc.spec.delivers.entitlements; e.sensitive == true]
	count(sensitive) > 0
	f := lib.finding(svc, ["spec", "approval"], sprintf(
		"grants sensitive entitlements (%s) without approval: require manager, service-owner or both",
		[concat(", ", sensitive)],
	))
}
