package agent

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"samverk.io/samverk/engine/agent/statedir"
	"samverk.io/samverk/engine/desired"
)

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// env is one device: a root it manages and a state directory.
type env struct {
	root, stateDir string
}

func newEnv(t *testing.T) env {
	return env{root: t.TempDir(), stateDir: filepath.Join(t.TempDir(), "state")}
}

func (e env) options(d *daemon) Options {
	return Options{
		Server:      d.srv.URL,
		EnrollToken: d.token,
		StateDir:    e.stateDir,
		Root:        e.root,
		Systemctl:   "off",
		Labels:      map[string]string{"site": "lab"},
	}
}

func newAgent(t *testing.T, opts Options) *Agent {
	t.Helper()
	a, err := New(opts, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func motdState(content string) desired.State {
	return desired.State{
		Revision: "rev-1", Member: "region-norr", Group: "lab", Mode: "enforce",
		Resources: []*desired.Resource{{
			ID: "setting/motd", Type: desired.TypeFile, Ensure: "present",
			File: &desired.File{Path: "/etc/motd", Content: content, Mode: "0644"},
		}},
	}
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func queued(t *testing.T, stateDir string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(stateDir, statedir.ReportsDir))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestOnceEnrollsConvergesReports(t *testing.T) {
	d := newDaemon(t)
	d.setState(motdState("welcome\n"))
	e := newEnv(t)
	opts := e.options(d)
	opts.Once = true

	if err := newAgent(t, opts).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := read(t, e.root+"/etc/motd"); got != "welcome\n" {
		t.Fatalf("motd %q", got)
	}
	credPath := filepath.Join(e.stateDir, statedir.CredentialFile)
	fi, err := os.Stat(credPath)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Fatalf("credential mode %v, want 0600", fi.Mode())
	}
	var cred statedir.Credential
	if err := json.Unmarshal([]byte(read(t, credPath)), &cred); err != nil || cred.DeviceID != "dev-1" || cred.Credential != "cred-dev-1" {
		t.Fatalf("credential %+v, %v", cred, err)
	}
	var cached desired.State
	if err := json.Unmarshal([]byte(read(t, filepath.Join(e.stateDir, statedir.DesiredFile))), &cached); err != nil || cached.Hash != d.state.Hash {
		t.Fatalf("cached state hash %q, %v; want %q", cached.Hash, err, d.state.Hash)
	}

	reps := d.received()
	if len(reps) != 1 {
		t.Fatalf("%d reports", len(reps))
	}
	rep := reps[0]
	if rep.Revision != "rev-1" || rep.Hash != d.state.Hash || rep.Noop || len(rep.Resources) != 1 ||
		rep.Resources[0].Outcome != desired.Corrected || rep.Facts.OSFamily != runtime.GOOS || rep.Facts.Labels["site"] != "lab" {
		t.Fatalf("report %+v", rep)
	}
	if got := queued(t, e.stateDir); len(got) != 0 {
		t.Fatalf("delivered report still queued: %v", got)
	}
	if enr := d.requests("enroll"); len(enr) != 1 || enr[0].auth != "Bearer member-token" {
		t.Fatalf("enroll requests %+v", enr)
	}
	if got := d.requests("desired")[0].auth; got != "Bearer cred-dev-1" {
		t.Fatalf("desired sent with %q, want the device credential", got)
	}

	// A second start enrolls no more, sends the cached hash and gets 304.
	if err := newAgent(t, opts).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(d.requests("enroll")); n != 1 {
		t.Fatalf("enrolled %d times, want once", n)
	}
	des := d.requests("desired")
	last := des[len(des)-1]
	if last.ifNoneMatch != `"`+d.state.Hash+`"` || last.status != 304 {
		t.Fatalf("second fetch: If-None-Match %q, status %d", last.ifNoneMatch, last.status)
	}
	reps = d.received()
	if len(reps) != 2 || reps[1].Resources[0].Outcome != desired.Unchanged {
		t.Fatalf("second report %+v", reps[len(reps)-1])
	}
}

func TestEnrollTokenFromStateDir(t *testing.T) {
	d := newDaemon(t)
	d.setState(motdState("x"))
	e := newEnv(t)
	dir, err := statedir.Open(e.stateDir)
	if err != nil {
		t.Fatal(err)
	}
	if err := dir.SaveEnrollToken(d.token); err != nil {
		t.Fatal(err)
	}
	opts := e.options(d)
	opts.EnrollToken = ""
	opts.Once = true
	if err := newAgent(t, opts).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := dir.EnrollToken(); !errors.Is(err, statedir.ErrNotFound) {
		t.Fatalf("used enrollment token left behind: %v", err)
	}
	if _, err := dir.Credential(); err != nil {
		t.Fatal(err)
	}
}

func TestNotEnrolledWithoutToken(t *testing.T) {
	d := newDaemon(t)
	opts := newEnv(t).options(d)
	opts.EnrollToken = ""
	if _, err := New(opts, nil); err == nil || !strings.Contains(err.Error(), "no enrollment token") {
		t.Fatalf("err %v", err)
	}
}

func TestBadEnrollTokenFails(t *testing.T) {
	d := newDaemon(t)
	opts := newEnv(t).options(d)
	opts.EnrollToken = "wrong"
	opts.Once = true
	err := newAgent(t, opts).Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("err %v", err)
	}
}

func TestOnceObeysRetryAfter(t *testing.T) {
	d := newDaemon(t)
	d.setState(motdState("x"))
	d.fail("desired", fault{status: 503, retryAfter: "1"})
	d.fail("reports", fault{status: 429, retryAfter: "1"})
	opts := newEnv(t).options(d)
	opts.Once = true
	if err := newAgent(t, opts).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, ep := range []string{"desired", "reports"} {
		rs := d.requests(ep)
		if len(rs) != 2 || rs[0].status/100 == 2 || rs[1].status/100 != 2 {
			t.Fatalf("%s requests %+v", ep, rs)
		}
		if gap := rs[1].at.Sub(rs[0].at); gap < time.Second {
			t.Fatalf("%s: asked again after %s, Retry-After was 1s", ep, gap)
		}
	}
	if n := len(d.received()); n != 1 {
		t.Fatalf("%d reports delivered", n)
	}
}

func TestOnceFailedResourceExitCode(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("uses sh")
	}
	d := newDaemon(t)
	s := motdState("x")
	s.Resources = append(s.Resources, &desired.Resource{ID: "setting/broken", Type: desired.TypeCommand, Ensure: "present",
		Command: &desired.Command{Check: "exit 1", Set: "exit 1"}})
	d.setState(s)
	e := newEnv(t)
	opts := e.options(d)
	opts.Once = true
	err := newAgent(t, opts).Run(context.Background())
	if !errors.Is(err, ErrResourcesFailed) {
		t.Fatalf("err %v, want ErrResourcesFailed", err)
	}
	args := []string{"--server", d.srv.URL, "--state-dir", e.stateDir, "--root", e.root, "--once"}
	if code := run(args, io.Discard, io.Discard); code != exitFailed {
		t.Fatalf("exit code %d, want %d", code, exitFailed)
	}
	d.setState(motdState("y"))
	if code := run(args, io.Discard, io.Discard); code != exitOK {
		t.Fatalf("exit code %d, want 0", code)
	}
}

