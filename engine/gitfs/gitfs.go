// Package gitfs is a read-only fs.FS over the tree of one Git commit, read from the object store.
// A snapshot never changes underneath its reader and never follows a symbolic link.
package gitfs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"

	"samverk.io/samverk/engine/repopath"
)

// ErrSymlink is the error of opening a symbolic link: a snapshot reports links (ReadDir, Stat,
// Lstat, ReadLink) but never follows them. It matches fs.ErrNotExist too, since to a reader of
// file contents the link's target does not exist in the snapshot.
var ErrSymlink = symlinkError{}

type symlinkError struct{}

func (symlinkError) Error() string        { return "symbolic link not followed" }
func (symlinkError) Is(target error) bool { return target == fs.ErrNotExist }

// ErrSubmodule is the error of opening a submodule entry: its content is not in this repository.
var ErrSubmodule = errors.New("submodule not readable from the parent snapshot")

// ErrDamaged is the error of listing a directory whose tree object cannot be read or holds an
// entry Git itself would refuse. The rest of the snapshot stays readable: what is damaged is a
// property of the commit, for its reader to report, not a reason to fail the whole snapshot.
var ErrDamaged = errors.New("damaged tree")

// FS is an immutable view of one commit's tree. It implements fs.ReadDirFS, fs.ReadFileFS,
// fs.StatFS and fs.ReadLinkFS. Stat does not follow symbolic links (it is Lstat).
//
// Reads go to the repository's object store, which go-git does not make safe for concurrent use:
// an FS serialises its own reads, and the repository it was made from must not be used by other
// goroutines while the FS is read (OpenRev and the source package give each snapshot its own
// repository handle).
type FS struct {
	commit  plumbing.Hash
	modTime time.Time
	nodes   map[string]*node

	mu  sync.Mutex // guards reads from st
	st  storer.EncodedObjectStorer
	szr objectSizer
}

type node struct {
	name     string
	mode     filemode.FileMode
	hash     plumbing.Hash
	children []string // names, sorted; directories only
	damaged  error    // directories only: why the tree cannot be listed

	sizeOnce sync.Once
	size     int64
	sizeErr  error
}

type objectSizer interface {
	EncodedObjectSize(plumbing.Hash) (int64, error)
}

var (
	_ fs.ReadDirFS   = (*FS)(nil)
	_ fs.ReadFileFS  = (*FS)(nil)
	_ fs.StatFS      = (*FS)(nil)
	_ fs.ReadLinkFS  = (*FS)(nil)
	_ fs.ReadDirFile = (*dirFile)(nil)
)

// Snapshot returns the tree of commit in repo as an fs.FS. The tree's directory structure is read
// at once; file contents are read when opened.
func Snapshot(repo *git.Repository, commit plumbing.Hash) (*FS, error) {
	c, err := repo.CommitObject(commit)
	if err != nil {
		return nil, fmt.Errorf("gitfs: commit %s: %w", commit, err)
	}
	tree, err := c.Tree()
	if err != nil {
		return nil, fmt.Errorf("gitfs: tree of %s: %w", commit, err)
	}
	f := &FS{
		commit:  commit,
		modTime: c.Committer.When,
		nodes:   map[string]*node{},
		st:      repo.Storer,
	}
	f.szr, _ = repo.Storer.(objectSizer)
	root := &node{name: ".", mode: filemode.Dir, hash: tree.Hash}
	f.nodes["."] = root
	if err := f.index(repo.Storer, tree, ".", root); err != nil {
		return nil, fmt.Errorf("gitfs: tree of %s: %w", commit, err)
	}
	return f, nil
}

func (f *FS) index(st storer.EncodedObjectStorer, t *object.Tree, dir string, n *node) error {
	for _, e := range t.Entries {
		if e.Name == "" || e.Name == "." || e.Name == ".." || strings.ContainsAny(e.Name, "/\x00") {
			n.damaged = fmt.Errorf("%w: tree %s has an invalid entry name %q", ErrDamaged, t.Hash, e.Name)
			continue
		}
		p := e.Name
		if dir != "." {
			p = dir + "/" + e.Name
		}
		c := &node{name: e.Name, mode: e.Mode, hash: e.Hash}
		f.nodes[p] = c
		n.children = append(n.children, e.Name)
		if e.Mode == filemode.Dir {
			sub, err := object.GetTree(st, e.Hash)
			if err != nil {
				c.damaged = fmt.Errorf("%w: tree %s: %w", ErrDamaged, e.Hash, err)
				continue
			}
			if err := f.index(st, sub, p, c); err != nil {
				return err
			}
		}
	}
	slices.Sort(n.children)
	return nil
}

