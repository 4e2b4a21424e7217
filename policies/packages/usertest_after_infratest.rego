# METADATA
# title: User test starts after a passed infra test
# description: >-
#   Users in the pilot ring receive a package in user test. Before that, a member must have
#   tested it in its infrastructure (install, uninstall, detection, no conflicts) and recorded a
#   passing infra-test result with evidence.
# custom:
#   id: SV-PKG-002
#   severity: deny
#   principle: G1 Focus on the user experience
package samverk.policies.packages.usertest_after_infratest

import data.samverk.lib

deny contains f if {
	some pkg in input.documents.Package
	pkg.spec.lifecycle.stage == "user-test"
	gap := lib.record_gap(pkg, "infra-test")
	f := lib.finding(pkg, gap.path, sprintf("in user test, but %s: user test needs a passing infra-test record with evidence", [gap.msg]))
}
