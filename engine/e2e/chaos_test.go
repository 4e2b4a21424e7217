package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"samverk.io/samverk/engine/desired"
)

// corruption is one way a commit can be bad. apply turns the work tree, a clean copy of the
// last good commit, into the bad commit's (n numbers the commit, for variety); stage, when set,
// changes the index after everything was added. rule is a finding the refused commit's report
// must hold, or "" when any deny will do. gap, when set, says why samverk does not refuse this
// kind yet: the test leaves it out and says so, until the gap is closed and gap removed.
type corruption struct {
	name  string
	apply func(t *testing.T, h *harness, n int)
	stage func(t *testing.T, h *harness, n int)
	rule  string
	// catalogWide marks a rule about the catalog as a whole (nothing in it to point at), whose
	// finding names no file.
	catalogWide bool
	gap         string
}

// corruptions are the kinds of bad commit the chaos test cycles through. Add a kind here.
var corruptions = []corruption{
	{name: "YAML syntax error", rule: "load/yaml-syntax", apply: func(t *testing.T, h *harness, n int) {
		writeFile(t, h.inRepo("members/e2e-kommun/groups.yaml"), "kind: [unclosed\n", 0o644)
	}},
	{name: "schema violation", rule: "schema/", apply: func(t *testing.T, h *harness, n int) {
		h.edit(t, "os/e2e-linux.yaml", "family: linux", "family: 42")
	}},
	{name: "dangling reference", rule: "ref/dangling", apply: func(t *testing.T, h *harness, n int) {
		h.edit(t, "members/e2e-kommun/groups.yaml", "baselines: [e2e-grund]", fmt.Sprintf("baselines: [e2e-grund, no-such-baseline-%d]", n))
	}},
	{name: "policy deny", rule: "SV-DG-001", apply: func(t *testing.T, h *harness, n int) {
		h.edit(t, "os/e2e-linux.yaml", "endOfSupport: 2099-05-31", "endOfSupport: 2020-05-31")
	}},
	{name: "CUE bomb: list.Range to 10^8", rule: "load/cue-budget", apply: func(t *testing.T, h *harness, n int) {
		writeFile(t, h.inRepo("os/bomb.cue"), "import \"list\"\n\napiVersion: \"samverk.io/v1\"\nkind: \"OSRelease\"\n"+
			"metadata: name: \"bomb\"\nspec: x: list.Range(0, 100000000, 1)\n", 0o644)
	}},
	{name: "CUE bomb: a string doubled 30 times", rule: "load/cue-budget", apply: func(t *testing.T, h *harness, n int) {
		var b strings.Builder
		b.WriteString("apiVersion: \"samverk.io/v1\"\nkind: \"OSRelease\"\nmetadata: name: \"bomb\"\n_s0: \"xx\"\n")
		for i := 1; i <= 30; i++ {
			fmt.Fprintf(&b, "_s%d: _s%d + _s%d\n", i, i-1, i-1)
		}
		b.WriteString("spec: family: _s30\n")
		writeFile(t, h.inRepo("os/bomb.cue"), b.String(), 0o644)
	}},
	{name: "gitlink", rule: "load/submodule", stage: func(t *testing.T, h *harness, n int) {
		h.git(t, "update-index", "--add", "--cacheinfo", fmt.Sprintf("160000,%040x,members/e2e-kommun/vendored", n+1))
	}},
	{name: "huge file", rule: "load/too-large", apply: func(t *testing.T, h *harness, n int) {
		writeFile(t, h.inRepo("packages/huge.yaml"), strings.Repeat("# padding to two mebibytes\n", 2<<20/27+1), 0o644)
	}},
	{name: "empty tree", rule: "catalog/no-member", catalogWide: true, apply: func(t *testing.T, h *harness, n int) {
		h.git(t, "rm", "-rqf", "--ignore-unmatch", ".")
	}},
	{name: "a group in one member's folder claiming another's namespace", rule: "layout/namespace", apply: func(t *testing.T, h *harness, n int) {
		h.edit(t, "members/e2e-kommun/groups.yaml", "namespace: e2e-kommun", "namespace: region-norr")
	}},
	{name: "a member's document owned by another member", rule: "layout/owner", apply: func(t *testing.T, h *harness, n int) {
		h.edit(t, "members/e2e-kommun/groups.yaml", "owner: e2e-kommun", "owner: region-norr")
	}},
	{name: "binary garbage", apply: func(t *testing.T, h *harness, n int) {
		writeFile(t, h.inRepo("members/e2e-kommun/garbage.yaml"), string(garbage(n, 4096)), 0o644)
	}},
	{name: "binary garbage as CUE", rule: "load/cue-syntax", apply: func(t *testing.T, h *harness, n int) {
		writeFile(t, h.inRepo("os/garbage.cue"), string(garbage(n, 4096)), 0o644)
	}},
	{name: "symlink out of the root", rule: "load/symlink-escape", apply: func(t *testing.T, h *harness, n int) {
		if err := os.Symlink("/etc/passwd", h.inRepo("members/e2e-kommun/passwd.yaml")); err != nil {
			t.Fatal(err)
		}
	}},
	{name: "deleted referenced document", rule: "ref/dangling", apply: func(t *testing.T, h *harness, n int) {
		removeAll(t, h.inRepo("baselines/e2e-grund.yaml"))
	}},
}

