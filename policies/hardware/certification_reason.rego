# METADATA
# title: Rejected and withdrawn certifications give a reason
# description: >-
#   When a model fails certification, or a certification is withdrawn, the reason (a driver
#   defect, a firmware problem, the vendor's end of support) tells the other members what to
#   avoid and when to try again.
# custom:
#   id: SV-HW-002
#   severity: deny
#   principle: G10 Collaborate broadly and actively
package samverk.policies.hardware.certification_reason

import data.samverk.lib

deny contains f if {
	some hw in input.documents.HardwareModel
	some i, cert in hw.spec.certifications
	cert.status in {"rejected", "withdrawn"}
	trim_space(object.get(cert, "reason", "")) == ""
	f := lib.finding(hw, ["spec", "certifications", i, "reason"], sprintf(
		"the certification for %s is %s without a reason",
		[cert.osRelease, cert.status],
	))
}
