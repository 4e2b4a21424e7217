package signing

import (
	"bytes"
	"container/heap"
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Flags of the walk: reachable from the head, from the base.
const (
	fromHead uint8 = 1 << iota
	fromBase
)

// walk finds the commits reachable from head and not from base (oldest first) and where head
// stands to base. It paints both histories at once, newest commit first, and stops when every
// commit still queued is reachable from base: what lies below those is trusted already. A
// commit with a skewed clock may be listed although base reaches it, never the reverse, so the
// error is on the side of checking too much.
func walk(ctx context.Context, repo *git.Repository, base, head plumbing.Hash) (Relation, []*object.Commit, error) {
	w := &walker{repo: repo, flags: map[plumbing.Hash]uint8{}, commits: map[plumbing.Hash]*object.Commit{}}
	if err := w.mark(head, fromHead); err != nil {
		return "", nil, err
	}
	if err := w.mark(base, fromBase); err != nil {
		return "", nil, err
	}
	for w.q.Len() > 0 && w.interesting() {
		if err := ctx.Err(); err != nil {
			return "", nil, err
		}
		c := heap.Pop(&w.q).(*object.Commit)
		f := w.flags[c.Hash]
		for _, ph := range c.ParentHashes {
			if err := w.mark(ph, f); err != nil {
				return "", nil, err
			}
		}
	}
	rel := Diverged
	switch {
	case w.flags[base]&fromHead != 0:
		rel = Descendant
	case w.flags[head]&fromBase != 0:
		rel = Ancestor
	}
	var out []*object.Commit
	for h, f := range w.flags {
		if f == fromHead {
			out = append(out, w.commits[h])
		}
	}
	slices.SortFunc(out, func(a, b *object.Commit) int {
		if a.Committer.When.Equal(b.Committer.When) {
			return bytes.Compare(a.Hash[:], b.Hash[:])
		}
		return a.Committer.When.Compare(b.Committer.When)
	})
	return rel, out, nil
}

type walker struct {
	repo    *git.Repository
	flags   map[plumbing.Hash]uint8
	commits map[plumbing.Hash]*object.Commit
	q       byTime
}

// mark adds flags to commit h and queues it when they are new to it.
func (w *walker) mark(h plumbing.Hash, f uint8) error {
	old := w.flags[h]
	if old|f == old {
		return nil
	}
	w.flags[h] = old | f
	c := w.commits[h]
	if c == nil {
		var err error
		if c, err = w.repo.CommitObject(h); err != nil {
			return fmt.Errorf("commit %s: %w", h, err)
		}
		w.commits[h] = c
	}
	heap.Push(&w.q, c)
	return nil
}

// interesting reports whether a queued commit is not yet known to be reachable from base.
func (w *walker) interesting() bool {
	for _, c := range w.q {
		if w.flags[c.Hash]&fromBase == 0 {
			return true
		}
	}
	return false
}

// byTime is a max-heap of commits by committer time.
type byTime []*object.Commit

func (q byTime) Len() int           { return len(q) }
func (q byTime) Less(i, j int) bool { return q[i].Committer.When.After(q[j].Committer.When) }
func (q byTime) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *byTime) Push(x any)        { *q = append(*q, x.(*object.Commit)) }
func (q *byTime) Pop() any {
	old := *q
	c := old[len(old)-1]
	*q = old[:len(old)-1]
	return c
}

// changedPaths lists the files c changes, as repository paths, sorted. For a merge, those are
// the files whose merged content differs from every parent's: a file taken as it was from one
// parent was checked in that parent's history.
func changedPaths(ctx context.Context, repo *git.Repository, c *object.Commit) ([]string, error) {
	tree, err := c.Tree()
	if err != nil {
		return nil, err
	}
	diff := func(parent *object.Tree) (map[string]bool, error) {
		set := map[string]bool{}
		if err := diffTrees(ctx, repo, parent, tree, "", set); err != nil {
			return nil, err
		}
		return set, nil
	}
	var result map[string]bool
	if c.NumParents() == 0 {
		if result, err = diff(nil); err != nil {
			return nil, err
		}
	}
	for i := range c.NumParents() {
		pc, err := c.Parent(i)
		if err != nil {
			return nil, err
		}
		pt, err := pc.Tree()
		if err != nil {
			return nil, err
		}
		set, err := diff(pt)
		if err != nil {
			return nil, err
		}
		if result == nil {
			result = set
			continue
		}
		for p := range result {
			if !set[p] {
				delete(result, p)
			}
		}
	}
	return slices.Sorted(maps.Keys(result)), nil
}

// diffTrees adds to out every file path that differs between trees a and b (either may be
// nil). It descends only into subtrees whose hashes differ, so its cost follows the change,
// not the tree. A path that is a file on one side and a directory on the other is listed, and
// so are the directory's files.
func diffTrees(ctx context.Context, repo *git.Repository, a, b *object.Tree, prefix string, out map[string]bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	entries := func(t *object.Tree) map[string]object.TreeEntry {
		m := map[string]object.TreeEntry{}
		if t != nil {
			for _, e := range t.Entries {
				m[e.Name] = e
			}
		}
		return m
	}
	ea, eb := entries(a), entries(b)
	names := map[string]bool{}
	for n := range ea {
		names[n] = true
	}
	for n := range eb {
		names[n] = true
	}
	for name := range names {
		x, inA := ea[name]
		y, inB := eb[name]
		if inA && inB && x.Hash == y.Hash && x.Mode == y.Mode {
			continue
		}
		p := prefix + name
		var sa, sb *object.Tree
		if inA && x.Mode == filemode.Dir {
			t, err := repo.TreeObject(x.Hash)
			if err != nil {
				return fmt.Errorf("tree %s: %w", p, err)
			}
			sa = t
		} else if inA {
			out[p] = true
		}
		if inB && y.Mode == filemode.Dir {
			t, err := repo.TreeObject(y.Hash)
			if err != nil {
				return fmt.Errorf("tree %s: %w", p, err)
			}
			sb = t
		} else if inB {
			out[p] = true
		}
		if sa != nil || sb != nil {
			if err := diffTrees(ctx, repo, sa, sb, p+"/", out); err != nil {
				return err
			}
		}
	}
	return nil
}
