// Package gittest makes real Git repositories and OpenPGP keys for tests: a working tree in a
// temporary directory, commits made with go-git, optionally signed.
package gittest

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Repo is a non-bare repository with a working tree, on branch main.
type Repo struct {
	Dir  string
	Repo *git.Repository
	tb   testing.TB
	n    int
}

// New creates an empty repository in a temporary directory whose branch is main.
func New(tb testing.TB) *Repo {
	tb.Helper()
	dir := tb.TempDir()
	repo, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{
		InitOptions: git.InitOptions{DefaultBranch: plumbing.NewBranchReferenceName("main")},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return &Repo{Dir: dir, Repo: repo, tb: tb}
}

// CopyDir copies the files under src (a directory on disk) into the working tree, under dst.
func (r *Repo) CopyDir(src, dst string) {
	r.tb.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(r.Dir, dst, rel)
		if d.IsDir() {
			if d.Name() == ".git" {
				return filepath.SkipDir
			}
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		r.tb.Fatal(err)
	}
}

// Write sets files in the working tree (path → content, slash-separated paths).
func (r *Repo) Write(files map[string]string) { WriteFiles(r.tb, r.Dir, files) }

// Remove deletes files from the working tree.
func (r *Repo) Remove(paths ...string) { RemoveFiles(r.tb, r.Dir, paths...) }

// WriteFiles sets files below dir (path → content, slash-separated paths), making directories
// as needed.
func WriteFiles(tb testing.TB, dir string, files map[string]string) {
	tb.Helper()
	for p, content := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
}

// RemoveFiles deletes files or directories below dir (slash-separated paths).
func RemoveFiles(tb testing.TB, dir string, paths ...string) {
	tb.Helper()
	for _, p := range paths {
		if err := os.RemoveAll(filepath.Join(dir, filepath.FromSlash(p))); err != nil {
			tb.Fatal(err)
		}
	}
}

// Commit stages every change and commits it on main, signed by key when key is not nil.
func (r *Repo) Commit(msg string, key *openpgp.Entity) plumbing.Hash {
	r.tb.Helper()
	return r.commit(msg, key, nil)
}

// CommitPaths stages only the named paths (faster than a full status on a large tree) and
// commits them.
func (r *Repo) CommitPaths(msg string, key *openpgp.Entity, paths ...string) plumbing.Hash {
	r.tb.Helper()
	return r.commit(msg, key, paths)
}

func (r *Repo) commit(msg string, key *openpgp.Entity, paths []string) plumbing.Hash {
	wt, err := r.Repo.Worktree()
	if err != nil {
		r.tb.Fatal(err)
	}
	if paths == nil {
		err = wt.AddWithOptions(&git.AddOptions{All: true})
	} else {
		for _, p := range paths {
			if _, err = wt.Add(p); err != nil {
				break
			}
		}
	}
	if err != nil {
		r.tb.Fatal(err)
	}
	r.n++
	when := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(r.n) * time.Minute)
	sig := &object.Signature{Name: "Catalog Editor", Email: "editor@example.org", When: when}
	h, err := wt.Commit(msg, &git.CommitOptions{Author: sig, SignKey: key, AllowEmptyCommits: true})
	if err != nil {
		r.tb.Fatal(err)
	}
	return h
}

// KeyCreated is when NewKey's keys are made: before the commits of Repo, which signatures are
// judged at.
var KeyCreated = time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)

// NewKey generates an Ed25519 OpenPGP key and returns it with its armored public key.
func NewKey(tb testing.TB, name string) (*openpgp.Entity, string) {
	tb.Helper()
	e, err := openpgp.NewEntity(name, "", strings.ToLower(strings.ReplaceAll(name, " ", "."))+"@example.org",
		&packet.Config{Algorithm: packet.PubKeyAlgoEdDSA, Time: func() time.Time { return KeyCreated }})
	if err != nil {
		tb.Fatal(err)
	}
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, openpgp.PublicKeyType, nil)
	if err != nil {
		tb.Fatal(err)
	}
	if err := e.Serialize(w); err != nil {
		tb.Fatal(err)
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return e, buf.String()
}
