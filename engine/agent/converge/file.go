package converge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"

	"samverk.io/samverk/engine/desired"
)

// fileProvider manages a file's whole content and its mode.
type fileProvider struct {
	root string
}

var _ provider = (*fileProvider)(nil)

func (p *fileProvider) check(_ context.Context, r *desired.Resource) (string, error) {
	f := r.File
	path, err := managedPath(p.root, f.Path)
	if err != nil {
		return "", err
	}
	want, err := fileMode(f.Mode)
	if err != nil {
		return "", err
	}
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		if r.Ensure == Absent {
			return "", nil
		}
		return "missing", nil
	}
	if err != nil {
		return "", err
	}
	if !fi.Mode().IsRegular() {
		// Replacing a directory, link or device with a file is never what a setting means.
		return "", fmt.Errorf("%s is not a regular file (%s)", path, fi.Mode().Type())
	}
	if r.Ensure == Absent {
		return "present, want absent", nil
	}
	got, err := os.ReadFile(path)
	if err != nil {
		return "", err
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
	path, err := managedPath(p.root, f.Path)
	if err != nil {
		return err
	}
	if r.Ensure == Absent {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	mode, err := fileMode(f.Mode)
	if err != nil {
		return err
	}
	fi, statErr := os.Lstat(path)
	if statErr == nil && mode == 0 {
		mode = fi.Mode().Perm() // keep the mode of a file we rewrite
	}
	if mode == 0 {
		mode = 0o644
	}
	if statErr == nil {
		got, err := os.ReadFile(path)
		if err == nil && bytes.Equal(got, []byte(f.Content)) {
			return os.Chmod(path, mode)
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return writeAtomic(path, []byte(f.Content), mode, fi)
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
// path. When old describes the file being replaced, its owner is kept.
func writeAtomic(path string, data []byte, mode fs.FileMode, old fs.FileInfo) (err error) {
	dir, base := filepath.Split(path)
	tmp, err := os.CreateTemp(dir, "."+base+".samverk-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
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
	return os.Rename(tmp.Name(), path)
}
