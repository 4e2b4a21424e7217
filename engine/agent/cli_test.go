package agent

import (
	"bytes"
	"debug/buildinfo"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"samverk.io/samverk/engine/desired"
)

func TestFlagsFromEnvironment(t *testing.T) {
	t.Setenv("SAMVERK_AGENT_SERVER", "https://env.example.org")
	t.Setenv("SAMVERK_AGENT_ENROLL_TOKEN", "env-token")
	t.Setenv("SAMVERK_AGENT_INTERVAL", "10m")
	t.Setenv("SAMVERK_AGENT_ONCE", "true")
	t.Setenv("SAMVERK_AGENT_LABEL", "site=lab, floor=2")
	t.Setenv("SAMVERK_AGENT_STATE_DIR", "/tmp/from-env")
	f := newFlags(io.Discard)
	err := f.parse([]string{"--server", "https://flag.example.org", "--label", "room=12", "--splay=0s"})
	if err != nil {
		t.Fatal(err)
	}
	o := f.opts
	if o.Server != "https://flag.example.org" {
		t.Errorf("server %q: the flag must win over the environment", o.Server)
	}
	if o.EnrollToken != "env-token" || o.Interval != 10*time.Minute || !o.Once || o.Splay != 0 || o.StateDir != "/tmp/from-env" {
		t.Errorf("options %+v", o)
	}
	if want := map[string]string{"site": "lab", "floor": "2", "room": "12"}; !mapEq(o.Labels, want) {
		t.Errorf("labels %v, want %v", o.Labels, want)
	}

	args := f.serviceArgs()
	for _, a := range args {
		if strings.Contains(a, "token") || strings.HasPrefix(a, "--once") {
			t.Errorf("service args carry %q", a)
		}
	}
	for _, want := range []string{"--server=https://flag.example.org", "--interval=10m0s", "--state-dir=/tmp/from-env", "--splay=0s"} {
		if !slices.Contains(args, want) {
			t.Errorf("service args %v lack %s", args, want)
		}
	}
	// What install writes must parse back to the same options.
	g := newFlags(io.Discard)
	if err := g.parse(args); err != nil {
		t.Fatal(err)
	}
	if g.opts.Server != o.Server || !mapEq(g.opts.Labels, o.Labels) || g.opts.Interval != o.Interval {
		t.Errorf("round trip %+v", g.opts)
	}
}

func mapEq(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestUsageErrors(t *testing.T) {
	t.Setenv("SAMVERK_AGENT_INTERVAL", "often")
	var stderr bytes.Buffer
	if code := run([]string{"--server", "http://x"}, io.Discard, &stderr); code != exitUsage {
		t.Fatalf("bad env: exit %d", code)
	}
	if !strings.Contains(stderr.String(), "SAMVERK_AGENT_INTERVAL") {
		t.Fatalf("message does not name the variable: %s", stderr.String())
	}
	t.Setenv("SAMVERK_AGENT_INTERVAL", "")
	os.Unsetenv("SAMVERK_AGENT_INTERVAL")
	for _, args := range [][]string{
		{"--label", "novalue"},
		{"--no-such-flag"},
		{"frobnicate"},
		{"--log-format", "xml"},
		{"--server", "http://x", "extra"},
	} {
		if code := run(args, io.Discard, io.Discard); code != exitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, exitUsage)
		}
	}
	if runtime.GOOS != "windows" {
		if code := run([]string{"install"}, io.Discard, io.Discard); code != exitUsage {
			t.Errorf("install on %s: exit %d", runtime.GOOS, code)
		}
	}
}

func TestFactsCommand(t *testing.T) {
	root := t.TempDir()
	if runtime.GOOS == "linux" {
		for name, v := range map[string]string{
			"sys/class/dmi/id/sys_vendor":   "Dell Inc.\n",
			"sys/class/dmi/id/product_name": "Latitude 5450\n",
			"etc/os-release":                "NAME=\"Ubuntu\"\nVERSION_ID=\"24.04\"\n",
		} {
			p := filepath.Join(root, name)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(v), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	var out bytes.Buffer
	if code := run([]string{"facts", "--root", root, "--label", "ring=pilot"}, &out, io.Discard); code != 0 {
		t.Fatalf("exit %d", code)
	}
	var f desired.Facts
	if err := json.Unmarshal(out.Bytes(), &f); err != nil {
		t.Fatal(err)
	}
	if f.OSFamily != runtime.GOOS || f.Labels["ring"] != "pilot" || f.Hostname == "" {
		t.Fatalf("facts %+v", f)
	}
	if runtime.GOOS == "linux" && (f.Vendor != "Dell Inc." || f.Model != "Latitude 5450" || f.OSBuild != "24.04") {
		t.Fatalf("facts %+v", f)
	}
}

// agentBinaries builds samverk-agent for Linux and Windows once per test run, both at once, for
// every test that needs the binaries. They are built without -trimpath, so the compiled
// packages are the ones `go vet` (and GOOS=windows go vet) already left in the build cache, and
// only linking is left to do.
var agentBinaries = sync.OnceValues(func() (map[string]string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return nil, errNoGo
	}
	dir, err := os.MkdirTemp("", "samverk-agent-bin-")
	if err != nil {
		return nil, err
	}
	binDir = dir
	goos := []string{"linux", "windows"}
	out := map[string]string{}
	errs := make([]error, len(goos))
	var wg sync.WaitGroup
	for i, g := range goos {
		bin := filepath.Join(dir, "samverk-agent-"+g)
		out[g] = bin
		wg.Go(func() {
			cmd := exec.Command(goBin, "build", "-ldflags=-s -w", "-o", bin, "samverk.io/samverk/engine/cmd/samverk-agent")
			cmd.Env = append(os.Environ(), "GOOS="+g, "GOARCH=amd64", "CGO_ENABLED=0")
			if b, err := cmd.CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("build for %s: %w\n%s", g, err, b)
			}
		})
	}
	wg.Wait()
	return out, errors.Join(errs...)
})

