package reconcile_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/prometheus/client_golang/prometheus"

	"samverk.io/samverk/engine/reconcile"
	"samverk.io/samverk/engine/source"
	"samverk.io/samverk/engine/source/gittest"
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

func member(typ string) string {
	return `apiVersion: samverk.io/v1
kind: Member
metadata:
  name: region-norr
  owner: region-norr
spec:
  type: ` + typ + `
  displayName: Region Norr
  contacts:
    - role: operations
      name: Drift
      email: drift@example.org
`
}

// daemon is a reconciler over a real repository, running until the test ends.
type daemon struct {
	t      *testing.T
	up     *gittest.Repo
	data   string
	r      *reconcile.Reconciler
	cancel context.CancelFunc
	done   chan error
}

type setup struct {
	enrolled reconcile.Enrollment
	// signing, when set, makes the daemon's signing policy over its source.
	signing func(src *source.Source) reconcile.Signing
	now     func() time.Time
	keys    string
	hooks   []reconcile.Hook
	url     string
	metrics *reconcile.Metrics
	outcome func(ctx context.Context, a reconcile.Attempt, p *reconcile.Published)
	check   func(ctx context.Context, a reconcile.Attempt)
	path    string // the catalog's directory in the repository
	follow  func(ctx context.Context) (string, bool, error)
	suspend func(bool, string) error
}

