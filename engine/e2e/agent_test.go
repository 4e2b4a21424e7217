package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"samverk.io/samverk/engine/desired"
)

const (
	member      = "e2e-kommun"
	group       = "broad-e2e"
	enrollToken = "enroll-token-for-the-e2e-test-0123456789"
	adminToken  = "admin-token-for-the-e2e-test-0123456789"

	// The agent's facts, as files under its --root: they match the HardwareModel and the
	// OSRelease of testdata/catalog, and the label matches the device group's selector.
	dmiVendor = "Samverk Test"
	dmiModel  = "E2E Box 1"
	osBuild   = "24.04"
	label     = "lab=e2e"
)

// What baseline e2e-grund puts under the agent's root.
const (
	sshdPath     = "etc/ssh/sshd_config.d/60-samverk.conf"
	sshdConf     = "# Managed by samverk (baseline e2e-grund); local changes are overwritten.\nPermitRootLogin no\nPermitEmptyPasswords no\n"
	upgradesPath = "etc/apt/apt.conf.d/20auto-upgrades"
	upgradesConf = "APT::Periodic::Update-Package-Lists \"1\";\nAPT::Periodic::Unattended-Upgrade \"1\";\n"
	bannerPath   = "etc/issue.net"
	banner       = "E2E kommun: authorised use only\n"
)

// Resource ids of the desired states.
const (
	resTool     = "package/e2e-tool"
	resTool10   = "package/e2e-tool@1.0"
	resTool11   = "package/e2e-tool@1.1"
	resSSHD     = "setting/sshd-hardening"
	resUpgrades = "setting/unattended-security-upgrades"
	resBanner   = "setting/login-banner"
	resAppArmor = "setting/apparmor-running"
	resTimeSync = "setting/time-synchronisation"
)

// settled is the outcome of every setting when nothing was touched since the last run; the
// services are skipped because the agent manages no services under --root.
func settled(more map[string]string) map[string]string {
	m := map[string]string{
		resSSHD: desired.Unchanged, resUpgrades: desired.Unchanged, resBanner: desired.Unchanged,
		resAppArmor: desired.Skipped, resTimeSync: desired.Skipped,
	}
	maps.Copy(m, more)
	return m
}

// marker is the file the script package of version v installs, relative to the root.
func marker(v string) string { return "opt/e2e-tool/" + v + "/VERSION" }