// Commit is the commit the snapshot shows.
func (f *FS) Commit() plumbing.Hash { return f.commit }

func (f *FS) lookup(op, name string) (*node, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	n, ok := f.nodes[name]
	if !ok {
		return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
	}
	return n, nil
}

// Open opens a file or directory. Opening a symbolic link fails with ErrSymlink; opening a
// submodule fails with ErrSubmodule.
func (f *FS) Open(name string) (fs.File, error) {
	n, err := f.lookup("open", name)
	if err != nil {
		return nil, err
	}
	switch {
	case n.mode == filemode.Dir && n.damaged != nil:
		return nil, &fs.PathError{Op: "open", Path: name, Err: n.damaged}
	case n.mode == filemode.Dir:
		return &dirFile{fs: f, n: n, path: name}, nil
	case n.mode == filemode.Symlink:
		return nil, &fs.PathError{Op: "open", Path: name, Err: ErrSymlink}
	case n.mode == filemode.Submodule:
		return nil, &fs.PathError{Op: "open", Path: name, Err: ErrSubmodule}
	}
	b, err := f.blob(n)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	return &file{fs: f, n: n, r: bytes.NewReader(b)}, nil
}

// ReadFile returns a regular file's content.
func (f *FS) ReadFile(name string) ([]byte, error) {
	fl, err := f.Open(name)
	if err != nil {
		return nil, err
	}
	defer fl.Close()
	rf, ok := fl.(*file)
	if !ok {
		return nil, &fs.PathError{Op: "read", Path: name, Err: errors.New("is a directory")}
	}
	return rf.content(), nil
}

// ReadDir lists a directory, sorted by name.
func (f *FS) ReadDir(name string) ([]fs.DirEntry, error) {
	n, err := f.lookup("readdir", name)
	if err != nil {
		return nil, err
	}
	if n.mode != filemode.Dir {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errors.New("not a directory")}
	}
	if n.damaged != nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: n.damaged}
	}
	out := make([]fs.DirEntry, 0, len(n.children))
	for _, c := range n.children {
		out = append(out, fs.FileInfoToDirEntry(f.info(f.nodes[path.Join(name, c)])))
	}
	return out, nil
}

// Stat describes name without following a symbolic link.
func (f *FS) Stat(name string) (fs.FileInfo, error) {
	n, err := f.lookup("stat", name)
	if err != nil {
		return nil, err
	}
	if err := f.sizeOf(n); err != nil {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: err}
	}
	return f.info(n), nil
}

// Lstat is Stat: a snapshot never follows links.
func (f *FS) Lstat(name string) (fs.FileInfo, error) { return f.Stat(name) }

// ReadLink returns a symbolic link's target as recorded in the commit. The target is not
// resolved.
func (f *FS) ReadLink(name string) (string, error) {
	n, err := f.lookup("readlink", name)
	if err != nil {
		return "", err
	}
	if n.mode != filemode.Symlink {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrInvalid}
	}
	b, err := f.blob(n)
	if err != nil {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: err}
	}
	return string(b), nil
}

func (f *FS) blob(n *node) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, err := object.GetBlob(f.st, n.hash)
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", n.hash, err)
	}
	r, err := b.Reader()
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", n.hash, err)
	}
	defer r.Close()
	buf := make([]byte, 0, b.Size)
	out := bytes.NewBuffer(buf)
	if _, err := io.Copy(out, r); err != nil {
		return nil, fmt.Errorf("blob %s: %w", n.hash, err)
	}
	return out.Bytes(), nil
}

// sizeOf fills n.size once: from the object header where the store can tell it, else by
// reading the blob.
func (f *FS) sizeOf(n *node) error {
	if n.mode == filemode.Dir || n.mode == filemode.Submodule {
		return nil
	}
	n.sizeOnce.Do(func() {
		if f.szr != nil {
			f.mu.Lock()
			n.size, n.sizeErr = f.szr.EncodedObjectSize(n.hash)
			f.mu.Unlock()
			if n.sizeErr == nil {
				return
			}
		}
		b, err := f.blob(n)
		n.size, n.sizeErr = int64(len(b)), err
	})
	return n.sizeErr
}

func (f *FS) info(n *node) *fileInfo {
	return &fileInfo{fs: f, n: n}
}

type fileInfo struct {
	fs *FS
	n  *node
}

func (i *fileInfo) Name() string { return i.n.name }

