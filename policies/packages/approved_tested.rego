# METADATA
# title: Approved packages passed infra test and user test
# description: >-
#   A package version reaches the approved stage, and with it every member's broad ring, only
#   after a member has tested it in its infrastructure and with users. Both lifecycle records
#   must say pass and link to their evidence (a test report, a ticket), so the next member can
#   see what was tested instead of testing again.
# custom:
#   id: SV-PKG-001
#   severity: deny
#   principle: G2 Work actively with security
package samverk.policies.packages.approved_tested

import data.samverk.lib

deny contains f if {
	some pkg in input.documents.Package
	pkg.spec.lifecycle.stage == "approved"
	proven := {r.stage | some r in pkg.spec.lifecycle.records; r.result == "pass"; r.evidence != ""}
	some stage in ["infra-test", "user-test"]
	not stage in proven
	gap := lib.record_gap(pkg, stage)
	f := lib.finding(pkg, gap.path, sprintf("approved, but %s: approval needs a passing %s record with evidence", [gap.msg, stage]))
}
