package reconcile_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"samverk.io/samverk/engine/reconcile"
	"samverk.io/samverk/engine/source/gittest"
)

// stateField reads one field of the persisted state file.
func stateField(t *testing.T, data, field string) any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(data, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m[field]
}

// TestCrashedCheckIsNotRetried stops the daemon in the middle of checking a commit, as a
// commit that takes samverk down would, and restarts it: the commit is refused with a reason
// that says what happened, is not checked again (no crash loop), and a newer commit is.
func TestCrashedCheckIsNotRetried(t *testing.T) {
	up := gittest.New(t)
	up.Write(map[string]string{"os.yaml": osRelease, "members/region-norr/member.yaml": member("region")})
	good := up.Commit("good", nil)
	data := t.TempDir()

	// The publish hook holds the check of the second commit open, like a validation that
	// never returns; meanwhile the state file must already name the commit being checked.
	entered := make(chan string, 1)
	release := make(chan struct{})
	hook := func(ctx context.Context, p *reconcile.Published) error {
		if p.Revision == good.String() {
			return nil
		}
		entered <- p.Revision
		select {
		case <-release:
		case <-ctx.Done():
		}
		return ctx.Err()
	}
	d := start(t, up, data, setup{hooks: []reconcile.Hook{hook}})
	if a := d.waitAttempt(good); a.Outcome != reconcile.OutcomePublished {
		t.Fatalf("first commit: %+v", a)
	}
	if got := stateField(t, data, "attempting"); got != nil {
		t.Fatalf("attempting = %v after a finished check, want none", got)
	}

	up.Write(map[string]string{"members/region-norr/member.yaml": member("municipality")})
	crasher := up.Commit("the commit that never finishes its check", nil)
	d.r.Trigger("test", false)
	if rev := <-entered; rev != crasher.String() {
		t.Fatalf("hook entered for %s, want %s", rev, crasher)
	}
	if got := stateField(t, data, "attempting"); got != crasher.String() {
		t.Fatalf("attempting = %v while %s is checked", got, crasher)
	}

	// The process dies here. A stopped Reconciler records its attempt as cancelled and clears
	// the mark, as a clean shutdown should; a crash does not get to. Put the mark back as the
	// crash left it.
	state, err := os.ReadFile(filepath.Join(data, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	d.stop()
	if err := os.WriteFile(filepath.Join(data, "state.json"), state, 0o600); err != nil {
		t.Fatal(err)
	}

	for restart := 1; restart <= 2; restart++ {
		again := start(t, up, data, setup{hooks: []reconcile.Hook{hook}})
		again.waitFor("the restored revision", func(st *reconcile.Status) bool { return st.LastAppliedRevision == good.String() })
		again.r.Trigger("test", false)
		st := again.waitFor("a fetch of the crashed head", func(st *reconcile.Status) bool {
			return st.LastFetchTime != nil && st.InProgress == nil
		})
		if st.LastAttemptedRevision != crasher.String() {
			t.Fatalf("restart %d: last attempted %s, history %+v; want the crashed commit", restart, st.LastAttemptedRevision, st.History)
		}
		var a reconcile.Attempt
		for _, h := range st.History {
			if h.Revision != crasher.String() {
				continue
			}
			if h.Reason != reconcile.ReasonCrashed {
				t.Errorf("restart %d: the crashed commit was checked again: %+v", restart, h)
			}
			a = h
		}
		if a.Outcome != reconcile.OutcomeRefused || a.Reason != reconcile.ReasonCrashed || !strings.Contains(a.Message, "never finished") {
			t.Errorf("restart %d: attempt %+v, want refused because the check never finished", restart, a)
		}
		if c := cond(st, reconcile.ConditionStalled); c.Status != "True" || c.Reason != reconcile.ReasonCrashed || !strings.Contains(c.Message, crasher.String()) {
			t.Errorf("restart %d: Stalled = %+v", restart, c)
		}
		if restart == 2 {
			// A newer commit is checked as usual, and the crash is forgotten.
			up.Write(map[string]string{"members/region-norr/member.yaml": member("agency")})
			newer := up.Commit("newer", nil)
			again.r.Trigger("test", false)
			if rev := <-entered; rev != newer.String() {
				t.Fatalf("hook entered for %s, want %s", rev, newer)
			}
			close(release)
			if a := again.waitAttempt(newer); a.Outcome != reconcile.OutcomePublished {
				t.Fatalf("newer commit: %+v", a)
			}
		}
		again.stop()
	}
	if got := stateField(t, data, "attempting"); got != nil {
		t.Errorf("attempting = %v after a clean stop", got)
	}
}
