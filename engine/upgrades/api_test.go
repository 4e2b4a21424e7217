package upgrades

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"samverk.io/samverk/engine/desired"
	"samverk.io/samverk/engine/fleet"
	"samverk.io/samverk/engine/store"
	"samverk.io/samverk/engine/store/storetest"
)

// oneDevice authenticates every request as device d1 of region-norr, group lab.
type oneDevice struct{ noDevices }

func (oneDevice) AuthenticateDevice(http.ResponseWriter, *http.Request) (string, fleet.Placement, bool) {
	return "d1", fleet.Placement{Member: "region-norr", Group: "lab"}, true
}

func TestReportRoute(t *testing.T) {
	st := storetest.Open(t, "sqlite", store.Options{})
	s, err := New(Options{Store: st, Devices: oneDevice{}})
	if err != nil {
		t.Fatal(err)
	}
	post := func(body string) (int, string) {
		r := httptest.NewRequest(http.MethodPost, "/api/v1/devices/d1/os-upgrade", strings.NewReader(body))
		w := httptest.NewRecorder()
		s.report(w, r)
		return w.Code, w.Body.String()
	}
	rep := func(phase string) string {
		b, _ := json.Marshal(desired.UpgradeReport{Release: "ubuntu-24-04", From: "ubuntu-22-04", Phase: phase, Attempt: 1,
			At: time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC), LogTail: "E: \x1b[31mfailed\x1b[0m"})
		return string(b)
	}
	if code, body := post(rep("failed")); code != http.StatusOK || !strings.Contains(body, `"reset":0`) {
		t.Fatalf("report: %d %s", code, body)
	}
	if code, body := post(rep("exploded")); code != http.StatusUnprocessableEntity || !strings.Contains(body, `phase \"exploded\"`) {
		t.Errorf("bad phase: %d %s", code, body)
	}
	if code, _ := post(`{"release":`); code != http.StatusBadRequest {
		t.Errorf("broken JSON: %d", code)
	}
	if code, _ := post(`{"release":"x","phase":"done","logTail":"` + strings.Repeat("a", 1<<20) + `"}`); code != http.StatusBadRequest {
		t.Errorf("a 1 MiB report: %d, want 400", code)
	}
	got, _ := st.Upgrades(context.Background(), store.UpgradeQuery{Device: "d1"})
	if len(got) != 1 || got[0].Member != "region-norr" || got[0].Group != "lab" || !strings.Contains(got[0].LogTail, "failed") {
		t.Fatalf("stored %+v", got)
	}
	// A reset is in the next answer.
	if _, err := st.ResetUpgrade(context.Background(), "d1", time.Now(), "oidc:anna"); err != nil {
		t.Fatal(err)
	}
	if code, body := post(rep("failed")); code != http.StatusOK || !bytes.Contains([]byte(body), []byte(`"reset":1`)) {
		t.Errorf("after a reset: %d %s", code, body)
	}
}