// TestAgentAgainstDaemon runs `samverk serve` on a Git catalog repository and `samverk-agent
// --once` against it, as separate processes on loopback, and follows one device through a
// catalog's life: first converge, drift, a promotion, a retirement, a plan, an outage.
func TestAgentAgainstDaemon(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon and the agent; skipped with -short")
	}
	h := newHarness(t)
	c1 := h.commit(t, "Catalog with e2e-tool 1.0 approved and 1.1 in user test")
	h.startDaemon(t)
	h.waitApplied(t, c1)

	var deviceID string
	t.Run("first run converges files, command and package", func(t *testing.T) {
		h.runAgent(t).wantExit(t, 0)
		wantFile(t, h.rooted(sshdPath), sshdConf, 0o600)
		wantFile(t, h.rooted(upgradesPath), upgradesConf, 0o644)
		wantFile(t, h.rooted(bannerPath), banner, 0)
		wantFile(t, h.rooted(marker("1.0")), "1.0\n", 0)
		wantAbsent(t, h.rooted("opt/e2e-tool/1.1"))

		rep := h.lastReport(t)
		wantReport(t, rep, c1, false, map[string]string{
			resTool: desired.Corrected, resSSHD: desired.Corrected, resUpgrades: desired.Corrected,
			resBanner: desired.Corrected, resAppArmor: desired.Skipped, resTimeSync: desired.Skipped,
		})
		if got := rep.Facts.Products["e2e-tool"]; got != "1.0" {
			t.Errorf("reported products %v, want e2e-tool 1.0", rep.Facts.Products)
		}

		deviceID = h.deviceID(t)
		var list struct {
			Devices []deviceView `json:"devices"`
		}
		h.getJSON(t, "/api/v1/devices?member="+member, &list)
		i := slices.IndexFunc(list.Devices, func(d deviceView) bool { return d.ID == deviceID })
		if i < 0 {
			t.Fatalf("device %s is not in the fleet view: %+v", deviceID, list.Devices)
		}
		d := list.Devices[i]
		if d.Member != member || d.Group != group || d.Ring != "broad" || d.ServedRevision != c1 {
			t.Errorf("fleet view: member %q group %q ring %q served revision %q; want %s, %s, broad, %s",
				d.Member, d.Group, d.Ring, d.ServedRevision, member, group, c1)
		}
		if f := d.Facts; f.Vendor != dmiVendor || f.Model != dmiModel || f.OSFamily != "linux" || f.OSBuild != osBuild || f.Labels["lab"] != "e2e" {
			t.Errorf("fleet view facts %+v, want vendor %q, model %q, linux %s, label %s", f, dmiVendor, dmiModel, osBuild, label)
		}

		stored := h.waitReported(t, deviceID, rep)
		wantSameOutcomes(t, stored, rep)
		dev := h.device(t, deviceID)
		if dev.LastReport == nil || dev.LastReport.Revision != c1 || dev.LastReport.Counts.Corrected != 4 {
			t.Errorf("fleet view last report %+v, want revision %s with 4 corrected", dev.LastReport, c1)
		}
		if dev.Compliance != "compliant" {
			t.Errorf("fleet view compliance %q, want compliant", dev.Compliance)
		}
		if dev.DesiredHash != rep.Hash || dev.ServedHash != rep.Hash {
			t.Errorf("fleet view desired hash %q, served %q; the agent applied %q", dev.DesiredHash, dev.ServedHash, rep.Hash)
		}
		if got := dev.Facts.Products["e2e-tool"]; got != "1.0" {
			t.Errorf("fleet view products %v, want e2e-tool 1.0", dev.Facts.Products)
		}
	})
	if deviceID == "" {
		t.Fatal("the device did not enroll; the remaining steps need it")
	}

	t.Run("hand changes are corrected on the next run", func(t *testing.T) {
		writeFile(t, h.rooted(sshdPath), "PermitRootLogin yes\n", 0o600)
		if err := os.Remove(h.rooted(bannerPath)); err != nil {
			t.Fatal(err)
		}
		h.runAgent(t).wantExit(t, 0)
		wantFile(t, h.rooted(sshdPath), sshdConf, 0o600)
		wantFile(t, h.rooted(bannerPath), banner, 0)

		rep := h.lastReport(t)
		wantReport(t, rep, c1, false, settled(map[string]string{
			resTool: desired.Unchanged, resSSHD: desired.Corrected, resBanner: desired.Corrected,
		}))
		wantReason(t, rep, resSSHD, "content differs")
		wantSameOutcomes(t, h.waitReported(t, deviceID, rep), rep)
	})

	t.Run("promoting 1.1 upgrades and removes the superseded 1.0", func(t *testing.T) {
		h.usePackage(t, "approved")
		c2 := h.commit(t, "Approve e2e-tool 1.1")
		h.waitApplied(t, c2)

		h.runAgent(t).wantExit(t, 0)
		wantFile(t, h.rooted(marker("1.1")), "1.1\n", 0)
		wantAbsent(t, h.rooted("opt/e2e-tool/1.0"))

		rep := h.lastReport(t)
		wantReport(t, rep, c2, false, settled(map[string]string{
			resTool: desired.Corrected, resTool10: desired.Corrected,
		}))
		if got := rep.Facts.Products["e2e-tool"]; got != "1.1" {
			t.Errorf("reported products %v, want e2e-tool 1.1", rep.Facts.Products)
		}
		wantSameOutcomes(t, h.waitReported(t, deviceID, rep), rep)
		if dev := h.device(t, deviceID); dev.LastReport == nil || dev.LastReport.Revision != c2 {
			t.Errorf("fleet view last report %+v, want revision %s", dev.LastReport, c2)
		}
	})

	c3 := ""
	t.Run("retiring 1.1 removes it and brings back 1.0", func(t *testing.T) {
		h.usePackage(t, "retired")
		c3 = h.commit(t, "Retire e2e-tool 1.1")
		h.waitApplied(t, c3)

		h.runAgent(t).wantExit(t, 0)
		wantAbsent(t, h.rooted("opt/e2e-tool/1.1"))
		wantFile(t, h.rooted(marker("1.0")), "1.0\n", 0)

		rep := h.lastReport(t)
		wantReport(t, rep, c3, false, settled(map[string]string{
			resTool: desired.Corrected, resTool11: desired.Corrected,
		}))
		wantReason(t, rep, resTool11, "installed, want absent")
		if got := rep.Facts.Products["e2e-tool"]; got != "1.0" {
			t.Errorf("reported products %v, want e2e-tool 1.0", rep.Facts.Products)
		}
		wantSameOutcomes(t, h.waitReported(t, deviceID, rep), rep)
	})
	if c3 == "" {
		t.Fatal("the retirement was not published; the remaining steps need it")
	}

	t.Run("noop reports the plan and changes nothing", func(t *testing.T) {
		const tampered = "PermitRootLogin yes\n"
		writeFile(t, h.rooted(sshdPath), tampered, 0o600)
		removeAll(t, h.rooted("opt/e2e-tool/1.0"))

		h.runAgent(t, "--noop").wantExit(t, 0)
		wantFile(t, h.rooted(sshdPath), tampered, 0o600)
		wantAbsent(t, h.rooted("opt/e2e-tool/1.0"))

		rep := h.lastReport(t)
		wantReport(t, rep, c3, true, settled(map[string]string{
			resTool: desired.Drifted, resTool11: desired.Unchanged, resSSHD: desired.Drifted,
		}))
		wantReason(t, rep, resSSHD, "would correct: content differs")
		wantReason(t, rep, resTool, "would correct: e2e-tool 1.0 is not installed")

		stored := h.waitReported(t, deviceID, rep)
		wantSameOutcomes(t, stored, rep)
		if !stored.Noop || stored.Compliance != "drifted" {
			t.Errorf("fleet view report: noop %v, compliance %q; want a noop report, drifted", stored.Noop, stored.Compliance)
		}
		if dev := h.device(t, deviceID); dev.Compliance != "drifted" {
			t.Errorf("fleet view compliance %q, want drifted", dev.Compliance)
		}
	})

	var offline desired.Report
	t.Run("with the daemon stopped the cached state is enforced", func(t *testing.T) {
		h.stopDaemon(t)
		writeFile(t, h.rooted(sshdPath), "PermitRootLogin yes\n", 0o600)
		removeAll(t, h.rooted("opt/e2e-tool/1.0"))

		// The agent's contract: --once converges the cached state when the server is out of
		// reach, says so in its log, and exits 0 unless a resource failed.
		run := h.runAgent(t)
		run.wantExit(t, 0)
		if !strings.Contains(run.out, "server out of reach") {
			t.Errorf("the agent's log does not say the server was out of reach")
		}
		wantFile(t, h.rooted(sshdPath), sshdConf, 0o600)
		wantFile(t, h.rooted(marker("1.0")), "1.0\n", 0)

		offline = h.lastReport(t)
		wantReport(t, offline, c3, false, settled(map[string]string{
			resTool: desired.Corrected, resTool11: desired.Unchanged, resSSHD: desired.Corrected,
		}))
		if n := len(h.queuedReports(t)); n == 0 {
			t.Errorf("no report is queued for delivery after a run without the server")
		}
	})

	t.Run("queued reports are delivered when the daemon is back", func(t *testing.T) {
		if offline.Hash == "" {
			t.Skip("no offline report to deliver")
		}
		h.startDaemon(t)
		h.waitApplied(t, c3)

		h.runAgent(t).wantExit(t, 0)
		if q := h.queuedReports(t); len(q) != 0 {
			t.Errorf("reports still queued after a run with the server: %v", q)
		}
		wantSameOutcomes(t, h.waitReported(t, deviceID, offline), offline)
		rep := h.lastReport(t)
		wantReport(t, rep, c3, false, settled(map[string]string{resTool: desired.Unchanged, resTool11: desired.Unchanged}))
		wantSameOutcomes(t, h.waitReported(t, deviceID, rep), rep)
	})
}

