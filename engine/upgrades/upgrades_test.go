package upgrades

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"samverk.io/samverk/engine/auth"
	"samverk.io/samverk/engine/desired"
	"samverk.io/samverk/engine/fleet"
	"samverk.io/samverk/engine/store"
	"samverk.io/samverk/engine/store/storetest"
)

func TestCheckReport(t *testing.T) {
	at := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	ok := func() desired.UpgradeReport {
		return desired.UpgradeReport{Release: "ubuntu-24-04", Phase: "installing", At: at, Attempt: 1}
	}
	tests := []struct {
		name string
		edit func(r *desired.UpgradeReport)
		want string
	}{
		{"fine", func(*desired.UpgradeReport) {}, ""},
		{"unknown phase", func(r *desired.UpgradeReport) { r.Phase = "exploded" }, `phase "exploded": want one of pending`},
		{"no release", func(r *desired.UpgradeReport) { r.Release = "" }, "release"},
		{"no time", func(r *desired.UpgradeReport) { r.At = time.Time{} }, "at:"},
		{"absurd attempt", func(r *desired.UpgradeReport) { r.Attempt = 1 << 20 }, "attempt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ok()
			tt.edit(&r)
			err := CheckReport(&r)
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("err %v, want %q", err, tt.want)
			}
		})
	}
	t.Run("long log tail keeps its end", func(t *testing.T) {
		r := ok()
		r.LogTail = strings.Repeat("x", 2*desired.MaxLogTail) + "the end"
		if err := CheckReport(&r); err != nil || len(r.LogTail) != desired.MaxLogTail || !strings.HasSuffix(r.LogTail, "the end") {
			t.Errorf("err %v, tail of %d bytes", err, len(r.LogTail))
		}
	})
}

// noDevices is a Devices for StatusFor, which reads the store only.
type noDevices struct{}

func (noDevices) AuthenticateDevice(http.ResponseWriter, *http.Request) (string, fleet.Placement, bool) {
	return "", fleet.Placement{}, false
}
func (noDevices) DeviceMember(*http.Request) (string, error) { return "", auth.ErrNotFound }

// TestStatusIsolation: a person of one member sees that member's upgrades only, whatever
// they ask for.
func TestStatusIsolation(t *testing.T) {
	st := storetest.Open(t, "sqlite", store.Options{})
	ctx := context.Background()
	at := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	for _, p := range []store.UpgradePhase{
		{Device: "a1", Member: "region-norr", Group: "lab", Release: "r", Phase: "failed", Attempt: 2, At: at, ReceivedAt: at, LogTail: "norr log"},
		{Device: "b1", Member: "kommun-vasterby", Group: "skola", Release: "r", Phase: "failed", Attempt: 1, At: at, ReceivedAt: at, LogTail: "vasterby log"},
		{Device: "b2", Member: "kommun-vasterby", Group: "skola", Release: "r", Phase: "done", Attempt: 1, At: at, ReceivedAt: at},
	} {
		if _, err := st.RecordUpgrade(ctx, &p); err != nil {
			t.Fatal(err)
		}
	}
	s, err := New(Options{Store: st, Devices: noDevices{}})
	if err != nil {
		t.Fatal(err)
	}
	norr := &auth.Principal{Subject: "anna", Grants: []auth.Grant{{Role: auth.Viewer, Member: "region-norr"}}}
	all := &auth.Principal{Subject: "eva", Grants: []auth.Grant{{Role: auth.Viewer, Member: auth.Consortium}}}
	tests := []struct {
		name          string
		who           *auth.Principal
		member, group string
		counts        int
		failed        []string
	}{
		{"member viewer sees its own", norr, "", "", 1, []string{"a1"}},
		{"member viewer asking for another member sees nothing", norr, "kommun-vasterby", "", 0, nil},
		{"consortium viewer sees all", all, "", "", 3, []string{"b1", "a1"}},
		{"consortium viewer filters by member and group", all, "kommun-vasterby", "skola", 2, []string{"b1"}},
		{"nobody sees nothing", nil, "", "", 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.StatusFor(ctx, tt.who, tt.member, tt.group)
			if err != nil {
				t.Fatal(err)
			}
			var failed []string
			for _, f := range got.Failed {
				failed = append(failed, f.Device)
			}
			if len(got.Counts) != tt.counts || strings.Join(failed, ",") != strings.Join(tt.failed, ",") {
				t.Errorf("counts %+v failed %v; want %d counts, failed %v", got.Counts, failed, tt.counts, tt.failed)
			}
		})
	}
}
