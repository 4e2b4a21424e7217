package e2e

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite" // the daemon's store, read and moved in time while it is stopped

	"samverk.io/samverk/engine/desired"
)

// The service the grant test orders, and the product it delivers.
const (
	vpnService  = "fjarratkomst"
	vpnProduct  = "e2e-vpn"
	vpnMarker   = "opt/e2e-vpn/1.0/VERSION"
	vpnCentre   = "EK-300"
	vpnServiceY = `apiVersion: samverk.io/v1
kind: Service
metadata:
  name: fjarratkomst
  owner: e2e-kommun
spec:
  displayName: Fjärråtkomst
  description: The VPN client, for a time, approved by a manager and the service owner.
  delivers:
    products: [e2e-vpn]
  requestableBy:
    memberTypes: [municipality]
  approval: both
  duration:
    type: time-limited
    maxDays: 180
  provisioning: automated
  cost:
    model: monthly
    amountSEK: 45
`
	vpnPackageY = `apiVersion: samverk.io/v1
kind: Package
metadata:
  name: e2e-vpn-1-0
  owner: e2e-kommun
spec:
  product: e2e-vpn
  displayName: samverk e2e VPN client
  vendor: samverk
  version: "1.0"
  installer:
    type: script
    install: |
      set -eu
      dir="${SAMVERK_ROOT:?}/opt/e2e-vpn/1.0"
      mkdir -p "$dir"
      printf '%s\n' '1.0' > "$dir/VERSION"
    uninstall: |
      set -eu
      rm -rf "${SAMVERK_ROOT:?}/opt/e2e-vpn/1.0"
    detect:
      command: |
        [ "$(cat "${SAMVERK_ROOT:?}/opt/e2e-vpn/1.0/VERSION" 2>/dev/null)" = '1.0' ]
    timeoutSeconds: 30
  osReleases: [e2e-linux-24-04]
  lifecycle:
    stage: approved
    records:
      - {stage: infra-test, date: 2026-01-05, member: e2e-kommun, result: pass, evidence: "https://example.org/paket/e2e-vpn-1-0/infratest"}
      - {stage: user-test, date: 2026-01-12, member: e2e-kommun, result: pass, evidence: "https://example.org/paket/e2e-vpn-1-0/anvandartest"}
      - {stage: approved, date: 2026-01-19, member: e2e-kommun, result: pass}
  licence: {type: open-source, spdx: Apache-2.0}
  classification: public
`
)

