package compile

import (
	"encoding/json"
	"testing"

	"samverk.io/samverk/engine/desired"
)

func TestAppendString(t *testing.T) {
	for _, s := range []string{"", "plain", `q"uote\back`, "<a>&b", "\x00\x01\b\f\n\r\t\x1f\x7f", "é ü 日本", "\u2028\u2029", "bad \xff\xfe utf8", "\xe2\x80"} {
		want, _ := json.Marshal(s)
		if got := appendString(nil, s); string(got) != string(want) {
			t.Errorf("%q: got %s, want %s", s, got, want)
		}
	}
}

func FuzzAppendString(f *testing.F) {
	f.Add("a<b>&\"\\\n\u2028\xff")
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := appendString(nil, s); string(got) != string(want) {
			t.Fatalf("%q: got %s, want %s", s, got, want)
		}
	})
}

// The hand-written encoder must agree with encoding/json on every State, or the hash would not
// be the hash of the State's JSON.
func TestEncoderMatchesEncodingJSON(t *testing.T) {
	patch := `apiVersion: samverk.io/v1
kind: Baseline
metadata: {name: win11-base}
spec:
  osReleases: [win11-23h2, win11-24h2]
  settings:
    - {id: html, type: file, target: 'C:\x<y>&z', value: "<script>\u2028\"é\"\t</script>"}
    - {id: cmd, type: command, target: x, check: "a && b", set: "c > d"}
`
	c := New(fixture(t, patch), "r")
	for _, d := range fleet {
		st, _ := c.Desired(d)
		if !checkState(t, c, st) {
			t.Errorf("device %+v", d)
		}
	}
}

// HashOf follows its definition for States the compiler would never make, and tells apart
// States whose JSON differs in ways the runs of resources could hide.
func TestHashOfDefinition(t *testing.T) {
	pkg := func(id string) *desired.Resource {
		return &desired.Resource{ID: "package/" + id, Type: desired.TypePackage, Ensure: "present", Package: &desired.Package{Product: id, Version: "1"}}
	}
	set := func(id string) *desired.Resource {
		return &desired.Resource{ID: "setting/" + id, Type: desired.TypeService, Ensure: "present", Service: &desired.Service{Name: id, State: "running"}}
	}
	states := map[string]*desired.State{
		"nil resources":   {Member: "m", Mode: ModeEnforce},
		"empty resources": {Member: "m", Mode: ModeEnforce, Resources: []*desired.Resource{}},
		"packages only":   {Member: "m", Mode: ModeEnforce, Resources: []*desired.Resource{pkg("a"), pkg("b")}},
		"settings only":   {Member: "m", Mode: ModeEnforce, Resources: []*desired.Resource{set("a"), set("b")}},
		"mixed":           {Member: "m", Mode: ModeEnforce, Resources: []*desired.Resource{pkg("a"), set("b")}},
		"interleaved":     {Member: "m", Mode: ModeEnforce, Resources: []*desired.Resource{set("b"), pkg("a")}},
		"interleaved 3":   {Member: "m", Mode: ModeEnforce, Resources: []*desired.Resource{pkg("a"), set("b"), pkg("c")}},
		"one more":        {Member: "m", Mode: ModeEnforce, Resources: []*desired.Resource{pkg("a"), set("b"), pkg("c"), set("d")}},
		"conditions": {Member: "m", Mode: ModeEnforce, Resources: []*desired.Resource{pkg("a")},
			Conditions: []desired.Condition{{Type: CondNoGroup, Reason: "r", Message: "<m>"}}},
		"os": {Member: "m", Mode: ModeEnforce, Resources: []*desired.Resource{},
			OS: &desired.OSTarget{Release: "r", Action: ActionStay, Upgrade: &desired.OSUpgrade{From: "x", Installer: desired.OSInstaller{Type: "script", Arguments: []string{"a"}}}}},
	}
	seen := map[string]string{}
	for name, st := range states {
		h := HashOf(st)
		if ref := referenceHash(t, st); h != ref {
			t.Errorf("%s: HashOf %s, by definition %s", name, h, ref)
		}
		if other, dup := seen[h]; dup {
			t.Errorf("%s and %s hash alike", name, other)
		}
		seen[h] = name
		if got, want := encodeState(st), mustJSON(t, st); string(got) != want {
			t.Errorf("%s: encoded %s, encoding/json %s", name, got, want)
		}
		// Revision and Hash are not hashed.
		c := *st
		c.Revision, c.Hash = "rev", h
		if HashOf(&c) != h {
			t.Errorf("%s: the revision or hash changes the hash", name)
		}
	}
}

// A package resource of the previous body is reused only when it is the one the body would
// write: same package version, dependencies and Why.
func TestItemSame(t *testing.T) {
	pkg := &desired.Package{Product: "p", Version: "1"}
	it := item{r: desired.Resource{ID: "package/p", Type: desired.TypePackage, Ensure: present, DependsOn: []string{"package/q"}, Package: pkg},
		whyPrefix: "p 1 (approved): ", whys: []string{"named by group a", "delivered by service s"}}
	good := it.r
	good.Why = it.why()
	if good.Why != "p 1 (approved): named by group a; delivered by service s" {
		t.Fatalf("why %q", good.Why)
	}
	if !it.same(&good) {
		t.Errorf("the same resource is not the same")
	}
	change := map[string]func(r *desired.Resource){
		"why longer":     func(r *desired.Resource) { r.Why += "; x" },
		"why shorter":    func(r *desired.Resource) { r.Why = "p 1 (approved): named by group a" },
		"why prefix":     func(r *desired.Resource) { r.Why = "p 1 (user-test): named by group a; delivered by service s" },
		"why separator":  func(r *desired.Resource) { r.Why = "p 1 (approved): named by group a, delivered by service s" },
		"why part":       func(r *desired.Resource) { r.Why = "p 1 (approved): named by group b; delivered by service s" },
		"other version":  func(r *desired.Resource) { r.Package = &desired.Package{Product: "p", Version: "1"} },
		"depends":        func(r *desired.Resource) { r.DependsOn = nil },
		"ensure":         func(r *desired.Resource) { r.Ensure = absent },
		"refs":           func(r *desired.Resource) { r.Refs = []string{"CIS 1"} },
		"another field":  func(r *desired.Resource) { r.Service = &desired.Service{} },
		"why empty part": func(r *desired.Resource) { r.Why = "p 1 (approved): " },
	}
	for name, f := range change {
		r := good
		f(&r)
		if it.same(&r) {
			t.Errorf("%s: taken as the same", name)
		}
	}
	one := item{r: it.r, whyPrefix: "p 1 (approved): ", whys: []string{"named by group a"}}
	r := good
	r.Why = "p 1 (approved): named by group a"
	if !one.same(&r) {
		t.Errorf("one reason: not the same")
	}
}
