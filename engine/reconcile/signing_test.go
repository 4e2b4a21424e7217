package reconcile_test

import (
	"testing"
	"time"

	"samverk.io/samverk/engine/reconcile"
	"samverk.io/samverk/engine/signing/gpgtest"
)

// TestExpiredKeyAcrossRestart: a revision published while its key was valid is served again
// after a restart at which the key has expired since, and status says so.
func TestExpiredKeyAcrossRestart(t *testing.T) {
	g := gpgtest.New(t)
	up := g.NewRepo()
	now := time.Now().Truncate(time.Second)
	key := g.Key("Strategigruppen <strategi@samverk.example>", now.Add(-3*24*time.Hour), "1y")
	up.Write(map[string]string{"os.yaml": osRelease, "members/region-norr/member.yaml": member("region")})
	head := up.Commit("signed while valid", key, now.Add(-2*24*time.Hour))

	data := t.TempDir()
	d := start(t, nil, data, setup{url: up.Dir, keys: key.Public()})
	if a := d.waitAttempt(head); a.Outcome != reconcile.OutcomePublished {
		t.Fatalf("first publish: %+v", a)
	}
	d.stop()

	// The key's expiry is brought forward to yesterday, and the operator refreshes the
	// trusted keys from the keyserver before restarting the daemon.
	key.SetExpiry(now.Add(-2*24*time.Hour+time.Hour), "1d")
	again := start(t, nil, data, setup{url: up.Dir, keys: key.Public()})
	st := again.waitFor("the restore attempt", func(st *reconcile.Status) bool {
		return len(st.History) > 0 && st.History[len(st.History)-1].Trigger == "restore"
	})
	restore := st.History[len(st.History)-1]
	if restore.Outcome != reconcile.OutcomePublished || again.r.Current() == nil {
		t.Fatalf("after a restart the published revision went dark: %+v", restore)
	}
}
