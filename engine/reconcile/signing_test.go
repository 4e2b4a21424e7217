package reconcile_test

import (
	"strings"
	"testing"
	"time"

	"samverk.io/samverk/engine/reconcile"
	"samverk.io/samverk/engine/signing"
	"samverk.io/samverk/engine/signing/gpgtest"
	"samverk.io/samverk/engine/source"
)

func memberDoc(name string, keys ...string) string {
	s := `apiVersion: samverk.io/v1
kind: Member
metadata:
  name: ` + name + `
  owner: ` + name + `
spec:
  type: municipality
  displayName: ` + name + `
  contacts:
    - role: operations
      name: Drift
      email: drift@example.org
`
	if len(keys) > 0 {
		s += "  signingKeys:\n"
		for _, k := range keys {
			s += "    - " + k + "\n"
		}
	}
	return s
}

// signingPolicy is a signing policy with the consortium's keys; the members' keys are known, and
// trusted by the Member documents that list them.
func signingPolicy(t *testing.T, consortium string, known ...*gpgtest.Key) func(*source.Source) reconcile.Signing {
	return func(src *source.Source) reconcile.Signing {
		var pool strings.Builder
		for _, k := range known {
			pool.WriteString(k.Public())
		}
		p, err := signing.New(signing.Options{Consortium: consortium, Known: pool.String(), Open: src.Repository})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
}

// TestMemberSigningPolicy runs the daemon's reconciler over a real repository whose commits are
// signed by gpg: a member's key in another member's folder, or on a shared file, is refused
// with the file and the key named; the member's own key there is published.
func TestMemberSigningPolicy(t *testing.T) {
	g := gpgtest.New(t)
	up := g.NewRepo()
	consortium := g.Key("Strategigruppen <strategi@samverk.example>", time.Time{}, "2y")
	anna := g.Key("Anna Berg <anna@kommun-vasterby.se>", time.Time{}, "2y")
	bertil := g.Key("Bertil Ek <bertil@regionnorr.example>", time.Time{}, "2y")
	up.Write(map[string]string{
		"os.yaml":                             osRelease,
		"members/kommun-vasterby/member.yaml": memberDoc("kommun-vasterby", anna.Fingerprint),
		"members/region-norr/member.yaml":     memberDoc("region-norr", bertil.Fingerprint),
	})
	base := up.Commit("the consortium's catalog", consortium, time.Time{})
	d := start(t, nil, t.TempDir(), setup{url: up.Dir, signing: signingPolicy(t, consortium.Public(), anna, bertil)})
	if a := d.waitAttempt(base); a.Outcome != reconcile.OutcomePublished {
		t.Fatalf("first revision: %+v", a)
	}

	// anna, of kommun-vasterby, rewrites region-norr's Member document.
	up.Write(map[string]string{"members/region-norr/member.yaml": memberDoc("region-norr", bertil.Fingerprint, anna.Fingerprint)})
	bad := up.Commit("anna in region-norr's folder", anna, time.Time{})
	d.r.Trigger("test", false)
	a := d.waitAttempt(bad)
	if a.Outcome != reconcile.OutcomeRefused || a.Reason != reconcile.ReasonSignatureRefused {
		t.Fatalf("anna's commit: %+v", a)
	}
	for _, want := range []string{"commit " + bad.String()[:12], "members/region-norr/member.yaml", anna.Fingerprint, "anna@kommun-vasterby.se", "which region-norr does not trust"} {
		if !strings.Contains(a.Message, want) {
			t.Errorf("refusal %q does not name %q", a.Message, want)
		}
	}
	if d.r.Current().Revision != base.String() {
		t.Fatal("the refused commit is served")
	}

	// The bad commit is force-pushed away; bertil makes the change himself.
	up.Reset(base)
	up.Write(map[string]string{"members/region-norr/member.yaml": memberDoc("region-norr", bertil.Fingerprint, anna.Fingerprint)})
	good := up.Commit("bertil in his own folder", bertil, time.Time{})
	d.r.Trigger("test", false)
	if a := d.waitAttempt(good); a.Outcome != reconcile.OutcomePublished || !strings.Contains(a.Signer, bertil.Fingerprint) {
		t.Fatalf("bertil's commit: %+v", a)
	}

	// bertil's key on a shared file.
	up.Write(map[string]string{"os.yaml": strings.Replace(osRelease, "2027-10-12", "2028-10-12", 1)})
	shared := up.Commit("bertil on a shared file", bertil, time.Time{})
	d.r.Trigger("test", false)
	a = d.waitAttempt(shared)
	if a.Outcome != reconcile.OutcomeRefused || !strings.Contains(a.Message, "os.yaml changed by key "+bertil.Fingerprint) || !strings.Contains(a.Message, "not a consortium key") {
		t.Fatalf("bertil on a shared file: %+v", a)
	}
}

// TestRollbackNeedsAnOperator: a force-push back to an older commit is refused until an
// operator allows that commit; the rollback is then published and recorded.
func TestRollbackNeedsAnOperator(t *testing.T) {
	g := gpgtest.New(t)
	up := g.NewRepo()
	consortium := g.Key("Strategigruppen <strategi@samverk.example>", time.Time{}, "2y")
	up.Write(map[string]string{"os.yaml": osRelease, "members/region-norr/member.yaml": memberDoc("region-norr")})
	old := up.Commit("old", consortium, time.Time{})
	up.Write(map[string]string{"members/region-norr/member.yaml": memberDoc("region-norr") + "  organisationNumber: 232100-0586\n"})
	newer := up.Commit("newer", consortium, time.Time{})
	data := t.TempDir()
	clock := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	d := start(t, nil, data, setup{url: up.Dir, signing: signingPolicy(t, consortium.Public()), now: func() time.Time { return clock }})
	if a := d.waitAttempt(newer); a.Outcome != reconcile.OutcomePublished {
		t.Fatalf("newer: %+v", a)
	}

	up.Reset(old)
	d.r.Trigger("test", false)
	a := d.waitAttempt(old)
	if a.Outcome != reconcile.OutcomeRefused || a.Reason != reconcile.ReasonRollbackRefused ||
		!strings.Contains(a.Message, "older commit than the published revision") || !strings.Contains(a.Message, "--allow-rollback "+old.String()) {
		t.Fatalf("rollback: %+v", a)
	}
	if d.r.Current().Revision != newer.String() {
		t.Fatal("the rollback was served")
	}

	if err := d.r.AllowRollback(old.String()[:12], "anna"); err == nil {
		t.Error("an abbreviated hash was accepted")
	}
	if err := d.r.AllowRollback(old.String(), "anna@kommun-vasterby.se from 10.0.0.7"); err != nil {
		t.Fatal(err)
	}
	st := d.waitFor("the allowed rollback", func(st *reconcile.Status) bool { return st.LastAppliedRevision == old.String() })
	if st.RollbackAllowed != nil {
		t.Errorf("the allowance outlived its use: %+v", st.RollbackAllowed)
	}
	if len(st.Rollbacks) != 1 {
		t.Fatalf("rollbacks = %+v", st.Rollbacks)
	}
	rb := st.Rollbacks[0]
	if rb.From != newer.String() || rb.To != old.String() || rb.AllowedBy != "anna@kommun-vasterby.se from 10.0.0.7" || !rb.AllowedAt.Equal(clock) || rb.Relation != string(signing.Ancestor) {
		t.Errorf("rollback record = %+v", rb)
	}

	// The record survives a restart; a rewritten history is refused the same way.
	d.stop()
	d = start(t, nil, data, setup{url: up.Dir, signing: signingPolicy(t, consortium.Public()), now: func() time.Time { return clock }})
	d.waitFor("restore", func(st *reconcile.Status) bool { return st.LastAppliedRevision == old.String() })
	if st := d.r.Status(); len(st.Rollbacks) != 1 {
		t.Errorf("rollbacks after a restart = %+v", st.Rollbacks)
	}
	up.Git(time.Time{}, "checkout", "-q", "--orphan", "rewritten")
	up.Write(map[string]string{"os.yaml": osRelease})
	other := up.Commit("another history", consortium, time.Time{})
	up.Git(time.Time{}, "branch", "-q", "-f", "main", other.String())
	d.r.Trigger("test", false)
	if a := d.waitAttempt(other); a.Reason != reconcile.ReasonRollbackRefused || !strings.Contains(a.Message, "not a descendant") {
		t.Fatalf("another history: %+v", a)
	}
}

// TestExpiredKeyAcrossRestart: a revision published while its key was valid is served again
// after a restart at which the key has expired since, and status says so. The first run is
// the plain trusted-keys check; the second the signing policy.
func TestExpiredKeyAcrossRestart(t *testing.T) {
	for _, mode := range []string{"trusted keys", "signing policy"} {
		t.Run(mode, func(t *testing.T) {
			g := gpgtest.New(t)
			up := g.NewRepo()
			now := time.Now().Truncate(time.Second)
			key := g.Key("Strategigruppen <strategi@samverk.example>", now.Add(-3*24*time.Hour), "1y")
			up.Write(map[string]string{"os.yaml": osRelease, "members/region-norr/member.yaml": member("region")})
			head := up.Commit("signed while valid", key, now.Add(-2*24*time.Hour))
			data := t.TempDir()
			s := setup{url: up.Dir, keys: key.Public()}
			if mode == "signing policy" {
				s = setup{url: up.Dir, signing: signingPolicy(t, key.Public())}
			}
			d := start(t, nil, data, s)
			if a := d.waitAttempt(head); a.Outcome != reconcile.OutcomePublished {
				t.Fatalf("first publish: %+v", a)
			}
			d.stop()

			// The key's expiry is brought forward to yesterday, and the operator refreshes
			// the trusted keys before restarting the daemon.
			key.SetExpiry(now.Add(-2*24*time.Hour+time.Hour), "1d")
			s.keys = key.Public()
			if mode == "signing policy" {
				s.signing = signingPolicy(t, key.Public())
			}
			again := start(t, nil, data, s)
			st := again.waitFor("the restore attempt", func(st *reconcile.Status) bool {
				return len(st.History) > 0 && st.History[len(st.History)-1].Trigger == "restore"
			})
			restore := st.History[len(st.History)-1]
			if restore.Outcome != reconcile.OutcomePublished || again.r.Current() == nil {
				t.Fatalf("after a restart the published revision went dark: %+v", restore)
			}
			if mode == "signing policy" {
				c := cond(st, reconcile.ConditionSigningKey)
				if c.Status != "False" || c.Reason != reconcile.ReasonKeyExpiredSince || !strings.Contains(c.Message, key.Fingerprint) || !strings.Contains(c.Message, "stays served") {
					t.Errorf("SigningKey = %+v", c)
				}
				if st.Signature == nil || st.Signature.KeyExpires.After(now) {
					t.Errorf("signature in status = %+v", st.Signature)
				}
			}
		})
	}
}

func TestCatalogPathIsValidated(t *testing.T) {
	up := gpgtest.New(t).NewRepo()
	src, err := source.Open(source.Options{URL: up.Dir, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"../outside", "/", "a/../../b"} {
		if _, err := reconcile.New(reconcile.Options{Source: src, Path: p}); err == nil {
			t.Errorf("catalog path %q was accepted", p)
		}
	}
	if _, err := reconcile.New(reconcile.Options{Source: src, Path: "/catalog/"}); err != nil {
		t.Errorf("catalog path /catalog/: %v", err)
	}
}

// TestRollbackAfterAFailedRestore: when the persisted revision cannot be restored (its key was
// withdrawn), nothing is served, yet a force-push back to an older commit is still a rollback.
func TestRollbackAfterAFailedRestore(t *testing.T) {
	g := gpgtest.New(t)
	up := g.NewRepo()
	old := g.Key("Old Key <old@samverk.example>", time.Time{}, "2y")
	current := g.Key("Current Key <current@samverk.example>", time.Time{}, "2y")
	up.Write(map[string]string{"os.yaml": osRelease, "members/region-norr/member.yaml": memberDoc("region-norr")})
	first := up.Commit("by the old key", old, time.Time{})
	up.Write(map[string]string{"members/region-norr/member.yaml": memberDoc("region-norr") + "  organisationNumber: 232100-0586\n"})
	second := up.Commit("by the current key", current, time.Time{})
	data := t.TempDir()
	d := start(t, nil, data, setup{url: up.Dir, signing: signingPolicy(t, old.Public()+current.Public())})
	if a := d.waitAttempt(second); a.Outcome != reconcile.OutcomePublished {
		t.Fatalf("second: %+v", a)
	}
	d.stop()

	// The current key is withdrawn by mistake, and the branch is forced back to the first
	// commit, which the remaining key signed.
	up.Reset(first)
	d = start(t, nil, data, setup{url: up.Dir, signing: signingPolicy(t, old.Public())})
	a := d.waitAttempt(first)
	if a.Outcome != reconcile.OutcomeRefused || a.Reason != reconcile.ReasonRollbackRefused || !strings.Contains(a.Message, second.String()[:12]) {
		t.Fatalf("rollback after a failed restore: %+v", a)
	}
	if d.r.Current() != nil {
		t.Fatalf("served %s", d.r.Current().Revision)
	}
}
