//go:build linux

package facts

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strings"

	"samverk.io/samverk/engine/desired"
)

func gather(f *desired.Facts, root string) {
	dmi := func(name string) string {
		b, err := os.ReadFile(filepath.Join(root, "/sys/class/dmi/id", name))
		if err != nil {
			return ""
		}
		return clean(string(b))
	}
	f.Vendor = dmi("sys_vendor")
	f.Model = dmi("product_name")
	f.Serial = dmi("product_serial") // readable by root only
	f.OSBuild = osBuild(root)
}

// osBuild is os-release's VERSION_ID ("24.04", "12"), which is how an OSRelease document
// names a Linux build; without os-release, the kernel's major.minor.
func osBuild(root string) string {
	for _, p := range []string{"/etc/os-release", "/usr/lib/os-release"} {
		b, err := os.ReadFile(filepath.Join(root, p))
		if err != nil {
			continue
		}
		if v := osReleaseValue(b, "VERSION_ID"); v != "" {
			return v
		}
	}
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return ""
	}
	return kernelMajorMinor(string(b))
}

// osReleaseValue reads one key of an os-release file (shell-like KEY=value lines, values
// optionally quoted).
func osReleaseValue(b []byte, key string) string {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if !ok || k != key {
			continue
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		return v
	}
	return ""
}

func kernelMajorMinor(release string) string {
	parts := strings.SplitN(strings.TrimSpace(release), ".", 3)
	if len(parts) < 2 {
		return strings.TrimSpace(release)
	}
	minor := parts[1]
	if i := strings.IndexFunc(minor, func(r rune) bool { return r < '0' || r > '9' }); i >= 0 {
		minor = minor[:i]
	}
	return parts[0] + "." + minor
}
