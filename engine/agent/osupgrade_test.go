package agent

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"samverk.io/samverk/engine/agent/osupgrade"
	"samverk.io/samverk/engine/desired"
)

// upgradeState asks for an OS upgrade (no restart) by a script that rewrites os-release and
// leaves a marker under the root, after a
// driver pack whose installation fails when failDriver is set.
func upgradeState(mode string, failDriver bool) desired.State {
	set := "true"
	if failDriver {
		set = "echo 'pnputil: no driver package found' >&2; exit 1"
	}
	return desired.State{
		Revision: "rev-1", Member: "region-norr", Group: "lab", Mode: mode,
		OS: &desired.OSTarget{Release: "ubuntu-24-04", Build: "24.04", Action: "upgrade", Upgrade: &desired.OSUpgrade{
			From: "ubuntu-22-04", FromBuild: "22.04", MaxDurationMinutes: 1,
			Installer: desired.OSInstaller{Type: "script", Script: `mkdir -p "$SAMVERK_ROOT/etc" && printf 'VERSION_ID="24.04"\n' > "$SAMVERK_ROOT/etc/os-release" && touch "$SAMVERK_ROOT/upgraded"`},
		}},
		Resources: []*desired.Resource{{
			ID: "package/box-drivers", Type: desired.TypeCommand, Ensure: "present", Why: "driver pack of hardware model box, certified for ubuntu-24-04",
			Command: &desired.Command{Check: `test -f "$SAMVERK_ROOT/drivers"`, Set: set + ` && touch "$SAMVERK_ROOT/drivers"`},
		}},
	}
}

func upgradeRecord(t *testing.T, stateDir string) *osupgrade.Record {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(stateDir, osupgrade.StateFile))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var r osupgrade.Record
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return &r
}

func TestOSUpgradeAfterResources(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the upgrade script runs with /bin/sh")
	}
	tests := []struct {
		name       string
		mode       string
		noop       bool
		failDriver bool
		upgraded   bool
		phase      string // "" for no record
		message    string
	}{
		{"driver pack in, then the upgrade", "enforce", false, false, true, desired.PhaseDone, "the OS reports build 24.04"},
		{"a failed driver pack holds the upgrade", "enforce", false, true, false, desired.PhasePending, "driver pack package/box-drivers failed"},
		{"detect mode upgrades nothing", "detect", false, false, false, "", ""},
		{"a plan upgrades nothing", "enforce", true, false, false, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDaemon(t)
			d.setState(upgradeState(tt.mode, tt.failDriver))
			e := newEnv(t)
			opts := e.options(d)
			opts.Once, opts.Noop = true, tt.noop
			_ = newAgent(t, opts).Run(context.Background())
			if _, err := os.Stat(filepath.Join(e.root, "upgraded")); (err == nil) != tt.upgraded {
				t.Errorf("upgrade script ran: %v, want %v", err == nil, tt.upgraded)
			}
			r := upgradeRecord(t, e.stateDir)
			switch {
			case tt.phase == "" && r != nil:
				t.Errorf("record %+v, want none", r)
			case tt.phase != "" && (r == nil || r.Phase != tt.phase || !strings.Contains(r.Message, tt.message)):
				t.Errorf("record %+v, want phase %s with %q", r, tt.phase, tt.message)
			}
		})
	}
}
