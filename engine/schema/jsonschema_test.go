package schema

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/encoding/jsonschema"

	"samverk.io/samverk/engine/catalog"
)

// at walks a decoded JSON Schema along keys.
func at(t *testing.T, v any, keys ...string) any {
	t.Helper()
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("%s: not an object at %q", strings.Join(keys, "."), k)
		}
		if v, ok = m[k]; !ok {
			t.Fatalf("%s: no %q", strings.Join(keys, "."), k)
		}
	}
	return v
}

func strs(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

func TestJSONSchemas(t *testing.T) {
	all, err := JSONSchemas()
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range catalog.Kinds {
		t.Run(kind, func(t *testing.T) {
			var s map[string]any
			if err := json.Unmarshal(all[kind], &s); err != nil {
				t.Fatalf("not JSON: %v", err)
			}
			if s["$schema"] != JSONSchemaDraft || s["title"] != kind || s["type"] != "object" {
				t.Errorf("$schema %v, title %v, type %v", s["$schema"], s["title"], s["type"])
			}
			if got := at(t, s, "properties", "kind", "const"); got != kind {
				t.Errorf("kind const %v", got)
			}
			if got := at(t, s, "properties", "apiVersion", "const"); got != catalog.APIVersion {
				t.Errorf("apiVersion const %v", got)
			}
			if req := strs(s["required"]); !slices.Contains(req, "spec") || !slices.Contains(req, "metadata") {
				t.Errorf("required %v", req)
			}
			if at(t, s, "additionalProperties") != false || at(t, s, "properties", "spec", "additionalProperties") != false {
				t.Error("definitions are closed, the schema is not")
			}
			if at(t, s, "properties", "metadata", "properties", "name", "pattern") == "" {
				t.Error("metadata.name has no pattern")
			}
			one, err := JSONSchema(kind)
			if err != nil || string(one) != string(all[kind]) {
				t.Errorf("JSONSchema(%s) differs from JSONSchemas()[%s] (%v)", kind, kind, err)
			}
		})
	}
	if _, err := JSONSchema("Gadget"); err == nil {
		t.Error("JSONSchema of an unknown kind: no error")
	}
}

func TestJSONSchemaContent(t *testing.T) {
	all, err := JSONSchemas()
	if err != nil {
		t.Fatal(err)
	}
	decode := func(kind string) map[string]any {
		var s map[string]any
		if err := json.Unmarshal(all[kind], &s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	pkg := decode("Package")
	spec := at(t, pkg, "properties", "spec")
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"enum", strings.Join(strs(at(t, spec, "properties", "lifecycle", "properties", "stage", "enum")), ","),
			"packaging,infra-test,user-test,approved,deprecated,retired"},
		{"required", strings.Join(strs(at(t, spec, "required")), ","),
			"product,displayName,vendor,version,installer,osReleases,lifecycle"},
		{"description from doc comment", at(t, spec, "properties", "product", "description"),
			"product groups the versions of one piece of software."},
		{"pattern", at(t, spec, "properties", "installer", "properties", "source", "properties", "sha256", "pattern"), "^[A-Fa-f0-9]{64}$"},
		{"bounds", at(t, spec, "properties", "installer", "properties", "timeoutSeconds", "maximum"), 7200.0},
		{"exclusive bound", at(t, spec, "properties", "installer", "properties", "timeoutSeconds", "exclusiveMinimum"), 0.0},
		{"integer", at(t, spec, "properties", "installer", "properties", "timeoutSeconds", "type"), "integer"},
		{"minItems", at(t, spec, "properties", "osReleases", "minItems"), 1.0},
		{"non-empty string", at(t, spec, "properties", "vendor", "minLength"), 1.0},
		{"date", at(t, spec, "properties", "lifecycle", "properties", "records", "items", "properties", "date", "format"), "date"},
		{"open map", at(t, pkg, "properties", "metadata", "properties", "labels", "additionalProperties", "type"), "string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %#v, want %#v", tt.got, tt.want)
			}
		})
	}

	t.Run("conditional", func(t *testing.T) {
		setting := at(t, decode("Baseline"), "properties", "spec", "properties", "settings", "items")
		var found bool
		for _, c := range at(t, setting, "allOf").([]any) {
			if at(t, c, "if", "properties", "type", "const") == "command" {
				found = strings.Join(strs(at(t, c, "then", "required")), ",") == "check,set"
			}
		}
		if !found {
			t.Errorf("no if type == command then required check, set: %v", setting)
		}
	})
}

// TestJSONSchemaAgreesOnFixtures reads the JSON Schemas back with CUE's JSON Schema decoder
// and checks they accept the valid fixtures and refuse invalid ones, as an editor would.
func TestJSONSchemaAgreesOnFixtures(t *testing.T) {
	all, err := JSONSchemas()
	if err != nil {
		t.Fatal(err)
	}
	ctx := cuecontext.New()
	schemaOf := map[string]cue.Value{}
	for kind, b := range all {
		f, err := jsonschema.Extract(ctx.CompileBytes(b), &jsonschema.Config{})
		if err != nil {
			t.Fatalf("%s: the JSON Schema does not read back: %v", kind, err)
		}
		v := ctx.BuildFile(f)
		if v.Err() != nil {
			t.Fatalf("%s: %v", kind, v.Err())
		}
		schemaOf[kind] = v
	}
	check := func(d *catalog.Document) error {
		b, err := json.Marshal(d.Object)
		if err != nil {
			t.Fatal(err)
		}
		return schemaOf[d.Kind].Unify(ctx.CompileBytes(b)).Validate(cue.Concrete(true))
	}
	for _, d := range loadDir(t, "testdata/valid").Docs {
		if err := check(d); err != nil {
			t.Errorf("%s (valid) refused: %v", d.Ref(), err)
		}
	}
	for _, d := range loadDir(t, "testdata/invalid").Docs {
		if err := check(d); err == nil {
			t.Errorf("%s (invalid) accepted", d.Ref())
		}
	}
}
