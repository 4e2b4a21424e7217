//go:build !windows

package converge

// expandPath leaves paths as they are: a "$" in a Unix file name is just a character.
func expandPath(p string) (string, error) { return p, nil }
