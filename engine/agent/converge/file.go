package converge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"

	"samverk.io/samverk/engine/desired"
)

// fileProvider manages a file's whole content and its mode. Under a root, every step goes
// through an os.Root: symbolic links are followed only while they stay inside the root, so a
// link in the root to /etc cannot make a file resource write outside it.
type fileProvider struct {
	root string
}

var _ provider = (*fileProvider)(nil)

// fileSystem is what the file provider does to files: the host's file system, or one root.
type fileSystem interface {
	Lstat(name string) (fs.FileInfo, error)
	ReadFile(name string) ([]byte, error)
	Remove(name string) error
	Chmod(name string, mode fs.FileMode) error
	MkdirAll(name string, perm fs.FileMode) error
	OpenFile(name string, flag int, perm fs.FileMode) (*os.File, error)
	Rename(oldname, newname string) error
}

var (
	_ fileSystem = hostFS{}
	_ fileSystem = (*os.Root)(nil)
)

// hostFS is the host's file system, for an agent without a root.
type hostFS struct{}

func (hostFS) Lstat(name string) (fs.FileInfo, error)       { return os.Lstat(name) }
func (hostFS) ReadFile(name string) ([]byte, error)         { return os.ReadFile(name) }
func (hostFS) Remove(name string) error                     { return os.Remove(name) }
func (hostFS) Chmod(name string, mode fs.FileMode) error    { return os.Chmod(name, mode) }
func (hostFS) MkdirAll(name string, perm fs.FileMode) error { return os.MkdirAll(name, perm) }
func (hostFS) Rename(oldname, newname string) error         { return os.Rename(oldname, newname) }
func (hostFS) OpenFile(name string, flag int, perm fs.FileMode) (*os.File, error) {
	return os.OpenFile(name, flag, perm)
}

// open returns the file system to work in and the resource's path in it (relative to the
// root when there is one), and a function that releases the file system.
func (p *fileProvider) open(resPath string) (fileSystem, string, func(), error) {
	if p.root == "" {
		path, err := managedPath("", resPath)
		return hostFS{}, path, func() {}, err
	}
	full, err := managedPath(p.root, resPath)
	if err != nil {
		return nil, "", nil, err
	}
	rel, err := filepath.Rel(p.root, full)
	if err != nil {
		return nil, "", nil, err
	}
	r, err := os.OpenRoot(p.root)
	if err != nil {
		return nil, "", nil, fmt.Errorf("open root: %w", err)
	}
	return r, rel, func() { _ = r.Close() }, nil
}

// rootErr names the root in an error from a file system operation under it.
func (p *fileProvider) rootErr(err error) error {
	if err == nil || p.root == "" {
		return err
	}
	return fmt.Errorf("under root %s (symbolic links may not lead out of it): %w", p.root, err)
}

func (p *fileProvider) check(_ context.Context, r *desired.Resource) (string, error) {
	f := r.File
	fsys, path, done, err := p.open(f.Path)
	if err != nil {
		return "", err
	}
	defer done()
	want, err := fileMode(f.Mode)
	if err != nil {
		return "", err
	}
	fi, err := fsys.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		if r.Ensure == Absent {
			return "", nil
		}
		return "missing", nil
	}
	if err != nil {
		return "", p.rootErr(err)
	}
	if !fi.Mode().IsRegular() {
		// Replacing a directory, link or device with a file is never what a setting means.
		return "", fmt.Errorf("%s is not a regular file (%s)", path, fi.Mode().Type())
	}
	if r.Ensure == Absent {
		return "present, want absent", nil
	}
	got, err := fsys.ReadFile(path)
	if err != nil {
		return "", p.rootErr(err)
	}
	if !bytes.Equal(got, []byte(f.Content)) {
		return "content differs", nil
	}
	if want != 0 && runtime.GOOS != "windows" && fi.Mode().Perm() != want {
		return fmt.Sprintf("mode %04o, want %04o", fi.Mode().Perm(), want), nil
	}
	return "", nil
}

func (p *fileProvider) apply(_ context.Context, r *desired.Resource) error {
	f := r.File
	fsys, path, done, err := p.open(f.Path)
	if err != nil {
		return err
	}
	defer done()
	if r.Ensure == Absent {
		if err := fsys.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return p.rootErr(err)
		}
		return nil
	}
	mode, err := fileMode(f.Mode)
	if err != nil {
		return err
	}
	fi, statErr := fsys.Lstat(path)
	if statErr != nil && !errors.Is(statErr, fs.ErrNotExist) {
		return p.rootErr(statErr)
	}
	if statErr == nil && !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file (%s)", path, fi.Mode().Type())
	}
	if statErr == nil && mode == 0 {
		mode = fi.Mode().Perm() // keep the mode of a file we rewrite
	}
	if mode == 0 {
		mode = 0o644
	}
	if statErr == nil {
		got, err := fsys.ReadFile(path)
		if err == nil && bytes.Equal(got, []byte(f.Content)) {
			return p.rootErr(fsys.Chmod(path, mode))
		}
	}
	if statErr != nil {
		fi = nil
	}
	if err := fsys.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return p.rootErr(err)
	}
	return p.rootErr(writeAtomic(fsys, path, []byte(f.Content), mode, fi))
}

// fileMode parses an octal mode such as "0644"; "" gives 0, meaning "not managed".
func fileMode(s string) (fs.FileMode, error) {
	if s == "" {
		return 0, nil
	}
	m, err := strconv.ParseUint(s, 8, 32)
	if err != nil || m > 0o777 || m == 0 {
		return 0, fmt.Errorf("mode %q: want octal permissions such as 0644", s)
	}
	return fs.FileMode(m), nil
}

// writeAtomic writes a temporary file in path's directory, flushes it and renames it over
// path, all within fsys. When old describes the file being replaced, its owner is kept.
func writeAtomic(fsys fileSystem, path string, data []byte, mode fs.FileMode, old fs.FileInfo) (err error) {
	dir, base := filepath.Split(path)
	var tmp *os.File
	var tmpName string
	for range 100 {
		tmpName = filepath.Join(dir, "."+base+".samverk-"+strconv.FormatUint(rand.Uint64(), 36))
		tmp, err = fsys.OpenFile(tmpName, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if !errors.Is(err, fs.ErrExist) {
			break
		}
	}
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = fsys.Remove(tmpName)
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return err
	}
	if err = tmp.Chmod(mode); err != nil {
		return err
	}
	if old != nil {
		if err = keepOwner(tmp, old); err != nil {
			return err
		}
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	return fsys.Rename(tmpName, path)
}
