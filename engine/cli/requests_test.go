package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"samverk.io/samverk/engine/auth"
	"samverk.io/samverk/engine/auth/apitoken"
	"samverk.io/samverk/engine/desired"
	"samverk.io/samverk/engine/grants"
	"samverk.io/samverk/engine/store"
)

// requestCandidates makes what the request and grant routes act on, all memberA's: a request
// that waits for approvals, a grant (of a service that needs none), and the work item of its
// entitlement. It returns their ids by path wildcard.
func (d *routeDaemon) requestCandidates(t *testing.T) map[string][]string {
	t.Helper()
	ctx := context.Background()
	asker := &auth.Principal{Subject: "test:asker", Method: "token", Grants: []auth.Grant{{Role: auth.Viewer, Member: memberA}}}
	pending, err := d.grants.Create(ctx, asker, grants.Order{Service: "fjarratkomst", Member: memberA, Devices: []string{d.devices[memberA][0]},
		Justification: "route test", Days: 30, CostCentre: "RN-1100"})
	if err != nil {
		t.Fatal(err)
	}
	granted, err := d.grants.Create(ctx, asker, grants.Order{Service: "utskrift", Member: memberA, Person: "anna@region-norr.example",
		Justification: "route test", CostCentre: "RN-1100"})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", d.url+"/api/v1/grants/work-items?member="+memberA, nil)
	req.Header.Set("Authorization", "Bearer "+d.admin)
	resp, b := send(t, req)
	var l struct {
		WorkItems []store.WorkItem `json:"workItems"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &l) != nil || len(l.WorkItems) == 0 {
		t.Fatalf("work items: %s %s", resp.Status, b)
	}
	id := func(n int64) []string { return []string{strconv.FormatInt(n, 10)} }
	return map[string][]string{"request": id(pending.ID), "grant": id(granted.Grant), "item": id(l.WorkItems[0].ID)}
}

// TestGrantDelivered runs a request through a real daemon serving the bundled catalog: a ward
// PC of region-norr is granted remote access (approval both: two different approvers; the
// first cannot approve twice), its next poll has the VPN client present on top of its group's
// state, the grant expires a day later (the daemon's clock is the test's), and the next poll
// has it absent; `samverk access` and `samverk costs` show the grant.
func TestGrantDelivered(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the daemon on the reference catalog")
	}
	var mu sync.Mutex
	now := time.Date(2026, 11, 10, 8, 0, 0, 0, time.UTC)
	d := startRouteDaemon(t, func(o *serveOptions, _ string) {
		o.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	})
	ctx := context.Background()
	token := func(role auth.Role, name string) string {
		c, err := d.people.tokens.Create(ctx, apitoken.CreateRequest{Member: memberA, Role: string(role), Expires: "1h", Name: name}, "test")
		if err != nil {
			t.Fatal(err)
		}
		return c.Token
	}
	asker, manager, owner := token(auth.Viewer, "asker"), token(auth.Approver, "manager"), token(auth.Approver, "owner")
	call := func(method, path, bearer string, body any) (int, []byte) {
		t.Helper()
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest(method, d.url+path, bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+bearer)
		req.Header.Set("Content-Type", "application/json")
		resp, out := send(t, req)
		return resp.StatusCode, out
	}

	body, _ := json.Marshal(desired.EnrollRequest{Facts: desired.Facts{Hostname: "vard-pc-9", Vendor: "Dell Inc.",
		Model: "Latitude 5450", OSFamily: "windows", OSBuild: "26100", Labels: map[string]string{"department": "vard"}}})
	req, _ := http.NewRequest("POST", d.url+"/api/v1/enroll", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+routeEnrollA)
	req.Header.Set("Content-Type", "application/json")
	resp, b := send(t, req)
	var er desired.EnrollResponse
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(b, &er) != nil {
		t.Fatalf("enroll: %s %s", resp.Status, b)
	}
	vpn := func() (string, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", d.url+"/api/v1/devices/"+er.DeviceID+"/desired", nil)
		req.Header.Set("Authorization", "Bearer "+er.Credential)
		resp, b := send(t, req)
		var st desired.State
		if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &st) != nil {
			t.Fatalf("desired: %s %s", resp.Status, b)
		}
		for _, r := range st.Resources {
			// A removal names the version it removes: package/<product>@<version>.
			if r.ID == "package/cisco-secure-client" || strings.HasPrefix(r.ID, "package/cisco-secure-client@") {
				return r.Ensure, resp.Header.Get("ETag")
			}
		}
		return "", resp.Header.Get("ETag")
	}
	if e, _ := vpn(); e != "" {
		t.Fatalf("before any grant the VPN client is %s", e)
	}

	code, b := call("POST", "/api/v1/requests", asker, grants.Order{Service: "fjarratkomst", Member: memberA, Devices: []string{er.DeviceID},
		Justification: "on call", Days: 1, CostCentre: "RN-1100"})
	var r store.ServiceRequest
	if code != http.StatusCreated || json.Unmarshal(b, &r) != nil {
		t.Fatalf("request: %d %s", code, b)
	}
	path := "/api/v1/requests/" + strconv.FormatInt(r.ID, 10)
	if code, b := call("POST", path+"/approve", manager, map[string]string{"reason": "as manager"}); code != http.StatusOK || !bytes.Contains(b, []byte(`"state":"pending"`)) {
		t.Fatalf("first approval: %d %s", code, b)
	}
	if code, b := call("POST", path+"/approve", manager, nil); code != http.StatusForbidden || !bytes.Contains(b, []byte(`"rule":"approved-twice"`)) {
		t.Fatalf("the same approver again: %d %s", code, b)
	}
	if code, b := call("POST", path+"/approve", owner, map[string]string{"reason": "as owner"}); code != http.StatusOK || !bytes.Contains(b, []byte(`"state":"approved"`)) {
		t.Fatalf("second approval: %d %s", code, b)
	}
	if err := d.grants.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if e, _ := vpn(); e != "present" {
		t.Fatalf("after the grant started the VPN client is %q, want present", e)
	}

	mu.Lock()
	now = now.Add(25 * time.Hour)
	mu.Unlock()
	if err := d.grants.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if e, _ := vpn(); e != "absent" {
		t.Fatalf("after the grant expired the VPN client is %q, want absent", e)
	}

	dir := t.TempDir()
	adminFile := filepath.Join(dir, "admin")
	os.WriteFile(adminFile, []byte(d.admin), 0o600)
	samverk := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if code := run(ctx, append(args, "--server", d.url, "--admin-token-file", adminFile), nil, &out, &errOut); code != ExitOK {
			t.Fatalf("samverk %v: exit %d: %s", args, code, errOut.String())
		}
		return out.String()
	}
	out := samverk("access", "--service", "fjarratkomst", "--at", "2026-11-10T12:00:00Z")
	for _, want := range []string{"devices " + er.DeviceID, "requested by token:", "on call", "as manager", "as owner", "ended 2026-11-11 08:00:00: expired"} {
		if !strings.Contains(out, want) {
			t.Errorf("samverk access lacks %q:\n%s", want, out)
		}
	}
	if out := samverk("access", "--service", "fjarratkomst", "--at", "2026-11-12"); !strings.Contains(out, "nobody had fjarratkomst") {
		t.Errorf("samverk access after the end:\n%s", out)
	}
	out = samverk("costs", "--month", "2026-11", "--member", memberA, "-o", "csv")
	// One day of November's thirty, at 45 SEK a month.
	if want := "region-norr,RN-1100,fjarratkomst," + er.DeviceID + ",,"; !strings.Contains(out, want) || !strings.Contains(out, ",monthly,1,0.0333,1.50\n") {
		t.Errorf("samverk costs:\n%s", out)
	}
}
