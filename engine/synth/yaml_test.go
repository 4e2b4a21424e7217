package synth

import (
	"testing"

	"samverk.io/samverk/engine/catalog"
)

// TestEmitterRoundTrip checks that every scalar the emitter writes, plain or quoted, reads
// back as the same value.
func TestEmitterRoundTrip(t *testing.T) {
	strs := []string{
		"plain", "Umeå kommun", "23.3.9", "14", "2026-11-23", "true", "No", "null", "~", "/qn", "/",
		"https://dl.samverk.example/a b", `HKLM\SOFTWARE\Policies`, "a: b", "key:", "#comment", "- item",
		"{GUID}", "trailing ", "", "line\nbreak", "0x1F", "1e5", ".inf", "*alias", "&anchor", "!tag",
		"'single'", `"double"`, "percent %", "@at", "`tick`", "a #b", "x=y", "C:\\Program Files\\x.exe",
		"Defaults logfile=\"/var/log/sudo.log\"\n", "1_000", "+46 90 123 45 67", "-5", "=",
	}
	doc := obj{{"apiVersion", catalog.APIVersion}, {"kind", "Member"}, {"metadata", obj{{"name", "x"}}}}
	var spec obj
	var list []any
	for _, s := range strs {
		list = append(list, s)
	}
	spec = append(spec, kv{"strings", list}, kv{"int", 42}, kv{"float", 1.5}, kv{"bool", true},
		kv{"nested", []any{obj{{"a", "1"}, {"b", []any{obj{{"c", 2}}}}}}}, kv{"empty", obj{}}, kv{"none", []any{}})
	doc = append(doc, kv{"spec", spec})
	var e emitter
	e.document(doc)
	docs, fnd := catalog.ParseYAML("x.yaml", e.b.Bytes(), 0)
	if len(fnd) > 0 || len(docs) != 1 {
		t.Fatalf("emitted YAML does not parse: %v\n%s", fnd, e.b.String())
	}
	got := docs[0].Spec()
	gotList, _ := got["strings"].([]any)
	if len(gotList) != len(strs) {
		t.Fatalf("read %d strings back, want %d\n%s", len(gotList), len(strs), e.b.String())
	}
	for i, s := range strs {
		if gotList[i] != s {
			t.Errorf("%q read back as %#v (written %s)", s, gotList[i], scalar(s))
		}
	}
	if got["int"] != int64(42) || got["float"] != 1.5 || got["bool"] != true {
		t.Errorf("numbers and booleans: %#v %#v %#v", got["int"], got["float"], got["bool"])
	}
	nested, _ := got["nested"].([]any)
	if len(nested) != 1 {
		t.Fatalf("nested = %#v", got["nested"])
	}
	if m, _ := nested[0].(map[string]any); m["a"] != "1" {
		t.Errorf("nested[0] = %#v", nested[0])
	}
	if m, _ := got["empty"].(map[string]any); m == nil || len(m) != 0 {
		t.Errorf("empty = %#v", got["empty"])
	}
	if l, _ := got["none"].([]any); l == nil || len(l) != 0 {
		t.Errorf("none = %#v", got["none"])
	}
}
