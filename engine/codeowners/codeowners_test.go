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
	add("os/windows.yaml", `apiVersion: samverk.io/v1
kind: OSRelease
metadata: {name: w11}
`)
	cat, _ := catalog.New(docs)
	var b strings.Builder
	if err := Write(&b, cat, Options{Handle: "@eklient/{owner}", Prefix: "catalog", Fallback: "@eklient/forvaltning"}); err != nil {
		t.Fatal(err)
	}
	want := `/catalog/members/region-norr/groups.yaml @eklient/region-norr
/catalog/os/windows.yaml @eklient/forvaltning
/catalog/packages/firefox.yaml @eklient/kommun-vasterby @eklient/region-norr
`
	got := b.String()[strings.Index(b.String(), "\n")+1:]
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}
