# METADATA
# title: Policy library
# description: Helpers every policy uses to name documents, report findings and look up the inventory.
package samverk.lib

# ref is how a finding names its document: kind, namespace ("" for shared documents) and name.
ref(doc) := {"kind": doc.kind, "namespace": namespace(doc), "name": doc.metadata.name}

# namespace is the owning member of a member-scoped document, "" for a shared one.
namespace(doc) := object.get(doc.metadata, "namespace", "")

# key is a document's key in input.inventory[kind]: its name, or "namespace/name".
key(doc) := concat("/", [ns, doc.metadata.name]) if {
	ns := namespace(doc)
	ns != ""
}

key(doc) := doc.metadata.name if namespace(doc) == ""

# finding reports a problem with the field at path (e.g. ["spec", "certifications", 2, "evidence"])
# of doc. The engine places it on that field's line and column; a path to a missing field is
# placed on its nearest existing parent.
finding(doc, path, msg) := {
	"doc": {"kind": doc.kind, "namespace": object.get(doc.metadata, "namespace", ""), "name": doc.metadata.name},
	"path": path,
	"msg": msg,
}

# resolve finds the document of kind a member-scoped document in namespace ns calls name: the
# member's own first, then the shared one. Undefined when neither exists.
resolve(kind, ns, name) := doc if {
	ns != ""
	doc := input.inventory[kind][concat("/", [ns, name])]
} else := input.inventory[kind][name]

# passed holds when pkg has a passing lifecycle record for stage with an evidence link.
passed(pkg, stage) if {
	some r in pkg.spec.lifecycle.records
	r.stage == stage
	r.result == "pass"
	r.evidence != ""
}

# record_gap says why pkg has no passing record with evidence for stage, as
# {"path": ..., "msg": ...}; it is undefined when pkg has one. It points at the latest record of
# that stage when there is one, and at the lifecycle stage otherwise.
record_gap(pkg, stage) := gap if {
	not passed(pkg, stage)
	indices := [i | some i, r in object.get(pkg.spec.lifecycle, "records", []); r.stage == stage]
	gap := _record_gap(pkg, stage, indices)
}

_record_gap(_, stage, indices) := {
	"path": ["spec", "lifecycle", "stage"],
	"msg": sprintf("there is no %s record", [stage]),
} if {
	count(indices) == 0
}

_record_gap(pkg, stage, indices) := gap if {
	i := indices[count(indices) - 1]
	gap := _failed_or_unproven(i, pkg.spec.lifecycle.records[i], stage)
}

_failed_or_unproven(i, r, stage) := {
	"path": ["spec", "lifecycle", "records", i, "result"],
	"msg": sprintf("the %s record of %s did not pass", [stage, r.date]),
} if {
	r.result != "pass"
}

_failed_or_unproven(i, r, stage) := {
	"path": ["spec", "lifecycle", "records", i, "evidence"],
	"msg": sprintf("the %s record of %s has no evidence link", [stage, r.date]),
} if {
	r.result == "pass"
	not r.evidence
}