func TestReportKeptUntilDelivered(t *testing.T) {
	d := newDaemon(t)
	d.setState(motdState("x"))
	e := newEnv(t)
	opts := e.options(d)
	opts.Once = true

	d.fail("reports", fault{status: 500})
	if err := newAgent(t, opts).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := queued(t, e.stateDir); len(got) != 1 {
		t.Fatalf("undelivered report not kept: %v", got)
	}
	if n := len(d.received()); n != 0 {
		t.Fatalf("%d reports", n)
	}

	if err := newAgent(t, opts).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	reps := d.received()
	if len(reps) != 2 {
		t.Fatalf("%d reports delivered, want the kept one and the new one", len(reps))
	}
	if reps[0].Resources[0].Outcome != desired.Corrected || reps[1].Resources[0].Outcome != desired.Unchanged {
		t.Fatalf("not oldest first: %s, %s", reps[0].Resources[0].Outcome, reps[1].Resources[0].Outcome)
	}
	if got := queued(t, e.stateDir); len(got) != 0 {
		t.Fatalf("queue not emptied: %v", got)
	}

	// A report the server rejects outright is dropped rather than blocking the queue.
	d.fail("reports", fault{status: 400})
	if err := newAgent(t, opts).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := queued(t, e.stateDir); len(got) != 0 {
		t.Fatalf("rejected report kept: %v", got)
	}
}

