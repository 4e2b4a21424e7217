package catalog

import (
	"testing"
)

// TestLoadMessages plants the mistakes an editor makes without seeing them: a byte that is not
// UTF-8, a tab in the indentation, a document without kind. Each is named for what it is, at
// its line and column.
func TestLoadMessages(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"latin-1 byte", "apiVersion: samverk.io/v1\nkind: Member\nmetadata:\n  name: x\n  owner: \"V\xe4ster\"\n",
			`f.yaml:5:12: deny load/yaml-syntax: byte 0xe4 is not UTF-8: save the file as UTF-8 (it may be Latin-1 or Windows-1252)`},
		{"latin-1 byte after other characters", "# Västerby\nkind: Member\nmetadata: {name: \"\xe5\"}\n",
			`f.yaml:3:19: deny load/yaml-syntax: byte 0xe5 is not UTF-8: save the file as UTF-8 (it may be Latin-1 or Windows-1252)`},
		{"tab in indentation", "apiVersion: samverk.io/v1\nkind: Member\nmetadata:\n  \tname: x\n",
			`f.yaml:4:3: deny load/yaml-syntax: a tab in the indentation: YAML indents with spaces only`},
		{"missing kind", "apiVersion: samverk.io/v1\nmetadata:\n  name: x\nspec: {}\n",
			`f.yaml:1:1: deny load/unknown-kind: kind: missing; every document needs a kind, one of OSRelease, HardwareModel, Package, Baseline, Service, Member, DeviceGroup, Waiver, RolloutPolicy`},
		{"kind that is no name", "apiVersion: samverk.io/v1\nkind: [Member]\nmetadata:\n  name: x\nspec: {}\n",
			`f.yaml:2:1: deny load/unknown-kind: kind: must be one of OSRelease, HardwareModel, Package, Baseline, Service, Member, DeviceGroup, Waiver, RolloutPolicy; got a list`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			docs, fs := ParseYAML("f.yaml", []byte(tt.src), 0)
			for _, d := range docs {
				if f, ok := checkIdentity(d); !ok {
					fs = append(fs, f)
				}
			}
			if len(fs) != 1 || fs[0].String() != tt.want {
				t.Fatalf("got %v\nwant %s", fs, tt.want)
			}
		})
	}
}
