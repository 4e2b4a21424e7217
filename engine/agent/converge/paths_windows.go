//go:build windows

package converge

import (
	"fmt"

	"golang.org/x/sys/windows/registry"
)

// expandPath expands %VAR% references, as catalogs write paths such as
// %ProgramFiles%\Vendor\app.exe.
func expandPath(p string) (string, error) {
	s, err := registry.ExpandString(p)
	if err != nil {
		return "", fmt.Errorf("expand %s: %w", p, err)
	}
	return s, nil
}