func TestCachedStateWhileServerDown(t *testing.T) {
	d := newDaemon(t)
	d.setState(motdState("welcome\n"))
	e := newEnv(t)
	opts := e.options(d)
	opts.Once = true
	if err := newAgent(t, opts).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	d.srv.Close()
	if err := os.Remove(e.root + "/etc/motd"); err != nil {
		t.Fatal(err)
	}

	if err := newAgent(t, opts).Run(context.Background()); err != nil {
		t.Fatalf("offline run: %v", err)
	}
	if got := read(t, e.root+"/etc/motd"); got != "welcome\n" {
		t.Fatalf("cached state not enforced: motd %q", got)
	}
	q := queued(t, e.stateDir)
	if len(q) != 1 {
		t.Fatalf("offline report not queued: %v", q)
	}
	var rep desired.Report
	if err := json.Unmarshal([]byte(read(t, filepath.Join(e.stateDir, statedir.ReportsDir, q[0]))), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Resources[0].Outcome != desired.Corrected {
		t.Fatalf("queued report %+v", rep)
	}

	// Without a cache there is nothing to enforce: that is an error.
	fresh := newEnv(t)
	o2 := fresh.options(d)
	o2.Once = true
	if err := newAgent(t, o2).Run(context.Background()); err == nil || !strings.Contains(err.Error(), "no desired state") {
		t.Fatalf("err %v", err)
	}
}

func TestCredentialRejected(t *testing.T) {
	d := newDaemon(t)
	d.setState(motdState("x"))
	e := newEnv(t)
	opts := e.options(d)
	opts.Once = true
	if err := newAgent(t, opts).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The device is removed on the server: its credential no longer works. The agent does
	// not enroll again on its own; it enforces what it has and says what to do.
	d.mu.Lock()
	d.devices = map[string]string{}
	d.mu.Unlock()
	if err := os.Remove(filepath.Join(e.stateDir, statedir.DesiredFile)); err != nil {
		t.Fatal(err)
	}
	err := newAgent(t, opts).Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "delete credential") {
		t.Fatalf("err %v", err)
	}
	if n := len(d.requests("enroll")); n != 1 {
		t.Fatalf("enrolled %d times", n)
	}
}