// errNoGo skips the tests that build the agent where there is no go tool.
var errNoGo = errors.New("go tool not in PATH")

// binDir is where agentBinaries built; TestMain removes it.
var binDir string

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// builtAgents returns the binaries by GOOS, or skips the test without a go tool.
func builtAgents(t *testing.T) map[string]string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the agent for Linux and Windows")
	}
	bins, err := agentBinaries()
	if errors.Is(err, errNoGo) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return bins
}

// The agent must stay small: none of the daemon's heavy dependencies may reach it. The
// binaries' own build information lists every module linked in.
func TestAgentDependencies(t *testing.T) {
	banned := []string{"cuelang.org", "open-policy-agent", "go-git", "spf13/cobra"}
	for goos, bin := range builtAgents(t) {
		info, err := buildinfo.ReadFile(bin)
		if err != nil {
			t.Fatalf("%s: %v", goos, err)
		}
		if info.Path != "samverk.io/samverk/engine/cmd/samverk-agent" {
			t.Fatalf("%s: build information of %q", goos, info.Path)
		}
		t.Logf("GOOS=%s: %d modules besides samverk", goos, len(info.Deps))
		for _, dep := range info.Deps {
			for _, b := range banned {
				if strings.Contains(dep.Path, b) {
					t.Errorf("GOOS=%s: samverk-agent links %s", goos, dep.Path)
				}
			}
		}
	}
}

// TestAgentBinarySize holds the stripped agent for Linux and Windows to 15 MB.
func TestAgentBinarySize(t *testing.T) {
	const limit = 15 << 20
	for goos, bin := range builtAgents(t) {
		fi, err := os.Stat(bin)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("samverk-agent %s/amd64 stripped: %.1f MB", goos, float64(fi.Size())/(1<<20))
		if fi.Size() > limit {
			t.Errorf("%s binary is %d bytes, over %d", goos, fi.Size(), limit)
		}
	}
}

// TestInsecureHTTP: a plain http:// server on the network is refused unless --insecure-http is
// given; loopback needs no flag, since its traffic never leaves the PC.
func TestInsecureHTTP(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		refused bool
	}{
		{"https", []string{"--server", "https://samverk.example.org"}, false},
		{"http on the network", []string{"--server", "http://samverk.example.org"}, true},
		{"http by address", []string{"--server", "http://192.0.2.10:8080"}, true},
		{"upper-case scheme", []string{"--server", "HTTP://samverk.example.org"}, true},
		{"http with the flag", []string{"--server", "http://samverk.example.org", "--insecure-http"}, false},
		{"loopback v4", []string{"--server", "http://127.0.0.1:8080"}, false},
		{"loopback v6", []string{"--server", "http://[::1]:8080"}, false},
		{"localhost", []string{"--server", "http://localhost:8080"}, false},
		{"a name that starts like loopback", []string{"--server", "http://127.0.0.1.example.org"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := newFlags(io.Discard).parse(tt.args)
			if tt.refused {
				var ee *exitError
				if !errors.As(err, &ee) || ee.code != exitUsage || !errors.Is(err, ErrInsecureHTTP) || !strings.Contains(err.Error(), "--insecure-http") {
					t.Fatalf("parse: %v, want a usage error naming --insecure-http", err)
				}
				// The library refuses it too, not only the command line.
				if _, err := New(Options{Server: tt.args[1], StateDir: t.TempDir(), EnrollToken: "t"}, nil); !errors.Is(err, ErrInsecureHTTP) {
					t.Errorf("New: %v, want ErrInsecureHTTP", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
		})
	}
}
