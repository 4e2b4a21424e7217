# METADATA
# title: Certifications name their date, member and evidence
# description: >-
#   A certified hardware model is one every member may buy and deploy on that OS release without
#   testing again. The certification must therefore say when it was done, which member did it,
#   and link to the test evidence.
# custom:
#   id: SV-HW-001
#   severity: deny
#   principle: G4 Reuse smart solutions from the members
package samverk.policies.hardware.certification_evidence

import data.samverk.lib

deny contains f if {
	some hw in input.documents.HardwareModel
	some i, cert in hw.spec.certifications
	cert.status == "certified"
	some field in ["date", "member", "evidence"]
	object.get(cert, field, "") == ""
	f := lib.finding(hw, ["spec", "certifications", i, field], sprintf(
		"the certification for %s is certified but has no %s",
		[cert.osRelease, field],
	))
}
