//go:build unix

package datadir

import (
	"errors"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

func tryLock(f *os.File) error {
	err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	if errors.Is(err, unix.EWOULDBLOCK) {
		return errLocked
	}
	return err
}

func unlock(f *os.File) error { return unix.Flock(int(f.Fd()), unix.LOCK_UN) }

// PrivateFiles makes every file and directory the process creates from now on private to its
// user (umask 077: files 0600, directories 0700), whatever mode the code creating it asks for
// (Git's objects, the SQLite database and its journal included). It returns the function that
// puts the previous umask back.
func PrivateFiles() (restore func()) {
	old := syscall.Umask(0o077)
	return func() { syscall.Umask(old) }
}
