package source

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// SeedTime is the author and committer time of a seeded commit.
var SeedTime = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Seed writes the regular files of fsys that keep accepts (all, when keep is nil) as the single
// commit of branch in a bare repository at dir, created if needed, and points HEAD at branch.
// The commit depends on the content alone (fixed author and time, no parent): seeding the same
// files again gives the same revision, and different files replace the branch as a force-push
// would. It is how `samverk serve` without --repo serves the bundled catalog.
func Seed(dir, branch string, fsys fs.FS, keep func(name string) bool) (plumbing.Hash, error) {
	repo, err := git.PlainOpen(dir)
	if errors.Is(err, git.ErrRepositoryNotExists) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return plumbing.ZeroHash, fmt.Errorf("source: seed: %w", err)
		}
		repo, err = git.PlainInit(dir, true)
	}
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("source: seed: %w", err)
	}
	st := repo.Storer
	tree, err := seedTree(st, fsys, ".", keep)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("source: seed: %w", err)
	}
	sig := object.Signature{Name: "samverk", Email: "samverk@localhost", When: SeedTime}
	c := &object.Commit{Author: sig, Committer: sig, Message: "Bundled reference catalog\n", TreeHash: tree}
	h, err := store(st, c)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("source: seed: %w", err)
	}
	ref := plumbing.NewBranchReferenceName(branch)
	if err := st.SetReference(plumbing.NewHashReference(ref, h)); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("source: seed: %w", err)
	}
	if err := st.SetReference(plumbing.NewSymbolicReference(plumbing.HEAD, ref)); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("source: seed: %w", err)
	}
	return h, nil
}

type encoder interface {
	Encode(plumbing.EncodedObject) error
}

func store(st storer.EncodedObjectStorer, o encoder) (plumbing.Hash, error) {
	obj := st.NewEncodedObject()
	if err := o.Encode(obj); err != nil {
		return plumbing.ZeroHash, err
	}
	return st.SetEncodedObject(obj)
}

// seedTree stores dir of fsys as a tree and returns its hash. Empty directories are left out,
// as Git has no empty trees in a commit.
func seedTree(st storer.EncodedObjectStorer, fsys fs.FS, dir string, keep func(string) bool) (plumbing.Hash, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	var tree object.Tree
	for _, e := range entries {
		name := path.Join(dir, e.Name())
		switch {
		case e.IsDir():
			h, err := seedTree(st, fsys, name, keep)
			if err != nil {
				return plumbing.ZeroHash, err
			}
			if h.IsZero() {
				continue
			}
			tree.Entries = append(tree.Entries, object.TreeEntry{Name: e.Name(), Mode: filemode.Dir, Hash: h})
		case e.Type().IsRegular():
			if keep != nil && !keep(name) {
				continue
			}
			b, err := fs.ReadFile(fsys, name)
			if err != nil {
				return plumbing.ZeroHash, err
			}
			obj := st.NewEncodedObject()
			obj.SetType(plumbing.BlobObject)
			w, err := obj.Writer()
			if err != nil {
				return plumbing.ZeroHash, err
			}
			if _, err := w.Write(b); err != nil {
				return plumbing.ZeroHash, err
			}
			if err := w.Close(); err != nil {
				return plumbing.ZeroHash, err
			}
			h, err := st.SetEncodedObject(obj)
			if err != nil {
				return plumbing.ZeroHash, err
			}
			tree.Entries = append(tree.Entries, object.TreeEntry{Name: e.Name(), Mode: filemode.Regular, Hash: h})
		}
	}
	if len(tree.Entries) == 0 {
		return plumbing.ZeroHash, nil
	}
	// Git orders entries by name, a directory's name as if it ended in "/".
	key := func(e object.TreeEntry) string {
		if e.Mode == filemode.Dir {
			return e.Name + "/"
		}
		return e.Name
	}
	sort.Slice(tree.Entries, func(i, j int) bool { return key(tree.Entries[i]) < key(tree.Entries[j]) })
	return store(st, &tree)
}
