package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/oauth2-proxy/mockoidc"

	"samverk.io/samverk/engine/desired"
)

// The second member of the console test, with a device group of its own.
const (
	regionMember = "e2e-region"
	regionToken  = "enroll-token-of-the-e2e-region-0123456789"
	regionLabel  = "lab=region"
	regionGroups = `apiVersion: samverk.io/v1
kind: DeviceGroup
metadata:
  name: broad-region
  namespace: e2e-region
  owner: e2e-region
spec:
  description: The console test's second member.
  priority: 10
  selector:
    labels: {lab: region}
    hardwareModels: [e2e-box]
  ring: broad
  osRelease: e2e-linux-24-04
  baselines: [e2e-grund]
  products: [e2e-tool]
`
	regionMemberDoc = `apiVersion: samverk.io/v1
kind: Member
metadata:
  name: e2e-region
  owner: e2e-region
spec:
  type: region
  displayName: E2E region
  contacts:
    - {role: operations, name: Drift, email: drift@region.e2e.example}
    - {role: security, name: Säkerhet, email: sakerhet@region.e2e.example}
`
)

// People of the identity provider, and the grants the role map gives them.
const (
	opsEmail    = "ops@e2e.example"    // viewer of the consortium
	regionEmail = "region@e2e.example" // viewer of e2e-region only
)

