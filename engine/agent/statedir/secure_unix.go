//go:build !windows

package statedir

import (
	"fmt"
	"os"
)

// SecureDir creates dir if needed and makes it accessible to its owner only.
func SecureDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("restrict %s: %w", dir, err)
	}
	return nil
}
