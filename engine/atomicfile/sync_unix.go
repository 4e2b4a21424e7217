//go:build !windows

package atomicfile

import "os"

// syncDir flushes a directory entry after a rename; failure only weakens durability.
func syncDir(dir string) {
	f, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = f.Sync()
	_ = f.Close()
}
