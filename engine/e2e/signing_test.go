package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"samverk.io/samverk/engine/signing/gpgtest"
)

// daemonStatus is the part of the status API these tests read.
type daemonStatus struct {
	LastAppliedRevision string `json:"lastAppliedRevision"`
	History             []struct {
		Revision string `json:"revision"`
		Trigger  string `json:"trigger"`
		Outcome  string `json:"outcome"`
		Reason   string `json:"reason"`
		Message  string `json:"message"`
	} `json:"history"`
	Conditions []struct {
		Type, Status, Reason, Message string
	} `json:"conditions"`
	Rollbacks []struct {
		From, To, AllowedBy string
	} `json:"rollbacks"`
}

// signedDaemon runs `samverk serve --verify-signatures` on a catalog whose commits gpg signs.
type signedDaemon struct {
	t                 *testing.T
	bin, data, server string
	addr, admin, keys string
	known             string
	repo              *gpgtest.Repo
	daemon            *process
	n                 int
}

func (s *signedDaemon) start(t *testing.T) {
	t.Helper()
	s.n++
	cmd := exec.Command(filepath.Join(s.bin, "samverk"), "serve",
		"--repo", s.repo.Dir, "--branch", "main", "--listen", s.addr, "--data", filepath.Join(s.data, "state"), "--interval", "1s",
		"--admin-token-file", s.admin, "--verify-signatures", "--trusted-keys", s.keys, "--known-keys", s.known,
		"--path", "catalog")
	cmd.Env = cleanEnv("HOME=" + s.data)
	p := startProcess(t, cmd, filepath.Join(s.data, fmt.Sprintf("daemon-%d.log", s.n)))
	s.daemon = p
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			b, _ := os.ReadFile(p.log)
			t.Logf("log of daemon %d:\n%s", s.n, tail(b, 16<<10))
		}
	})
	waitAnswers(t, p, s.server+"/healthz", "the daemon listens")
}

