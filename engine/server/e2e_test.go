package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"samverk.io/samverk/engine/auth"
	"samverk.io/samverk/engine/policy"
	"samverk.io/samverk/engine/reconcile"
	"samverk.io/samverk/engine/server"
	"samverk.io/samverk/engine/source"
	"samverk.io/samverk/engine/source/gittest"
	"samverk.io/samverk/engine/validate"
)

const (
	adminToken    = "admin-token-for-tests-0123456789abcdef"
	webhookSecret = "webhook-secret-for-tests"
)

const osRelease = `apiVersion: samverk.io/v1
kind: OSRelease
metadata:
  name: windows-11-24h2
  owner: region-norr
spec:
  family: windows
  version: "24H2"
  build: "26100"
  releaseDate: "2024-10-01"
  endOfSupport: "2027-10-12"
`

func member(typ, labels string) string {
	return `apiVersion: samverk.io/v1
kind: Member
metadata:
  name: region-norr
  owner: region-norr
` + labels + `spec:
  type: ` + typ + `
  displayName: Region Norr
  contacts:
    - role: operations
      name: Drift
      email: drift@example.org
`
}

// daemon is source, reconciler and server wired as `samverk serve` wires them, on loopback.
type daemon struct {
	t      *testing.T
	url    string
	reg    *prometheus.Registry
	cancel context.CancelFunc
	done   chan struct{}
	logs   *logBuffer
}

type config struct {
	repoURL   string
	data      string
	keys      string
	rateLimit rate.Limit
	burst     int
}