// garbage is n's own deterministic run of random bytes.
func garbage(n, size int) []byte {
	r := rand.New(rand.NewPCG(uint64(n), 0x5a3))
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// TestCommitChaos runs the daemon and a polling device through a hundred bad commits of every
// kind in a row, with a good commit now and then: the device is only ever served good
// revisions, the daemon never goes down, and its status names every refused commit and why.
func TestCommitChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon; skipped with -short")
	}
	const bad, goodEvery = 100, 10
	h := newHarness(t)
	first := h.commit(t, "The good catalog")
	h.startDaemon(t)
	h.waitApplied(t, first)
	daemonPID := h.daemon.cmd.Process.Pid

	dev := h.enroll(t)
	poller := startPoller(t, h.server, dev)
	good := []string{first}
	poller.waitSeen(t, first)

	var kinds []corruption
	for _, c := range corruptions {
		if c.gap != "" {
			t.Logf("not committing %q: %s", c.name, c.gap)
			continue
		}
		kinds = append(kinds, c)
	}
	n := 0
	for i := range bad {
		if i > 0 && i%goodEvery == 0 {
			n++
			h.resetTo(t, good[len(good)-1])
			h.edit(t, "baselines/e2e-grund.yaml", "authorised use only", fmt.Sprintf("authorised use only (%d)", n))
			rev := h.commit(t, fmt.Sprintf("Good commit %d", n))
			h.trigger(t)
			h.waitApplied(t, rev)
			good = append(good, rev)
			poller.waitSeen(t, rev)
		}
		c := kinds[i%len(kinds)]
		h.resetTo(t, good[len(good)-1])
		if c.apply != nil {
			c.apply(t, h, i)
		}
		h.git(t, "add", "-A")
		if c.stage != nil {
			c.stage(t, h, i)
		}
		h.git(t, "commit", "-q", "--allow-empty", "-m", fmt.Sprintf("Bad commit %d: %s", i, c.name))
		rev := h.git(t, "rev-parse", "HEAD")
		h.trigger(t)
		h.waitRefused(t, rev, c)
		if h.daemon.exited() || h.daemon.cmd.Process.Pid != daemonPID {
			t.Fatalf("the daemon died on bad commit %d (%s)", i, c.name)
		}
	}

	seen := poller.stop(t)
	for _, rev := range seen {
		if !slices.Contains(good, rev) {
			t.Errorf("the device was served revision %s, which is not one of the good commits", rev)
		}
	}
	if len(seen) < len(good) {
		t.Errorf("the device saw %d revisions, want each of the %d good ones", len(seen), len(good))
	}
	b, err := os.ReadFile(h.daemon.log)
	if err != nil {
		t.Fatal(err)
	}
	if starts := bytes.Count(b, []byte(`"samverk serve starting"`)); starts != 1 {
		t.Errorf("the daemon started %d times, want once", starts)
	}
	t.Logf("%d bad commits refused, %d good ones published and served", bad, len(good))
}

func (h *harness) inRepo(p string) string { return filepath.Join(h.repo, filepath.FromSlash(p)) }

