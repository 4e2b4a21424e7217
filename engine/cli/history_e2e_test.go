package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"samverk.io/samverk/engine/compile"
	"samverk.io/samverk/engine/desired"
	"samverk.io/samverk/engine/history"
	"samverk.io/samverk/engine/source/gittest"
)

// clock is the daemon's clock in a test: it moves only when the test says.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// pc is a device driven by the test over the agent API: it fetches its state and reports.
type pc struct {
	t     *testing.T
	url   string
	id    string
	cred  string
	facts desired.Facts
	state *desired.State
}

func enrollPC(t *testing.T, url, token string, facts desired.Facts) *pc {
	t.Helper()
	body, _ := json.Marshal(desired.EnrollRequest{Facts: facts})
	req, _ := http.NewRequest("POST", url+"/api/v1/enroll", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, b := send(t, req)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("enroll: %s %s", resp.Status, b)
	}
	var er desired.EnrollResponse
	if err := json.Unmarshal(b, &er); err != nil {
		t.Fatal(err)
	}
	return &pc{t: t, url: url, id: er.DeviceID, cred: er.Credential, facts: facts}
}

// poll fetches the device's desired state as the agent does, and returns it.
func (p *pc) poll() *desired.State {
	p.t.Helper()
	req, _ := http.NewRequest("GET", p.url+"/api/v1/devices/"+p.id+"/desired", nil)
	req.Header.Set("Authorization", "Bearer "+p.cred)
	if p.state != nil {
		req.Header.Set("If-None-Match", `"`+p.state.Hash+`"`)
	}
	resp, b := send(p.t, req)
	switch resp.StatusCode {
	case http.StatusNotModified:
		return p.state
	case http.StatusOK:
	default:
		p.t.Fatalf("desired state: %s %s", resp.Status, b)
	}
	var st desired.State
	if err := json.Unmarshal(b, &st); err != nil {
		p.t.Fatal(err)
	}
	if got := compile.HashOf(&st); got != st.Hash {
		p.t.Fatalf("served state hashes to %s, says %s", got, st.Hash)
	}
	p.state = &st
	return p.state
}

// report sends a run of the state last fetched: every resource unchanged except those named
// in failed, which failed.
func (p *pc) report(at time.Time, failed ...string) {
	p.t.Helper()
	r := desired.Report{Revision: p.state.Revision, Hash: p.state.Hash, StartedAt: at, DurationMs: 1200, Facts: p.facts}
	for _, res := range p.state.Resources {
		rr := desired.ResourceResult{ID: res.ID, Outcome: desired.Unchanged}
		for _, f := range failed {
			if f == res.ID {
				rr.Outcome, rr.Reason = desired.Failed, "exit code 1603"
			}
		}
		r.Resources = append(r.Resources, rr)
	}
	body, _ := json.Marshal(r)
	req, _ := http.NewRequest("POST", p.url+"/api/v1/devices/"+p.id+"/reports", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+p.cred)
	req.Header.Set("Content-Type", "application/json")
	resp, b := send(p.t, req)
	if resp.StatusCode/100 != 2 {
		p.t.Fatalf("report: %s %s", resp.Status, b)
	}
}

// replace rewrites one file of the repository's work tree, failing when old is not in it.
func replace(t *testing.T, repo *gittest.Repo, name, old, new string) {
	t.Helper()
	p := filepath.Join(repo.Dir, filepath.FromSlash(name))
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(old)) {
		t.Fatalf("%s does not hold %q", name, old)
	}
	repo.Write(map[string]string{name: strings.Replace(string(b), old, new, 1)})
}