func startDaemon(t *testing.T, c config) *daemon {
	t.Helper()
	pol, err := policy.Load(os.DirFS("testdata/policies"), policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	srcMetrics, err := source.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	recMetrics, err := reconcile.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	srvMetrics, err := server.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	src, err := source.Open(source.Options{URL: c.repoURL, Dir: filepath.Join(c.data, "git"), TrustedKeys: c.keys, Metrics: srcMetrics})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := reconcile.New(reconcile.Options{
		Source:    src,
		Origin:    c.repoURL + "#main",
		StateDir:  c.data,
		Validate:  validate.Options{Policies: pol},
		Interval:  time.Hour, // everything below is triggered: admin API or webhook
		RetryBase: time.Hour,
		Metrics:   recMetrics,
		Logger:    log,
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Options{
		Listener:      ln,
		Reconciler:    rec,
		Branch:        "main",
		AdminToken:    adminToken,
		WebhookSecret: webhookSecret,
		WebhookRate:   c.rateLimit,
		WebhookBurst:  c.burst,
		Gatherer:      reg,
		Metrics:       srvMetrics,
		Logger:        log,
		Routes:        []auth.Route{{Method: "GET", Pattern: "/api/v1/devices/hello", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "mounted") })}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d := &daemon{t: t, url: "http://" + ln.Addr().String(), reg: reg, cancel: cancel, done: make(chan struct{}), logs: logs}
	go func() {
		defer close(d.done)
		errc := make(chan error, 2)
		go func() { errc <- rec.Run(ctx) }()
		go func() { errc <- srv.Run(ctx) }()
		for range 2 {
			if err := <-errc; err != nil {
				t.Errorf("daemon: %v", err)
			}
		}
	}()
	t.Cleanup(d.stop)
	return d
}

func (d *daemon) stop() {
	if d.cancel != nil {
		d.cancel()
		<-d.done
		d.cancel = nil
	}
}

func (d *daemon) do(method, path string, body []byte, header map[string]string) (*http.Response, []byte) {
	d.t.Helper()
	req, err := http.NewRequest(method, d.url+path, bytes.NewReader(body))
	if err != nil {
		d.t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		d.t.Fatal(err)
	}
	return resp, b
}

func (d *daemon) status() *reconcile.Status {
	d.t.Helper()
	resp, b := d.do("GET", "/api/v1/status", nil, map[string]string{"Authorization": "Bearer " + adminToken})
	if resp.StatusCode != 200 {
		d.t.Fatalf("status: %s %s", resp.Status, b)
	}
	var st reconcile.Status
	if err := json.Unmarshal(b, &st); err != nil {
		d.t.Fatalf("status JSON: %v\n%s", err, b)
	}
	return &st
}

func (d *daemon) reconcileNow() {
	d.t.Helper()
	resp, b := d.do("POST", "/api/v1/reconcile", nil, map[string]string{"Authorization": "Bearer " + adminToken})
	if resp.StatusCode != http.StatusAccepted {
		d.t.Fatalf("reconcile: %s %s", resp.Status, b)
	}
}

func (d *daemon) waitFor(what string, cond func(*reconcile.Status) bool) *reconcile.Status {
	d.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		st := d.status()
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			b, _ := json.MarshalIndent(st, "", "  ")
			d.t.Fatalf("timed out waiting for %s; status:\n%s", what, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitAttempt waits until rev has been checked and returns the status then.
func (d *daemon) waitAttempt(rev plumbing.Hash) *reconcile.Status {
	d.t.Helper()
	return d.waitFor("an attempt on "+rev.String()[:12], func(st *reconcile.Status) bool {
		return st.LastAttemptedRevision == rev.String() && st.InProgress == nil && len(st.History) > 0 && st.History[0].Revision == rev.String()
	})
}

func condition(st *reconcile.Status, typ string) reconcile.Condition {
	for _, c := range st.Conditions {
		if c.Type == typ {
			return c
		}
	}
	return reconcile.Condition{}
}

func TestEndToEnd(t *testing.T) {
	key, pub := gittest.NewKey(t, "Catalog Signer")
	up := gittest.New(t)
	up.Write(map[string]string{"os/windows.yaml": osRelease, "members/region-norr/member.yaml": member("region", "")})
	good := up.Commit("first catalog", key)
	data := t.TempDir()
	d := startDaemon(t, config{repoURL: up.Dir, data: data, keys: pub})

	// Not ready until something is published; healthy at once.
	if resp, _ := d.do("GET", "/healthz", nil, nil); resp.StatusCode != 200 {
		t.Errorf("healthz = %s", resp.Status)
	}
	st := d.waitAttempt(good)
	if st.History[0].Outcome != reconcile.OutcomePublished || st.LastAppliedRevision != good.String() {
		t.Fatalf("first commit not published: %+v", st.History[0])
	}
	if c := condition(st, "Ready"); c.Status != "True" {
		t.Errorf("Ready = %+v", c)
	}
	if resp, b := d.do("GET", "/readyz", nil, nil); resp.StatusCode != 200 || !strings.Contains(string(b), good.String()) {
		t.Errorf("readyz = %s %s", resp.Status, b)
	}
	if resp, b := d.do("GET", "/api/v1/devices/hello", nil, nil); resp.StatusCode != 200 || string(b) != "mounted" {
		t.Errorf("mounted handler = %s %q", resp.Status, b)
	}

	bad := []struct {
		name    string
		files   map[string]string
		key     *openpgp.Entity
		reason  string
		rule    string // a finding the report must hold
		message string // what the attempt's message must say
	}{
		{"schema error", map[string]string{"members/region-norr/member.yaml": member("kingdom", "")}, key, reconcile.ReasonValidationFailed, "", "fails validation"},
		{"dangling reference", map[string]string{"os/windows.yaml": strings.Replace(osRelease, "owner: region-norr", "owner: region-syd", 1)}, key, reconcile.ReasonValidationFailed, "", "fails validation"},
		{"deny finding", map[string]string{"members/region-norr/member.yaml": member("region", "  labels:\n    frozen: \"true\"\n")}, key, reconcile.ReasonValidationFailed, "SV-TEST-001", "1 deny"},
		{"unsigned", map[string]string{"members/region-norr/member.yaml": member("municipality", "")}, nil, reconcile.ReasonSignatureRefused, "", "not signed"},
	}
	for _, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			// Each bad commit is made on top of the last good tree.
			up.Write(map[string]string{"os/windows.yaml": osRelease, "members/region-norr/member.yaml": member("region", "")})
			up.Write(b.files)
			rev := up.Commit(b.name, b.key)
			d.reconcileNow()
			st := d.waitAttempt(rev)
			a := st.History[0]
			if a.Outcome != reconcile.OutcomeRefused || a.Reason != b.reason || !strings.Contains(a.Message, b.message) {
				t.Fatalf("attempt = %+v; want refused, %s, %q", a, b.reason, b.message)
			}
			if st.LastAppliedRevision != good.String() {
				t.Errorf("lastAppliedRevision = %s, want the last good %s", st.LastAppliedRevision, good)
			}
			if c := condition(st, "Stalled"); c.Status != "True" || c.Reason != b.reason {
				t.Errorf("Stalled = %+v", c)
			}
			if c := condition(st, "Ready"); c.Status != "False" || !strings.Contains(c.Message, "still serving") {
				t.Errorf("Ready = %+v", c)
			}
			if resp, _ := d.do("GET", "/readyz", nil, nil); resp.StatusCode != 200 {
				t.Errorf("readyz = %s while the last good revision is served", resp.Status)
			}
			if b.reason == reconcile.ReasonValidationFailed {
				r := st.Report
				if r == nil || r.Kind != validate.ReportKind || r.Passed || r.Revision != rev.String() || r.Summary.Deny == 0 {
					t.Fatalf("report = %+v", r)
				}
				found := b.rule == ""
				for _, f := range r.Findings {
					if f.Rule == b.rule && f.File == "members/region-norr/member.yaml" && f.Line > 0 {
						found = true
					}
				}
				if !found {
					t.Errorf("report lacks a %s finding with its position: %+v", b.rule, r.Findings)
				}
			}
		})
	}

	up.Write(map[string]string{"os/windows.yaml": osRelease, "members/region-norr/member.yaml": member("municipality", "")})
	fixed := up.Commit("fix", key)
	d.reconcileNow()
	st = d.waitAttempt(fixed)
	if st.History[0].Outcome != reconcile.OutcomePublished || st.LastAppliedRevision != fixed.String() {
		t.Fatalf("fix not published: %+v", st.History[0])
	}
	for _, c := range st.Conditions {
		want := map[string]string{"Ready": "True", "Reconciling": "False", "Stalled": "False"}[c.Type]
		if c.Status != want {
			t.Errorf("%s = %+v, want %s", c.Type, c, want)
		}
	}
	if len(st.History) != 6 {
		t.Errorf("history has %d attempts, want 6", len(st.History))
	}
	// The logs are JSON, one record per attempt, and name the refusals.
	if !strings.Contains(d.logs.String(), `"reason":"SignatureRefused"`) {
		t.Errorf("logs lack the refused attempt:\n%s", d.logs)
	}

	// Restart while the repository cannot be reached: the last good revision is served from
	// the data directory before any fetch has succeeded.
	d.stop()
	if err := os.Rename(up.Dir, up.Dir+".away"); err != nil {
		t.Fatal(err)
	}
	d2 := startDaemon(t, config{repoURL: up.Dir, data: data, keys: pub})
	st = d2.waitFor("the restored revision", func(st *reconcile.Status) bool { return st.LastAppliedRevision != "" })
	if st.LastAppliedRevision != fixed.String() {
		t.Fatalf("after restart serving %s, want %s", st.LastAppliedRevision, fixed)
	}
	if resp, _ := d2.do("GET", "/readyz", nil, nil); resp.StatusCode != 200 {
		t.Errorf("readyz after restart = %s", resp.Status)
	}
	st = d2.waitFor("the failed fetch", func(st *reconcile.Status) bool { return st.LastFetchError != "" })
	if st.LastAppliedRevision != fixed.String() || condition(st, "Ready").Reason != reconcile.ReasonFetchFailed {
		t.Errorf("after a failed fetch: applied %s, Ready %+v", st.LastAppliedRevision, condition(st, "Ready"))
	}
}

func TestWebhooks(t *testing.T) {
	up := gittest.New(t)
	up.Write(map[string]string{"os/windows.yaml": osRelease, "members/region-norr/member.yaml": member("region", "")})
	first := up.Commit("first", nil)
	d := startDaemon(t, config{repoURL: up.Dir, data: t.TempDir(), rateLimit: rate.Every(time.Hour), burst: 5})
	d.waitAttempt(first)

	push := []byte(`{"ref":"refs/heads/main","after":"0000"}`)
	tests := []struct {
		name      string
		path      string
		body      []byte
		header    map[string]string
		code      int
		triggered bool
	}{
		{"github bad signature", "/hooks/github", push, map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": server.Sign("wrong", push)}, 401, false},
		{"github unsigned", "/hooks/github", push, map[string]string{"X-GitHub-Event": "push"}, 401, false},
		{"gitlab bad token", "/hooks/gitlab", push, map[string]string{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": "wrong"}, 401, false},
		{"generic signature over another body", "/hooks/generic", push, map[string]string{"X-Samverk-Signature": server.Sign(webhookSecret, []byte("{}"))}, 401, false},
		{"github ping", "/hooks/github", []byte(`{"zen":"hi"}`), map[string]string{"X-GitHub-Event": "ping", "X-Hub-Signature-256": server.Sign(webhookSecret, []byte(`{"zen":"hi"}`))}, 200, false},
		{"github push to another branch", "/hooks/github", []byte(`{"ref":"refs/heads/dev"}`), map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": server.Sign(webhookSecret, []byte(`{"ref":"refs/heads/dev"}`))}, 200, false},
		{"gitlab push", "/hooks/gitlab", push, map[string]string{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": webhookSecret}, 202, true},
		{"generic push", "/hooks/generic", push, map[string]string{"X-Samverk-Signature": server.Sign(webhookSecret, push)}, 202, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(d.status().History)
			var rev plumbing.Hash
			if tt.triggered {
				up.Write(map[string]string{"members/region-norr/member.yaml": member("region", "  labels:\n    hook: "+strings.ReplaceAll(tt.name, " ", "-")+"\n")})
				rev = up.Commit(tt.name, nil)
			}
			resp, b := d.do("POST", tt.path, tt.body, tt.header)
			if resp.StatusCode != tt.code {
				t.Fatalf("%s: %s %s", tt.path, resp.Status, b)
			}
			if tt.triggered {
				st := d.waitAttempt(rev)
				if st.LastAppliedRevision != rev.String() || !strings.HasPrefix(st.History[0].Trigger, "webhook/") {
					t.Errorf("after the webhook: %+v", st.History[0])
				}
				return
			}
			time.Sleep(50 * time.Millisecond)
			if n := len(d.status().History); n != before {
				t.Errorf("a refused or ignored webhook started an attempt")
			}
		})
	}

	// The GitHub push last: the table's four authentic deliveries spent 4 of the burst of 5
	// (the refused ones spent none); this spends the fifth.
	up.Write(map[string]string{"members/region-norr/member.yaml": member("municipality", "")})
	rev := up.Commit("github", nil)
	resp, b := d.do("POST", "/hooks/github", push, map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": server.Sign(webhookSecret, push)})
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("github push: %s %s", resp.Status, b)
	}
	d.waitAttempt(rev)

	// The burst is spent: the next authentic delivery is turned away; a forged one is still
	// refused for its signature, not counted against the limit.
	resp, _ = d.do("POST", "/hooks/generic", push, map[string]string{"X-Samverk-Signature": server.Sign(webhookSecret, push)})
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Errorf("over the limit: %s, Retry-After %q", resp.Status, resp.Header.Get("Retry-After"))
	}
	resp, _ = d.do("POST", "/hooks/generic", push, map[string]string{"X-Samverk-Signature": server.Sign("wrong", push)})
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("forged delivery over the limit: %s, want 401", resp.Status)
	}
}

// TestWebhookFloodDoesNotStarve is the attack as found: a flood of unsigned and wrongly signed
// requests spent the one rate limit, and GitHub's real push was answered 429.
func TestWebhookFloodDoesNotStarve(t *testing.T) {
	up := gittest.New(t)
	up.Write(map[string]string{"os/windows.yaml": osRelease, "members/region-norr/member.yaml": member("region", "")})
	first := up.Commit("first", nil)
	d := startDaemon(t, config{repoURL: up.Dir, data: t.TempDir(), rateLimit: rate.Every(time.Hour), burst: 1})
	d.waitAttempt(first)

	push := []byte(`{"ref":"refs/heads/main"}`)
	forged := []map[string]string{
		{"path": "/hooks/github", "X-GitHub-Event": "push"},
		{"path": "/hooks/github", "X-GitHub-Event": "push", "X-Hub-Signature-256": server.Sign("guess", push)},
		{"path": "/hooks/github", "X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=zz"},
		{"path": "/hooks/gitlab", "X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": webhookSecret[:len(webhookSecret)-1]},
		{"path": "/hooks/gitlab", "X-Gitlab-Event": "Push Hook"},
		{"path": "/hooks/generic", "X-Samverk-Signature": server.Sign(webhookSecret, []byte("other"))},
	}
	for i := range 100 {
		h := maps.Clone(forged[i%len(forged)])
		path := h["path"]
		delete(h, "path")
		h["X-GitHub-Delivery"] = fmt.Sprintf("forged-%d", i)
		if resp, b := d.do("POST", path, push, h); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("forged request %d to %s: %s %s, want 401", i, path, resp.Status, b)
		}
	}

	up.Write(map[string]string{"members/region-norr/member.yaml": member("municipality", "")})
	rev := up.Commit("after the flood", nil)
	resp, b := d.do("POST", "/hooks/github", push, map[string]string{"X-GitHub-Event": "push", "X-GitHub-Delivery": "real-1", "X-Hub-Signature-256": server.Sign(webhookSecret, push)})
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("the real push after a flood of forged ones: %s %s", resp.Status, b)
	}
	if st := d.waitAttempt(rev); st.LastAppliedRevision != rev.String() {
		t.Errorf("after the real push: %+v", st.History[0])
	}
}

// TestWebhookReplay: an authentic delivery sent again (a replay of a captured request, or a
// retry) is acted on once, and replays do not spend the rate limit.
func TestWebhookReplay(t *testing.T) {
	up := gittest.New(t)
	up.Write(map[string]string{"os/windows.yaml": osRelease, "members/region-norr/member.yaml": member("region", "")})
	first := up.Commit("first", nil)
	d := startDaemon(t, config{repoURL: up.Dir, data: t.TempDir(), rateLimit: rate.Every(time.Hour), burst: 6})
	d.waitAttempt(first)

	push := []byte(`{"ref":"refs/heads/main"}`)
	tests := []struct {
		name   string
		path   string
		header map[string]string
	}{
		{"github", "/hooks/github", map[string]string{"X-GitHub-Event": "push", "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958", "X-Hub-Signature-256": server.Sign(webhookSecret, push)}},
		{"gitlab idempotency key", "/hooks/gitlab", map[string]string{"X-Gitlab-Event": "Push Hook", "Idempotency-Key": "f6d5a1c2-0000-4000-8000-000000000001", "X-Gitlab-Event-UUID": "a", "X-Gitlab-Token": webhookSecret}},
		{"gitlab event uuid", "/hooks/gitlab", map[string]string{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Event-UUID": "13792a34-cac6-4fda-95a8-c58e00a3954e", "X-Gitlab-Token": webhookSecret}},
		{"generic", "/hooks/generic", map[string]string{"X-Samverk-Delivery": "deploy-42", "X-Samverk-Signature": server.Sign(webhookSecret, push)}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up.Write(map[string]string{"members/region-norr/member.yaml": member("region", fmt.Sprintf("  labels:\n    replay: r%d\n", i))})
			rev := up.Commit(tt.name, nil)
			resp, b := d.do("POST", tt.path, push, tt.header)
			if resp.StatusCode != http.StatusAccepted {
				t.Fatalf("first delivery: %s %s", resp.Status, b)
			}
			d.waitAttempt(rev)
			for range 20 {
				resp, b := d.do("POST", tt.path, push, tt.header)
				var got struct {
					Triggered bool   `json:"triggered"`
					Reason    string `json:"reason"`
				}
				if err := json.Unmarshal(b, &got); err != nil {
					t.Fatalf("replay answer: %v: %s", err, b)
				}
				if resp.StatusCode != http.StatusOK || got.Triggered || !strings.Contains(got.Reason, "already received") {
					t.Fatalf("replayed delivery: %s %s, want 200 and not triggered", resp.Status, b)
				}
			}
		})
	}
	// 80 replays later, the limit of 6 still has room for two new deliveries; the seventh is over.
	for i, want := range []int{http.StatusAccepted, http.StatusAccepted, http.StatusTooManyRequests} {
		h := map[string]string{"X-GitHub-Event": "push", "X-GitHub-Delivery": fmt.Sprintf("new-%d", i), "X-Hub-Signature-256": server.Sign(webhookSecret, push)}
		if resp, b := d.do("POST", "/hooks/github", push, h); resp.StatusCode != want {
			t.Fatalf("new delivery %d: %s %s, want %d", i, resp.Status, b, want)
		}
	}
	// A delivery turned away at the limit is not remembered: it is over the limit again, not
	// a duplicate.
	h := map[string]string{"X-GitHub-Event": "push", "X-GitHub-Delivery": "new-2", "X-Hub-Signature-256": server.Sign(webhookSecret, push)}
	if resp, b := d.do("POST", "/hooks/github", push, h); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("a limited delivery sent again: %s %s, want 429", resp.Status, b)
	}
}

func TestAdminAPI(t *testing.T) {
	up := gittest.New(t)
	up.Write(map[string]string{"os/windows.yaml": osRelease, "members/region-norr/member.yaml": member("region", "")})
	first := up.Commit("first", nil)
	d := startDaemon(t, config{repoURL: up.Dir, data: t.TempDir()})
	d.waitAttempt(first)

	for _, path := range []string{"/api/v1/reconcile", "/api/v1/suspend", "/api/v1/resume"} {
		for _, auth := range []string{"", "Bearer wrong", adminToken} {
			resp, _ := d.do("POST", path, nil, map[string]string{"Authorization": auth})
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s with Authorization %q: %s, want 401", path, auth, resp.Status)
			}
		}
	}
	if resp, _ := d.do("GET", "/api/v1/reconcile", nil, nil); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /api/v1/reconcile = %s", resp.Status)
	}

	auth := map[string]string{"Authorization": "Bearer " + adminToken}
	resp, b := d.do("POST", "/api/v1/suspend", []byte(`{"reason":"change freeze"}`), auth)
	if resp.StatusCode != 200 {
		t.Fatalf("suspend: %s %s", resp.Status, b)
	}
	st := d.status()
	if !st.Suspended || st.SuspendReason != "change freeze" {
		t.Errorf("suspended status: %+v", st)
	}
	if resp, _ := d.do("POST", "/api/v1/reconcile", nil, auth); resp.StatusCode != http.StatusConflict {
		t.Errorf("reconcile while suspended = %s, want 409", resp.Status)
	}
	up.Write(map[string]string{"members/region-norr/member.yaml": member("municipality", "")})
	second := up.Commit("second", nil)
	if resp, b := d.do("POST", "/api/v1/resume", nil, auth); resp.StatusCode != 200 {
		t.Fatalf("resume: %s %s", resp.Status, b)
	}
	if st := d.waitAttempt(second); st.LastAppliedRevision != second.String() || st.Suspended {
		t.Errorf("after resume: %+v", st)
	}
}

// logBuffer collects the daemon's log records; goroutines write while the test reads.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
