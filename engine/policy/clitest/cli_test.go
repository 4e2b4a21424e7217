// Package clitest runs the samverk policy commands end to end, from txtar scripts.
package clitest

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/rogpeppe/go-internal/testscript"

	"samverk.io/samverk/engine/cli"
	"samverk.io/samverk/policies"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"samverk": func() { os.Exit(cli.Main(os.Args[1:])) },
	})
}

// TestScript runs the policy commands from testdata/script/*.txtar. Scripts can
// copy the bundled policies and the testdata catalog, edit a file and commit to Git.
func TestScript(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:           "testdata/script",
		UpdateScripts: os.Getenv("SAMVERK_UPDATE") == "1",
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			// copypolicies DIR: the bundled policy set.
			"copypolicies": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 1 {
					ts.Fatalf("usage: copypolicies DIR")
				}
				ts.Check(copyFS(policies.FS, ts.MkAbs(args[0])))
			},
			// copytestcatalog DIR: the testdata catalog of this package.
			"copytestcatalog": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 1 {
					ts.Fatalf("usage: copytestcatalog DIR")
				}
				ts.Check(copyFS(os.DirFS("../testdata/catalog"), ts.MkAbs(args[0])))
			},
			// replace FILE OLD NEW: replace the one occurrence of OLD.
			"replace": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 3 {
					ts.Fatalf("usage: replace FILE OLD NEW")
				}
				p := ts.MkAbs(args[0])
				b, err := os.ReadFile(p)
				ts.Check(err)
				if strings.Count(string(b), args[1]) != 1 {
					ts.Fatalf("%s: %q does not occur exactly once", args[0], args[1])
				}
				ts.Check(os.WriteFile(p, []byte(strings.Replace(string(b), args[1], args[2], 1)), 0o644))
			},
			// gitcommit MESSAGE: commit everything in the working directory, creating the repository.
			"gitcommit": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 1 {
					ts.Fatalf("usage: gitcommit MESSAGE")
				}
				dir := ts.MkAbs(".")
				repo, err := git.PlainOpen(dir)
				if err == git.ErrRepositoryNotExists {
					repo, err = git.PlainInit(dir, false)
				}
				ts.Check(err)
				wt, err := repo.Worktree()
				ts.Check(err)
				ts.Check(wt.AddGlob("."))
				sig := &object.Signature{Name: "Strategy Group", Email: "strategi@example.se", When: time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC)}
				_, err = wt.Commit(args[0], &git.CommitOptions{Author: sig, Committer: sig})
				ts.Check(err)
			},
		},
	})
}

// copyFS writes the files of fsys under dir.
func copyFS(fsys fs.FS, dir string) error {
	return fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		target := filepath.Join(dir, filepath.FromSlash(p))
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
}
