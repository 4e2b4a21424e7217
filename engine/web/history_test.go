package web_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"samverk.io/samverk/engine/auth"
	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/desired"
	"samverk.io/samverk/engine/fleet"
	"samverk.io/samverk/engine/history"
	"samverk.io/samverk/engine/source"
	"samverk.io/samverk/engine/source/gittest"
	"samverk.io/samverk/engine/store"
	"samverk.io/samverk/engine/store/storetest"
	"samverk.io/samverk/engine/web"
)

// TestDeviceHistory: the device page's time slider, and the page of a device at a past
// instant, over a real store, a real repository of the bundled catalog and the fleet service
// that served the device.
func TestDeviceHistory(t *testing.T) {
	ctx := context.Background()
	repo := gittest.New(t)
	repo.CopyDir(filepath.Join("..", "..", "catalog"), ".")
	rev := repo.Commit("bundled catalog", nil).String()
	src, err := source.Open(source.Options{URL: repo.Dir, Dir: filepath.Join(t.TempDir(), "clone")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.Fetch(ctx); err != nil {
		t.Fatal(err)
	}
	lr, err := catalog.LoadDir(repo.Dir, catalog.Options{})
	if err != nil {
		t.Fatal(err)
	}

	st := storetest.Open(t, "sqlite", store.Options{})
	id := devID(9)
	// Enrolled within a second, as a fast test or a fast agent does: the slider's start
	// must still find the device.
	enrolled := now.Add(-48*time.Hour + 400*time.Millisecond)
	h := sha256.Sum256([]byte(id))
	facts := desired.Facts{Hostname: "vard-pc-9", Vendor: "Dell Inc.", Model: "Latitude 5450", OSFamily: "windows", OSBuild: "26100",
		Labels: map[string]string{"department": "vard"}}
	if err := st.Write(ctx, &store.Batch{Enrollments: []store.Enrollment{{ID: id, Member: "region-norr", CredentialHash: h[:], At: enrolled, Facts: facts}}}); err != nil {
		t.Fatal(err)
	}
	fl, err := fleet.New(ctx, st, fleet.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if err := fl.Publish(ctx, rev, lr.Catalog); err != nil {
		t.Fatal(err)
	}
	ds := fl.DesiredOf(id)
	servedAt := enrolled.Add(time.Minute)
	if err := st.Write(ctx, &store.Batch{Served: []store.Served{{DeviceID: id, At: servedAt, Hash: ds.Hash, Revision: rev,
		Group: ds.Group, Ring: ds.Ring, Profile: "p"}}}); err != nil {
		t.Fatal(err)
	}
	past, err := history.New(history.Options{Timelines: st, Devices: st, Revisions: src, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	c, err := web.New(web.Options{Daemon: &daemon{}, Devices: st, Counts: st, States: fl, History: past, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{c: c}

	code, body := get(t, f.handler(norr), "/devices/"+id)
	for _, want := range []string{`type="range"`, `name="t"`, fmt.Sprintf(`min="%d"`, enrolled.Unix()+1), fmt.Sprintf(`max="%d"`, now.Unix()),
		`type="date"`, `action="/devices/` + id + `/history"`, `src="/static/history.js"`} {
		if code != http.StatusOK || !strings.Contains(body, want) {
			t.Fatalf("device page: %d, lacks %s", code, want)
		}
	}

	for _, tc := range []struct {
		name  string
		who   *auth.Principal
		query string
		code  int
		want  []string
	}{
		{"served", norr, "?at=" + now.Add(-time.Hour).Format(time.RFC3339), 200,
			[]string{`id="verified"`, "Verified", ds.Hash, rev, "firefox-esr", "Waiver/region-norr-secpol-commands",
				"this device's state uses Baseline/region-norr/windows-11-vard", `<option value="` + fmt.Sprint(servedAt.Unix())}},
		{"from the slider", norr, "?t=" + fmt.Sprint(servedAt.Add(time.Hour).Unix()), 200, []string{"Verified", ds.Hash}},
		{"before it was served", norr, "?t=" + fmt.Sprint(enrolled.Unix()+1), 200, []string{"vard-pc-9", "Nothing had been served to the device yet."}},
		{"before it enrolled", norr, "?t=" + fmt.Sprint(enrolled.Unix()), 200, []string{"the device had not enrolled yet"}},
		{"later than now", norr, "?t=" + fmt.Sprint(now.Unix()+3600), 200, []string{"Verified", ds.Hash}},
		{"a date", consortium, "?at=" + now.Format(time.DateOnly), 200, []string{"Verified"}},
		{"bad at", norr, "?at=yesterday", 400, []string{"at: want RFC 3339"}},
		{"bad t", norr, "?t=soon", 400, []string{"t: want seconds"}},
		{"another member", vasterby, "", 404, []string{"no such device"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := get(t, f.handler(tc.who), "/devices/"+id+"/history"+tc.query)
			if code != tc.code {
				t.Fatalf("%d, want %d:\n%s", code, tc.code, body)
			}
			for _, w := range tc.want {
				if !strings.Contains(body, w) {
					t.Errorf("page lacks %q:\n%s", w, body)
				}
			}
		})
	}
}
