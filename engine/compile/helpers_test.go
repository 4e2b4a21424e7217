package compile

import (
	"os"
	"slices"
	"testing"

	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/desired"
)

// fixture loads testdata/catalog.yaml; each patch is a YAML stream whose documents replace the
// fixture's documents of the same reference, or are added. A patch document whose spec is null
// removes the document.
func fixture(t testing.TB, patches ...string) *catalog.Catalog {
	t.Helper()
	src, err := os.ReadFile("testdata/catalog.yaml")
	if err != nil {
		t.Fatal(err)
	}
	docs := parse(t, "catalog.yaml", string(src))
	for i, p := range patches {
		for _, pd := range parse(t, "patch.yaml", p) {
			docs = slices.DeleteFunc(docs, func(d *catalog.Document) bool { return d.Ref() == pd.Ref() })
			if pd.Object["spec"] != nil {
				pd.File = "patch" + string(rune('a'+i)) + ".yaml"
				docs = append(docs, pd)
			}
		}
	}
	cat, dups := catalog.New(docs)
	if len(dups) > 0 {
		t.Fatalf("duplicate documents: %v", dups[0][1].Ref())
	}
	return cat
}

func parse(t testing.TB, file, src string) []*catalog.Document {
	t.Helper()
	docs, findings := catalog.ParseYAML(file, []byte(src), 0)
	if len(findings) > 0 {
		t.Fatalf("%s: %v", file, findings)
	}
	return docs
}

func newIndexT(t testing.TB, cat *catalog.Catalog) *Index {
	t.Helper()
	ix, err := NewIndex(cat)
	if err != nil {
		t.Fatalf("index: %v", err)
	}
	return ix
}

// resource returns the resource with id, or nil.
func resource(st *desired.State, id string) *desired.Resource {
	for i := range st.Resources {
		if st.Resources[i].ID == id {
			return &st.Resources[i]
		}
	}
	return nil
}

func ids(st *desired.State) []string {
	var out []string
	for _, r := range st.Resources {
		out = append(out, r.ID)
	}
	return out
}

func condTypes(st *desired.State) []string {
	var out []string
	for _, c := range st.Conditions {
		out = append(out, c.Type+"/"+c.Reason)
	}
	return out
}

// Devices of the fixture.
var (
	dell = Device{Member: "region-norr", Vendor: "Dell Inc.", Model: "Latitude 5450", OSFamily: "windows", OSBuild: "22631"}
	hp   = Device{Member: "region-norr", Vendor: "HP", Model: "HP EliteBook 840 G10", OSFamily: "windows", OSBuild: "22631"}
	odd  = Device{Member: "region-norr", Vendor: "Acme", Model: "Homebuilt", OSFamily: "windows", OSBuild: "22631"}
)

func with(d Device, labels map[string]string) Device {
	d.Labels = labels
	return d
}

func onBuild(d Device, build string) Device {
	d.OSBuild = build
	return d
}