// TestConsoleInBrowser drives headless Chromium against `samverk serve` (built, on loopback,
// with a Git catalog, an SQLite store and two enrolled agents of two members): it signs in
// through OpenID Connect at a provider run here, opens every page, follows a device from the
// fleet list to its failed resource and reads the agent's reason; then it signs in as the
// other member's viewer and finds nothing of the first member's device.
//
// It needs Chromium; without it the test is skipped, except under CI=true, where it fails.
// Each page's screenshot, and one of the page at a failure, are saved in the test's artifact
// directory (go test -artifacts keeps them).
func TestConsoleInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the daemon and the agent and runs a browser; skipped with -short")
	}
	chromium := findChromium(t)
	h := newHarness(t)
	writeFile(t, filepath.Join(h.repo, "members", regionMember, "member.yaml"), regionMemberDoc, 0o644)
	writeFile(t, filepath.Join(h.repo, "members", regionMember, "groups.yaml"), regionGroups, 0o644)
	rev := h.commit(t, "Catalog of two members")
	writeFile(t, h.tokens, member+"="+enrollToken+"\n"+regionMember+"="+regionToken+"\n", 0o600)

	idp, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idp.Shutdown() })
	cfg := idp.Config()
	base := filepath.Dir(h.tokens)
	secretFile, roleMap := filepath.Join(base, "oidc-secret"), filepath.Join(base, "role-map")
	writeFile(t, secretFile, cfg.ClientSecret+"\n", 0o600)
	writeFile(t, roleMap, opsEmail+" = viewer@*\n"+regionEmail+" = viewer@"+regionMember+"\n", 0o600)
	// The provider puts groups in the ID token only for a "groups" scope; the e-mail address
	// comes with the scopes samverk asks for, so the role map keys on it.
	h.daemonArgs = []string{"--oidc-issuer", cfg.Issuer, "--oidc-client-id", cfg.ClientID,
		"--oidc-client-secret-file", secretFile, "--oidc-roles-claim", "email", "--oidc-role-map", roleMap,
		"--console-counts-every", "500ms"}
	h.startDaemon(t)
	h.waitApplied(t, rev)

	// Device A (e2e-kommun): the login banner's path is taken by a directory, so that setting
	// fails and the agent says why.
	mkdirAll(t, h.rooted(bannerPath))
	h.runAgent(t)
	repA := h.lastReport(t)
	reason := reasonOf(repA, resBanner)
	if outcome := outcomeOf(repA, resBanner); outcome != desired.Failed || reason == "" {
		t.Fatalf("the agent reported %s as %q (%q); the test needs it failed with a reason", resBanner, outcome, reason)
	}
	idA := h.deviceID(t)
	h.waitReported(t, idA, repA)

	// Device B (e2e-region), in line.
	stateB, rootB := filepath.Join(base, "agent-b-state"), filepath.Join(base, "agent-b-root")
	writeFacts(t, rootB)
	runAgentAs(t, h, stateB, rootB, regionToken, regionLabel)
	idB := credentialID(t, stateB)

	b := newBrowser(t, chromium)

	t.Run("consortium viewer", func(t *testing.T) {
		idp.QueueUser(&mockoidc.MockUser{Subject: "ops-1", Email: opsEmail, EmailVerified: true, PreferredUsername: "ops"})
		b.signIn(t, h.server)
		// The console recounts the fleet every 500ms: reload until the count has both devices.
		eventually(t, 30*time.Second, "the overview counts both members' devices", func() (bool, string) {
			b.open(t, h.server+"/", "#member-counts", "")
			got := b.text(t, "#member-counts")
			return strings.Contains(got, member) && strings.Contains(got, regionMember), got
		})
		b.screenshot(t, "overview")
		b.contains(t, "body", member, regionMember, rev[:12], opsEmail)

		b.open(t, h.server+"/fleet", "#devices", "fleet")
		b.contains(t, "#devices", idA[:12], idB[:12])
		b.click(t, fmt.Sprintf(`a[href="/devices/%s"]`, idA), "#device-id", "device")
		row := "#res-" + strings.ReplaceAll(resBanner, "/", "-")
		if got := b.text(t, row+" .reason"); strings.TrimSpace(got) != strings.TrimSpace(reason) {
			t.Errorf("the device page says %s failed because %q; the agent said %q", resBanner, got, reason)
		}
		if cls := b.attr(t, row, "class"); cls != "outcome-failed" {
			t.Errorf("the row of %s has class %q, want outcome-failed", resBanner, cls)
		}
		// The guidance reference came back with the agent's report, and is in the plan.
		b.contains(t, row, "CIS 1.7.5")
		b.contains(t, "#plan", "baseline e2e-grund", "guidance: CIS 1.7.5")

		// Look back: the time slider, let go, opens the device at that instant, its state
		// recompiled from the revision served and checked against the hash the agent got.
		b.run(t, "move the time slider", chromedp.Evaluate[chromedp.Void](
			`(() => { const r = document.getElementById("slider-t"); r.value = r.max; r.dispatchEvent(new Event("change")); })()`),
			chromedp.WaitVisible(chromedp.CSS("#verified")))
		b.screenshot(t, "device-history")
		b.contains(t, "#verified", "Verified")
		b.contains(t, "#served-revision", rev)
		b.contains(t, "#timeline", rev[:12])

		b.open(t, h.server+"/certification", "#matrix", "certification")
		b.contains(t, "#matrix", "e2e-box", "e2e-linux-24-04")
		b.open(t, h.server+"/packages", "#board", "packages")
		b.contains(t, "#board", "e2e-tool", "1.0")
		b.open(t, h.server+"/baselines", "#baseline-e2e-grund", "baselines")
		b.contains(t, "#setting-login-banner", "login-banner", "CIS 1.7.5")
		b.open(t, h.server+"/costs", "#centres", "costs")
		b.contains(t, "#centres", "No grant was active")
		b.contains(t, "#total", "0.00")
		b.open(t, h.server+"/findings", "#findings", "findings")
		b.contains(t, "body", "Policy handbook")
		b.openPhone(t, h.server+"/fleet", "#devices", "fleet-phone")
	})

	t.Run("member viewer sees only its member", func(t *testing.T) {
		b.signOut(t)
		idp.QueueUser(&mockoidc.MockUser{Subject: "region-1", Email: regionEmail, EmailVerified: true, PreferredUsername: "region"})
		b.signIn(t, h.server)
		b.open(t, h.server+"/fleet", "#devices", "fleet-region")
		b.contains(t, "#devices", idB[:12])
		for _, path := range []string{"/", "/fleet", "/fleet?q=" + idA[:8], "/baselines", "/certification"} {
			b.open(t, h.server+path, "main", "")
			if html := b.html(t); strings.Contains(html, idA[:12]) || strings.Contains(html, reason) {
				t.Errorf("%s shows the other member's device %s", path, idA[:12])
			}
		}
		// The route table refuses it, and the console shows why on its own page.
		b.open(t, h.server+"/devices/"+idA, "main", "device-of-another-member")
		b.contains(t, "main", "Forbidden", "needs the role viewer")
	})
}

// findChromium returns the browser to drive, skipping the test without one (failing in CI).
func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is required in CI (CI=true) and is not installed")
	}
	t.Skip("chromium is not installed")
	return ""
}

// browser is one headless Chromium with a fresh profile.
type browser struct {
	ctx  context.Context
	dir  string // screenshots
	shot int
}

func newBrowser(t *testing.T, path string) *browser {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	b := &browser{ctx: ctx, dir: t.ArtifactDir()}
	t.Logf("screenshots go to %s", b.dir)
	return b
}

// run runs actions with a deadline; on failure it saves a screenshot and fails the test.
func (b *browser) run(t *testing.T, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.fatal(t, what, err)
	}
}

// read runs one action that returns a value, failing like run.
func read[T any](t *testing.T, b *browser, what string, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.fatal(t, what, err)
	}
	return v
}

func (b *browser) fatal(t *testing.T, what string, err error) {
	t.Helper()
	b.screenshot(t, "failure-"+strings.Map(safeRune, what))
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	t.Fatalf("%s: %v (at %s)", what, err, loc)
}

func safeRune(r rune) rune {
	if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' {
		return r
	}
	return '-'
}

