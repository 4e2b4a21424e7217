package converge

import (
	"errors"
	"path/filepath"
)

// managedPath maps a path from the desired state to the path the agent touches: expanded (on
// Windows, %VAR% references), cleaned, and put under root when one is set.
func managedPath(root, p string) (string, error) {
	if p == "" {
		return "", errors.New("empty path")
	}
	p, err := expandPath(p)
	if err != nil {
		return "", err
	}
	if !filepath.IsAbs(p) {
		return "", errors.New("path " + p + " is not absolute")
	}
	if root == "" {
		return filepath.Clean(p), nil
	}
	// Cleaning the absolute path first removes any leading "..", so the result stays in root.
	p = filepath.Clean(p)
	p = p[len(filepath.VolumeName(p)):]
	return filepath.Join(root, p), nil
}