// harness is one catalog repository, one daemon (at a time) and one agent's directories.
type harness struct {
	top *testing.T // cleanups outlive the subtest that starts a daemon

	bin     string // samverk and samverk-agent
	repo    string // the catalog repository's work tree
	data    string // the daemon's --data
	root    string // the agent's --root
	state   string // the agent's --state-dir
	logs    string
	tokens  string // --enroll-tokens
	admin   string // --admin-token-file
	addr    string
	server  string
	env     []string // for the daemon and the agent
	gitEnv  []string
	daemon  *process
	daemons int
	// daemonArgs are added to every `samverk serve` the harness starts.
	daemonArgs []string
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	base := t.TempDir()
	h := &harness{
		top:   t,
		bin:   filepath.Join(base, "bin"),
		repo:  filepath.Join(base, "catalog"),
		data:  filepath.Join(base, "data"),
		root:  filepath.Join(base, "root"),
		state: filepath.Join(base, "agent-state"),
		logs:  filepath.Join(base, "logs"),
	}
	home := filepath.Join(base, "home")
	for _, d := range []string{h.bin, h.repo, h.root, h.logs, home} {
		mkdirAll(t, d)
	}
	h.env = cleanEnv("HOME="+home, "XDG_STATE_HOME="+filepath.Join(home, "state"), "XDG_CONFIG_HOME="+filepath.Join(home, "config"))
	h.gitEnv = append(slices.Clip(h.env), "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=Samverk E2E", "GIT_AUTHOR_EMAIL=e2e@samverk.example",
		"GIT_COMMITTER_NAME=Samverk E2E", "GIT_COMMITTER_EMAIL=e2e@samverk.example")

	build(t, h.bin)

	h.git(t, "init", "-q", "-b", "main")
	if err := os.CopyFS(h.repo, os.DirFS("testdata/catalog")); err != nil {
		t.Fatal(err)
	}

	h.tokens = filepath.Join(base, "enroll-tokens")
	writeFile(t, h.tokens, member+"="+enrollToken+"\n", 0o600)
	h.admin = filepath.Join(base, "admin-token")
	writeFile(t, h.admin, adminToken+"\n", 0o600)

	// What the agent reads its facts from under --root.
	writeFile(t, filepath.Join(h.root, "sys/class/dmi/id/sys_vendor"), dmiVendor+"\n", 0o644)
	writeFile(t, filepath.Join(h.root, "sys/class/dmi/id/product_name"), dmiModel+"\n", 0o644)
	writeFile(t, filepath.Join(h.root, "etc/os-release"), "NAME=\"Ubuntu\"\nVERSION_ID=\""+osBuild+"\"\nID=ubuntu\n", 0o644)

	h.addr = freeAddr(t)
	h.server = "http://" + h.addr
	return h
}