// screenshot saves the whole page as <name>.png in the artifact directory.
func (b *browser) screenshot(t *testing.T, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return
	}
	b.shot++
	path := filepath.Join(b.dir, fmt.Sprintf("%02d-%s.png", b.shot, name))
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return
	}
	t.Logf("screenshot: %s", path)
}

// signIn opens the console, is sent to the sign-in page, and signs in at the provider.
func (b *browser) signIn(t *testing.T, server string) {
	t.Helper()
	start := chromedp.CSS(`a[href^="/auth/oidc/start"]`)
	b.run(t, "sign in",
		chromedp.Navigate(server+"/"),
		chromedp.WaitVisible(start),
		chromedp.Click(start),
		chromedp.WaitVisible(chromedp.CSS("#member-counts")),
	)
}

// signOut presses the console's sign-out button and waits for the sign-in page.
func (b *browser) signOut(t *testing.T) {
	t.Helper()
	b.run(t, "sign out",
		chromedp.Click(chromedp.CSS("form.signout button")),
		chromedp.WaitVisible(chromedp.CSS(`a[href^="/auth/oidc/start"]`)),
	)
}

// open loads url and waits for sel; with a name, it saves a screenshot.
func (b *browser) open(t *testing.T, url, sel, name string) {
	t.Helper()
	b.run(t, "open "+url, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS(sel)))
	if name != "" {
		b.screenshot(t, name)
	}
}

// openPhone loads url at a phone's width.
func (b *browser) openPhone(t *testing.T, url, sel, name string) {
	t.Helper()
	b.run(t, "open "+url+" on a phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)),
		chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS(sel)))
	b.screenshot(t, name)
	b.run(t, "back to a laptop", chromedp.EmulateViewport(1280, 900))
}

func (b *browser) click(t *testing.T, sel, waitFor, name string) {
	t.Helper()
	b.run(t, "click "+sel, chromedp.Click(chromedp.CSS(sel)), chromedp.WaitVisible(chromedp.CSS(waitFor)))
	b.screenshot(t, name)
}

func (b *browser) text(t *testing.T, sel string) string {
	t.Helper()
	return read(t, b, "read "+sel, chromedp.Text(chromedp.CSS(sel)))
}

func (b *browser) attr(t *testing.T, sel, name string) string {
	t.Helper()
	return read(t, b, "read "+sel+" "+name, chromedp.AttributeValue(chromedp.CSS(sel), name)).Value
}

func (b *browser) html(t *testing.T) string {
	t.Helper()
	return read(t, b, "read the page", chromedp.OuterHTML(chromedp.CSS("html")))
}

// contains checks that the text of sel holds every one of want.
func (b *browser) contains(t *testing.T, sel string, want ...string) {
	t.Helper()
	got := b.text(t, sel)
	for _, w := range want {
		if !strings.Contains(got, w) {
			b.screenshot(t, "failure-missing")
			t.Errorf("%s does not show %q", sel, w)
		}
	}
}

func outcomeOf(rep desired.Report, id string) string {
	for _, r := range rep.Resources {
		if r.ID == id {
			return r.Outcome
		}
	}
	return ""
}

// writeFacts writes what an agent reads its facts from under root: the e2e-box on Ubuntu.
func writeFacts(t *testing.T, root string) {
	t.Helper()
	writeFile(t, filepath.Join(root, "sys/class/dmi/id/sys_vendor"), dmiVendor+"\n", 0o644)
	writeFile(t, filepath.Join(root, "sys/class/dmi/id/product_name"), dmiModel+"\n", 0o644)
	writeFile(t, filepath.Join(root, "etc/os-release"), "NAME=\"Ubuntu\"\nVERSION_ID=\""+osBuild+"\"\nID=ubuntu\n", 0o644)
}

// runAgentAs runs one `samverk-agent --once` with its own state and root and waits until its
// report is stored.
func runAgentAs(t *testing.T, h *harness, state, root, token, label string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(h.bin, "samverk-agent"), "--server", h.server, "--enroll-token", token,
		"--state-dir", state, "--root", root, "--label", label, "--once")
	cmd.Env = h.env
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("samverk-agent: %v\n%s", err, out)
	}
	t.Logf("samverk-agent (%s) exited:\n%s", label, out)
	var rep desired.Report
	b, err := os.ReadFile(filepath.Join(state, "last-report.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	h.waitReported(t, credentialID(t, state), rep)
}

func credentialID(t *testing.T, state string) string {
	t.Helper()
	var c struct {
		DeviceID string `json:"deviceId"`
	}
	b, err := os.ReadFile(filepath.Join(state, "credential"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &c); err != nil || c.DeviceID == "" {
		t.Fatalf("credential: no device id (%v)", err)
	}
	return c.DeviceID
}
