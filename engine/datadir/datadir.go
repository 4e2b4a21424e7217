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
	f, holder, err := lock(filepath.Join(path, LockFile))
	if errors.Is(err, errLocked) {
		return nil, fmt.Errorf("data directory %s is %w%s: two daemons cannot share one; give each its own --data", path, ErrInUse, holder)
	}
	if err != nil {
		return nil, fmt.Errorf("data directory %s: lock: %w", path, err)
	}
	return &Dir{Path: path, lock: f}, nil
}

// LockSQLite locks the SQLite database file at path (through path.lock beside it), so that a
// second daemon given the same --store, whatever its --data, is refused: SQLite serves one
// process, replicas share PostgreSQL. Close releases the lock.
func LockSQLite(path string) (*Dir, error) {
	f, holder, err := lock(path + ".lock")
	if errors.Is(err, errLocked) {
		return nil, fmt.Errorf("sqlite store %s is %w%s: SQLite serves one process; to run several replicas, share a PostgreSQL store (--store postgres://…)", path, ErrInUse, holder)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite store %s: lock: %w", path, err)
	}
	return &Dir{Path: path, lock: f}, nil
}

// lock opens and locks the file name, writing this process's id in it. When another process
// holds it, the error is errLocked and holder names that process, if known.
func lock(name string) (f *os.File, holder string, err error) {
	f, err = os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, "", err
	}
	if err := tryLock(f); err != nil {
		holder := readPID(f)
		_ = f.Close()
		return nil, holder, err
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, "", nil
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
