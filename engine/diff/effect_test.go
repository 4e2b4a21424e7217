package diff

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"

	"samverk.io/samverk/engine/gitfs"
	"samverk.io/samverk/engine/policy"
	"samverk.io/samverk/policies"
)

// step is one commit in the life of the test catalog and what it must do to the fleet.
type step struct {
	name   string
	file   string
	old    string
	new    string
	effect []string // "member/group: change [devices]"
}

var steps = []step{
	{
		name: "version-bump",
		file: "firefox.yaml",
		old:  "      - {stage: infra-test, date: 2025-11-01, member: kommun-a, result: pass, evidence: \"https://test.example/ff-140-5/infra\"}\n",
		new: "      - {stage: infra-test, date: 2025-11-01, member: kommun-a, result: pass, evidence: \"https://test.example/ff-140-5/infra\"}\n" + `---
apiVersion: samverk.io/v1
kind: Package
metadata: {name: firefox-esr-140-6-0, owner: kommun-a}
spec:
  <<: *firefox
  version: 140.6.0
  supersedes: [firefox-esr-140-5-0]
  lifecycle:
    stage: user-test
    records:
      - {stage: infra-test, date: 2025-12-01, member: kommun-a, result: pass, evidence: "https://test.example/ff-140-6/infra"}
`,
		effect: []string{
			"region-norr/pilot: upgrade firefox-esr 140.5.0 → 140.6.0 [3]",
		},
	},
	{
		name: "promotion",
		file: "firefox.yaml",
		old:  "    stage: user-test\n    records:\n      - {stage: infra-test, date: 2025-12-01,",
		new:  "    stage: approved\n    records:\n      - {stage: user-test, date: 2025-12-08, member: region-norr, result: pass, evidence: \"https://test.example/ff-140-6/user\"}\n      - {stage: infra-test, date: 2025-12-01,",
		effect: []string{
			"kommun-a/broad: remove firefox-esr 140.5.0 [7]",
			"kommun-a/broad: upgrade firefox-esr 140.4.0 → 140.6.0 [7]",
			"region-norr/broad: remove firefox-esr 140.5.0 [10]",
			"region-norr/broad: upgrade firefox-esr 140.4.0 → 140.6.0 [10]",
		},
	},
	{
		name: "retirement",
		file: "7zip.yaml",
		old:  "  version: \"24.09\"\n  lifecycle:\n    stage: approved",
		new:  "  version: \"24.09\"\n  lifecycle:\n    stage: retired",
		effect: []string{
			"region-norr/broad: downgrade 7zip 24.09 → 23.01 [10]",
			"region-norr/pilot: downgrade 7zip 24.09 → 23.01 [3]",
		},
	},
	{
		name: "certification-withdrawn",
		file: "hardware.yaml",
		old:  "{osRelease: windows-11-25h2, status: certified, member: kommun-a, date: 2025-11-10, evidence: \"https://cert.example/hp-840-g10/25h2\"}",
		new:  "{osRelease: windows-11-25h2, status: withdrawn, member: kommun-a, date: 2025-11-10, evidence: \"https://cert.example/hp-840-g10/25h2\", reason: Docking station firmware loses USB-C video after sleep}",
		effect: []string{
			"kommun-a/broad: OS upgrade to windows-11-25h2 blocked (NotCertified) [7]",
			"region-norr/broad: OS upgrade to windows-11-25h2 blocked (NotCertified) [5]",
		},
	},
	{
		name: "baseline-setting",
		file: "baseline.yaml",
		old:  "      value: 14\n",
		new:  "      value: 16\n",
		effect: []string{
			"region-norr/broad: setting setting/minimum-password-length 14 → 16 [10]",
			"region-norr/pilot: setting setting/minimum-password-length 14 → 16 [3]",
		},
	},
}

func gitRun(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=Test", "GIT_AUTHOR_EMAIL=t@example.org",
		"GIT_COMMITTER_NAME=Test", "GIT_COMMITTER_EMAIL=t@example.org", "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

// TestEffectsAcrossCommits drives a real Git repository through a version bump, a promotion,
// a retirement, a withdrawn certification and a baseline change, and checks what each commit
// does to each member's devices, counted against a fixed inventory.
func TestEffectsAcrossCommits(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	repoDir := t.TempDir()
	catDir := filepath.Join(repoDir, "catalog")
	if err := os.CopyFS(catDir, os.DirFS("testdata/catalog")); err != nil {
		t.Fatal(err)
	}
	gitRun(t, repoDir, "init", "-q", "-b", "main")
	gitRun(t, repoDir, "add", ".")
	gitRun(t, repoDir, "commit", "-q", "-m", "base")

	invJSON, err := os.ReadFile("testdata/inventory.json")
	if err != nil {
		t.Fatal(err)
	}
	inv, err := ParseInventory(invJSON)
	if err != nil {
		t.Fatal(err)
	}
	pol, err := policy.Load(policies.FS, policy.Options{Dir: "policies"})
	if err != nil {
		t.Fatal(err)
	}
	repo, err := git.PlainOpen(repoDir)
	if err != nil {
		t.Fatal(err)
	}
	snapshot := func(rev string) Source {
		h, err := repo.ResolveRevision(plumbing.Revision(rev))
		if err != nil {
			t.Fatal(err)
		}
		snap, err := gitfs.Snapshot(repo, *h)
		if err != nil {
			t.Fatal(err)
		}
		sub, err := fs.Sub(snap, "catalog")
		if err != nil {
			t.Fatal(err)
		}
		return Source{FS: sub, Label: rev}
	}
	opt := Options{Policies: pol, Now: time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC), Inventory: inv}

	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			p := filepath.Join(catDir, st.file)
			src, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(src, []byte(st.old)) {
				t.Fatalf("%s does not contain %q", st.file, st.old)
			}
			if err := os.WriteFile(p, bytes.Replace(src, []byte(st.old), []byte(st.new), 1), 0o644); err != nil {
				t.Fatal(err)
			}
			gitRun(t, repoDir, "commit", "-q", "-am", st.name)

			rep, err := Compare(context.Background(), snapshot("HEAD~1"), snapshot("HEAD"), opt)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Effect.Unit != "devices" || rep.Effect.Total != len(inv) {
				t.Errorf("counted %d %s, want %d devices", rep.Effect.Total, rep.Effect.Unit, len(inv))
			}
			var got []string
			for _, m := range rep.Effect.Members {
				for _, g := range m.Groups {
					for _, c := range g.Changes {
						got = append(got, m.Member+"/"+g.Group+": "+c.Describe()+" ["+strconv.Itoa(c.Count)+"]")
					}
				}
			}
			if strings.Join(got, "\n") != strings.Join(st.effect, "\n") {
				t.Errorf("effect:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(st.effect, "\n"))
			}
			if !rep.HasEffect() {
				t.Error("HasEffect = false")
			}

			var md bytes.Buffer
			if err := Markdown(&md, rep); err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", "golden", st.name+".md")
			if os.Getenv("SAMVERK_UPDATE") == "1" {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, md.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with SAMVERK_UPDATE=1 to create it)", err)
			}
			if md.String() != string(want) {
				t.Errorf("markdown differs from %s:\n%s", golden, md.String())
			}
		})
	}

	t.Run("no-effect", func(t *testing.T) {
		rep, err := Compare(context.Background(), snapshot("HEAD"), snapshot("HEAD"), opt)
		if err != nil {
			t.Fatal(err)
		}
		if rep.HasEffect() {
			t.Errorf("comparing a revision with itself has an effect: %+v", rep)
		}
	})
}
