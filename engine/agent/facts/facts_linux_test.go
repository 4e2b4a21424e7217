//go:build linux

package facts

import (
	"os"
	"path/filepath"
	"testing"
)

func TestOSBuild(t *testing.T) {
	tests := []struct {
		name, osRelease, want string
	}{
		{"ubuntu", "NAME=\"Ubuntu\"\nVERSION_ID=\"24.04\"\nID=ubuntu\n", "24.04"},
		{"debian unquoted", "VERSION_ID=12\n", "12"},
		{"single quotes", "VERSION_ID='9.4'\n", "9.4"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(root, "etc/os-release"), []byte(tc.osRelease), 0o644); err != nil {
				t.Fatal(err)
			}
			if got := osBuild(root); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestKernelMajorMinor(t *testing.T) {
	for in, want := range map[string]string{
		"6.8.0-45-generic\n":                 "6.8",
		"5.15.167.4-microsoft-standard-WSL2": "5.15",
		"6.1rc3":                             "6.1",
		"weird":                              "weird",
	} {
		if got := kernelMajorMinor(in); got != want {
			t.Errorf("%q: got %q, want %q", in, got, want)
		}
	}
}

func TestGatherDMI(t *testing.T) {
	root := t.TempDir()
	dmi := filepath.Join(root, "sys/class/dmi/id")
	if err := os.MkdirAll(dmi, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]string{"sys_vendor": "LENOVO\n", "product_name": "To Be Filled By O.E.M.\n"} {
		if err := os.WriteFile(filepath.Join(dmi, name), []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f := Gather(Options{Root: root})
	if f.Vendor != "LENOVO" || f.Model != "" || f.OSFamily != "linux" {
		t.Fatalf("facts %+v", f)
	}
}