func TestNoopReportsAndChangesNothing(t *testing.T) {
	d := newDaemon(t)
	d.setState(motdState("new\n"))
	e := newEnv(t)
	if err := os.MkdirAll(e.root+"/etc", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.root+"/etc/motd", []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	opts := e.options(d)
	opts.Once, opts.Noop = true, true
	if err := newAgent(t, opts).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := read(t, e.root+"/etc/motd"); got != "old\n" {
		t.Fatalf("noop changed motd to %q", got)
	}
	rep := d.received()[0]
	if !rep.Noop || rep.Resources[0].Outcome != desired.Drifted || !strings.Contains(rep.Resources[0].Reason, "would correct") {
		t.Fatalf("report %+v", rep)
	}
}

// fakeClock moves only when the agent sleeps, and ends the run at until.
type fakeClock struct {
	mu        sync.Mutex
	now       time.Time
	until     time.Time
	cancel    context.CancelFunc
	sleeps    int
	onAdvance func(now time.Time)
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	c.sleeps++
	c.now = c.now.Add(d)
	now, hook, done := c.now, c.onAdvance, c.now.After(c.until) || c.sleeps > 10000
	c.mu.Unlock()
	if done {
		c.cancel()
		return context.Canceled
	}
	if hook != nil {
		hook(now)
	}
	return nil
}

// runLoop runs the agent's loop on a fake clock for the given stretch of simulated time.
func runLoop(t *testing.T, a *Agent, d *daemon, span time.Duration, onAdvance func(time.Time)) *fakeClock {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := &fakeClock{now: start, until: start.Add(span), cancel: cancel, onAdvance: onAdvance}
	a.clock = c
	if d != nil {
		d.mu.Lock()
		d.now = c.Now
		d.mu.Unlock()
	}
	if err := a.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if c.sleeps > 10000 {
		t.Fatal("the loop spun without waiting")
	}
	return c
}

func gaps(rs []request) []time.Duration {
	var out []time.Duration
	for i := 1; i < len(rs); i++ {
		out = append(out, rs[i].at.Sub(rs[i-1].at))
	}
	return out
}

func TestLoopPollsWithETagAndSplay(t *testing.T) {
	d := newDaemon(t)
	d.setState(motdState("one\n"))
	e := newEnv(t)
	opts := e.options(d)
	opts.Interval, opts.Splay = 5*time.Minute, time.Minute
	a := newAgent(t, opts)
	changed := false
	runLoop(t, a, d, time.Hour, func(now time.Time) {
		if !changed && now.Sub(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) > 30*time.Minute {
			changed = true
			d.setState(motdState("two\n"))
		}
	})

	des := d.requests("desired")
	if len(des) < 10 || len(des) > 13 {
		t.Fatalf("%d polls in an hour at 5m+splay 1m", len(des))
	}
	for i, g := range gaps(des) {
		if g < 5*time.Minute || g >= 6*time.Minute {
			t.Fatalf("poll %d came %s after the one before; want within [5m, 6m)", i+1, g)
		}
	}
	var ok, notModified int
	for _, r := range des {
		switch r.status {
		case 200:
			ok++
		case 304:
			notModified++
			if r.ifNoneMatch == "" {
				t.Fatal("304 without If-None-Match")
			}
		}
	}
	if ok != 2 || notModified != len(des)-2 {
		t.Fatalf("200: %d, 304: %d; want 2 full fetches (start and change)", ok, notModified)
	}
	if got := read(t, e.root+"/etc/motd"); got != "two\n" {
		t.Fatalf("new state not converged: motd %q", got)
	}
	// Every poll converged and reported; the change was converged as soon as it arrived.
	reps := d.received()
	if len(reps) != len(des) {
		t.Fatalf("%d reports for %d polls", len(reps), len(des))
	}
	var corrected int
	for _, r := range reps {
		if r.Resources[0].Outcome == desired.Corrected {
			corrected++
		}
	}
	if corrected != 2 {
		t.Fatalf("%d corrected runs, want 2", corrected)
	}
}

func TestLoopBacksOffAndObeysRetryAfter(t *testing.T) {
	d := newDaemon(t)
	d.setState(motdState("x"))
	d.fail("desired",
		fault{status: 503, retryAfter: "120"},
		fault{status: 500}, fault{status: 500}, fault{status: 500},
		fault{status: 429, retryAfter: "900"},
	)
	for range 12 {
		d.fail("desired", fault{status: 502})
	}
	opts := newEnv(t).options(d)
	opts.Interval, opts.Splay = 5*time.Minute, time.Minute
	opts.BackoffBase, opts.BackoffMax = 5*time.Second, 10*time.Minute
	runLoop(t, newAgent(t, opts), d, 3*time.Hour, nil)

	g := gaps(d.requests("desired"))
	if len(g) < 18 {
		t.Fatalf("only %d requests", len(g)+1)
	}
	within := func(i int, lo, hi time.Duration) {
		t.Helper()
		if g[i] < lo || g[i] > hi {
			t.Errorf("gap %d: %s, want within [%s, %s]", i, g[i], lo, hi)
		}
	}
	within(0, 120*time.Second, 120*time.Second) // Retry-After wins over the first backoff
	within(1, 5*time.Second, 10*time.Second)    // 2nd failure: base*2, jittered down to half
	within(2, 10*time.Second, 20*time.Second)
	within(3, 20*time.Second, 40*time.Second)
	within(4, 900*time.Second, 900*time.Second) // 429 Retry-After: 900
	for i := 5; i < 17; i++ {
		hi := min(opts.BackoffBase<<(i), opts.BackoffMax)
		within(i, hi/2, hi)
	}
	// After the faults: back to the normal interval, with 304s.
	within(17, 5*time.Minute, 6*time.Minute)
	if n := len(d.received()); n == 0 {
		t.Fatal("no report after recovery")
	}
}

func TestLoopEnforcesCacheWhileOffline(t *testing.T) {
	d := newDaemon(t)
	d.setState(motdState("welcome\n"))
	e := newEnv(t)
	opts := e.options(d)
	opts.Once = true
	if err := newAgent(t, opts).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	d.srv.Close()

	opts.Once = false
	opts.Interval, opts.Splay = 5*time.Minute, 0
	a := newAgent(t, opts)
	var removals int
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	runLoop(t, a, nil, 31*time.Minute, func(now time.Time) {
		// Someone keeps deleting the file; the agent keeps putting it back.
		if now.Before(start.Add(29 * time.Minute)) {
			if err := os.Remove(e.root + "/etc/motd"); err == nil {
				removals++
			}
		}
	})
	if got := read(t, e.root+"/etc/motd"); got != "welcome\n" {
		t.Fatalf("motd %q", got)
	}
	// Runs at 0, 5, ..., 30 minutes: seven, each with its report queued for later.
	if q := queued(t, e.stateDir); len(q) != 7 {
		t.Fatalf("%d reports queued offline, want 7", len(q))
	}
	if removals < 5 {
		t.Fatalf("file removed only %d times; the run did not restore it in between", removals)
	}
}
