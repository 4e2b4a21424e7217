package version

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

func TestGet(t *testing.T) {
	settings := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	vcs := &debug.BuildInfo{Main: debug.Module{Version: "(devel)"},
		Settings: settings("vcs.revision", "3f2a9c1d0b7e4a5b6c7d8e9f0a1b2c3d4e5f6a7b", "vcs.time", "2026-12-01T10:00:00Z", "vcs.modified", "true")}
	tests := []struct {
		name                  string
		bi                    *debug.BuildInfo
		stamp                 [3]string // Version, Commit, Date
		version, commit, date string
		modified              bool
	}{
		{"no information", nil, [3]string{}, "devel", "unknown", "unknown", false},
		{"from Git", vcs, [3]string{}, "devel", "3f2a9c1d0b7e4a5b6c7d8e9f0a1b2c3d4e5f6a7b", "2026-12-01T10:00:00Z", true},
		{"go install of a release", &debug.BuildInfo{Main: debug.Module{Version: "v1.2.0"}}, [3]string{}, "v1.2.0", "unknown", "unknown", false},
		{"stamped wins", vcs, [3]string{"v1.3.0", "abc", "2026-12-03T12:00:00Z"}, "v1.3.0", "abc", "2026-12-03T12:00:00Z", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			Version, Commit, Date = tt.stamp[0], tt.stamp[1], tt.stamp[2]
			defer func() { Version, Commit, Date = "", "", "" }()
			got := get(tt.bi)
			if got.Version != tt.version || got.Commit != tt.commit || got.Date != tt.date || got.Modified != tt.modified {
				t.Errorf("got %+v", got)
			}
		})
	}
}

// TestBuiltBinary builds the agent (the smaller of the two binaries that print this) twice:
// stamped as the Makefile does, and plain in a Git checkout, where `go build` records the commit.
func TestBuiltBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not in PATH")
	}
	dir := t.TempDir()
	build := func(name string, args ...string) string {
		t.Helper()
		out := filepath.Join(dir, name)
		cmd := exec.Command(goBin, append(append([]string{"build", "-o", out}, args...), "samverk.io/samverk/engine/cmd/samverk-agent")...)
		cmd.Env = append(os.Environ(), "GOFLAGS=") // a -buildvcs=false in the environment would hide the commit
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, b)
		}
		return out
	}
	version := func(bin string) string {
		t.Helper()
		b, err := exec.Command(bin, "version").CombinedOutput()
		if err != nil {
			t.Fatalf("%s version: %v\n%s", bin, err, b)
		}
		return string(b)
	}

	const pkg = "samverk.io/samverk/engine/version"
	stamped := build("stamped", "-ldflags=-X "+pkg+".Version=v9.8.7 -X "+pkg+".Commit=0123456789abcdef -X "+pkg+".Date=2026-12-03T12:00:00Z")
	if got, want := version(stamped), "samverk-agent v9.8.7 (commit 0123456789ab, 2026-12-03T12:00:00Z, "; !strings.HasPrefix(got, want) {
		t.Errorf("stamped: %q, want it to start with %q", got, want)
	}

	head, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skip("not in a Git checkout")
	}
	// go build finds the repository by a .git directory; a linked worktree has a .git file.
	if fi, err := os.Stat(filepath.Join("..", "..", ".git")); err != nil || !fi.IsDir() {
		t.Skip("not in a plain Git clone: go build records no commit here")
	}
	plain := version(build("plain", "-buildvcs=true"))
	if want := "commit " + strings.TrimSpace(string(head))[:12]; !strings.Contains(plain, want) {
		t.Errorf("plain build: %q, want %q from Git", plain, want)
	}
}
