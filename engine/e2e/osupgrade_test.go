package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"samverk.io/samverk/engine/desired"
)

// The release the OS upgrade test moves devices to, with two paths: from 24.04 a script that
// rewrites os-release under the root as a release upgrade would, from 22.04 one that fails.
const nextRelease = `apiVersion: samverk.io/v1
kind: OSRelease
metadata:
  name: e2e-linux-26-04
  owner: e2e-kommun
spec:
  family: linux
  edition: Ubuntu Desktop
  version: "26.04"
  build: "26.04"
  channel: lts
  releaseDate: 2026-04-23
  endOfSupport: 2099-05-31
  upgrade:
    paths:
      - from: [e2e-linux-24-04]
        installer:
          type: script
          script: |
            set -eu
            mkdir -p "${SAMVERK_ROOT:?}/var/log/dist-upgrade"
            echo "Calculating the changes" > "$SAMVERK_ROOT/var/log/dist-upgrade/main.log"
            test -f "$SAMVERK_ROOT/opt/e2e-drivers/VERSION"
            printf 'NAME="Ubuntu"\nVERSION_ID="26.04"\nID=ubuntu\n' > "$SAMVERK_ROOT/etc/os-release"
            echo "Upgrade complete; restart required" >> "$SAMVERK_ROOT/var/log/dist-upgrade/main.log"
          logFile: /var/log/dist-upgrade/main.log
        freeDiskMiB: 1
        reboot: true
        maxDurationMinutes: 5
      - from: [e2e-linux-22-04]
        installer:
          type: script
          script: |
            echo "Reading package lists... Done"
            echo "E: Could not get lock /var/lib/dpkg/lock-frontend" >&2
            exit 100
        freeDiskMiB: 1
        reboot: true
        maxDurationMinutes: 5
---
apiVersion: samverk.io/v1
kind: OSRelease
metadata:
  name: e2e-linux-22-04
  owner: e2e-kommun
spec:
  family: linux
  edition: Ubuntu Desktop
  version: "22.04"
  build: "22.04"
  channel: lts
  releaseDate: 2022-04-21
  endOfSupport: 2099-06-01
`

// A second model certified for the target keeps SV-DG-002 satisfied while e2e-box is in
// testing; and e2e-box's driver pack, installed before the upgrade.
const upgradeHardware = `apiVersion: samverk.io/v1
kind: HardwareModel
metadata:
  name: e2e-box
  owner: e2e-kommun
spec:
  vendor: Samverk Test
  model: E2E Box 1
  formFactor: desktop
  driverPackage: e2e-drivers
  certifications:
    - osRelease: e2e-linux-24-04
      status: certified
      member: e2e-kommun
      date: 2026-01-12
      evidence: https://example.org/certifiering/e2e-box/e2e-linux-24-04
      results:
        - test: Agent enrollment and first convergence
          outcome: pass
    - osRelease: e2e-linux-26-04
      status: STATUS
      member: e2e-kommun
      date: 2026-05-02
      evidence: https://example.org/certifiering/e2e-box/e2e-linux-26-04
      results:
        - test: Release upgrade from 24.04
          outcome: pass
---
apiVersion: samverk.io/v1
kind: HardwareModel
metadata:
  name: e2e-box-2
  owner: e2e-kommun
spec:
  vendor: Samverk Test
  model: E2E Box 2
  formFactor: desktop
  certifications:
    - osRelease: e2e-linux-26-04
      status: certified
      member: e2e-kommun
      date: 2026-05-02
      evidence: https://example.org/certifiering/e2e-box-2/e2e-linux-26-04
      results:
        - test: Release upgrade from 24.04
          outcome: pass
---
apiVersion: samverk.io/v1
kind: Package
metadata:
  name: e2e-drivers-1
  owner: e2e-kommun
spec:
  product: e2e-drivers
  displayName: E2E Box driver pack
  vendor: samverk
  version: "1"
  installer:
    type: script
    install: |
      set -eu
      mkdir -p "${SAMVERK_ROOT:?}/opt/e2e-drivers"
      echo 1 > "$SAMVERK_ROOT/opt/e2e-drivers/VERSION"
    uninstall: rm -rf "${SAMVERK_ROOT:?}/opt/e2e-drivers"
    detect:
      command: test -f "${SAMVERK_ROOT:?}/opt/e2e-drivers/VERSION"
    timeoutSeconds: 30
  osReleases: [e2e-linux-24-04, e2e-linux-26-04]
  lifecycle:
    stage: approved
    records:
      - {stage: infra-test, date: 2026-01-05, member: e2e-kommun, result: pass, evidence: "https://example.org/paket/e2e-drivers-1/infratest"}
      - {stage: user-test, date: 2026-01-12, member: e2e-kommun, result: pass, evidence: "https://example.org/paket/e2e-drivers-1/anvandartest"}
      - {stage: approved, date: 2026-01-19, member: e2e-kommun, result: pass}
  licence: {type: open-source, spdx: Apache-2.0}
  classification: public
`

