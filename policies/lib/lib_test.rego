package samverk.lib_test

import data.samverk.lib
import data.samverk.testing

member_baseline := {"kind": "Baseline", "metadata": {"name": "windows-base", "namespace": "region-norr"}, "spec": {}}

test_key_and_ref_of_a_shared_document if {
	lib.key(testing.baseline_ok) == "windows-base"
	lib.ref(testing.baseline_ok) == {"kind": "Baseline", "namespace": "", "name": "windows-base"}
}

test_key_and_ref_of_a_member_document if {
	lib.key(member_baseline) == "region-norr/windows-base"
	lib.ref(member_baseline).namespace == "region-norr"
}

test_resolve_prefers_the_member_document if {
	inp := testing.mock([testing.baseline_ok, member_baseline])
	doc := lib.resolve("Baseline", "region-norr", "windows-base") with input as inp
	doc == member_baseline
	shared := lib.resolve("Baseline", "kommun-vasterby", "windows-base") with input as inp
	shared == testing.baseline_ok
	none := [d | d := lib.resolve("Baseline", "region-norr", "missing")] with input as inp
	none == []
}

test_finding_names_document_and_path if {
	lib.finding(member_baseline, ["spec"], "m") == {
		"doc": {"kind": "Baseline", "namespace": "region-norr", "name": "windows-base"},
		"path": ["spec"], "msg": "m",
	}
}
