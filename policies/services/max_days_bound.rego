# METADATA
# title: Time-limited access lasts at most a year
# description: >-
#   A time-limited service may be granted for at most 365 days at a time; longer needs are a
#   subscription with renewal, so that access is reviewed at least yearly.
# custom:
#   id: SV-SVC-003
#   severity: deny
#   principle: G2 Work actively with security
package samverk.policies.services.max_days_bound

import data.samverk.lib

# max_days is the longest a time-limited grant may last.
max_days := 365

deny contains f if {
	some svc in input.documents.Service
	svc.spec.duration.type == "time-limited"
	svc.spec.duration.maxDays > max_days
	f := lib.finding(svc, ["spec", "duration", "maxDays"], sprintf(
		"maxDays is %d, over the limit of %d: make it a subscription with renewalDays instead",
		[svc.spec.duration.maxDays, max_days],
	))
}
