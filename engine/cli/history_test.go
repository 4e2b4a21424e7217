package cli

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"samverk.io/samverk/engine/desired"
	"samverk.io/samverk/engine/fleet"
	"samverk.io/samverk/engine/history"
)

// TestHistory runs `samverk history` against a real daemon serving the bundled catalog: a
// ward PC enrolls and fetches its state, and its history recompiles that state from the
// revision served and finds the hash the daemon sent it.
func TestHistory(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the daemon on the reference catalog")
	}
	d := startRouteDaemon(t)
	dir := t.TempDir()
	adminFile := filepath.Join(dir, "admin")
	readFile := filepath.Join(dir, "read")
	os.WriteFile(adminFile, []byte(d.admin), 0o600)
	os.WriteFile(readFile, []byte(d.read), 0o600)

	// A ward PC of region-norr: the broad-vard group, whose baseline a shared waiver exempts.
	body, _ := json.Marshal(desired.EnrollRequest{Facts: desired.Facts{Hostname: "vard-pc-1", Vendor: "Dell Inc.",
		Model: "Latitude 5450", OSFamily: "windows", OSBuild: "26100", Labels: map[string]string{"department": "vard"}}})
	req, _ := http.NewRequest("POST", d.url+"/api/v1/enroll", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer enroll-token-of-region-norr-0123456789abcdef")
	req.Header.Set("Content-Type", "application/json")
	resp, b := send(t, req)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("enroll: %s %s", resp.Status, b)
	}
	var er desired.EnrollResponse
	json.Unmarshal(b, &er)
	req, _ = http.NewRequest("GET", d.url+"/api/v1/devices/"+er.DeviceID+"/desired", nil)
	req.Header.Set("Authorization", "Bearer "+er.Credential)
	resp, b = send(t, req)
	var st desired.State
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &st) != nil || st.Group != "broad-vard" {
		t.Fatalf("desired: %s %s", resp.Status, b)
	}
	served, err := strconv.Unquote(resp.Header.Get("ETag"))
	if err != nil || served != st.Hash {
		t.Fatalf("ETag %q, state hash %s", resp.Header.Get("ETag"), st.Hash)
	}
	// The state served is written to the store in the next batch.
	for deadline := time.Now().Add(10 * time.Second); ; {
		req, _ = http.NewRequest("GET", d.url+"/api/v1/devices/"+er.DeviceID, nil)
		req.Header.Set("Authorization", "Bearer "+d.admin)
		_, b = send(t, req)
		var v fleet.DeviceView
		if json.Unmarshal(b, &v) == nil && v.ServedHash == served {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the state served never reached the store: %s", b)
		}
		time.Sleep(20 * time.Millisecond)
	}

	hist := func(t *testing.T, want int, args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		args = append([]string{"history", "--server", d.url}, args...)
		if got := run(context.Background(), args, nil, &out, &errOut); got != want {
			t.Fatalf("%v: exit %d, want %d\nstdout: %s\nstderr: %s", args, got, want, out.String(), errOut.String())
		}
		return out.String() + errOut.String()
	}

	out := hist(t, ExitOK, "--token-file", readFile, "--device", er.DeviceID)
	for _, want := range []string{"Device " + er.DeviceID + " (member region-norr)", "revision  " + st.Revision,
		"hash      " + served, "verified  yes", "group     broad-vard, ring broad", "packages  ",
		"Waiver/region-norr-secpol-commands: SV-BL-005", "this device's state uses Baseline/region-norr/windows-11-vard",
		"Last report\n  none at or before that time", "Grants active\n  none"} {
		if !strings.Contains(out, want) {
			t.Errorf("text lacks %q:\n%s", want, out)
		}
	}

	var snap history.Snapshot
	if err := json.Unmarshal([]byte(hist(t, ExitOK, "--admin-token-file", adminFile, "--device", er.DeviceID, "-o", "json")), &snap); err != nil {
		t.Fatal(err)
	}
	if rc := snap.Recompiled; rc == nil || !rc.Verified || rc.RecompiledHash != served || rc.Revision != st.Revision {
		t.Fatalf("recompiled %+v, want %s verified", snap.Recompiled, served)
	}

	rows, err := csv.NewReader(strings.NewReader(hist(t, ExitOK, "--admin-token-file", adminFile, "--device", er.DeviceID, "-o", "csv"))).ReadAll()
	if err != nil || len(rows) != 2 || rows[0][0] != "device" || rows[1][0] != er.DeviceID {
		t.Fatalf("csv: %v %v", err, rows)
	}
	out = hist(t, ExitOK, "--admin-token-file", adminFile, "--device", er.DeviceID, "--timeline", "--from", "2020-01-01")
	if !strings.Contains(out, "served") || !strings.Contains(out, served[:12]) {
		t.Errorf("timeline:\n%s", out)
	}

	// Before the device enrolled, it had no past.
	out = hist(t, ExitOK, "--admin-token-file", adminFile, "--device", er.DeviceID, "--at", "2020-01-01")
	if !strings.Contains(out, "Served: nothing yet") {
		t.Errorf("before enrollment:\n%s", out)
	}
	for _, bad := range [][]string{
		{"--at", "yesterday"},
		{"--at", "2026-11-01", "--timeline"},
		{"--from", "2026-11-01"},
		{"-o", "yaml"},
	} {
		out = hist(t, ExitUsage, append([]string{"--admin-token-file", adminFile, "--device", er.DeviceID}, bad...)...)
		if !strings.Contains(out, bad[0]) {
			t.Errorf("%v: the error does not name %s: %s", bad, bad[0], out)
		}
	}
	hist(t, ExitUsage, "--admin-token-file", adminFile)
	// A member's read token does not see another member's device.
	if out = hist(t, ExitUsage, "--token-file", readFile, "--device", d.devices[memberB][0]); !strings.Contains(out, "403") {
		t.Errorf("foreign device: %s", out)
	}
}