// build compiles both programs into dir.
func build(t *testing.T, dir string) {
	t.Helper()
	start := time.Now()
	// go test puts its own Go first in PATH.
	cmd := exec.Command("go", "build", "-o", dir+string(filepath.Separator),
		"samverk.io/samverk/engine/cmd/samverk", "samverk.io/samverk/engine/cmd/samverk-agent")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Logf("built samverk and samverk-agent in %s", time.Since(start).Round(time.Millisecond))
}

// cleanEnv is the test's environment without samverk's and Git's own variables, which would
// change what the programs do, plus extra.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "SAMVERK_") || strings.HasPrefix(k, "GIT_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func (h *harness) git(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = h.repo
	cmd.Env = h.gitEnv
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// commit commits the work tree as it is and returns the commit's hash.
func (h *harness) commit(t *testing.T, msg string) string {
	t.Helper()
	h.git(t, "add", "-A")
	h.git(t, "commit", "-q", "-m", msg)
	return h.git(t, "rev-parse", "HEAD")
}

// usePackage puts the variant of e2e-tool 1.1 at the given lifecycle stage into the catalog.
func (h *harness) usePackage(t *testing.T, stage string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata/packages", "e2e-tool-1-1."+stage+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(h.repo, "packages/e2e-tool-1-1.yaml"), string(b), 0o644)
}