func start(t *testing.T, up *gittest.Repo, data string, s setup) *daemon {
	t.Helper()
	url := s.url
	if url == "" {
		url = up.Dir
	}
	src, err := source.Open(source.Options{URL: url, Dir: filepath.Join(data, "git"), TrustedKeys: s.keys})
	if err != nil {
		t.Fatal(err)
	}
	var pol reconcile.Signing
	if s.signing != nil {
		pol = s.signing(src)
	}
	r, err := reconcile.New(reconcile.Options{
		Signing:    pol,
		Now:        s.now,
		Source:     src,
		StateDir:   data,
		Interval:   time.Hour, // only triggers fetch in these tests
		RetryBase:  time.Hour,
		OnPublish:  s.hooks,
		Metrics:    s.metrics,
		Enrollment: s.enrolled,
		OnOutcome:  []func(context.Context, reconcile.Attempt, *reconcile.Published){s.outcome},
		OnCheck:    []func(context.Context, reconcile.Attempt){s.check},
		Path:       s.path,
		Follow:     s.follow,
		OnSuspend:  s.suspend,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d := &daemon{t: t, up: up, data: data, r: r, cancel: cancel, done: make(chan error, 1)}
	go func() { d.done <- r.Run(ctx) }()
	t.Cleanup(d.stop)
	return d
}

func (d *daemon) stop() {
	if d.cancel == nil {
		return
	}
	d.cancel()
	if err := <-d.done; err != nil {
		d.t.Errorf("Run: %v", err)
	}
	d.cancel = nil
}

// waitFor polls the status until cond holds.
func (d *daemon) waitFor(what string, cond func(*reconcile.Status) bool) *reconcile.Status {
	d.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st := d.r.Status()
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("timed out waiting for %s; status: %+v", what, st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (d *daemon) waitAttempt(rev plumbing.Hash) reconcile.Attempt {
	d.t.Helper()
	st := d.waitFor("an attempt on "+rev.String(), func(st *reconcile.Status) bool {
		return st.LastAttemptedRevision == rev.String() && st.InProgress == nil
	})
	return st.History[0]
}

func cond(st *reconcile.Status, typ string) reconcile.Condition {
	for _, c := range st.Conditions {
		if c.Type == typ {
			return c
		}
	}
	return reconcile.Condition{}
}

func TestCommitIsATransaction(t *testing.T) {
	key, pub := gittest.NewKey(t, "Catalog Signer")
	up := gittest.New(t)
	up.Write(map[string]string{"os.yaml": osRelease, "members/region-norr/member.yaml": member("region")})
	good := up.Commit("first catalog", key)

	reg := prometheus.NewRegistry()
	m, err := reconcile.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var seen []string
	hook := func(ctx context.Context, p *reconcile.Published) error {
		mu.Lock()
		defer mu.Unlock()
		if p.Catalog == nil || p.Report == nil || !p.Report.Passed {
			t.Errorf("hook got an incomplete revision: %+v", p)
		}
		seen = append(seen, p.Revision)
		return nil
	}
	d := start(t, up, t.TempDir(), setup{keys: pub, hooks: []reconcile.Hook{hook}, metrics: m})

	a := d.waitAttempt(good)
	if a.Outcome != reconcile.OutcomePublished {
		t.Fatalf("first commit: %+v", a)
	}
	if cur := d.r.Current(); cur == nil || cur.Revision != good.String() || cur.Catalog.Len() != 2 || !strings.Contains(cur.Signer, "Catalog Signer") {
		t.Fatalf("Current = %+v", cur)
	}

	steps := []struct {
		name   string
		files  map[string]string
		key    *openpgp.Entity
		reason string
	}{
		{"schema error", map[string]string{"members/region-norr/member.yaml": member("kingdom")}, key, reconcile.ReasonValidationFailed},
		{"unsigned", map[string]string{"members/region-norr/member.yaml": member("municipality")}, nil, reconcile.ReasonSignatureRefused},
		{"broken yaml", map[string]string{"members/region-norr/member.yaml": "kind: [unclosed\n"}, key, reconcile.ReasonValidationFailed},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			up.Write(s.files)
			bad := up.Commit(s.name, s.key)
			if err := d.r.Trigger("test", false); err != nil {
				t.Fatal(err)
			}
			a := d.waitAttempt(bad)
			if a.Outcome != reconcile.OutcomeRefused || a.Reason != s.reason {
				t.Fatalf("attempt = %+v, want refused with %s", a, s.reason)
			}
			st := d.r.Status()
			if st.LastAppliedRevision != good.String() || d.r.Current().Revision != good.String() {
				t.Errorf("applied = %s, want the last good %s", st.LastAppliedRevision, good)
			}
			if c := cond(st, reconcile.ConditionReady); c.Status != "False" || c.Reason != s.reason {
				t.Errorf("Ready = %+v", c)
			}
			if c := cond(st, reconcile.ConditionStalled); c.Status != "True" || !strings.Contains(c.Message, bad.String()) {
				t.Errorf("Stalled = %+v", c)
			}
			if s.reason == reconcile.ReasonValidationFailed {
				if st.Report == nil || st.Report.Passed || st.Report.Revision != bad.String() || len(st.Report.Findings) == 0 {
					t.Errorf("report of the refused attempt = %+v", st.Report)
				}
			} else if !strings.Contains(a.Message, "not signed") {
				t.Errorf("message = %q, want it to say the commit is not signed", a.Message)
			}
			// Fetching the same refused head again does no work.
			n := len(st.History)
			d.r.Trigger("again", false)
			time.Sleep(50 * time.Millisecond)
			if st := d.r.Status(); len(st.History) != n {
				t.Errorf("the refused head was checked again: %+v", st.History[0])
			}
		})
	}

	up.Write(map[string]string{"members/region-norr/member.yaml": member("municipality")})
	fixed := up.Commit("fix", key)
	d.r.Trigger("test", false)
	if a := d.waitAttempt(fixed); a.Outcome != reconcile.OutcomePublished {
		t.Fatalf("fix: %+v", a)
	}
	st := d.r.Status()
	if c := cond(st, reconcile.ConditionReady); c.Status != "True" {
		t.Errorf("Ready after the fix = %+v", c)
	}
	if c := cond(st, reconcile.ConditionStalled); c.Status != "False" {
		t.Errorf("Stalled after the fix = %+v", c)
	}
	mu.Lock()
	if len(seen) != 2 || seen[0] != good.String() || seen[1] != fixed.String() {
		t.Errorf("hooks saw %v, want only the good and the fixed revision", seen)
	}
	mu.Unlock()

	// Restart with a source that cannot be fetched: the last good revision is served from
	// the persisted state and the local clone.
	d.stop()
	again := start(t, up, d.data, setup{keys: pub, url: filepath.Join(t.TempDir(), "gone")})
	again.waitFor("the restored revision", func(st *reconcile.Status) bool { return st.LastAppliedRevision == fixed.String() })
	if cur := again.r.Current(); cur == nil || cur.Revision != fixed.String() {
		t.Fatalf("after restart Current = %+v", cur)
	}
	st = again.waitFor("the failed fetch", func(st *reconcile.Status) bool { return st.LastFetchError != "" })
	if c := cond(st, reconcile.ConditionReady); c.Reason != reconcile.ReasonFetchFailed || !strings.Contains(c.Message, "still serving") {
		t.Errorf("Ready = %+v", c)
	}
	if again.r.Current().Revision != fixed.String() {
		t.Error("a failed fetch replaced the served revision")
	}
}

func TestNewerCommitSupersedes(t *testing.T) {
	up := gittest.New(t)
	up.Write(map[string]string{"os.yaml": osRelease, "members/region-norr/member.yaml": member("region")})
	first := up.Commit("first", nil)
	entered := make(chan struct{})
	// The first revision's publish hook waits until it is cancelled: it is still in progress
	// when the next commit arrives.
	hook := func(ctx context.Context, p *reconcile.Published) error {
		if p.Revision == first.String() {
			close(entered)
			<-ctx.Done()
			return ctx.Err()
		}
		return nil
	}
	d := start(t, up, t.TempDir(), setup{hooks: []reconcile.Hook{hook}})
	select {
	case <-entered:
	case <-time.After(30 * time.Second):
		t.Fatalf("the first revision never reached its publish hook: %+v", d.r.Status())
	}
	st := d.r.Status()
	if st.InProgress == nil || st.InProgress.Revision != first.String() {
		t.Fatalf("in progress = %+v", st.InProgress)
	}
	if c := cond(st, reconcile.ConditionReconciling); c.Status != "True" {
		t.Errorf("Reconciling = %+v", c)
	}
	up.Write(map[string]string{"members/region-norr/member.yaml": member("municipality")})
	second := up.Commit("second", nil)
	d.r.Trigger("test", false)
	if a := d.waitAttempt(second); a.Outcome != reconcile.OutcomePublished {
		t.Fatalf("second: %+v", a)
	}
	st = d.r.Status()
	var outcomes []reconcile.Outcome
	for _, h := range st.History {
		outcomes = append(outcomes, h.Outcome)
	}
	if len(st.History) != 2 || st.History[1].Revision != first.String() || st.History[1].Outcome != reconcile.OutcomeSuperseded {
		t.Errorf("history outcomes = %v, want published after superseded", outcomes)
	}
	if d.r.Current().Revision != second.String() {
		t.Errorf("served %s", d.r.Current().Revision)
	}
}

func TestHookFailureRefusesAndRetries(t *testing.T) {
	up := gittest.New(t)
	up.Write(map[string]string{"os.yaml": osRelease, "members/region-norr/member.yaml": member("region")})
	head := up.Commit("first", nil)
	var mu sync.Mutex
	fail := true
	hook := func(ctx context.Context, p *reconcile.Published) error {
		mu.Lock()
		defer mu.Unlock()
		if fail {
			return errors.New("desired state does not compile")
		}
		return nil
	}
	data := t.TempDir()
	d := start(t, up, data, setup{hooks: []reconcile.Hook{hook}})
	a := d.waitAttempt(head)
	if a.Outcome != reconcile.OutcomeFailed || a.Reason != reconcile.ReasonHookFailed {
		t.Fatalf("attempt = %+v", a)
	}
	if d.r.Current() != nil {
		t.Fatal("a revision a hook refused is served")
	}
	// The state file holds what is being checked while it is; never a refused revision.
	if rev := stateField(t, data, "revision"); rev != nil {
		t.Errorf("a revision a hook refused was persisted: %v", rev)
	}
	mu.Lock()
	fail = false
	mu.Unlock()
	// A forced reconcile checks the same head again.
	d.r.Trigger("manual", true)
	d.waitFor("publish after the hook recovers", func(st *reconcile.Status) bool { return st.LastAppliedRevision == head.String() })
}

func TestSuspendResume(t *testing.T) {
	up := gittest.New(t)
	up.Write(map[string]string{"os.yaml": osRelease, "members/region-norr/member.yaml": member("region")})
	first := up.Commit("first", nil)
	data := t.TempDir()
	d := start(t, up, data, setup{})
	if a := d.waitAttempt(first); a.Outcome != reconcile.OutcomePublished {
		t.Fatalf("first: %+v", a)
	}

	if err := d.r.Suspend("change freeze"); err != nil {
		t.Fatal(err)
	}
	if err := d.r.Trigger("test", false); !errors.Is(err, reconcile.ErrSuspended) {
		t.Errorf("Trigger while suspended: err = %v", err)
	}
	up.Write(map[string]string{"members/region-norr/member.yaml": member("municipality")})
	second := up.Commit("second", nil)
	st := d.r.Status()
	if !st.Suspended || cond(st, reconcile.ConditionReconciling).Reason != reconcile.ReasonSuspended {
		t.Errorf("status while suspended: %+v", st)
	}

	// Suspension survives a restart.
	d.stop()
	d = start(t, up, data, setup{})
	d.waitFor("restore", func(st *reconcile.Status) bool { return st.LastAppliedRevision == first.String() })
	if !d.r.Status().Suspended {
		t.Fatal("suspension lost on restart")
	}
	time.Sleep(50 * time.Millisecond)
	if d.r.Current().Revision != first.String() {
		t.Fatal("published while suspended")
	}
	if err := d.r.Resume(); err != nil {
		t.Fatal(err)
	}
	if a := d.waitAttempt(second); a.Outcome != reconcile.OutcomePublished {
		t.Fatalf("after resume: %+v", a)
	}
}

func TestStateFileIsValidated(t *testing.T) {
	data := t.TempDir()
	if err := os.WriteFile(filepath.Join(data, "state.json"), []byte(`{"revision":"../../etc"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	up := gittest.New(t)
	src, err := source.Open(source.Options{URL: up.Dir, Dir: filepath.Join(data, "git")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reconcile.New(reconcile.Options{Source: src, StateDir: data}); err == nil {
		t.Fatal("a state file with a bad revision was accepted")
	}
}

// TestOnOutcome checks that the fate of every revision is told once: published, refused (with
// its report), and restored after a restart; never an attempt that decided nothing. The check
// of each new revision is told before its fate, not the restore's.
func TestOnOutcome(t *testing.T) {
	up := gittest.New(t)
	up.Write(map[string]string{"os.yaml": osRelease, "members/region-norr/member.yaml": member("region")})
	good := up.Commit("first", nil)

	type told struct {
		rev, trigger string
		outcome      reconcile.Outcome
		published    string
		denied       int
	}
	var (
		mu   sync.Mutex
		seen []told
	)
	record := func(ctx context.Context, a reconcile.Attempt, p *reconcile.Published) {
		mu.Lock()
		defer mu.Unlock()
		tl := told{rev: a.Revision, trigger: a.Trigger, outcome: a.Outcome}
		if p != nil {
			tl.published = p.Revision
		}
		if a.Report != nil {
			tl.denied = a.Report.Summary.Deny
		}
		seen = append(seen, tl)
	}
	check := func(ctx context.Context, a reconcile.Attempt) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, told{rev: a.Revision, trigger: a.Trigger, outcome: "checking"})
	}
	data := t.TempDir()
	d := start(t, up, data, setup{outcome: record, check: check})
	d.waitAttempt(good)
	up.Write(map[string]string{"members/region-norr/member.yaml": member("kingdom")})
	bad := up.Commit("bad", nil)
	d.r.Trigger("test", false)
	d.waitAttempt(bad)
	// The same refused head again: nothing decided, nothing told.
	asked := time.Now()
	d.r.Trigger("again", false)
	d.waitFor("the second fetch of the refused head", func(st *reconcile.Status) bool {
		return st.LastFetchTime != nil && !st.LastFetchTime.Before(asked) && st.InProgress == nil
	})
	up.Write(map[string]string{"members/region-norr/member.yaml": member("municipality")})
	fixed := up.Commit("fixed", nil)
	d.r.Trigger("test", false)
	d.waitAttempt(fixed)
	d.stop()
	again := start(t, up, data, setup{outcome: record, check: check})
	again.waitFor("the restored revision", func(st *reconcile.Status) bool { return st.LastAppliedRevision == fixed.String() })
	again.stop()

	mu.Lock()
	defer mu.Unlock()
	want := []told{
		{good.String(), "", "checking", "", 0},
		{good.String(), "", reconcile.OutcomePublished, good.String(), 0},
		{bad.String(), "test", "checking", "", 0},
		{bad.String(), "test", reconcile.OutcomeRefused, "", 1},
		{fixed.String(), "test", "checking", "", 0},
		{fixed.String(), "test", reconcile.OutcomePublished, fixed.String(), 0},
		{fixed.String(), "restore", reconcile.OutcomePublished, fixed.String(), 0},
	}
	if len(seen) != len(want) {
		t.Fatalf("told %+v, want %+v", seen, want)
	}
	for i := range want {
		w, g := want[i], seen[i]
		if i < 2 {
			w.trigger = g.trigger // the first fetch's trigger is the start-up one
		}
		if g != w {
			t.Errorf("told[%d] = %+v, want %+v", i, g, w)
		}
	}
}