// Size is the blob's size, read from the object store the first time it is asked for.
func (i *fileInfo) Size() int64 {
	_ = i.fs.sizeOf(i.n)
	return i.n.size
}
func (i *fileInfo) ModTime() time.Time { return i.fs.modTime }
func (i *fileInfo) IsDir() bool        { return i.n.mode == filemode.Dir }
func (i *fileInfo) Sys() any           { return i.n.hash }
func (i *fileInfo) Mode() fs.FileMode {
	switch i.n.mode {
	case filemode.Dir:
		return fs.ModeDir | 0o555
	case filemode.Symlink:
		return fs.ModeSymlink | 0o777
	case filemode.Submodule:
		return fs.ModeIrregular
	case filemode.Executable:
		return 0o555
	}
	return 0o444
}

type file struct {
	fs *FS
	n  *node
	r  *bytes.Reader
}

func (f *file) content() []byte {
	b := make([]byte, f.r.Size())
	_, _ = f.r.ReadAt(b, 0)
	return b
}

func (f *file) Stat() (fs.FileInfo, error) {
	f.n.sizeOnce.Do(func() { f.n.size = f.r.Size() })
	return f.fs.info(f.n), nil
}
func (f *file) Read(p []byte) (int, error)              { return f.r.Read(p) }
func (f *file) ReadAt(p []byte, off int64) (int, error) { return f.r.ReadAt(p, off) }
func (f *file) Seek(off int64, whence int) (int64, error) {
	return f.r.Seek(off, whence)
}
func (f *file) Close() error { return nil }

type dirFile struct {
	fs   *FS
	n    *node
	path string
	off  int
}

func (d *dirFile) Stat() (fs.FileInfo, error) { return d.fs.info(d.n), nil }
func (d *dirFile) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.path, Err: errors.New("is a directory")}
}
func (d *dirFile) Close() error { return nil }

func (d *dirFile) ReadDir(count int) ([]fs.DirEntry, error) {
	rest := d.n.children[d.off:]
	if count > 0 && len(rest) == 0 {
		return nil, io.EOF
	}
	if count > 0 && count < len(rest) {
		rest = rest[:count]
	}
	out := make([]fs.DirEntry, 0, len(rest))
	for _, c := range rest {
		out = append(out, fs.FileInfoToDirEntry(d.fs.info(d.fs.nodes[path.Join(d.path, c)])))
	}
	d.off += len(rest)
	return out, nil
}

// OpenRev opens the local repository at dir (a working tree's top directory or a bare
// repository) and returns a snapshot of rev (a branch, tag, commit hash or other revision
// expression) together with the commit it resolved to.
func OpenRev(dir, rev string) (fs.FS, plumbing.Hash, error) {
	repo, err := git.PlainOpenWithOptions(dir, &git.PlainOpenOptions{EnableDotGitCommonDir: true})
	if err != nil {
		return nil, plumbing.ZeroHash, fmt.Errorf("gitfs: open %s: %w", dir, err)
	}
	h, err := repo.ResolveRevision(plumbing.Revision(rev))
	if err != nil {
		return nil, plumbing.ZeroHash, fmt.Errorf("gitfs: resolve %q: %w", rev, err)
	}
	f, err := Snapshot(repo, *h)
	if err != nil {
		return nil, plumbing.ZeroHash, err
	}
	return f, *h, nil
}

// DirAt returns the directory dir as it was at Git revision rev (a branch, tag, commit or
// expression such as HEAD~1) of the repository dir lies in, and the commit rev resolved to.
// Nothing is checked out: the files are read from the repository's object store.
func DirAt(dir, rev string) (fs.FS, string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, "", fmt.Errorf("gitfs: %s at %s: %w", dir, rev, err)
	}
	if resolved, err := filepath.EvalSymlinks(abs); err == nil {
		abs = resolved
	}
	root, err := repopath.Root(abs)
	if err != nil {
		return nil, "", fmt.Errorf("gitfs: %s at %s: %w", dir, rev, err)
	}
	snap, hash, err := OpenRev(root, rev)
	if err != nil {
		return nil, "", fmt.Errorf("gitfs: %s at %s: %w", dir, rev, err)
	}
	rel, err := filepath.Rel(root, abs)
	if err != nil {
		return nil, "", fmt.Errorf("gitfs: %s at %s: %w", dir, rev, err)
	}
	rel = filepath.ToSlash(rel)
	if rel == "." {
		return snap, hash.String(), nil
	}
	if _, err := fs.Stat(snap, rel); err != nil {
		return nil, "", fmt.Errorf("gitfs: %s does not exist at %s (%s): %w", rel, rev, hash.String()[:12], err)
	}
	sub, err := fs.Sub(snap, rel)
	if err != nil {
		return nil, "", fmt.Errorf("gitfs: %s at %s: %w", dir, rev, err)
	}
	return sub, hash.String(), nil
}
