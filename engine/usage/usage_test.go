package usage_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	bundled "samverk.io/samverk/catalog"
	"samverk.io/samverk/engine/auth"
	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/desired"
	"samverk.io/samverk/engine/fleet"
	"samverk.io/samverk/engine/grants"
	"samverk.io/samverk/engine/store"
	"samverk.io/samverk/engine/store/storetest"
	"samverk.io/samverk/engine/usage"
)

// TestUsage counts the reference catalog's services over a real fleet and store: through
// groups from the fleet's memory, by reported products from the store; a member's reader
// gets its own rows, as JSON and CSV.
func TestUsage(t *testing.T) {
	for _, kind := range storetest.Kinds {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			res, err := catalog.Load(bundled.FS, catalog.Options{})
			if err != nil {
				t.Fatal(err)
			}
			cat := res.Catalog
			st := storetest.Open(t, kind, store.Options{})
			b := &store.Batch{}
			for i, d := range []struct {
				member, dept, vendor, model string
				products                    map[string]string
			}{
				// Two ward PCs of region-norr (broad-vard: standardprogram, microsoft-365, …),
				// one reporting Teams installed, one LibreOffice (which its group does not name).
				{"region-norr", "vard", "Dell Inc.", "Latitude 5450", map[string]string{"microsoft-teams": "24"}},
				{"region-norr", "vard", "Dell Inc.", "Latitude 5450", map[string]string{"libreoffice": "24.2", "7zip": "24"}},
				// A kommun-vasterby PC in early-forvaltning, reporting nothing.
				{"kommun-vasterby", "kommunledning", "HP", "HP EliteBook 840 G10 Notebook PC", nil},
			} {
				h := sha256.Sum256(fmt.Appendf(nil, "%d", i))
				b.Enrollments = append(b.Enrollments, store.Enrollment{ID: fmt.Sprintf("%x", h[:16]), Member: d.member, CredentialHash: h[:], At: time.Now(),
					Facts: desired.Facts{Hostname: fmt.Sprint("pc", i), Vendor: d.vendor, Model: d.model, OSFamily: "windows", OSBuild: "26100",
						Labels: map[string]string{"department": d.dept}, Products: d.products}})
			}
			if err := st.Write(ctx, b); err != nil {
				t.Fatal(err)
			}
			f, err := fleet.New(ctx, st, fleet.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if err := f.Publish(ctx, "rev", cat); err != nil {
				t.Fatal(err)
			}
			// The kommun-vasterby PC and region-norr's first PC are granted printing (no
			// approval needed), though their groups have it: counted both ways.
			current := func() (string, *catalog.Catalog) { return "rev", cat }
			ledger, err := grants.New(grants.Options{Store: st, Devices: st, Deliverer: f, Catalog: current})
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range []store.Enrollment{b.Enrollments[2], b.Enrollments[0]} {
				asker := &auth.Principal{Subject: "a", Grants: []auth.Grant{{Role: auth.Viewer, Member: e.Member}}}
				centre := map[string]string{"region-norr": "RN-1100", "kommun-vasterby": "VK-100"}[e.Member]
				if _, err := ledger.Create(ctx, asker, grants.Order{Service: "utskrift", Member: e.Member, Devices: []string{e.ID},
					Justification: "a printer nearby", CostCentre: centre}); err != nil {
					t.Fatal(err)
				}
			}
			if err := ledger.Tick(ctx); err != nil {
				t.Fatal(err)
			}
			c, err := usage.New(usage.Options{Catalog: current, Counts: f.GroupCounts, Installed: st, Held: ledger.Held})
			if err != nil {
				t.Fatal(err)
			}
			r, err := c.Report(ctx)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]usage.Row{}
			for _, x := range r.Rows {
				got[x.Member+"/"+x.Service] = x
			}
			for k, want := range map[string]usage.Row{
				"region-norr/microsoft-365":            {Member: "region-norr", Service: "microsoft-365", Groups: 2, Reported: 1},
				"region-norr/standardprogram":          {Member: "region-norr", Service: "standardprogram", Groups: 2, Reported: 1},
				"region-norr/utskrift":                 {Member: "region-norr", Service: "utskrift", Groups: 2, Grants: 1},
				"kommun-vasterby/utskrift":             {Member: "kommun-vasterby", Service: "utskrift", Groups: 1, Grants: 1},
				"region-norr/kontorspaket-libreoffice": {Member: "region-norr", Service: "kontorspaket-libreoffice", Reported: 1},
				"kommun-vasterby/e-post":               {Member: "kommun-vasterby", Service: "e-post", Groups: 1},
				"kommun-vasterby/microsoft-365":        {Member: "kommun-vasterby", Service: "microsoft-365", Groups: 1},
			} {
				if got[k] != want {
					t.Errorf("%s = %+v, want %+v", k, got[k], want)
				}
			}
			// Services that need approval are in no group: their devices come by grants.
			if x := got["region-norr/journalatkomst"]; x.Groups != 0 {
				t.Errorf("journalatkomst is in %d groups, want none", x.Groups)
			}
			if _, ok := got["mittlands-universitet/microsoft-365"]; ok {
				t.Error("a member without devices has a row")
			}

			// Over HTTP, as region-norr's viewer: its rows only, as CSV.
			who := &auth.Principal{Subject: "v", Grants: []auth.Grant{{Role: auth.Viewer, Member: "region-norr"}}}
			mux := http.NewServeMux()
			for _, rt := range c.Routes() {
				h := rt.Handler
				mux.Handle(rt.Method+" "+rt.Pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					h.ServeHTTP(w, r.WithContext(auth.WithPrincipal(r.Context(), who)))
				}))
			}
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/usage?format=csv", nil))
			rows, err := csv.NewReader(rec.Body).ReadAll()
			if err != nil || rec.Code != http.StatusOK {
				t.Fatalf("csv: %d %v", rec.Code, err)
			}
			if rows[0][0] != "member" || len(rows) < 2 {
				t.Fatalf("csv: %v", rows)
			}
			for _, row := range rows[1:] {
				if row[0] != "region-norr" {
					t.Errorf("region-norr's viewer reads the row %v", row)
				}
			}
			rec = httptest.NewRecorder()
			mux.ServeHTTP(rec, httptest.NewRequest("GET", "/usage", nil))
			if rec.Code != http.StatusOK || !bytes.Contains(rec.Body.Bytes(), []byte(`data-member="region-norr" data-service="microsoft-365"`)) ||
				bytes.Contains(rec.Body.Bytes(), []byte("kommun-vasterby")) {
				t.Errorf("console page: %d\n%s", rec.Code, rec.Body)
			}
		})
	}
}