// edit replaces old with new in a file of the work tree, which must hold old.
func (h *harness) edit(t *testing.T, p, old, new string) {
	t.Helper()
	b, err := os.ReadFile(h.inRepo(p))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(old)) {
		t.Fatalf("%s does not hold %q", p, old)
	}
	writeFile(t, h.inRepo(p), strings.ReplaceAll(string(b), old, new), 0o644)
}

// resetTo makes the work tree and index rev's tree, leaving HEAD where it is.
func (h *harness) resetTo(t *testing.T, rev string) {
	t.Helper()
	h.git(t, "rm", "-rqf", "--ignore-unmatch", ".")
	h.git(t, "clean", "-fdqx")
	h.git(t, "checkout", rev, "--", ".")
}

// trigger asks the daemon to fetch now.
func (h *harness) trigger(t *testing.T) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.server+"/api/v1/reconcile", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST /api/v1/reconcile: %s", resp.Status)
	}
}

// waitRefused waits until the daemon's status shows the attempt on rev, and checks that it was
// refused, that the status names it, and that its report holds c's rule.
func (h *harness) waitRefused(t *testing.T, rev string, c corruption) {
	t.Helper()
	type attempt struct {
		Revision string `json:"revision"`
		Outcome  string `json:"outcome"`
		Reason   string `json:"reason"`
		Message  string `json:"message"`
	}
	type status struct {
		LastAppliedRevision   string    `json:"lastAppliedRevision"`
		LastAttemptedRevision string    `json:"lastAttemptedRevision"`
		History               []attempt `json:"history"`
		Conditions            []struct {
			Type, Status, Reason, Message string
		} `json:"conditions"`
		Report *struct {
			Revision string `json:"revision"`
			Passed   bool   `json:"passed"`
			Findings []struct {
				Rule    string `json:"rule"`
				File    string `json:"file"`
				Line    int    `json:"line"`
				Message string `json:"message"`
			} `json:"findings"`
		} `json:"report"`
	}
	var st status
	var got attempt
	eventually(t, 60*time.Second, fmt.Sprintf("the daemon's attempt on %s (%s)", rev[:12], c.name), func() (bool, string) {
		if h.daemon.exited() {
			b, _ := os.ReadFile(h.daemon.log)
			t.Fatalf("the daemon exited on %s (%s): %v\n%s", rev[:12], c.name, h.daemon.err, tail(b, 8<<10))
		}
		st = status{}
		if err := h.get("/api/v1/status", &st); err != nil {
			return false, err.Error()
		}
		for _, a := range st.History {
			if a.Revision == rev && a.Outcome != "superseded" && a.Outcome != "cancelled" {
				got = a
				return true, ""
			}
		}
		return false, fmt.Sprintf("last attempted %s", st.LastAttemptedRevision)
	})
	if got.Outcome != "refused" {
		t.Fatalf("%s (%s): outcome %s (%s: %s), want refused", rev[:12], c.name, got.Outcome, got.Reason, got.Message)
	}
	if st.LastAppliedRevision == rev {
		t.Fatalf("%s (%s) is being served", rev[:12], c.name)
	}
	stalled := false
	for _, cond := range st.Conditions {
		stalled = stalled || cond.Type == "Stalled" && cond.Status == "True" && strings.Contains(cond.Message, rev)
	}
	if st.LastAttemptedRevision != rev || !stalled {
		t.Errorf("%s (%s): status does not name the refused commit: last attempted %s, conditions %+v", rev[:12], c.name, st.LastAttemptedRevision, st.Conditions)
	}
	if c.rule == "" {
		return
	}
	if st.Report == nil || st.Report.Revision != rev || st.Report.Passed {
		t.Fatalf("%s (%s): report %+v, want the failed report of this commit", rev[:12], c.name, st.Report)
	}
	for _, f := range st.Report.Findings {
		if strings.HasPrefix(f.Rule, c.rule) && (f.File != "" || c.catalogWide) {
			return
		}
	}
	t.Errorf("%s (%s): no %s finding in the report: %+v", rev[:12], c.name, c.rule, st.Report.Findings)
}

// device is an enrolled device's id and credential.
type device struct{ id, credential string }

// enroll enrolls a device with the facts the e2e device group selects.
func (h *harness) enroll(t *testing.T) device {
	t.Helper()
	return enrollAt(t, h.server)
}