// process is a program started in the background.
type process struct {
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// startProcess starts cmd with its output going to a new file at logPath.
func startProcess(t *testing.T, cmd *exec.Cmd, logPath string) *process {
	t.Helper()
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		t.Fatal(err)
	}
	p := &process{cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	return p
}

// kill ends the process, if it still runs, and waits for it.
func (p *process) kill() {
	if !p.exited() {
		_ = p.cmd.Process.Kill()
	}
	<-p.done
}

// startDaemon starts `samverk serve` and waits until it is ready.
func (h *harness) startDaemon(t *testing.T) {
	t.Helper()
	h.daemons++
	cmd := exec.Command(filepath.Join(h.bin, "samverk"), "serve",
		"--repo", h.repo, "--branch", "main", "--listen", h.addr, "--data", h.data, "--interval", "1s",
		"--enroll-tokens", h.tokens, "--admin-token-file", h.admin)
	cmd.Args = append(cmd.Args, h.daemonArgs...)
	cmd.Env = h.env
	p := startProcess(t, cmd, filepath.Join(h.logs, fmt.Sprintf("daemon-%d.log", h.daemons)))
	h.daemon = p
	top := h.top
	top.Cleanup(func() {
		p.kill()
		if top.Failed() {
			b, _ := os.ReadFile(p.log)
			top.Logf("log of daemon %s:\n%s", filepath.Base(p.log), tail(b, 16<<10))
		}
	})

	waitAnswers(t, p, h.server+"/readyz", "the daemon is ready")
}

// waitAnswers waits until url answers 200, failing at once when the daemon p exits instead.
func waitAnswers(t *testing.T, p *process, url, what string) {
	t.Helper()
	eventually(t, 60*time.Second, what, func() (bool, string) {
		if p.exited() {
			b, _ := os.ReadFile(p.log)
			t.Fatalf("the daemon exited: %v\n%s", p.err, tail(b, 8<<10))
		}
		resp, err := http.Get(url)
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
}

// stopDaemon kills the daemon.
func (h *harness) stopDaemon(t *testing.T) {
	t.Helper()
	if h.daemon == nil {
		t.Fatal("no daemon runs")
	}
	h.daemon.kill()
	h.daemon = nil
}

// waitApplied waits until the daemon serves rev, and fails at once when it refused it.
func (h *harness) waitApplied(t *testing.T, rev string) {
	t.Helper()
	eventually(t, 30*time.Second, "the daemon publishes "+rev[:12], func() (bool, string) {
		var st struct {
			LastAppliedRevision   string `json:"lastAppliedRevision"`
			LastAttemptedRevision string `json:"lastAttemptedRevision"`
			History               []struct {
				Revision string `json:"revision"`
				Outcome  string `json:"outcome"`
				Message  string `json:"message"`
			} `json:"history"`
		}
		if err := h.get("/api/v1/status", &st); err != nil {
			return false, err.Error()
		}
		for _, a := range st.History {
			if a.Revision == rev && a.Outcome == "refused" {
				t.Fatalf("the daemon refused %s: %s", rev[:12], a.Message)
			}
		}
		return st.LastAppliedRevision == rev, fmt.Sprintf("last applied %q, last attempted %q", st.LastAppliedRevision, st.LastAttemptedRevision)
	})
}

// get reads a JSON document from the daemon with the admin token.
func (h *harness) get(path string, v any) error {
	req, err := http.NewRequest(http.MethodGet, h.server+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", path, resp.Status, bytes.TrimSpace(b))
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	return nil
}

func (h *harness) getJSON(t *testing.T, path string, v any) {
	t.Helper()
	if err := h.get(path, v); err != nil {
		t.Fatal(err)
	}
}

// The fleet view's JSON, as far as the test reads it.
type (
	deviceView struct {
		ID             string        `json:"id"`
		Member         string        `json:"member"`
		Facts          desired.Facts `json:"facts"`
		Group          string        `json:"group"`
		Ring           string        `json:"ring"`
		ServedHash     string        `json:"servedHash"`
		ServedRevision string        `json:"servedRevision"`
		DesiredHash    string        `json:"desiredHash"`
		Compliance     string        `json:"compliance"`
		LastReport     *struct {
			Revision    string `json:"revision"`
			AppliedHash string `json:"appliedHash"`
			Counts      counts `json:"counts"`
		} `json:"lastReport"`
	}
	counts struct {
		Unchanged int `json:"unchanged"`
		Corrected int `json:"corrected"`
		Failed    int `json:"failed"`
		Skipped   int `json:"skipped"`
		Drifted   int `json:"drifted"`
	}
	storedReport struct {
		Revision   string                   `json:"revision"`
		Hash       string                   `json:"hash"`
		StartedAt  time.Time                `json:"startedAt"`
		Noop       bool                     `json:"noop"`
		Compliance string                   `json:"compliance"`
		Resources  []desired.ResourceResult `json:"resources"`
	}
)

func (h *harness) device(t *testing.T, id string) deviceView {
	t.Helper()
	var d deviceView
	h.getJSON(t, "/api/v1/devices/"+id, &d)
	return d
}

// waitReported waits until the daemon's history of device id holds the report rep the agent
// wrote, and returns it.
func (h *harness) waitReported(t *testing.T, id string, rep desired.Report) storedReport {
	t.Helper()
	var found storedReport
	eventually(t, 10*time.Second, "the daemon has the report of the run started at "+rep.StartedAt.Format(time.RFC3339Nano), func() (bool, string) {
		var hist struct {
			Reports []storedReport `json:"reports"`
		}
		if err := h.get("/api/v1/devices/"+id+"/reports?limit=20", &hist); err != nil {
			return false, err.Error()
		}
		for _, r := range hist.Reports {
			// The store keeps milliseconds.
			if r.Hash == rep.Hash && r.StartedAt.UnixMilli() == rep.StartedAt.UnixMilli() {
				found = r
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d reports in the history", len(hist.Reports))
	})
	if found.Revision != rep.Revision || found.Noop != rep.Noop {
		t.Errorf("the daemon has the report as revision %q noop %v; the agent sent revision %q noop %v",
			found.Revision, found.Noop, rep.Revision, rep.Noop)
	}
	return found
}

// agentRun is how one run of the agent ended.
type agentRun struct {
	args []string
	code int
	out  string
}

func (r agentRun) wantExit(t *testing.T, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("samverk-agent %s exited %d, want %d:\n%s", strings.Join(r.args, " "), r.code, code, r.out)
	}
}

// runAgent runs `samverk-agent --once` with the harness's server, state directory and root.
func (h *harness) runAgent(t *testing.T, extra ...string) agentRun {
	t.Helper()
	args := append([]string{"--server", h.server, "--enroll-token", enrollToken, "--state-dir", h.state,
		"--root", h.root, "--label", label, "--once"}, extra...)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(h.bin, "samverk-agent"), args...)
	cmd.Env = h.env
	out, err := cmd.CombinedOutput()
	run := agentRun{args: append([]string{"--once"}, extra...), out: string(out)}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		run.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("samverk-agent: %v\n%s", err, out)
	}
	t.Logf("samverk-agent %s exited %d:\n%s", strings.Join(run.args, " "), run.code, out)
	return run
}

// lastReport reads the report of the agent's last run from its state directory.
func (h *harness) lastReport(t *testing.T) desired.Report {
	t.Helper()
	var r desired.Report
	b, err := os.ReadFile(filepath.Join(h.state, "last-report.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("last-report.json: %v", err)
	}
	return r
}

// deviceID reads the id the device enrolled as from the agent's credential.
func (h *harness) deviceID(t *testing.T) string {
	t.Helper()
	var c struct {
		DeviceID string `json:"deviceId"`
	}
	b, err := os.ReadFile(filepath.Join(h.state, "credential"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &c); err != nil || c.DeviceID == "" {
		t.Fatalf("credential: no device id (%v)", err)
	}
	return c.DeviceID
}

// queuedReports lists the reports waiting in the agent's state directory.
func (h *harness) queuedReports(t *testing.T) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(h.state, "reports", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func (h *harness) rooted(p string) string { return filepath.Join(h.root, filepath.FromSlash(p)) }

// wantReport checks a report's revision, noop flag and the outcome of every resource: want
// names every resource the report must have, and no other.
func wantReport(t *testing.T, rep desired.Report, rev string, noop bool, want map[string]string) {
	t.Helper()
	if rep.Revision != rev {
		t.Errorf("report of revision %q, want %q", rep.Revision, rev)
	}
	if rep.Noop != noop {
		t.Errorf("report noop %v, want %v", rep.Noop, noop)
	}
	got := map[string]string{}
	for _, r := range rep.Resources {
		got[r.ID] = r.Outcome
	}
	for id, outcome := range want {
		if got[id] != outcome {
			t.Errorf("%s: outcome %q, want %q (%s)", id, got[id], outcome, reasonOf(rep, id))
		}
	}
	for id := range got {
		if _, ok := want[id]; !ok {
			t.Errorf("unexpected resource %s: %s (%s)", id, got[id], reasonOf(rep, id))
		}
	}
}

func wantReason(t *testing.T, rep desired.Report, id, want string) {
	t.Helper()
	if got := reasonOf(rep, id); !strings.Contains(got, want) {
		t.Errorf("%s: reason %q, want it to say %q", id, got, want)
	}
}

func reasonOf(rep desired.Report, id string) string {
	for _, r := range rep.Resources {
		if r.ID == id {
			return r.Reason
		}
	}
	return "not in the report"
}

// wantSameOutcomes checks that the daemon stored the outcomes the agent reported. The store
// keeps only the resources that did something other than stay unchanged.
func wantSameOutcomes(t *testing.T, stored storedReport, rep desired.Report) {
	t.Helper()
	got := map[string]string{}
	for _, r := range stored.Resources {
		got[r.ID] = r.Outcome
	}
	want := map[string]string{}
	for _, r := range rep.Resources {
		if r.Outcome != desired.Unchanged {
			want[r.ID] = r.Outcome
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("the daemon stored outcomes %v, the agent reported %v", got, want)
	}
}

// wantFile checks a file's content and, unless mode is 0, its permissions.
func wantFile(t *testing.T, path, content string, mode fs.FileMode) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Errorf("%v", err)
		return
	}
	if string(b) != content {
		t.Errorf("%s holds %q, want %q", path, b, content)
	}
	if mode == 0 {
		return
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Error(err)
		return
	}
	if fi.Mode().Perm() != mode {
		t.Errorf("%s has mode %04o, want %04o", path, fi.Mode().Perm(), mode)
	}
}

func wantAbsent(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s exists (%v), want it absent", path, err)
	}
}

func writeFile(t *testing.T, path, content string, mode fs.FileMode) {
	t.Helper()
	mkdirAll(t, filepath.Dir(path))
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	// WriteFile keeps the mode of a file that exists.
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func mkdirAll(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

func removeAll(t *testing.T, path string) {
	t.Helper()
	if err := os.RemoveAll(path); err != nil {
		t.Fatal(err)
	}
}

// eventually polls cond until it holds, failing the test with cond's last word after timeout.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, detail := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s: %s", timeout, what, detail)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
