# METADATA
# title: A member's rollout policy may only make rollouts slower
# description: >-
#   The consortium's RolloutPolicy says how fast a revision may move from ring to ring. A member
#   may hold its own device groups back with a RolloutPolicy of its own, but never hurry them:
#   each of its steps soaks at least as long, waits for at least as many devices and as large a
#   share, asks for at least the same success share and starts at most as many devices an hour
#   as the consortium's step to the same ring; and it has a step for every ring the consortium
#   gates.
# custom:
#   id: SV-RO-001
#   severity: deny
#   principle: G4 Security and continuity first
package samverk.policies.rollout.only_slower

import data.samverk.lib

# shared is the consortium's policy: the shared RolloutPolicy first by name (SV-RO-002 denies
# any other).
shared := p if {
	names := sort([p.metadata.name | some p in input.inventory.RolloutPolicy; lib.namespace(p) == ""])
	p := input.inventory.RolloutPolicy[names[0]]
}

shared_steps := {s.to: s | some s in shared.spec.steps}

deny contains f if {
	some p in input.documents.RolloutPolicy
	lib.namespace(p) != ""
	shared.spec.rings != p.spec.rings
	f := lib.finding(p, ["spec", "rings"], sprintf(
		"rings %v differ from the consortium's %v: a member's policy keeps the consortium's ring order",
		[p.spec.rings, shared.spec.rings],
	))
}

deny contains f if {
	some p in input.documents.RolloutPolicy
	lib.namespace(p) != ""
	some to, _ in shared_steps
	not has_step(p, to)
	f := lib.finding(p, ["spec", "steps"], sprintf(
		"no step to %s: the consortium gates that ring, and a member's policy may only add to its gates",
		[to],
	))
}

deny contains f if {
	some p in input.documents.RolloutPolicy
	lib.namespace(p) != ""
	some i, step in p.spec.steps
	base := shared_steps[step.to]
	some check in faster(step, base)
	f := lib.finding(p, ["spec", "steps", i, check.field], sprintf("%s: %s", [step.to, check.msg]))
}

has_step(p, to) if {
	some s in p.spec.steps
	s.to == to
}

# faster lists the ways step is faster than base, one {"field", "msg"} each.
faster(step, base) := {c |
	some c in [
		soak_check(step, base),
		least_check(step, base, "minDevices", "devices"),
		least_check(step, base, "minAppliedPercent", "percent applied"),
		least_check(step, base, "successPercent", "percent successful"),
		rate_check(step, base),
	]
	c != null
}

soak_check(step, base) := {"field": "soak", "msg": sprintf(
	"soak %s is shorter than the consortium's %s",
	[step.soak, base.soak],
)} if {
	time.parse_duration_ns(step.soak) < time.parse_duration_ns(base.soak)
} else := null

least_check(step, base, field, what) := {"field": field, "msg": sprintf(
	"%s %v is below the consortium's %v %s",
	[field, object.get(step, field, 0), base[field], what],
)} if {
	object.get(step, field, 0) < object.get(base, field, 0)
} else := null

rate_check(step, base) := {"field": "maxPerHour", "msg": sprintf(
	"maxPerHour %v is above the consortium's %v devices an hour",
	[object.get(step, "maxPerHour", "unbounded"), base.maxPerHour],
)} if {
	base.maxPerHour
	object.get(step, "maxPerHour", base.maxPerHour + 1) > base.maxPerHour
} else := null
