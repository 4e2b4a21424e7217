// Package repopath says where a directory lies in its Git repository, so that paths relative
// to a catalog directory can be reported relative to the repository root, where CI systems and
// editors look for them.
package repopath

import (
	"errors"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// ErrNoRepository is returned by Root for a directory that no Git repository holds.
var ErrNoRepository = errors.New("not inside a Git repository")

// Root returns the top-level directory of the Git repository that holds dir: the nearest
// directory at or above it with a .git entry (a directory, or the file a linked worktree or
// submodule has). dir is made absolute and its symbolic links resolved first.
func Root(dir string) (string, error) {
	abs, err := resolve(dir)
	if err != nil {
		return "", err
	}
	return root(abs)
}

func resolve(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		abs = r
	}
	return abs, nil
}

func root(abs string) (string, error) {
	for d := abs; ; {
		if _, err := os.Lstat(filepath.Join(d, ".git")); err == nil {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", ErrNoRepository
		}
		d = parent
	}
}

// Prefix returns dir relative to the top level of its repository, slash-separated: "catalog"
// for a catalog kept in the repository's catalog/ folder, "" for the top level itself. A
// directory outside any repository has no prefix: Prefix returns "" and ErrNoRepository.
func Prefix(dir string) (string, error) {
	abs, err := resolve(dir)
	if err != nil {
		return "", err
	}
	top, err := root(abs)
	if err != nil {
		return "", err
	}
	rel, err := filepath.Rel(top, abs)
	if err != nil {
		return "", err
	}
	if rel == "." {
		return "", nil
	}
	return filepath.ToSlash(rel), nil
}

// Join puts prefix before a slash-separated path relative to the prefixed directory. An empty
// file stays empty (a finding about the catalog as a whole names no file), and an empty prefix
// leaves file as it is.
func Join(prefix, file string) string {
	prefix = strings.Trim(filepath.ToSlash(prefix), "/")
	if file == "" || prefix == "" || prefix == "." {
		return file
	}
	return path.Join(prefix, file)
}
