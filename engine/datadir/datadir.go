// Package datadir is the daemon's data directory: kept private to the daemon's user (0700, its
// files 0600) and locked, so that two daemons never share one.
package datadir

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// LockFile is the file in the data directory the running daemon holds locked. It holds the
// daemon's process id, for the message another daemon gives.
const LockFile = "samverk.lock"

// ErrInUse is returned by Open when another daemon holds the directory.
var ErrInUse = errors.New("in use by another samverk daemon")

// Dir is an open, locked data directory.
type Dir struct {
	// Path is the directory.
	Path string
	lock *os.File
}

// Open creates the directory if needed, narrows its permissions to 0700, and locks it. The
// lock lasts until Close or the end of the process (the operating system releases it even on
// kill -9, so a crashed daemon never leaves a stale lock behind).
func Open(path string) (*Dir, error) {
	if err := os.MkdirAll(path, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(path, 0o700); err != nil {
			return nil, fmt.Errorf("data directory %s: make it private: %w", path, err)
		}
	}
	name := filepath.Join(path, LockFile)
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	if err := tryLock(f); err != nil {
		holder := readPID(f)
		_ = f.Close()
		if errors.Is(err, errLocked) {
			return nil, fmt.Errorf("data directory %s is %w%s: two daemons cannot share one; give each its own --data", path, ErrInUse, holder)
		}
		return nil, fmt.Errorf("data directory %s: lock: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &Dir{Path: path, lock: f}, nil
}

// Close releases the lock.
func (d *Dir) Close() error {
	if d == nil || d.lock == nil {
		return nil
	}
	err := unlock(d.lock)
	if cerr := d.lock.Close(); err == nil {
		err = cerr
	}
	d.lock = nil
	return err
}

// readPID returns " (pid N)" from the lock file's content, or "".
func readPID(f *os.File) string {
	b, err := io.ReadAll(io.NewSectionReader(f, 0, 32))
	if err != nil {
		return ""
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return ""
	}
	return " (pid " + strconv.Itoa(pid) + ")"
}

// errLocked is what tryLock returns when another process holds the lock.
var errLocked = errors.New("locked")
