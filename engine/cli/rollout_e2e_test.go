package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"samverk.io/samverk/engine/desired"
	"samverk.io/samverk/engine/rollout"
	"samverk.io/samverk/engine/source/gittest"
	"samverk.io/samverk/engine/store"
)

// TestRolloutThroughRings is the rollout's acceptance path on the reference catalog and its
// consortium RolloutPolicy, with 30 agents over real HTTP and a clock the test moves:
//   - a revision that breaks a package on pilot halts at pilot; early and broad never see it
//     (their ETags do not change);
//   - a good revision advances pilot → early → broad as reports arrive and soak times pass;
//   - kommun-vasterby's broad office PCs (maintenance window 18:00–06:00 on weekdays) keep their
//     state after the promotion until their window opens;
//   - a fast-track with a reason reaches every ring at once and is recorded.
func TestRolloutThroughRings(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a daemon and 30 agents")
	}
	// Wednesday 2 December 2026, 10:00 UTC: 11:00 in Stockholm, outside the office window.
	start := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	clk := &clock{now: start}
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
	ctx := context.Background()

	rings := map[string][]*pc{}
	enroll := func(ring, token string, i int, facts desired.Facts) {
		facts.Hostname, facts.Serial = fmt.Sprintf("%s-%02d", ring, i), fmt.Sprintf("SN-%s-%02d", ring, i)
		facts.OSFamily, facts.OSBuild = "windows", "26100"
		rings[ring] = append(rings[ring], enrollPC(t, d.url, token, facts))
	}
	for i := range 10 {
		enroll("pilot", routeEnrollA, i, desired.Facts{Vendor: "Dell Inc.", Model: "Latitude 5450", Labels: map[string]string{"ring": "pilot"}})
		enroll("early", routeEnrollA, i, desired.Facts{Vendor: "Dell Inc.", Model: "Latitude 5450", Labels: map[string]string{"department": "administration"}})
		enroll("broad", routeEnrollB, i, desired.Facts{Vendor: "HP", Model: "HP EliteBook 840 G10 Notebook PC"})
	}
	// pollAll polls every device of ring and reports; failing devices report the first
	// package of their state failed. It returns the distinct revisions the ring then holds.
	pollAll := func(ring string, failing int) map[string]int {
		t.Helper()
		revs := map[string]int{}
		for i, p := range rings[ring] {
			p.poll()
			var failed []string
			if i < failing {
				for _, r := range p.state.Resources {
					if r.Type == desired.TypePackage {
						failed = append(failed, r.ID)
						break
					}
				}
			}
			p.report(clk.Now(), failed...)
			revs[p.state.Revision]++
		}
		return revs
	}
	hashes := func(ring string) map[string]bool {
		out := map[string]bool{}
		for _, p := range rings[ring] {
			out[p.state.Hash] = true
		}
		return out
	}
	tick := func() {
		t.Helper()
		if err := d.rollout.Tick(ctx); err != nil {
			t.Fatal(err)
		}
	}
	at := func(h time.Duration) { clk.set(start.Add(h)) }

	for _, ring := range []string{"pilot", "early", "broad"} {
		if revs := pollAll(ring, 0); revs[first.String()] != 10 {
			t.Fatalf("%s at first: %v", ring, revs)
		}
		if st := rings[ring][0].state; st.Ring != ring {
			t.Fatalf("%s device in ring %q (group %s)", ring, st.Ring, st.Group)
		}
	}
	earlyR1, broadR1 := hashes("early"), hashes("broad")

	// A bad revision: the new baseline value goes to pilot only, where 8 of 10 fail.
	at(time.Hour)
	replace(t, repo, "baselines/windows-11-standard.yaml", "RequirePlatformSecurityFeatures\n      value: 1", "RequirePlatformSecurityFeatures\n      value: 3")
	bad := publish(t, d, repo, "VBS requires DMA protection")
	if revs := pollAll("pilot", 8); revs[bad.String()] != 10 {
		t.Fatalf("pilot after the bad revision: %v", revs)
	}
	tick()
	if revs := pollAll("early", 0); revs[first.String()] != 10 || !same(hashes("early"), earlyR1) {
		t.Fatalf("early after the bad revision: %v", revs)
	}
	if revs := pollAll("broad", 0); revs[first.String()] != 10 || !same(hashes("broad"), broadR1) {
		t.Fatalf("broad after the bad revision: %v", revs)
	}
	st := rolloutStatus(t, d)
	if r := ringOf(st, "pilot"); r.Revision != bad.String() || r.Status != store.RingHalted {
		t.Fatalf("pilot after 8 failures: %+v", r)
	}
	if rec := st.Records[0]; rec.Action != rollout.ActionHalted || rec.Ring != "pilot" || !strings.Contains(string(rec.Evidence), `"failed":8`) {
		t.Fatalf("latest record: %+v %s", rec, rec.Evidence)
	}
	// The CLI shows the halt; a member's reader may not see the consortium's rings.
	dir := t.TempDir()
	adminFile, readFile := filepath.Join(dir, "admin"), filepath.Join(dir, "read")
	os.WriteFile(adminFile, []byte(d.admin), 0o600)
	os.WriteFile(readFile, []byte(d.read), 0o600)
	cli := func(want int, args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		args = append([]string{"rollout"}, args...)
		args = append(args, "--server", d.url)
		if got := run(ctx, args, nil, &out, &errOut); got != want {
			t.Fatalf("%v: exit %d, want %d\nstdout: %s\nstderr: %s", args, got, want, out.String(), errOut.String())
		}
		return out.String() + errOut.String()
	}
	if out := cli(ExitOK, "status", "--admin-token-file", adminFile); !strings.Contains(out, "pilot  "+short(bad.String())+"  halted") ||
		!strings.Contains(out, "8 of 10 devices of pilot failed") {
		t.Errorf("rollout status after the halt:\n%s", out)
	}
	if out := cli(ExitUsage, "status", "--token-file", readFile); !strings.Contains(out, "403") {
		t.Errorf("a member's reader asking for the rollout:\n%s", out)
	}
	cli(ExitUsage, "fast-track", "--admin-token-file", adminFile)
	for tok, want := range map[string]int{d.admin: http.StatusOK, d.read: http.StatusForbidden} {
		req, _ := http.NewRequest("GET", d.url+"/rollout", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, b := send(t, req)
		if resp.StatusCode != want {
			t.Fatalf("console rollout page: %s, want %d", resp.Status, want)
		}
		if want == http.StatusOK && (!strings.Contains(string(b), `<td>halted</td>`) || !strings.Contains(string(b), "8 of 10 devices of pilot failed")) {
			t.Errorf("console rollout page:\n%s", b)
		}
	}

	// Days later, still halted: early and broad never saw it.
	at(76 * time.Hour)
	tick()
	pollAll("early", 0)
	if !same(hashes("early"), earlyR1) {
		t.Fatal("early's state changed while pilot was halted")
	}

	// A good revision supersedes it: pilot, then early a day later, then broad two days later.
	at(78 * time.Hour) // Saturday 5 December, 16:00 UTC
	replace(t, repo, "baselines/windows-11-standard.yaml", "RequirePlatformSecurityFeatures\n      value: 3", "RequirePlatformSecurityFeatures\n      value: 2")
	good := publish(t, d, repo, "VBS at level 2")
	if revs := pollAll("pilot", 0); revs[good.String()] != 10 {
		t.Fatalf("pilot after the good revision: %v", revs)
	}
	tick()
	if r := ringOf(rolloutStatus(t, d), "pilot"); r.Gate == nil || r.Gate.Decision != rollout.Wait || !strings.Contains(r.Gate.Reason, "soaks") {
		t.Fatalf("pilot's gate before its soak time: %+v", r.Gate)
	}
	if pollAll("early", 0); !same(hashes("early"), earlyR1) {
		t.Fatal("early changed before pilot's soak time was over")
	}
	at(78*time.Hour + 24*time.Hour) // Sunday 6 December, 16:00 UTC
	tick()
	if revs := pollAll("early", 0); revs[good.String()] != 10 {
		t.Fatalf("early after pilot's gate: %v", revs)
	}
	if pollAll("broad", 0); !same(hashes("broad"), broadR1) {
		t.Fatal("broad changed before early's gate")
	}
	// Tuesday 8 December 16:00 UTC (17:00 in Stockholm): early's gate passes; broad is
	// promoted, but the office window is shut.
	at(78*time.Hour + 72*time.Hour)
	tick()
	if r := ringOf(rolloutStatus(t, d), "broad"); r.Revision != good.String() {
		t.Fatalf("broad after early's gate: %+v", r)
	}
	if revs := pollAll("broad", 0); revs[first.String()] != 10 || !same(hashes("broad"), broadR1) {
		t.Fatalf("broad outside its window: %v", revs)
	}
	at(78*time.Hour + 72*time.Hour + 90*time.Minute) // 18:30 in Stockholm
	if revs := pollAll("broad", 0); revs[good.String()] != 10 {
		t.Fatalf("broad in its window: %v", revs)
	}

	// A fast-track with a reason reaches every ring at once, window or not.
	at(78*time.Hour + 96*time.Hour) // Wednesday 9 December, 17:00 in Stockholm
	replace(t, repo, "baselines/windows-11-standard.yaml", "RequirePlatformSecurityFeatures\n      value: 2", "RequirePlatformSecurityFeatures\n      value: 1")
	urgent := publish(t, d, repo, "back to Secure Boot only")
	if code, body := rolloutAction(t, d, "fast-track", rollout.Action{}); code != http.StatusConflict {
		t.Fatalf("fast-track without a reason: %d %s", code, body)
	}
	// kommun-vasterby (the broad ring's PCs) is suspended first: even a fast-track does not
	// reach its devices until it is resumed. A suspension without a reason is refused.
	suspendCLI := func(want int, args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		args = append(args, "--server", d.url, "--admin-token-file", adminFile)
		if got := run(ctx, args, nil, &out, &errOut); got != want {
			t.Fatalf("%v: exit %d, want %d\nstdout: %s\nstderr: %s", args, got, want, out.String(), errOut.String())
		}
		return out.String() + errOut.String()
	}
	suspendCLI(ExitUsage, "suspend", "--member", "kommun-vasterby")
	suspendCLI(ExitUsage, "suspend", "--group", "kommun-vasterby", "--reason", "no group")
	if out := suspendCLI(ExitOK, "suspend", "--member", "kommun-vasterby", "--reason", "exam week"); !strings.Contains(out, "suspended kommun-vasterby") {
		t.Fatalf("suspend --member: %s", out)
	}
	// The console's fast-track form, as a consortium operator sends it: back to the page.
	form := strings.NewReader("reason=" + strings.ReplaceAll("DMA protection bricks docking stations", " ", "+"))
	req, _ := http.NewRequest("POST", d.url+"/api/v1/rollout/fast-track", form)
	req.Header.Set("Authorization", "Bearer "+d.admin)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if resp, b := send(t, req); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/rollout?done=") {
		t.Fatalf("fast-track from the console: %s %s %s", resp.Status, resp.Header.Get("Location"), b)
	}
	for _, ring := range []string{"pilot", "early"} {
		if revs := pollAll(ring, 0); revs[urgent.String()] != 10 {
			t.Fatalf("%s after the fast-track: %v", ring, revs)
		}
	}
	broadGood := hashes("broad")
	if revs := pollAll("broad", 0); revs[good.String()] != 10 || !same(hashes("broad"), broadGood) {
		t.Fatalf("suspended broad after the fast-track: %v", revs)
	}
	if out := suspendCLI(ExitOK, "resume", "--member", "kommun-vasterby"); !strings.Contains(out, "resumed kommun-vasterby") {
		t.Fatalf("resume --member: %s", out)
	}
	suspendCLI(ExitUsage, "resume", "--member", "kommun-vasterby") // nothing left to resume: 409
	if revs := pollAll("broad", 0); revs[urgent.String()] != 10 {
		t.Fatalf("broad after its resume: %v", revs)
	}
	for tok, want := range map[string]string{d.admin: `action="/api/v1/rollout/fast-track"`} {
		req, _ := http.NewRequest("GET", d.url+"/rollout", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		if resp, b := send(t, req); resp.StatusCode != http.StatusOK || !strings.Contains(string(b), want) {
			t.Errorf("console rollout page for an operator: %s, lacks %s", resp.Status, want)
		}
	}
	recs, err := d.rollout.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rec := recs.Records[0]; rec.Action != rollout.ActionFastTracked || rec.Reason != "DMA protection bricks docking stations" || rec.Actor == "" {
		t.Fatalf("fast-track record: %+v", rec)
	}
}

func same(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

func rolloutStatus(t *testing.T, d *routeDaemon) *rollout.Status {
	t.Helper()
	req, _ := http.NewRequest("GET", d.url+"/api/v1/rollout", nil)
	req.Header.Set("Authorization", "Bearer "+d.admin)
	resp, b := send(t, req)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("rollout status: %s %s", resp.Status, b)
	}
	var st rollout.Status
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	return &st
}

func ringOf(st *rollout.Status, ring string) rollout.RingStatus {
	for _, r := range st.Rings {
		if r.Ring == ring {
			return r
		}
	}
	return rollout.RingStatus{}
}

func rolloutAction(t *testing.T, d *routeDaemon, action string, a rollout.Action) (int, string) {
	t.Helper()
	body, _ := json.Marshal(a)
	req, _ := http.NewRequest("POST", d.url+"/api/v1/rollout/"+action, strings.NewReader(string(body)))
	req.Header.Set("Authorization", "Bearer "+d.admin)
	req.Header.Set("Content-Type", "application/json")
	resp, b := send(t, req)
	return resp.StatusCode, string(b)
}