// upgradeRecord is what the agent keeps of its upgrade (osupgrade.Record, as far as read).
type upgradeRecord struct {
	Phase   string `json:"phase"`
	Attempt int    `json:"attempt"`
	Message string `json:"message"`
	LogTail string `json:"logTail"`
}

// agentAt runs `samverk-agent --once` with its own state directory and root.
func (h *harness) agentAt(t *testing.T, state, root string, extra ...string) agentRun {
	t.Helper()
	args := append([]string{"--server", h.server, "--enroll-token", enrollToken, "--state-dir", state,
		"--root", root, "--label", label, "--once", "--upgrade-attempts", "2", "--upgrade-backoff", "1s"}, extra...)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(h.bin, "samverk-agent"), args...)
	cmd.Env = h.env
	out, err := cmd.CombinedOutput()
	run := agentRun{args: args, out: string(out)}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		run.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("samverk-agent: %v\n%s", err, out)
	}
	t.Logf("samverk-agent (%s) exited %d:\n%s", filepath.Base(state), run.code, tail(out, 4<<10))
	return run
}

func readRecord(t *testing.T, state string) upgradeRecord {
	t.Helper()
	var r upgradeRecord
	b, err := os.ReadFile(filepath.Join(state, "os-upgrade.json"))
	if err != nil {
		t.Fatalf("upgrade record: %v", err)
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// osStatus is GET /api/v1/os/status as the test reads it.
type osStatus struct {
	Counts []struct {
		Member, Group, Release, Phase string
		Devices                       int
	} `json:"counts"`
	Failed []struct {
		Device, Phase, Message, LogTail string
		Attempt                         int
		Reset, AgentReset               int64
	} `json:"failed"`
}

func (h *harness) upgradeEvents(t *testing.T, id string) []string {
	t.Helper()
	var v struct {
		Events []struct {
			Phase   string `json:"phase"`
			Attempt int    `json:"attempt"`
		} `json:"events"`
	}
	h.getJSON(t, "/api/v1/devices/"+id+"/os-upgrade", &v)
	var out []string
	for i := len(v.Events) - 1; i >= 0; i-- {
		out = append(out, fmt.Sprintf("%s/%d", v.Events[i].Phase, v.Events[i].Attempt))
	}
	return out
}

// TestOSUpgrade follows two Linux devices (agents under temporary roots) through an OS
// upgrade: nothing while the hardware is in testing; once certified in a commit, the driver
// pack, the upgrade script, the restart (a new agent process) and the confirmation; and a
// failing script that ends failed with its log, is tried no more than the limit, and starts
// over when an operator resets it.
func TestOSUpgrade(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon and the agent; skipped with -short")
	}
	h := newHarness(t)
	writeFile(t, filepath.Join(h.repo, "os/e2e-linux-26-04.yaml"), nextRelease, 0o644)
	writeFile(t, filepath.Join(h.repo, "hardware/e2e-box.yaml"), strings.Replace(upgradeHardware, "STATUS", "testing", 1), 0o644)
	h.edit(t, "members/e2e-kommun/groups.yaml", "    hardwareModels: [e2e-box]\n", "")
	h.edit(t, "members/e2e-kommun/groups.yaml", "osRelease: e2e-linux-24-04", "osRelease: e2e-linux-26-04")
	h.edit(t, "baselines/e2e-grund.yaml", "osReleases: [e2e-linux-24-04]", "osReleases: [e2e-linux-24-04, e2e-linux-26-04]")
	c1 := h.commit(t, "Group targets 26.04; e2e-box still in testing")
	h.startDaemon(t)
	h.waitApplied(t, c1)

	stateA := h.state
	t.Run("in testing: nothing happens, the state says why", func(t *testing.T) {
		h.agentAt(t, stateA, h.root).wantExit(t, 0)
		var st desired.State
		b, _ := os.ReadFile(filepath.Join(stateA, "desired.json"))
		if err := json.Unmarshal(b, &st); err != nil {
			t.Fatal(err)
		}
		if st.OS == nil || st.OS.Action != "stay" || st.OS.Reason != "NotCertified" ||
			!slices.ContainsFunc(st.Conditions, func(c desired.Condition) bool { return c.Type == "NotCertified" && c.Reason == "Testing" }) {
			t.Fatalf("os %+v conditions %+v, want stay, NotCertified/Testing", st.OS, st.Conditions)
		}
		if _, err := os.Stat(filepath.Join(stateA, "os-upgrade.json")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("an upgrade record while not certified: %v", err)
		}
		wantFile(t, h.rooted("opt/e2e-drivers/VERSION"), "1\n", 0) // certified for 24.04: its pack is in
	})

	writeFile(t, filepath.Join(h.repo, "hardware/e2e-box.yaml"), strings.Replace(upgradeHardware, "STATUS", "certified", 1), 0o644)
	c2 := h.commit(t, "e2e-box certified for 26.04")
	h.waitApplied(t, c2)
	idA := h.deviceID(t)

	t.Run("certified: driver pack, upgrade, restart, confirmation", func(t *testing.T) {
		removeAll(t, h.rooted("opt/e2e-drivers"))
		h.agentAt(t, stateA, h.root).wantExit(t, 0)
		wantFile(t, h.rooted("opt/e2e-drivers/VERSION"), "1\n", 0)
		if r := readRecord(t, stateA); r.Phase != desired.PhaseRebooting || !strings.Contains(r.LogTail, "restart required") {
			t.Fatalf("after the first run: %+v, want rebooting with the installer's log", r)
		}
		b, _ := os.ReadFile(h.rooted("etc/os-release"))
		if !bytes.Contains(b, []byte(`VERSION_ID="26.04"`)) {
			t.Fatalf("os-release not rewritten: %s", b)
		}
		// The restart: a new agent process confirms the build and reports done.
		h.agentAt(t, stateA, h.root).wantExit(t, 0)
		if r := readRecord(t, stateA); r.Phase != desired.PhaseDone {
			t.Fatalf("after the restart: %+v, want done", r)
		}
		want := []string{"pending/1", "installing/1", "rebooting/1", "confirming/1", "done/1"}
		if got := h.upgradeEvents(t, idA); !slices.Equal(got, want) {
			t.Errorf("daemon's events %v, want %v", got, want)
		}
		// Now on the target: the state says stay, and the device is compliant.
		h.agentAt(t, stateA, h.root).wantExit(t, 0)
		eventually(t, 10*time.Second, "device A compliant on 26.04", func() (bool, string) {
			d := h.device(t, idA)
			return d.Compliance == "compliant" && d.Facts.OSBuild == "26.04", d.Compliance + " " + d.Facts.OSBuild
		})
	})

	stateB, rootB := filepath.Join(filepath.Dir(h.state), "agent-b"), filepath.Join(filepath.Dir(h.root), "root-b")
	writeFile(t, filepath.Join(rootB, "sys/class/dmi/id/sys_vendor"), dmiVendor+"\n", 0o644)
	writeFile(t, filepath.Join(rootB, "sys/class/dmi/id/product_name"), dmiModel+"\n", 0o644)
	writeFile(t, filepath.Join(rootB, "etc/os-release"), "NAME=\"Ubuntu\"\nVERSION_ID=\"22.04\"\nID=ubuntu\n", 0o644)
	var idB string

	t.Run("a failing script: failed with its log, tried no more than the limit", func(t *testing.T) {
		h.agentAt(t, stateB, rootB).wantExit(t, 0)
		r := readRecord(t, stateB)
		if r.Phase != desired.PhaseFailed || r.Attempt != 1 || !strings.Contains(r.LogTail, "Could not get lock") {
			t.Fatalf("first run: %+v, want failed, attempt 1, the script's output", r)
		}
		b, _ := os.ReadFile(filepath.Join(stateB, "credential"))
		var c struct{ DeviceID string }
		json.Unmarshal(b, &c)
		idB = c.DeviceID
		time.Sleep(1100 * time.Millisecond) // the backoff after the first failure is at most 1s
		for range 4 {
			h.agentAt(t, stateB, rootB).wantExit(t, 0)
		}
		if r := readRecord(t, stateB); r.Phase != desired.PhaseFailed || r.Attempt != 2 || !strings.Contains(r.Message, "samverk os reset") {
			t.Fatalf("after the limit: %+v, want failed at attempt 2, waiting for a reset", r)
		}
		var st osStatus
		h.getJSON(t, "/api/v1/os/status?member="+member, &st)
		i := slices.IndexFunc(st.Failed, func(f struct {
			Device, Phase, Message, LogTail string
			Attempt                         int
			Reset, AgentReset               int64
		}) bool {
			return f.Device == idB
		})
		if i < 0 || !strings.Contains(st.Failed[i].LogTail, "Could not get lock") || st.Failed[i].Attempt != 2 {
			t.Fatalf("os status failed %+v, want device B with its log tail at attempt 2", st.Failed)
		}
		want := []string{"pending/1", "installing/1", "failed/1", "pending/2", "installing/2", "failed/2"}
		if got := h.upgradeEvents(t, idB); !slices.Equal(got, want) {
			t.Errorf("daemon's events %v, want %v (the installer twice, no more)", got, want)
		}
		// Its OS is not the one its state asks for, and its upgrade failed: not compliant.
		eventually(t, 10*time.Second, "device B os-failed", func() (bool, string) {
			d := h.device(t, idB)
			return d.Compliance == "os-failed", d.Compliance
		})
	})

	t.Run("reset by an operator: it starts over", func(t *testing.T) {
		cmd := exec.Command(filepath.Join(h.bin, "samverk"), "os", "reset", idB, "--server", h.server,
			"--admin-token-file", h.admin, "--reason", "lock holder killed")
		cmd.Env = h.env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("samverk os reset: %v\n%s", err, out)
		}
		h.agentAt(t, stateB, rootB).wantExit(t, 0) // learns of the reset
		if r := readRecord(t, stateB); r.Phase != desired.PhasePending || r.Attempt != 1 {
			t.Fatalf("after the reset reached the agent: %+v, want pending, attempt 1", r)
		}
		h.agentAt(t, stateB, rootB).wantExit(t, 0)
		if r := readRecord(t, stateB); r.Phase != desired.PhaseFailed || r.Attempt != 1 {
			t.Fatalf("tried again: %+v, want failed at attempt 1", r)
		}
		got := h.upgradeEvents(t, idB)
		if n := len(slices.DeleteFunc(slices.Clone(got), func(e string) bool { return !strings.HasPrefix(e, "installing/") })); n != 3 {
			t.Errorf("installer ran %d times (%v), want 3: twice, then once after the reset", n, got)
		}
		// The audit log has the reset, with its reason.
		var audit struct {
			Entries []json.RawMessage `json:"entries"`
		}
		h.getJSON(t, "/api/v1/audit", &audit)
		if !slices.ContainsFunc(audit.Entries, func(e json.RawMessage) bool {
			return bytes.Contains(e, []byte("os-upgrade/reset")) && bytes.Contains(e, []byte("lock holder killed"))
		}) {
			t.Errorf("no audit entry of the reset among %d", len(audit.Entries))
		}
	})

	t.Run("samverk os status", func(t *testing.T) {
		cmd := exec.Command(filepath.Join(h.bin, "samverk"), "os", "status", "--server", h.server, "--admin-token-file", h.admin)
		cmd.Env = h.env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("samverk os status: %v\n%s", err, out)
		}
		for _, want := range []string{"e2e-linux-26-04", "FAILED " + idB, "| E: Could not get lock"} {
			if !bytes.Contains(out, []byte(want)) {
				t.Errorf("os status lacks %q:\n%s", want, out)
			}
		}
	})
}