// TestGrantAgainstDaemon follows a request for remote access through real processes: it is
// ordered for an enrolled device, approved by two different approvers of the member (the
// service wants a manager and its owner, and the first approver cannot be both), the agent's
// next run installs the VPN client, the grant expires, and the agent's next run removes it;
// `samverk access` and `samverk costs` tell the story.
//
// The daemon takes no clock from outside, and a grant lasts at least a day. So the test
// stops the daemon, moves the grant's times two days back in its SQLite store (as if two
// days had passed while it was down), and starts it again: its first look at the grants
// expires the grant at its time, as it must after any restart.
func TestGrantAgainstDaemon(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon and the agent; skipped with -short")
	}
	h := newHarness(t)
	writeFile(t, h.inRepo("services/fjarratkomst.yaml"), vpnServiceY, 0o644)
	writeFile(t, h.inRepo("packages/e2e-vpn-1-0.yaml"), vpnPackageY, 0o644)
	c1 := h.commit(t, "Catalog with remote access as a service")
	h.startDaemon(t)
	h.waitApplied(t, c1)

	h.runAgent(t).wantExit(t, 0)
	wantAbsent(t, h.rooted(vpnMarker))
	deviceID := h.deviceID(t)
	h.waitReported(t, deviceID, h.lastReport(t))
	before := h.device(t, deviceID).DesiredHash

	requester := h.token(t, "viewer", "asker")
	manager := h.token(t, "approver", "manager")
	owner := h.token(t, "approver", "owner")

	code, b := h.call(t, "POST", "/api/v1/requests", requester, map[string]any{
		"service": vpnService, "member": member, "devices": []string{deviceID},
		"justification": "on call over the winter", "days": 1, "costCentre": vpnCentre})
	var req struct {
		ID    int64  `json:"id"`
		State string `json:"state"`
	}
	if code != http.StatusCreated || json.Unmarshal(b, &req) != nil || req.State != "pending" {
		t.Fatalf("POST /api/v1/requests: %d %s", code, b)
	}
	path := fmt.Sprintf("/api/v1/requests/%d", req.ID)
	if code, b := h.call(t, "POST", path+"/approve", manager, map[string]string{"reason": "as manager"}); code != http.StatusOK || !bytes.Contains(b, []byte(`"state":"pending"`)) {
		t.Fatalf("the first approval: %d %s", code, b)
	}
	if code, b := h.call(t, "POST", path+"/approve", manager, map[string]string{"reason": "as owner too"}); code != http.StatusForbidden || !bytes.Contains(b, []byte(`"rule":"approved-twice"`)) {
		t.Fatalf("the first approver approving again: %d %s, want 403 approved-twice", code, b)
	}
	if code, b := h.call(t, "POST", path+"/approve", owner, map[string]string{"reason": "as owner"}); code != http.StatusOK || !bytes.Contains(b, []byte(`"state":"approved"`)) {
		t.Fatalf("the second approval: %d %s", code, b)
	}

	// The decision asks the scheduler to look: the grant starts and the device is served a
	// state of its own.
	g := h.waitGrant(t, "active")
	granted := h.waitDesiredChange(t, deviceID, before, "the device is served the grant's product")

	h.runAgent(t).wantExit(t, 0)
	wantFile(t, h.rooted(vpnMarker), "1.0\n", 0)
	rep := h.lastReport(t)
	if rep.Hash != granted {
		t.Errorf("the agent applied %s, the device is served %s", rep.Hash, granted)
	}
	if got := outcomeOf(rep, "package/"+vpnProduct); got != desired.Corrected {
		t.Errorf("package/%s: outcome %q, want corrected (%s)", vpnProduct, got, reasonOf(rep, "package/"+vpnProduct))
	}
	if got := rep.Facts.Products[vpnProduct]; got != "1.0" {
		t.Errorf("reported products %v, want %s 1.0", rep.Facts.Products, vpnProduct)
	}
	wantSameOutcomes(t, h.waitReported(t, deviceID, rep), rep)

	// Impact and usage count the device through its grant.
	var imp struct {
		Members []struct {
			Member string `json:"member"`
			Groups []struct {
				Via      string   `json:"via"`
				Services []string `json:"services"`
				Devices  int      `json:"devices"`
			} `json:"groups"`
		} `json:"members"`
	}
	h.getJSON(t, "/api/v1/impact?service="+vpnService, &imp)
	if len(imp.Members) != 1 || len(imp.Members[0].Groups) != 1 || imp.Members[0].Member != member ||
		imp.Members[0].Groups[0].Via != "grant" || imp.Members[0].Groups[0].Devices != 1 {
		t.Errorf("impact of %s: %+v, want one device of %s via grant", vpnService, imp, member)
	}
	var use struct {
		Rows []struct {
			Member  string `json:"member"`
			Service string `json:"service"`
			Grants  int    `json:"grants"`
		} `json:"rows"`
	}
	h.getJSON(t, "/api/v1/usage", &use)
	usedVia := -1
	for _, r := range use.Rows {
		if r.Member == member && r.Service == vpnService {
			usedVia = r.Grants
		}
	}
	if usedVia != 1 {
		t.Errorf("usage of %s by %s: %d devices via grants, want 1 (%+v)", vpnService, member, usedVia, use.Rows)
	}

	// Two days pass while the daemon is down.
	h.stopDaemon(t)
	h.shiftGrant(t, g.ID, req.ID, -48*time.Hour)
	h.startDaemon(t)

	g = h.waitGrant(t, "expired")
	if g.EndReason != "expired" || !g.EndedAt.Equal(g.Until) {
		t.Errorf("the grant ended at %s (%q), want at its end %s, expired", g.EndedAt, g.EndReason, g.Until)
	}
	h.waitDesiredChange(t, deviceID, granted, "the device is served the product's removal")

	h.runAgent(t).wantExit(t, 0)
	wantAbsent(t, h.rooted(vpnMarker))
	rep = h.lastReport(t)
	removal := ""
	for _, r := range rep.Resources {
		if strings.HasPrefix(r.ID, "package/"+vpnProduct+"@") {
			removal = r.ID
		}
	}
	if removal == "" || outcomeOf(rep, removal) != desired.Corrected {
		t.Errorf("the run after the end removed no %s: %v", vpnProduct, rep.Resources)
	}
	if _, ok := rep.Facts.Products[vpnProduct]; ok {
		t.Errorf("reported products %v still list %s", rep.Facts.Products, vpnProduct)
	}
	// The daemon has the removal in the device's history.
	stored := h.waitReported(t, deviceID, rep)
	wantSameOutcomes(t, stored, rep)
	found := false
	for _, r := range stored.Resources {
		found = found || (r.ID == removal && r.Outcome == desired.Corrected)
	}
	if !found {
		t.Errorf("the daemon's report has no corrected %s: %v", removal, stored.Resources)
	}

	// Who had it, and what it cost.
	during := g.From.Add(time.Hour).UTC().Format(time.RFC3339)
	out := h.samverk(t, "access", "--service", vpnService, "--at", during)
	for _, want := range []string{"devices " + deviceID, "requested by token:", "on call over the winter", "as manager", "as owner",
		"ended " + g.Until.UTC().Format(time.DateTime) + ": expired"} {
		if !strings.Contains(out, want) {
			t.Errorf("samverk access --at %s lacks %q:\n%s", during, want, out)
		}
	}
	after := g.Until.Add(time.Hour).UTC().Format(time.RFC3339)
	if out := h.samverk(t, "access", "--service", vpnService, "--at", after); !strings.Contains(out, "nobody had "+vpnService) {
		t.Errorf("samverk access --at %s, after the end:\n%s", after, out)
	}
	month := g.From.UTC().Format("2006-01")
	out = h.samverk(t, "costs", "--month", month, "--member", member, "-o", "csv")
	row := ""
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, member+","+vpnCentre+","+vpnService+","+deviceID+",") {
			row = l
		}
	}
	// One day at 45 SEK a month, pro rata; a grant that straddles two months has less of
	// its day in the first.
	want := fmt.Sprintf(",%d,monthly,", g.ID)
	if g.Until.UTC().Format("2006-01") == month {
		daysIn := float64(time.Date(g.From.Year(), g.From.Month()+1, 0, 0, 0, 0, 0, time.UTC).Day())
		units := math.Round(1/daysIn*1e4) / 1e4
		want += "1," + strconv.FormatFloat(units, 'f', -1, 64) + "," + strconv.FormatFloat(math.Round(units*45*100)/100, 'f', 2, 64) + "\n"
	}
	if !strings.Contains(row+"\n", want) {
		t.Errorf("samverk costs --month %s: device row %q, want it to hold %q:\n%s", month, row, want, out)
	}
}

