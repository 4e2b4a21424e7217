package cli

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/rogpeppe/go-internal/testscript"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"samverk": func() { os.Exit(Main(os.Args[1:])) },
	})
}

// TestScript runs the command line end to end, as a user would, from testdata/script/*.txtar.
// Each script may copy the reference catalog with `copycatalog DIR` and plant problems in it.
func TestScript(t *testing.T) {
	repoCatalog, err := filepath.Abs("../../catalog")
	if err != nil {
		t.Fatal(err)
	}
	repoPolicies, err := filepath.Abs("../../policies")
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		UpdateScripts:       os.Getenv("SAMVERK_UPDATE") == "1",
		RequireExplicitExec: false,
		Setup: func(env *testscript.Env) error {
			env.Setenv("REFCATALOG", repoCatalog)
			env.Setenv("REFPOLICIES", repoPolicies)
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"copycatalog": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 1 {
					ts.Fatalf("usage: copycatalog DIR")
				}
				ts.Check(copyTree(repoCatalog, ts.MkAbs(args[0])))
			},
			"gitcommit": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 2 {
					ts.Fatalf("usage: gitcommit DIR TAG")
				}
				ts.Check(gitCommit(ts.MkAbs(args[0]), args[1]))
			},
			"bigfile": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 2 {
					ts.Fatalf("usage: bigfile FILE BYTES")
				}
				n, err := strconv.Atoi(args[1])
				ts.Check(err)
				ts.Check(os.WriteFile(ts.MkAbs(args[0]), []byte("# "+strings.Repeat("x", n)+"\n"), 0o644))
			},
		},
	})
}

func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if strings.HasSuffix(p, ".go") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
}

// gitCommit commits every file of dir on main, making dir a repository first if it is none, and
// tags the commit.
func gitCommit(dir, tag string) error {
	repo, err := git.PlainOpen(dir)
	if errors.Is(err, git.ErrRepositoryNotExists) {
		repo, err = git.PlainInitWithOptions(dir, &git.PlainInitOptions{
			InitOptions: git.InitOptions{DefaultBranch: plumbing.NewBranchReferenceName("main")},
		})
	}
	if err != nil {
		return err
	}
	wt, err := repo.Worktree()
	if err != nil {
		return err
	}
	if err := wt.AddWithOptions(&git.AddOptions{All: true}); err != nil {
		return err
	}
	sig := &object.Signature{Name: "Catalog Editor", Email: "editor@example.org", When: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	h, err := wt.Commit(tag, &git.CommitOptions{Author: sig, AllowEmptyCommits: true})
	if err != nil {
		return err
	}
	_, err = repo.CreateTag(tag, h, nil)
	return err
}