func (s *signedDaemon) status(t *testing.T) daemonStatus {
	t.Helper()
	var st daemonStatus
	h := &harness{server: s.server}
	if err := h.get("/api/v1/status", &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// attempt waits for the daemon's first attempt on rev that was not cut short.
func (s *signedDaemon) attempt(t *testing.T, rev plumbing.Hash) (outcome, reason, message string) {
	t.Helper()
	eventually(t, 30*time.Second, "an attempt on "+rev.String()[:12], func() (bool, string) {
		st := s.status(t)
		for _, a := range st.History {
			if a.Revision == rev.String() && (a.Outcome == "published" || a.Outcome == "refused") {
				outcome, reason, message = a.Outcome, a.Reason, a.Message
				return true, ""
			}
		}
		return false, fmt.Sprintf("applied %s", st.LastAppliedRevision)
	})
	return
}

// TestSigningPolicyAgainstDaemon runs `samverk serve --verify-signatures` as a process on a
// catalog signed with gpg keys: per-member signing, an operator-allowed rollback through
// `samverk reconcile --allow-rollback`, and a key that expires while the daemon is down. The
// catalog is a directory of the repository (--path).
func TestSigningPolicyAgainstDaemon(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon; skipped with -short")
	}
	g := gpgtest.New(t)
	now := time.Now().Truncate(time.Second)
	consortium := g.Key("Strategigruppen <strategi@samverk.example>", now.Add(-10*24*time.Hour), "1y")
	anna := g.Key("Anna Berg <anna@e2e-kommun.example>", time.Time{}, "2y")
	bertil := g.Key("Bertil Ek <bertil@e2e-region.example>", time.Time{}, "2y")

	base := t.TempDir()
	s := &signedDaemon{t: t, bin: filepath.Join(base, "bin"), data: base, addr: freeAddr(t)}
	s.server = "http://" + s.addr
	mkdirAll(t, s.bin)
	build(t, s.bin)
	s.admin = filepath.Join(base, "admin-token")
	writeFile(t, s.admin, adminToken+"\n", 0o600)
	s.keys = filepath.Join(base, "consortium.asc")
	writeFile(t, s.keys, consortium.Public(), 0o600)
	s.known = filepath.Join(base, "people.asc")
	writeFile(t, s.known, anna.Public()+bertil.Public(), 0o600)

	s.repo = g.NewRepo()
	s.repo.Clock = now.Add(-5 * 24 * time.Hour)
	// The catalog is a directory of the repository, beside files of its own.
	s.repo.Write(map[string]string{"README.md": "# The consortium's catalog\n"})
	if err := os.CopyFS(filepath.Join(s.repo.Dir, "catalog"), os.DirFS("testdata/catalog")); err != nil {
		t.Fatal(err)
	}
	kommun, err := os.ReadFile("testdata/catalog/members/e2e-kommun/member.yaml")
	if err != nil {
		t.Fatal(err)
	}
	region := strings.NewReplacer("e2e-kommun", "e2e-region", "E2E kommun", "E2E region").Replace(string(kommun))
	s.repo.Write(map[string]string{
		"catalog/members/e2e-kommun/member.yaml": string(kommun) + "  signingKeys: [" + anna.Fingerprint + "]\n",
		"catalog/members/e2e-region/member.yaml": region + "  signingKeys: [" + bertil.Fingerprint + "]\n",
	})
	first := s.repo.Commit("the consortium's catalog", consortium, time.Time{})
	s.start(t)
	if o, _, m := s.attempt(t, first); o != "published" {
		t.Fatalf("first revision %s: %s", o, m)
	}

	// anna, of e2e-kommun, changes e2e-region's Member document.
	s.repo.Write(map[string]string{"catalog/members/e2e-region/member.yaml": region + "  signingKeys: [" + bertil.Fingerprint + ", " + anna.Fingerprint + "]\n"})
	bad := s.repo.Commit("anna in e2e-region", anna, time.Time{})
	o, reason, msg := s.attempt(t, bad)
	if o != "refused" || reason != "SignatureRefused" {
		t.Fatalf("anna's commit: %s %s %s", o, reason, msg)
	}
	for _, want := range []string{"catalog/members/e2e-region/member.yaml", anna.Fingerprint, "anna@e2e-kommun.example", "which e2e-region does not trust"} {
		if !strings.Contains(msg, want) {
			t.Errorf("refusal %q does not name %q", msg, want)
		}
	}

	// Force-pushed away, and made by bertil himself.
	s.repo.Reset(first)
	s.repo.Write(map[string]string{"catalog/members/e2e-region/member.yaml": region + "  signingKeys: [" + bertil.Fingerprint + ", " + anna.Fingerprint + "]\n"})
	good := s.repo.Commit("bertil in e2e-region", bertil, time.Time{})
	if o, _, m := s.attempt(t, good); o != "published" {
		t.Fatalf("bertil's commit %s: %s", o, m)
	}

	// A force-push back to the first revision is refused ...
	s.repo.Reset(first)
	eventually(t, 30*time.Second, "the rollback refused", func() (bool, string) {
		st := s.status(t)
		for _, a := range st.History {
			if a.Revision == first.String() && a.Reason == "RollbackRefused" {
				return true, ""
			}
		}
		return false, fmt.Sprintf("applied %s", st.LastAppliedRevision)
	})
	if st := s.status(t); st.LastAppliedRevision != good.String() {
		t.Fatalf("served %s during a refused rollback", st.LastAppliedRevision)
	}
	// ... until an operator allows it.
	cmd := exec.Command(filepath.Join(s.bin, "samverk"), "reconcile", "--server", s.server, "--admin-token-file", s.admin,
		"--allow-rollback", first.String(), "--by", "operator anna")
	cmd.Env = cleanEnv()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("samverk reconcile --allow-rollback: %v\n%s", err, out)
	}
	eventually(t, 30*time.Second, "the allowed rollback", func() (bool, string) {
		st := s.status(t)
		return st.LastAppliedRevision == first.String(), "applied " + st.LastAppliedRevision
	})
	st := s.status(t)
	if len(st.Rollbacks) != 1 || st.Rollbacks[0].From != good.String() || st.Rollbacks[0].To != first.String() || !strings.HasPrefix(st.Rollbacks[0].AllowedBy, "admin-token") || !strings.Contains(st.Rollbacks[0].AllowedBy, `saying "operator anna" from 127.0.0.1:`) {
		t.Errorf("rollbacks in status: %+v", st.Rollbacks)
	}

	// The consortium's key expires while the daemon is down; the refreshed key ring is
	// installed and the daemon restarted. It serves the same revision, and says why.
	s.daemon.kill()
	consortium.SetExpiry(now.Add(-4*24*time.Hour), "1d")
	writeFile(t, s.keys, consortium.Public(), 0o600)
	s.start(t)
	eventually(t, 30*time.Second, "the restored revision", func() (bool, string) {
		st := s.status(t)
		for _, a := range st.History {
			if a.Trigger == "restore" && a.Outcome == "refused" {
				t.Fatalf("the restart refused its own published revision: %s", a.Message)
			}
		}
		return st.LastAppliedRevision == first.String(), "applied " + st.LastAppliedRevision
	})
	st = s.status(t)
	var found bool
	for _, c := range st.Conditions {
		if c.Type == "SigningKey" {
			found = true
			if c.Status != "False" || c.Reason != "KeyExpiredSince" || !strings.Contains(c.Message, consortium.Fingerprint) {
				t.Errorf("SigningKey condition = %+v", c)
			}
		}
	}
	if !found {
		t.Errorf("no SigningKey condition in %+v", st.Conditions)
	}
}
