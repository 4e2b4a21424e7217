package compile

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
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
			return st.Resources[i]
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

// checkState reports, through t, a State whose hash is not HashOf's, whose HashOf is not the
// hash its definition gives over encoding/json's output, or whose encodings (the full one and,
// with c, the compiler's) are not byte for byte encoding/json's. It returns whether all held.
func checkState(t testing.TB, c *Compiler, st *desired.State) bool {
	t.Helper()
	want, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	ok := true
	if got := encodeState(st); !bytes.Equal(got, want) {
		t.Errorf("encodeState differs from encoding/json:\n%s\n%s", got, want)
		ok = false
	}
	if c != nil {
		if got := c.Encode(st); !bytes.Equal(got, want) {
			t.Errorf("Compiler.Encode differs from encoding/json:\n%s\n%s", got, want)
			ok = false
		}
	}
	if h, ref := HashOf(st), referenceHash(t, st); st.Hash != h || h != ref {
		t.Errorf("hash %s, HashOf %s, by its definition over encoding/json %s", st.Hash, h, ref)
		ok = false
	}
	return ok
}

// referenceHash is HashOf's definition computed from encoding/json's output alone.
func referenceHash(t testing.TB, st *desired.State) string {
	t.Helper()
	c := *st
	c.Revision, c.Hash, c.Resources = "", "", nil
	b, err := json.Marshal(&c)
	if err != nil {
		t.Fatal(err)
	}
	const key = `"resources":null`
	i := bytes.Index(b, []byte(key))
	if i < 0 {
		t.Fatalf("no resources in %s", b)
	}
	head, tail := b[:i+len(key)-len("null")], b[i+len(key):]
	run := func(rs []*desired.Resource) []byte {
		pre := binary.AppendUvarint(nil, uint64(len(rs)))
		for i := range rs {
			j, err := json.Marshal(&rs[i])
			if err != nil {
				t.Fatal(err)
			}
			s := sha256.Sum256(j)
			pre = append(pre, s[:]...)
		}
		s := sha256.Sum256(pre)
		return s[:]
	}
	pre := append([]byte(hashTag), binary.AppendUvarint(nil, uint64(len(head)))...)
	pre = append(pre, head...)
	if st.Resources == nil {
		pre = append(pre, 'n')
	} else {
		n := 0
		for n < len(st.Resources) && st.Resources[n].Type == desired.TypePackage {
			n++
		}
		pre = append(pre, 'l')
		pre = append(pre, run(st.Resources[:n])...)
		pre = append(pre, run(st.Resources[n:])...)
	}
	pre = binary.AppendUvarint(pre, uint64(len(tail)))
	pre = append(pre, tail...)
	sum := sha256.Sum256(pre)
	return hex.EncodeToString(sum[:])
}
