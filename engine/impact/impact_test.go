package impact_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	bundled "samverk.io/samverk/catalog"
	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/desired"
	"samverk.io/samverk/engine/fleet"
	"samverk.io/samverk/engine/grants"
	"samverk.io/samverk/engine/impact"
	"samverk.io/samverk/engine/store"
	"samverk.io/samverk/engine/store/storetest"
)

// referenceCatalog loads the catalog at the repository root.
func referenceCatalog(t testing.TB) *catalog.Catalog {
	t.Helper()
	res, err := catalog.Load(bundled.FS, catalog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return res.Catalog
}

// fleetOf enrolls n devices of each (member, labels, vendor, model) into a real store, loads
// them into a real fleet service, publishes cat and returns the service.
func fleetOf(t testing.TB, cat *catalog.Catalog, devs []devs) *fleet.Service {
	t.Helper()
	ctx := context.Background()
	st := storetest.Open(t, "sqlite", store.Options{})
	b := &store.Batch{}
	i := 0
	for _, d := range devs {
		for range d.n {
			i++
			h := sha256.Sum256(fmt.Appendf(nil, "device %d", i))
			b.Enrollments = append(b.Enrollments, store.Enrollment{ID: fmt.Sprintf("%x", h[:16]), Member: d.member, CredentialHash: h[:],
				At: time.Now(), Facts: desired.Facts{Hostname: fmt.Sprintf("pc-%d", i), Vendor: d.vendor, Model: d.model, OSFamily: "windows",
					OSBuild: "26100", Labels: d.labels}})
		}
	}
	if err := st.Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	f, err := fleet.New(ctx, st, fleet.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Publish(ctx, "0123abcd", cat); err != nil {
		t.Fatal(err)
	}
	return f
}

type devs struct {
	member        string
	labels        map[string]string
	vendor, model string
	n             int
}

// referenceFleet: region-norr's ward PCs and administration, kommun-vasterby's schools and
// management, and a region-norr device no group selects.
var referenceFleet = []devs{
	{member: "region-norr", labels: map[string]string{"department": "vard"}, vendor: "Dell Inc.", model: "Latitude 5450", n: 5},
	{member: "region-norr", labels: map[string]string{"department": "administration"}, vendor: "Dell Inc.", model: "Latitude 5450", n: 3},
	{member: "region-norr", labels: map[string]string{"department": "none"}, vendor: "Acme", model: "Unknown", n: 1},
	{member: "kommun-vasterby", labels: map[string]string{"department": "kommunledning"}, vendor: "HP", model: "HP EliteBook 840 G10 Notebook PC", n: 2},
	{member: "kommun-vasterby", labels: map[string]string{"department": "skola"}, vendor: "HP", model: "HP EliteBook 840 G10 Notebook PC", n: 4},
}

// TestGolden renders the impact of outages of services of the reference catalog, counted over
// a real fleet, in every format, against testdata/*.golden (SAMVERK_UPDATE=1 rewrites them).
func TestGolden(t *testing.T) {
	cat := referenceCatalog(t)
	f := fleetOf(t, cat, referenceFleet)
	counts := f.GroupCounts()
	for _, service := range []string{"inloggningstjanst", "mfa-token", "kontorspaket-libreoffice"} {
		for _, format := range impact.Formats {
			t.Run(service+"/"+format, func(t *testing.T) {
				r, err := impact.Analyze(cat, service, counts, nil)
				if err != nil {
					t.Fatal(err)
				}
				r.Revision = "0123abcd"
				var buf bytes.Buffer
				if err := impact.Write(&buf, r, format); err != nil {
					t.Fatal(err)
				}
				ext := map[string]string{"text": "txt", "json": "json", "markdown": "md"}[format]
				golden(t, filepath.Join("testdata", service+"."+ext+".golden"), buf.Bytes())
			})
		}
	}
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if os.Getenv("SAMVERK_UPDATE") == "1" {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (SAMVERK_UPDATE=1 writes it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (SAMVERK_UPDATE=1 rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// TestAnalyze checks the properties the golden files show, so that a careless update of them
// cannot hide a regression.
func TestAnalyze(t *testing.T) {
	cat := referenceCatalog(t)
	f := fleetOf(t, cat, referenceFleet)
	r, err := impact.Analyze(cat, "inloggningstjanst", f.GroupCounts(), nil)
	if err != nil {
		t.Fatal(err)
	}
	paths := map[string][]string{}
	for _, d := range r.Dependents {
		paths[d.Service] = d.Path
	}
	// e-post depends on inloggningstjanst directly: the shortest path wins over the one
	// through microsoft-365.
	if p := paths["e-post"]; !slices.Equal(p, []string{"e-post", "inloggningstjanst"}) {
		t.Errorf("path of e-post = %v", p)
	}
	if _, ok := paths["standardprogram"]; ok {
		t.Error("standardprogram depends on nothing, yet is a dependent")
	}
	if _, ok := paths["kontorspaket-libreoffice"]; ok {
		t.Error("kontorspaket-libreoffice depends on nothing, yet is a dependent")
	}
	// Every member with a group that receives microsoft-365 is hit; the devices counted are
	// those in groups (the unselected one is not).
	if r.Devices != 5+3+2+4 {
		t.Errorf("devices = %d, want 14", r.Devices)
	}
	var members []string
	for _, m := range r.Members {
		members = append(members, m.Member)
	}
	if want := []string{"kommun-vasterby", "mittlands-universitet", "myndigheten-for-samhallsdata", "region-norr"}; !slices.Equal(members, want) {
		t.Errorf("members = %v, want %v", members, want)
	}

	// A member-scoped reader keeps the graph and loses the other members.
	r.Restrict(func(m string) bool { return m == "region-norr" })
	if len(r.Members) != 1 || r.Members[0].Member != "region-norr" || r.Devices != 8 || !r.Restricted || len(r.Dependents) == 0 {
		t.Errorf("restricted to region-norr: %d members, %d devices, restricted %v, %d dependents", len(r.Members), r.Devices, r.Restricted, len(r.Dependents))
	}

	// A leaf service: no dependents, only the groups that receive it (every device of the
	// fleet in a group: the wards, the administration and both of kommun-vasterby's groups).
	r, err = impact.Analyze(cat, "utskrift", f.GroupCounts(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Dependents) != 0 || r.Devices != 5+3+2+4 {
		t.Errorf("utskrift: %+v", r)
	}
	// A service that needs approval is in no group: devices get it by a grant, which the
	// group counts do not hold.
	r, err = impact.Analyze(cat, "journalatkomst", f.GroupCounts(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Dependents) != 0 || len(r.Members) != 0 || r.Devices != 0 {
		t.Errorf("journalatkomst: %+v", r)
	}
	// With grants, the devices that hold one are a row of their own, each device once.
	held := []grants.Held{
		{Member: "region-norr", Service: "fjarratkomst", Device: "rn-1"},
		{Member: "region-norr", Service: "journalatkomst", Device: "rn-1"},
		{Member: "region-norr", Service: "journalatkomst", Device: "rn-2"},
		{Member: "kommun-vasterby", Service: "utskrift", Device: "vb-1"},
	}
	r, err = impact.Analyze(cat, "journalatkomst", f.GroupCounts(), held)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Members) != 1 || r.Devices != 2 || r.Members[0].Member != "region-norr" ||
		fmt.Sprint(r.Members[0].Groups) != fmt.Sprint([]impact.Group{{Via: impact.ViaGrant, Services: []string{"journalatkomst"}, Devices: 2}}) {
		t.Errorf("journalatkomst with grants: %+v", r)
	}
	if len(r.Groups()) != 0 {
		t.Errorf("the grants' row is taken for a device group: %v", r.Groups())
	}
	// An outage of what remote access and journal access depend on reaches the devices
	// granted either: rn-1, granted both, once.
	r, err = impact.Analyze(cat, "mfa-token", nil, held)
	if err != nil {
		t.Fatal(err)
	}
	var rn *impact.Member
	for i := range r.Members {
		if r.Members[i].Member == "region-norr" {
			rn = &r.Members[i]
		}
	}
	if rn == nil || len(rn.Groups) != 1 || rn.Groups[0].Via != impact.ViaGrant || !slices.Equal(rn.Groups[0].Services, []string{"fjarratkomst", "journalatkomst"}) || rn.Devices != 2 {
		t.Errorf("mfa-token with grants: region-norr %+v", rn)
	}

	if _, err := impact.Analyze(cat, "no-such-service", nil, nil); !errors.Is(err, impact.ErrUnknownService) {
		t.Errorf("unknown service: %v, want ErrUnknownService", err)
	}
}