// publish commits the work tree, has the daemon fetch it and waits until it serves it.
func publish(t *testing.T, d *routeDaemon, repo *gittest.Repo, msg string) plumbing.Hash {
	t.Helper()
	rev := repo.Commit(msg, nil)
	if err := d.rec.Trigger("test", false); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		st := d.rec.Status()
		if st.LastAppliedRevision == rev.String() {
			return rev
		}
		if st.LastAttemptedRevision == rev.String() && st.InProgress == nil && len(st.History) > 0 && st.History[0].Outcome == "refused" {
			t.Fatalf("%s: commit refused: %s\n%+v", msg, st.History[0].Message, st.Report)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not published in time; status %+v", msg, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// moment is an instant of the device's life with what it was actually served then.
type moment struct {
	name     string
	at       time.Time
	revision string // the revision published then
	state    desired.State
	failed   []string // resources its report said failed
	waivers  []string // waivers in force, "namespace/name"
}

func (m moment) String() string { return fmt.Sprintf("%s (%s)", m.name, m.at.Format(time.RFC3339)) }

// TestHistoryOfADevice follows one device through five commits — a package upgrade, a
// baseline change, a waiver granted and then expired, a certification that lets its OS
// upgrade — reporting in between, and then looks back at six instants: each answer is checked
// against what the device was actually served and reported then.
func TestHistoryOfADevice(t *testing.T) {
	day0 := time.Now().UTC().Truncate(24 * time.Hour)
	day := func(n int, hour int) time.Time {
		return day0.Add(time.Duration(n)*24*time.Hour + time.Duration(hour)*time.Hour)
	}
	clk := &clock{now: day(0, 8)}

	repo := gittest.New(t)
	repo.CopyDir(filepath.Join("..", "..", "catalog"), "")
	first := repo.Commit("the reference catalog", nil)
	d := startRouteDaemon(t, func(o *serveOptions, dir string) {
		o.repo = repo.Dir
		o.now = clk.Now
	})
	if got := d.rec.Status().LastAppliedRevision; got != first.String() {
		t.Fatalf("serving %s, want %s", got, first)
	}
	// A Latitude 7450 in region-norr's pilot ring, on Windows 11 24H2: its group targets
	// 25H2, for which the 7450 is still being tested.
	dev := enrollPC(t, d.url, routeEnrollA, desired.Facts{Hostname: "norr-7450-01", Serial: "7450-SN-01",
		Vendor: "Dell Inc.", Model: "Latitude 7450", OSFamily: "windows", OSBuild: "26100", Labels: map[string]string{"ring": "pilot"}})

	var moments []moment
	live := func(name string, at time.Time, rev plumbing.Hash, failed []string, waivers ...string) {
		t.Helper()
		moments = append(moments, moment{name: name, at: at, revision: rev.String(), state: *dev.state, failed: failed, waivers: waivers})
	}
	step := func(at time.Time, failed ...string) {
		t.Helper()
		clk.set(at)
		dev.poll()
		clk.set(at.Add(5 * time.Minute))
		dev.report(at, failed...)
	}

	// Day 0: the reference catalog.
	step(day(0, 9))
	if os := dev.state.OS; os == nil || os.Action != "stay" {
		t.Fatalf("day 0: OS = %+v, want stay (not certified)", os)
	}
	live("reference catalog", day(0, 12), first, nil, "region-norr-secpol-commands")

	// Day 1: Notepad++ 8.8.7 passes its tests and reaches user test, which the pilot ring
	// takes; the first install fails.
	clk.set(day(1, 8))
	replace(t, repo, "packages/notepad-plus-plus.yaml", `    # Back in infra test after a failed first round; no ring gets it yet.
    stage: infra-test
    records:
      - {stage: infra-test, date: 2026-11-12, member: region-norr, result: fail, notes: "The installer re-enabled the auto-updater (GUP.exe) despite /noUpdater; the package is being rebuilt."}`,
		`    stage: user-test
    records:
      - {stage: infra-test, date: 2026-11-19, member: region-norr, result: pass, evidence: "https://epaket.eklient.example/paket/notepad-plus-plus-8-8-7/infratest"}
      - {stage: user-test, date: 2026-11-26, member: region-norr, result: pass, evidence: "https://epaket.eklient.example/paket/notepad-plus-plus-8-8-7/anvandartest"}`)
	upgrade := publish(t, d, repo, "notepad++ 8.8.7 to user test")
	step(day(1, 9), "package/notepad-plus-plus")
	if !hasResource(dev.state, "package/notepad-plus-plus", "8.8.7") {
		t.Fatalf("day 1: the state lacks Notepad++ 8.8.7: %+v", dev.state.Resources)
	}
	live("package upgrade, install failed", day(1, 12), upgrade, []string{"package/notepad-plus-plus"}, "region-norr-secpol-commands")

	// Day 2: the shared baseline requires DMA protection as well as Secure Boot.
	clk.set(day(2, 8))
	replace(t, repo, "baselines/windows-11-standard.yaml", `RequirePlatformSecurityFeatures
      value: 1`, `RequirePlatformSecurityFeatures
      value: 3`)
	baseline := publish(t, d, repo, "VBS requires DMA protection")
	step(day(2, 9))
	live("baseline change", day(2, 12), baseline, nil, "region-norr-secpol-commands")

	// Day 3: the strategy group waives the certification rule for pilot-it until day 5. The
	// desired state does not change, so the device keeps the state it was served on day 2.
	clk.set(day(3, 8))
	expires := day(5, 0).Format(time.DateOnly)
	repo.Write(map[string]string{"waivers/pilot-it-7450.yaml": `apiVersion: samverk.io/v1
kind: Waiver
metadata:
  name: pilot-it-7450
spec:
  policy: SV-DG-002
  targets:
    - kind: DeviceGroup
      name: pilot-it
      namespace: region-norr
  reason: The 7450s stay on 24H2 in the pilot until Dell fixes the modem firmware.
  approvedBy: Strategigruppen
  expires: "` + expires + `"
`})
	waiver := publish(t, d, repo, "waive the 7450 certification in pilot-it")
	step(day(3, 9))
	live("waiver granted", day(3, 12), waiver, nil, "pilot-it-7450", "region-norr-secpol-commands")

	// Day 5: the waiver has expired; nothing was committed.
	step(day(5, 9))
	live("waiver expired", day(5, 12), waiver, nil, "region-norr-secpol-commands")

	// Day 6: the 7450 is certified for 25H2 (and the expired waiver goes): the device is told
	// to upgrade.
	clk.set(day(6, 8))
	replace(t, repo, "hardware/dell-latitude-7450.yaml", `    - osRelease: windows-11-25h2
      status: testing`, `    - osRelease: windows-11-25h2
      status: certified
      evidence: https://overview.eklient.example/certifiering/dell-latitude-7450/windows-11-25h2`)
	replace(t, repo, "hardware/dell-latitude-7450.yaml", `          outcome: fail
          notes: Modem firmware 1.2.3 loses its APN profile after resume; Dell case open.`, `          outcome: pass
          notes: Fixed in modem firmware 1.2.4.`)
	repo.Remove("waivers/pilot-it-7450.yaml")
	certified := publish(t, d, repo, "certify the 7450 for 25H2")
	step(day(6, 9))
	if os := dev.state.OS; os == nil || os.Action != "upgrade" {
		t.Fatalf("day 6: OS = %+v, want upgrade", os)
	}
	live("certified", day(6, 12), certified, nil, "region-norr-secpol-commands")
	clk.set(day(7, 0))

	for _, m := range moments {
		t.Run(m.name, func(t *testing.T) { lookBack(t, d, dev, m) })
	}
}

// hasResource reports whether st has the resource id at version.
func hasResource(st *desired.State, id, version string) bool {
	for _, r := range st.Resources {
		if r.ID == id && r.Package != nil && r.Package.Version == version {
			return true
		}
	}
	return false
}

// lookBack asks the daemon for the device at m.at, through the API and through `samverk
// history`, and checks every part against what the device was served and reported then.
func lookBack(t *testing.T, d *routeDaemon, dev *pc, m moment) {
	req, _ := http.NewRequest("GET", d.url+"/api/v1/devices/"+dev.id+"/history?at="+m.at.Format(time.RFC3339), nil)
	req.Header.Set("Authorization", "Bearer "+d.admin)
	resp, b := send(t, req)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("history: %s %s", resp.Status, b)
	}
	var snap history.Snapshot
	if err := json.Unmarshal(b, &snap); err != nil {
		t.Fatal(err)
	}
	if snap.Ring == nil || snap.Ring.Revision != m.revision {
		t.Errorf("revision in force = %+v, want %s", snap.Ring, m.revision)
	}
	if snap.Served == nil || snap.Served.Hash != m.state.Hash || snap.Served.Revision != m.state.Revision {
		t.Fatalf("served = %+v, want hash %s first served at %s", snap.Served, m.state.Hash, m.state.Revision)
	}
	rc := snap.Recompiled
	if rc == nil || !rc.Verified || rc.RecompiledHash != m.state.Hash || rc.State == nil {
		t.Fatalf("recompiled = %+v, want the served state verified", rc)
	}
	// The state recompiled is the state served, resource by resource.
	want, _ := json.Marshal(m.state.Resources)
	got, _ := json.Marshal(rc.State.Resources)
	if !bytes.Equal(got, want) || compile.HashOf(rc.State) != m.state.Hash {
		t.Errorf("recompiled resources differ from those served:\n got %s\nwant %s", got, want)
	}
	if gotOS, wantOS := jsonOf(rc.State.OS), jsonOf(m.state.OS); gotOS != wantOS {
		t.Errorf("recompiled OS = %+v, served %+v", rc.State.OS, m.state.OS)
	}
	if snap.Pending != nil {
		t.Errorf("pending = %+v, but the device had fetched its ring's revision", snap.Pending)
	}
	// What it reported, and how that differed from what it was served.
	wantCompliance := "compliant"
	if len(m.failed) > 0 {
		wantCompliance = "failed"
	}
	if snap.Outcome == nil || snap.Outcome.Compliance != wantCompliance || snap.Outcome.AppliedHash != m.state.Hash {
		t.Errorf("outcome = %+v, want %s applying %s", snap.Outcome, wantCompliance, m.state.Hash)
	}
	var failed []string
	if snap.Difference != nil {
		if !snap.Difference.Applied {
			t.Errorf("difference = %+v, want the served state applied", snap.Difference)
		}
		for _, r := range snap.Difference.Failed {
			failed = append(failed, r.ID)
		}
	}
	if strings.Join(failed, ",") != strings.Join(m.failed, ",") {
		t.Errorf("failed resources = %v, want %v", failed, m.failed)
	}
	// The waivers in force, from the catalog of the revision in force then.
	var waivers []string
	for _, w := range snap.Waivers {
		waivers = append(waivers, w.Name)
	}
	slices.Sort(waivers)
	if strings.Join(waivers, ",") != strings.Join(m.waivers, ",") || snap.WaiversRevision != m.revision {
		t.Errorf("waivers = %v from %s, want %v from %s", waivers, snap.WaiversRevision, m.waivers, m.revision)
	}
	if snap.Grants == nil || len(snap.Grants) != 0 {
		t.Errorf("grants = %v, want an empty list", snap.Grants)
	}

	// The same through the command an auditor runs.
	adminFile := filepath.Join(t.TempDir(), "admin")
	os.WriteFile(adminFile, []byte(d.admin), 0o600)
	var out, errOut bytes.Buffer
	args := []string{"history", "--server", d.url, "--admin-token-file", adminFile, "--device", dev.id, "--at", m.at.Format(time.RFC3339), "-o", "json"}
	if code := run(context.Background(), args, nil, &out, &errOut); code != ExitOK {
		t.Fatalf("%v: exit %d\n%s%s", args, code, out.String(), errOut.String())
	}
	var cli history.Snapshot
	if err := json.Unmarshal(out.Bytes(), &cli); err != nil {
		t.Fatalf("samverk history -o json: %v\n%s", err, out.String())
	}
	if cli.Recompiled == nil || cli.Recompiled.RecompiledHash != m.state.Hash || cli.Ring == nil || cli.Ring.Revision != m.revision {
		t.Errorf("samverk history gives %+v", cli)
	}
}

// jsonOf is v's JSON, to compare structs that hold pointers by what they point at.
func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