// enrollAt enrolls a device through the daemon at server.
func enrollAt(t testing.TB, server string) device {
	t.Helper()
	body, _ := json.Marshal(desired.EnrollRequest{Facts: desired.Facts{
		Hostname: "chaos-1", Labels: map[string]string{"lab": "e2e"},
		Vendor: dmiVendor, Model: dmiModel, OSFamily: "linux", OSBuild: osBuild,
	}})
	req, err := http.NewRequest(http.MethodPost, server+"/api/v1/enroll", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+enrollToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("enroll: %s: %s", resp.Status, b)
	}
	var er desired.EnrollResponse
	if err := json.Unmarshal(b, &er); err != nil {
		t.Fatal(err)
	}
	return device{er.DeviceID, er.Credential}
}

// poller is a device polling its desired state with If-None-Match, as the agent does, and
// recording every revision it is served.
type poller struct {
	mu    sync.Mutex
	seen  []string // revisions, in the order first served
	etags map[string]string
	errs  []string
	polls int
	// throttled counts the answers that asked the device to come back later (429, 503).
	throttled int
	done      chan struct{}
	exited    chan struct{}
}

func startPoller(t *testing.T, server string, d device) *poller {
	p := &poller{etags: map[string]string{}, done: make(chan struct{}), exited: make(chan struct{})}
	go func() {
		defer close(p.exited)
		etag := ""
		for {
			// Pacing, not synchronisation: a device polls on an interval, and waits as long
			// as the server asks.
			wait := p.poll(server, d, &etag)
			select {
			case <-p.done:
				return
			case <-time.After(wait):
			}
		}
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			close(p.done)
		}
		<-p.exited
	})
	return p
}

// poll asks once and returns how long to wait before asking again.
func (p *poller) poll(server string, d device, etag *string) time.Duration {
	const interval = 200 * time.Millisecond
	req, err := http.NewRequest(http.MethodGet, server+"/api/v1/devices/"+d.id+"/desired", nil)
	if err != nil {
		p.fail(err.Error())
		return interval
	}
	req.Header.Set("Authorization", "Bearer "+d.credential)
	if *etag != "" {
		req.Header.Set("If-None-Match", *etag)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.fail(err.Error())
		return interval
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.polls++
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		p.throttled++
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
			return time.Duration(s) * time.Second
		}
	case http.StatusNotModified:
		if resp.Header.Get("ETag") != *etag {
			p.errs = append(p.errs, fmt.Sprintf("304 with ETag %s, asked with %s", resp.Header.Get("ETag"), *etag))
		}
	case http.StatusOK:
		var st desired.State
		if err := json.Unmarshal(b, &st); err != nil {
			p.errs = append(p.errs, "desired state: "+err.Error())
			return interval
		}
		*etag = resp.Header.Get("ETag")
		p.etags[*etag] = st.Revision
		if !slices.Contains(p.seen, st.Revision) {
			p.seen = append(p.seen, st.Revision)
		}
	default:
		p.errs = append(p.errs, fmt.Sprintf("%s: %s", resp.Status, bytes.TrimSpace(b)))
	}
	return interval
}

func (p *poller) fail(msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.errs = append(p.errs, msg)
}

// waitSeen waits until the device has been served rev.
func (p *poller) waitSeen(t *testing.T, rev string) {
	t.Helper()
	eventually(t, 30*time.Second, "the device is served "+rev[:12], func() (bool, string) {
		p.mu.Lock()
		defer p.mu.Unlock()
		return slices.Contains(p.seen, rev), fmt.Sprintf("%d polls, seen %v, errors %v", p.polls, p.seen, p.errs)
	})
}

// stop ends polling and returns every revision the device was served; a poll that failed
// fails the test.
func (p *poller) stop(t *testing.T) []string {
	t.Helper()
	close(p.done)
	<-p.exited
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.errs) > 0 {
		t.Errorf("%d of %d polls failed, e.g. %s", len(p.errs), p.polls, p.errs[0])
	}
	t.Logf("the device polled %d times (%d asked to wait) and was served %d revisions under %d ETags", p.polls, p.throttled, len(p.seen), len(p.etags))
	return p.seen
}
