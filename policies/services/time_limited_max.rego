# METADATA
# title: Time-limited services state their maximum
# description: >-
#   Access that is meant to end must say when: a time-limited service needs duration.maxDays, so
#   that provisioning can revoke it without anyone remembering to.
# custom:
#   id: SV-SVC-002
#   severity: deny
#   principle: G2 Work actively with security
package samverk.policies.services.time_limited_max

import data.samverk.lib

deny contains f if {
	some svc in input.documents.Service
	svc.spec.duration.type == "time-limited"
	not svc.spec.duration.maxDays
	f := lib.finding(svc, ["spec", "duration", "maxDays"], "a time-limited service needs duration.maxDays")
}
