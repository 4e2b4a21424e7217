# METADATA
# title: Certified models passed their certification tests
# description: >-
#   A certification whose recorded test results include a failure is suspect: either the
#   model is not ready for that OS release, or the failure is understood and accepted, in which
#   case the result's notes must say why.
# custom:
#   id: SV-HW-003
#   severity: warn
#   principle: G1 Focus on the user experience
package samverk.policies.hardware.certification_tests_pass

import data.samverk.lib

warn contains f if {
	some hw in input.documents.HardwareModel
	some i, cert in hw.spec.certifications
	cert.status == "certified"
	some j, result in cert.results
	result.outcome == "fail"
	trim_space(object.get(result, "notes", "")) == ""
	f := lib.finding(hw, ["spec", "certifications", i, "results", j, "outcome"], sprintf(
		"certified for %s although test %q failed: fix it, or say in notes why the failure is accepted",
		[cert.osRelease, result.test],
	))
}
