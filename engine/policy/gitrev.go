package policy

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"samverk.io/samverk/engine/gitfs"
)

// RevisionFS returns the directory dir as it was at Git revision rev (a branch, tag, commit or
// expression such as HEAD~1) of the repository dir lies in, and the commit rev resolved to.
// Nothing is checked out: the files are read from the repository's object store.
func RevisionFS(dir, rev string) (fs.FS, string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, "", fmt.Errorf("policy: %s at %s: %w", dir, rev, err)
	}
	if resolved, err := filepath.EvalSymlinks(abs); err == nil {
		abs = resolved
	}
	root, err := repoRoot(abs)
	if err != nil {
		return nil, "", fmt.Errorf("policy: %s at %s: %w", dir, rev, err)
	}
	snap, hash, err := gitfs.OpenRev(root, rev)
	if err != nil {
		return nil, "", fmt.Errorf("policy: %s at %s: %w", dir, rev, err)
	}
	rel, err := filepath.Rel(root, abs)
	if err != nil {
		return nil, "", fmt.Errorf("policy: %s at %s: %w", dir, rev, err)
	}
	rel = filepath.ToSlash(rel)
	if rel == "." {
		return snap, hash.String(), nil
	}
	if _, err := fs.Stat(snap, rel); err != nil {
		return nil, "", fmt.Errorf("policy: %s does not exist at %s (%s): %w", rel, rev, hash.String()[:12], err)
	}
	sub, err := fs.Sub(snap, rel)
	if err != nil {
		return nil, "", fmt.Errorf("policy: %s at %s: %w", dir, rev, err)
	}
	return sub, hash.String(), nil
}

// repoRoot is the nearest directory at or above dir that holds .git.
func repoRoot(dir string) (string, error) {
	for d := dir; ; {
		if _, err := os.Stat(filepath.Join(d, ".git")); err == nil {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("not inside a Git repository")
		}
		d = parent
	}
}
