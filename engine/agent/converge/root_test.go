//go:build !windows

package converge

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"samverk.io/samverk/engine/desired"
)

// TestFileSymlinkOutOfRoot is the attack as found: a symbolic link in the root pointing to
// /etc (here a directory standing for it) let a file resource write outside the root.
func TestFileSymlinkOutOfRoot(t *testing.T) {
	tests := []struct {
		name string
		// link makes, under root, links toward outside (a directory outside the root that
		// holds "passwd").
		link func(t *testing.T, root, outside string)
		res  desired.Resource
	}{
		{
			name: "absolute link to a directory",
			link: func(t *testing.T, root, outside string) { symlink(t, outside, root+"/etc") },
			res:  fileRes("f", "/etc/samverk.conf", "x\n", "0644"),
		},
		{
			name: "relative link to a directory",
			link: func(t *testing.T, root, outside string) {
				rel, err := filepath.Rel(root, outside)
				if err != nil {
					t.Fatal(err)
				}
				symlink(t, rel, root+"/etc")
			},
			res: fileRes("f", "/etc/samverk.conf", "x\n", "0644"),
		},
		{
			name: "link deeper in the path",
			link: func(t *testing.T, root, outside string) {
				mkdir(t, root+"/etc")
				symlink(t, outside, root+"/etc/samverk")
			},
			res: fileRes("f", "/etc/samverk/agent.conf", "x\n", "0644"),
		},
		{
			name: "overwrite through a directory link",
			link: func(t *testing.T, root, outside string) { symlink(t, outside, root+"/etc") },
			res:  fileRes("f", "/etc/passwd", "root::0:0::/:/bin/sh\n", ""),
		},
		{
			name: "remove through a directory link",
			link: func(t *testing.T, root, outside string) { symlink(t, outside, root+"/etc") },
			res:  desired.Resource{ID: "f", Type: desired.TypeFile, Ensure: Absent, File: &desired.File{Path: "/etc/passwd"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			base := t.TempDir()
			root, outside := filepath.Join(base, "root"), filepath.Join(base, "etc")
			mkdir(t, root)
			writeFile(t, outside+"/passwd", "root:x:0:0::/root:/bin/sh\n", 0o644)
			tc.link(t, root, outside)

			for _, mode := range []string{ModeDetect, ModeEnforce} {
				got := runOne(t, newEngine(t, root), mode, tc.res)
				expect(t, got, desired.Failed, "under root")
				if !strings.Contains(got.Reason, "escapes") && !strings.Contains(got.Reason, "symbolic link") {
					t.Errorf("reason does not say why: %s", got.Reason)
				}
			}
			entries, err := os.ReadDir(outside)
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != 1 || readFile(t, outside+"/passwd") != "root:x:0:0::/root:/bin/sh\n" {
				t.Errorf("a file outside the root was touched: %v", entries)
			}
		})
	}
}

// TestFileSymlinkInsideRoot: links that stay inside the root are followed as before.
func TestFileSymlinkInsideRoot(t *testing.T) {
	root := t.TempDir()
	mkdir(t, root+"/usr/etc")
	symlink(t, "usr/etc", root+"/etc")
	expect(t, runOne(t, newEngine(t, root), ModeEnforce, fileRes("f", "/etc/motd", "hi\n", "0644")), desired.Corrected, "missing")
	if got := readFile(t, root+"/usr/etc/motd"); got != "hi\n" {
		t.Errorf("content %q", got)
	}
	expect(t, runOne(t, newEngine(t, root), ModeEnforce, fileRes("f", "/etc/motd", "hi\n", "0644")), desired.Unchanged, "")
}

// TestCommandRunsInRoot: under a root, scripts start in it, with HOME and SAMVERK_ROOT set to
// it, so relative paths and ~ land in the root.
func TestCommandRunsInRoot(t *testing.T) {
	root := t.TempDir()
	t.Setenv("HOME", t.TempDir()) // the agent's own home, which scripts must not see
	e := newEngine(t, filepath.Join(root, ".", "sub", ".."))
	check := `test "$(pwd -P)" = "$(cd "$SAMVERK_ROOT" && pwd -P)" && test "$HOME" = "$SAMVERK_ROOT" && test -f relative && test -f ~/tilde`
	set := `touch relative ~/tilde`
	expect(t, runOne(t, e, ModeEnforce, cmdRes("c", check, set)), desired.Corrected, "check exited 1")
	for _, name := range []string{"relative", "tilde"} {
		if !exists(filepath.Join(root, name)) {
			t.Errorf("%s was not written in the root", name)
		}
	}
	expect(t, runOne(t, e, ModeEnforce, cmdRes("c", check, set)), desired.Unchanged, "")
}

// TestRelativeRoot: a relative --root is made absolute, so SAMVERK_ROOT means the same in the
// root as outside it.
func TestRelativeRoot(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	mkdir(t, "r")
	e := newEngine(t, "r")
	expect(t, runOne(t, e, ModeEnforce, cmdRes("c", `test -f "$SAMVERK_ROOT/flag"`, `touch "$SAMVERK_ROOT/flag"`)), desired.Corrected, "")
	if !exists(filepath.Join(dir, "r", "flag")) {
		t.Error("flag not written in the root")
	}
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

func mkdir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}
