// Package version is samverk's build identity: the version, commit and build date the Makefile
// stamps with -ldflags -X, or else what `go build` recorded from Git.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// Stamped at build time, e.g. by the Makefile:
//
//	go build -ldflags "-X samverk.io/samverk/engine/version.Version=v1.2.0
//	  -X samverk.io/samverk/engine/version.Commit=$(git rev-parse HEAD)
//	  -X samverk.io/samverk/engine/version.Date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
//
// Left empty, they come from the binary's build information.
var (
	Version string
	Commit  string
	Date    string
)

// Info is what a binary knows about its own build.
type Info struct {
	// Version is the release ("v1.2.0"), the module version for `go install …@v1.2.0`, or
	// "devel".
	Version string `json:"version"`
	// Commit is the Git commit built, or "unknown".
	Commit string `json:"commit"`
	// Modified says the working tree had uncommitted changes.
	Modified bool `json:"modified,omitempty"`
	// Date is the build date when stamped, else the commit's date, or "unknown".
	Date string `json:"date"`
	// GoVersion and Platform are the toolchain and the GOOS/GOARCH built for.
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}

// Get returns the build identity of the running binary.
func Get() Info {
	bi, _ := debug.ReadBuildInfo()
	return get(bi)
}

func get(bi *debug.BuildInfo) Info {
	in := Info{Version: Version, Commit: Commit, Date: Date, GoVersion: runtime.Version(),
		Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi != nil {
		if in.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			in.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if in.Commit == "" {
					in.Commit = s.Value
				}
			case "vcs.time":
				if in.Date == "" {
					in.Date = s.Value
				}
			case "vcs.modified":
				in.Modified = s.Value == "true" && Commit == ""
			}
		}
	}
	if in.Version == "" {
		in.Version = "devel"
	}
	if in.Commit == "" {
		in.Commit = "unknown"
	}
	if in.Date == "" {
		in.Date = "unknown"
	}
	return in
}

// String is the one-line form: "v1.2.0 (commit 3f2a9c1d0b7e, 2026-12-03T12:00:00Z, go1.26 linux/amd64)".
func (in Info) String() string {
	commit := in.Commit
	if len(commit) > 12 && !strings.Contains(commit, " ") {
		commit = commit[:12]
	}
	if in.Modified {
		commit += "+modified"
	}
	return fmt.Sprintf("%s (commit %s, %s, %s %s)", in.Version, commit, in.Date, in.GoVersion, in.Platform)
}
