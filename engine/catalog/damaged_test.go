package catalog_test

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"

	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/finding"
	"samverk.io/samverk/engine/gitfs"
)

const osDoc = `apiVersion: samverk.io/v1
kind: OSRelease
metadata:
  name: ubuntu-24-04
spec:
  family: linux
`

// gitRun runs git in dir and returns its trimmed output.
func gitRun(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_AUTHOR_NAME=T", "GIT_AUTHOR_EMAIL=t@example.org",
		"GIT_COMMITTER_NAME=T", "GIT_COMMITTER_EMAIL=t@example.org")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// removeObject deletes a loose object from the repository, as a damaged clone would lack it.
func removeObject(t *testing.T, dir, hash string) {
	t.Helper()
	if err := os.Remove(filepath.Join(dir, ".git", "objects", hash[:2], hash[2:])); err != nil {
		t.Fatal(err)
	}
}

// TestDamagedCommitIsFindings loads a commit with a submodule, a directory whose tree object is
// missing and a file whose blob is missing: each is a finding at its path, the rest of the
// catalog loads, and nothing is a load error (which the daemon would retry forever).
func TestDamagedCommitIsFindings(t *testing.T) {
	dir := t.TempDir()
	gitRun(t, dir, "init", "-q", "-b", "main")
	for p, content := range map[string]string{
		"os/ubuntu.yaml":           osDoc,
		"packages/firefox.yaml":    "kind: Package\n",
		"hardware/missing.yaml":    "kind: HardwareModel # its blob goes missing\n",
		"_skipped/ignored.yaml":    "kind: Ignored\n",
		"hardware/also-there.yaml": strings.Replace(osDoc, "ubuntu-24-04", "ubuntu-22-04", 1),
	} {
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	gitRun(t, dir, "add", "-A")
	// A gitlink: a submodule entry naming a commit of another repository.
	gitRun(t, dir, "update-index", "--add", "--cacheinfo", "160000,1111111111111111111111111111111111111111,members/evil/groups.yaml")
	gitRun(t, dir, "commit", "-q", "-m", "damaged")
	head := gitRun(t, dir, "rev-parse", "HEAD")
	removeObject(t, dir, gitRun(t, dir, "rev-parse", "HEAD:packages"))
	removeObject(t, dir, gitRun(t, dir, "rev-parse", "HEAD:hardware/missing.yaml"))

	repo, err := git.PlainOpen(dir)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := gitfs.Snapshot(repo, plumbing.NewHash(head))
	if err != nil {
		t.Fatalf("snapshot of a damaged commit: %v", err)
	}
	if _, err := fs.ReadDir(snap, "packages"); !errors.Is(err, gitfs.ErrDamaged) {
		t.Errorf("listing a directory whose tree is missing: %v, want gitfs.ErrDamaged", err)
	}
	if _, err := fs.ReadDir(snap, "os"); err != nil {
		t.Errorf("listing an intact directory of a damaged snapshot: %v", err)
	}
	res, err := catalog.Load(snap, catalog.Options{})
	if err != nil {
		t.Fatalf("load of a damaged commit: %v", err)
	}
	got := map[string]string{}
	for _, f := range res.Findings {
		got[f.File] = f.Rule
		if f.Severity != finding.Deny || f.Line != 1 || f.Column != 1 || f.Message == "" {
			t.Errorf("finding %+v: want a deny at line 1, column 1, with a message", f)
		}
	}
	want := map[string]string{
		"members/evil/groups.yaml": finding.RuleSubmodule,
		"packages":                 finding.RuleUnreadable,
		"hardware/missing.yaml":    finding.RuleUnreadable,
	}
	if len(got) != len(want) {
		t.Errorf("findings %v, want %v", got, want)
	}
	for file, rule := range want {
		if got[file] != rule {
			t.Errorf("%s: rule %q, want %q (all: %v)", file, got[file], rule, got)
		}
	}
	if res.Catalog.Len() != 2 {
		t.Errorf("%d documents loaded, want the 2 readable ones", res.Catalog.Len())
	}
}
