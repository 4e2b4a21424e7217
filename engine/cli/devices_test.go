package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"samverk.io/samverk/engine/desired"
)

// TestDevicesShow runs `samverk devices show` against a real daemon: a device with no report
// yet, then its latest report resource by resource, as text and as JSON, with a member's read
// token and the admin token.
func TestDevicesShow(t *testing.T) {
	d := startRouteDaemon(t)
	id := d.devices[memberA][0]
	dir := t.TempDir()
	adminFile := filepath.Join(dir, "admin")
	readFile := filepath.Join(dir, "read")
	os.WriteFile(adminFile, []byte(d.admin), 0o600)
	os.WriteFile(readFile, []byte(d.read), 0o600)
	show := func(t *testing.T, want int, args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		args = append([]string{"devices", "show", "--server", d.url}, args...)
		if got := run(context.Background(), args, nil, &out, &errOut); got != want {
			t.Fatalf("%v: exit %d, want %d\nstdout: %s\nstderr: %s", args, got, want, out.String(), errOut.String())
		}
		return out.String() + errOut.String()
	}

	out := show(t, ExitOK, "--admin-token-file", adminFile, id)
	for _, want := range []string{"Device:", id, "Member:", memberA, "Hostname:", "region-norr-pc0", "No report yet."} {
		if !strings.Contains(out, want) {
			t.Errorf("before a report: output lacks %q:\n%s", want, out)
		}
	}

	rep := desired.Report{Revision: "0123456789abcdef0123", Hash: "h", StartedAt: time.Now().UTC(), DurationMs: 40,
		Resources: []desired.ResourceResult{
			{ID: "package/firefox-esr", Outcome: desired.Corrected},
			{ID: "setting/screen-lock", Outcome: desired.Failed, Reason: "registry key is read-only"},
			{ID: "package/7zip", Outcome: desired.Unchanged},
		}}
	body, _ := json.Marshal(rep)
	req, _ := http.NewRequest("POST", d.url+"/api/v1/devices/"+id+"/reports", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+d.creds[id])
	req.Header.Set("Content-Type", "application/json")
	if resp, b := send(t, req); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("report: %s %s", resp.Status, b)
	}

	out = show(t, ExitOK, "--token-file", readFile, id)
	for _, want := range []string{
		"Latest report:", "revision 0123456789ab", "1 unchanged, 1 corrected, 0 drifted, 1 failed",
		"RESOURCE", "package/firefox-esr", "corrected",
		"setting/screen-lock", "failed", "registry key is read-only",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("after a report: output lacks %q:\n%s", want, out)
		}
	}

	var got deviceDetail
	if err := json.Unmarshal([]byte(show(t, ExitOK, "--admin-token-file", adminFile, "-o", "json", id)), &got); err != nil {
		t.Fatal(err)
	}
	if got.Device.ID != id || got.Device.Member != memberA || got.Report == nil || len(got.Report.Resources) != 2 ||
		got.Report.Resources[1].Reason != "registry key is read-only" || got.Report.Counts.Failed != 1 {
		t.Errorf("JSON: %+v", got)
	}

	// A member's read token does not see another member's device; no device is no device.
	out = show(t, ExitUsage, "--token-file", readFile, d.devices[memberB][0])
	if !strings.Contains(out, "403") {
		t.Errorf("foreign device: %s", out)
	}
	show(t, ExitUsage, "--admin-token-file", adminFile, "no-such-device")
	show(t, ExitUsage, "--admin-token-file", adminFile, "-o", "yaml", id)
}
