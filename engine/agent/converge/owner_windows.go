//go:build windows

package converge

import (
	"io/fs"
	"os"
)

// keepOwner does nothing on Windows: the new file inherits its directory's permissions.
func keepOwner(*os.File, fs.FileInfo) error { return nil }
