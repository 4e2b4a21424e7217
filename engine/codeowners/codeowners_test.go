package codeowners

import (
	"strings"
	"testing"

	"samverk.io/samverk/engine/catalog"
)

func TestWrite(t *testing.T) {
	var docs []*catalog.Document
	add := func(file, src string) {
		d, fs := catalog.ParseYAML(file, []byte(src), 0)
		if len(fs) > 0 {
			t.Fatal(fs)
		}
		docs = append(docs, d...)
	}
	add("packages/firefox.yaml", `apiVersion: samverk.io/v1
kind: Package
metadata: {name: firefox-1, owner: region-norr}
---
apiVersion: samverk.io/v1
kind: Package
metadata: {name: firefox-2, owner: kommun-vasterby}
`)
	add("members/region-norr/groups.yaml", `apiVersion: samverk.io/v1
kind: DeviceGroup
metadata: {name: pilot, namespace: region-norr}
`)
	// The attack as found: a file in kommun-vasterby's folder whose documents claim
	// region-norr's namespace and owner. The path decides: kommun-vasterby reviews it.
	add("members/kommun-vasterby/sub/evil.yaml", `apiVersion: samverk.io/v1
kind: Baseline
metadata: {name: root, namespace: region-norr, owner: region-norr}
`)
	add("waivers/norr.yaml", `apiVersion: samverk.io/v1
kind: Waiver
metadata: {name: norr-commands, owner: region-norr}
`)
	add("os/windows.yaml", `apiVersion: samverk.io/v1
kind: OSRelease
metadata: {name: w11}
`)
	cat, _ := catalog.New(docs)
	tests := []struct {
		name string
		opt  Options
		want string
	}{
		{
			name: "strategy group",
			opt:  Options{Handle: "@eklient/{owner}", Prefix: "catalog", Fallback: "@eklient/forvaltning", Strategy: "@eklient/strategigruppen"},
			want: `/catalog/os/windows.yaml @eklient/forvaltning
/catalog/packages/firefox.yaml @eklient/kommun-vasterby @eklient/region-norr
/catalog/waivers/norr.yaml @eklient/strategigruppen
/catalog/members/kommun-vasterby/ @eklient/kommun-vasterby
/catalog/members/region-norr/ @eklient/region-norr
/policies/ @eklient/strategigruppen
/schemas/ @eklient/strategigruppen
`,
		},
		{
			name: "defaults",
			opt:  Options{},
			want: `/packages/firefox.yaml @kommun-vasterby @region-norr
/waivers/norr.yaml @region-norr
/members/kommun-vasterby/ @kommun-vasterby
/members/region-norr/ @region-norr
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			if err := Write(&b, cat, tt.opt); err != nil {
				t.Fatal(err)
			}
			got := b.String()[strings.Index(b.String(), "\n")+1:]
			if got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}
