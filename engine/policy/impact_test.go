package policy_test

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"

	"samverk.io/samverk/engine/finding"
	"samverk.io/samverk/engine/gitfs"
	"samverk.io/samverk/engine/policy"
	"samverk.io/samverk/policies"
)

// writeBundled copies the bundled policy set to dir.
func writeBundled(t *testing.T, dir string) {
	t.Helper()
	err := fs.WalkDir(policies.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dir, p), 0o755)
		}
		b, err := fs.ReadFile(policies.FS, p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, p), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func commitAll(t *testing.T, repo *git.Repository, msg string) {
	t.Helper()
	wt, err := repo.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	if err := wt.AddGlob("."); err != nil {
		t.Fatal(err)
	}
	sig := &object.Signature{Name: "Strategy Group", Email: "strategi@example.se", When: time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC)}
	if _, err := wt.Commit(msg, &git.CommitOptions{Author: sig, Committer: sig}); err != nil {
		t.Fatal(err)
	}
}

// TestImpactAcrossTwoCommits tightens one rule in a second commit of a real repository and
// checks that the impact lists exactly the documents that newly fail.
func TestImpactAcrossTwoCommits(t *testing.T) {
	repoDir := t.TempDir()
	repo, err := git.PlainInit(repoDir, false)
	if err != nil {
		t.Fatal(err)
	}
	polDir := filepath.Join(repoDir, "policies")
	writeBundled(t, polDir)
	copyDir(t, "testdata/catalog", filepath.Join(repoDir, "catalog"))
	// A second time-limited service that stays within the tightened limit.
	short := `apiVersion: samverk.io/v1
kind: Service
metadata:
  name: visitor-wifi
spec:
  displayName: Visitor Wi-Fi
  delivers:
    entitlements:
      - {type: network-access, name: visitors}
  requestableBy: {memberTypes: [region]}
  approval: manager
  duration: {type: time-limited, maxDays: 30}
  provisioning: automated
  cost: {model: free}
`
	if err := os.WriteFile(filepath.Join(repoDir, "catalog", "visitor.yaml"), []byte(short), 0o644); err != nil {
		t.Fatal(err)
	}
	commitAll(t, repo, "Starter policies")

	rule := filepath.Join(polDir, "services", "max_days_bound.rego")
	src, err := os.ReadFile(rule)
	if err != nil {
		t.Fatal(err)
	}
	tightened := strings.Replace(string(src), "max_days := 365", "max_days := 90", 1)
	if tightened == string(src) {
		t.Fatal("max_days := 365 not found in the rule")
	}
	if err := os.WriteFile(rule, []byte(tightened), 0o644); err != nil {
		t.Fatal(err)
	}
	commitAll(t, repo, "Time-limited access lasts at most 90 days")

	baseFS, hash, err := gitfs.DirAt(polDir, "HEAD~1")
	if err != nil {
		t.Fatal(err)
	}
	if len(hash) != 40 {
		t.Errorf("resolved commit %q", hash)
	}
	base, err := policy.Load(baseFS, policy.Options{Dir: "policies"})
	if err != nil {
		t.Fatal(err)
	}
	headFS, _, err := gitfs.DirAt(polDir, "HEAD")
	if err != nil {
		t.Fatal(err)
	}
	head, err := policy.Load(headFS, policy.Options{Dir: "policies"})
	if err != nil {
		t.Fatal(err)
	}
	cat := loadCatalog(t, filepath.Join(repoDir, "catalog"))
	rep, err := policy.Impact(context.Background(), cat, base, head, clock)
	if err != nil {
		t.Fatal(err)
	}
	want := []finding.DocRef{{Kind: "Service", Name: "journal-access"}}
	if len(rep.NewlyFailing) != 1 || rep.NewlyFailing[0] != want[0] {
		t.Errorf("newly failing %v, want %v", rep.NewlyFailing, want)
	}
	if len(rep.New) != 1 || rep.New[0].Rule != "SV-SVC-003" || rep.New[0].Path != "spec.duration.maxDays" {
		t.Errorf("new findings:\n%s", join(rep.New))
	}
	if len(rep.Gone) != 0 || len(rep.Unchanged) != 1 || rep.NewDeny() != 1 {
		t.Errorf("gone %d unchanged %d new deny %d; want 0, 1 (the waived one), 1", len(rep.Gone), len(rep.Unchanged), rep.NewDeny())
	}

	// The other way round, the same finding is gone and nothing is new.
	back, err := policy.Impact(context.Background(), cat, head, base, clock)
	if err != nil {
		t.Fatal(err)
	}
	if len(back.New) != 0 || len(back.Gone) != 1 || back.NewDeny() != 0 {
		t.Errorf("reverse: new %d gone %d", len(back.New), len(back.Gone))
	}

	var text bytes.Buffer
	if err := rep.WriteText(&text, false); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"new (1):", "deny SV-SVC-003", "Service/journal-access", "gone (0):"} {
		if !strings.Contains(text.String(), w) {
			t.Errorf("text lacks %q:\n%s", w, text.String())
		}
	}

	if _, _, err := gitfs.DirAt(polDir, "no-such-branch"); err == nil {
		t.Error("an unknown revision must be an error")
	}
	if _, _, err := gitfs.DirAt(t.TempDir(), "HEAD"); err == nil {
		t.Error("a directory outside any repository must be an error")
	}
}

func TestCompareFindingsKeys(t *testing.T) {
	doc := &finding.DocRef{Kind: "Package", Name: "p"}
	f := func(rule, path, msg string) finding.Finding {
		return finding.Finding{Rule: rule, Severity: finding.Deny, Path: path, Message: msg, Document: doc}
	}
	base := []finding.Finding{f("A", "spec.x", "one"), f("A", "spec.x", "two"), f("B", "spec.y", "old wording")}
	head := []finding.Finding{f("A", "spec.x", "two"), f("B", "spec.y", "new wording"), f("A", "spec.z", "three")}
	rep := policy.CompareFindings(base, head)
	// B's message changed but its key did not: unchanged. A at spec.x lost one of two.
	if len(rep.New) != 1 || rep.New[0].Path != "spec.z" || len(rep.Gone) != 1 || rep.Gone[0].Message != "one" || len(rep.Unchanged) != 2 {
		t.Errorf("new %v\ngone %v\nunchanged %v", rep.New, rep.Gone, rep.Unchanged)
	}
}