// token creates an API token of member with role, as the consortium's admin.
func (h *harness) token(t *testing.T, role, name string) string {
	t.Helper()
	code, b := h.call(t, "POST", "/api/v1/tokens", adminToken, map[string]string{"member": member, "role": role, "expires": "1h", "name": name})
	var c struct {
		Token string `json:"token"`
	}
	if code != http.StatusCreated || json.Unmarshal(b, &c) != nil || c.Token == "" {
		t.Fatalf("POST /api/v1/tokens: %d %s", code, b)
	}
	return c.Token
}

// call sends body as JSON with bearer and returns the status and the answer.
func (h *harness) call(t *testing.T, method, path, bearer string, body any) (int, []byte) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(method, h.server+path, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+bearer)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, out
}

// grantView is a grant as GET /api/v1/grants shows it.
type grantView struct {
	ID        int64     `json:"id"`
	State     string    `json:"state"`
	From      time.Time `json:"from"`
	Until     time.Time `json:"until"`
	EndedAt   time.Time `json:"endedAt"`
	EndReason string    `json:"endReason"`
}

// waitGrant waits until the member's one grant of the service is in state, and returns it.
func (h *harness) waitGrant(t *testing.T, state string) grantView {
	t.Helper()
	var g grantView
	eventually(t, 3*time.Minute, "the grant is "+state, func() (bool, string) {
		var list struct {
			Grants []grantView `json:"grants"`
		}
		if err := h.get("/api/v1/grants?member="+member+"&service="+vpnService, &list); err != nil {
			return false, err.Error()
		}
		if len(list.Grants) != 1 {
			return false, fmt.Sprintf("%d grants", len(list.Grants))
		}
		g = list.Grants[0]
		return g.State == state, "state " + g.State
	})
	return g
}

// waitDesiredChange waits until the device is served a state other than old, and returns its
// hash.
func (h *harness) waitDesiredChange(t *testing.T, id, old, what string) string {
	t.Helper()
	var now string
	eventually(t, 60*time.Second, what, func() (bool, string) {
		var d deviceView
		if err := h.get("/api/v1/devices/"+id, &d); err != nil {
			return false, err.Error()
		}
		now = d.DesiredHash
		return now != "" && now != old, "desired hash " + now
	})
	return now
}

// shiftGrant moves every time of request and grant by d in the stopped daemon's store.
func (h *harness) shiftGrant(t *testing.T, grant, request int64, d time.Duration) {
	t.Helper()
	if h.daemon != nil {
		t.Fatal("the daemon must be stopped")
	}
	db, err := sql.Open("sqlite", filepath.Join(h.data, "devices.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ms := d.Milliseconds()
	for _, q := range []struct {
		sql string
		id  int64
	}{
		{`UPDATE grants SET approved_at = approved_at + ?1, from_at = from_at + ?1, until_at = until_at + ?1 WHERE id = ?2 AND state = 'active'`, grant},
		{`UPDATE service_requests SET created_at = created_at + ?1 WHERE id = ?2`, request},
		{`UPDATE request_decisions SET at = at + ?1 WHERE request_id = ?2`, request},
	} {
		res, err := db.Exec(q.sql, ms, q.id)
		if err != nil {
			t.Fatalf("%s: %v", q.sql, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			t.Fatalf("%s: no row for %d", q.sql, q.id)
		}
	}
}

// samverk runs the samverk command against the daemon with the admin token.
func (h *harness) samverk(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(h.bin, "samverk"), append(args, "--server", h.server, "--admin-token-file", h.admin)...)
	cmd.Env = h.env
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("samverk %s: %v\n%s", strings.Join(args, " "), err, errOut.Bytes())
	}
	return out.String()
}
