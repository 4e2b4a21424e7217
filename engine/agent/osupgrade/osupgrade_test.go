package osupgrade

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"samverk.io/samverk/engine/desired"
)

// clock is a settable time.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// root makes a temporary root with an os-release of the given VERSION_ID.
func root(t *testing.T, version string) string {
	t.Helper()
	r := t.TempDir()
	if err := os.MkdirAll(filepath.Join(r, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeOSRelease(t, r, version)
	return r
}

func writeOSRelease(t *testing.T, r, version string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(r, "etc/os-release"), []byte("NAME=Ubuntu\nVERSION_ID=\""+version+"\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// upgradeScript rewrites os-release under the root, as a release upgrade would.
const upgradeScript = `set -eu
echo "upgrading $SAMVERK_ROOT"
mkdir -p "$SAMVERK_ROOT/var/log"
echo "dist-upgrade: all packages upgraded" > "$SAMVERK_ROOT/var/log/upgrade.log"
printf 'NAME=Ubuntu\nVERSION_ID="24.04"\n' > "$SAMVERK_ROOT/etc/os-release"
`

func target(script string, reboot bool) *desired.OSTarget {
	return &desired.OSTarget{Release: "ubuntu-24-04", Build: "24.04", Action: "upgrade", Upgrade: &desired.OSUpgrade{
		From: "ubuntu-22-04", FromBuild: "22.04", Reboot: reboot, MaxDurationMinutes: 5, FreeDiskMiB: 1,
		Installer: desired.OSInstaller{Type: "script", Script: script},
	}}
}

func newUpgrader(t *testing.T, dir string, sys System, c *clock) *Upgrader {
	t.Helper()
	return New(Options{Dir: dir, CacheDir: filepath.Join(dir, "cache"), System: sys, Now: c.now,
		MaxAttempts: 2, BackoffBase: time.Hour, BackoffMax: 2 * time.Hour})
}

func phases(r *Record) []string {
	var ps []string
	for _, u := range r.Unsent {
		ps = append(ps, u.Phase)
	}
	return ps
}

func linuxOnly(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the real Linux system runs scripts with /bin/sh")
	}
}

// TestScriptUpgradeAcrossRestart runs a real script under a temporary root through every
// phase; the restart is a new Upgrader over the same state directory, as a new agent process.
func TestScriptUpgradeAcrossRestart(t *testing.T) {
	linuxOnly(t)
	r := root(t, "22.04")
	dir := t.TempDir()
	c := &clock{t: time.Date(2026, 12, 3, 22, 0, 0, 0, time.UTC)}
	sys := NewSystem(SystemOptions{Root: r})
	tg := target(upgradeScript, true)
	tg.Upgrade.Installer.LogFile = "/var/log/upgrade.log"

	rec, err := newUpgrader(t, dir, sys, c).Step(context.Background(), tg, "")
	if err != nil {
		t.Fatal(err)
	}
	if rec.Phase != desired.PhaseRebooting {
		t.Fatalf("phase %s (%s), want rebooting", rec.Phase, rec.Message)
	}
	if !strings.Contains(rec.LogTail, "all packages upgraded") {
		t.Errorf("log tail %q is not the installer's log file", rec.LogTail)
	}
	// The same process again: it waits for the restart and installs nothing twice.
	up := newUpgrader(t, dir, sys, c)
	up.boot = rec.Boot
	if rec, _ = up.Step(context.Background(), tg, ""); rec.Phase != desired.PhaseRebooting {
		t.Fatalf("before the restart: phase %s, want rebooting", rec.Phase)
	}

	// The restart: a new process. The daemon has seen the new build in a report already and
	// says "stay"; the upgrade is finished all the same.
	rec, err = newUpgrader(t, dir, sys, c).Step(context.Background(), &desired.OSTarget{Release: "ubuntu-24-04", Action: "stay"}, "")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"pending", "installing", "rebooting", "confirming", "done"}
	if rec.Phase != desired.PhaseDone || !slices.Equal(phases(rec), want) {
		t.Fatalf("phase %s, reports %v; want done after %v", rec.Phase, phases(rec), want)
	}
	if last := rec.Unsent[len(rec.Unsent)-1]; last.Build != "24.04" || last.Attempt != 1 {
		t.Errorf("done report %+v: want build 24.04, attempt 1", last)
	}
}

func TestFailingInstallerBacksOffAndStops(t *testing.T) {
	linuxOnly(t)
	r := root(t, "22.04")
	dir := t.TempDir()
	c := &clock{t: time.Date(2026, 12, 3, 22, 0, 0, 0, time.UTC)}
	sys := NewSystem(SystemOptions{Root: r})
	tg := target("echo 'E: Unable to fetch some archives' >&2\nexit 100\n", true)
	up := newUpgrader(t, dir, sys, c)
	ctx := context.Background()

	rec, _ := up.Step(ctx, tg, "")
	if rec.Phase != desired.PhaseFailed || rec.Attempt != 1 || !strings.Contains(rec.LogTail, "Unable to fetch") ||
		!strings.Contains(rec.Message, "exited with 100") {
		t.Fatalf("phase %s attempt %d message %q tail %q; want failed, 1, exit 100, the output", rec.Phase, rec.Attempt, rec.Message, rec.LogTail)
	}
	// No retry before the backoff has passed, however often the agent runs.
	for range 5 {
		if rec, _ = up.Step(ctx, tg, ""); rec.Phase != desired.PhaseFailed || rec.Attempt != 1 {
			t.Fatalf("retried before the backoff: phase %s attempt %d", rec.Phase, rec.Attempt)
		}
	}
	c.t = rec.NextAttempt.Add(time.Second)
	if rec, _ = up.Step(ctx, tg, ""); rec.Phase != desired.PhaseFailed || rec.Attempt != 2 {
		t.Fatalf("second attempt: phase %s attempt %d, want failed 2", rec.Phase, rec.Attempt)
	}
	if !rec.NextAttempt.IsZero() || !strings.Contains(rec.Message, "samverk os reset") {
		t.Errorf("at the limit: next attempt %v, message %q", rec.NextAttempt, rec.Message)
	}
	c.t = c.t.Add(30 * 24 * time.Hour)
	if rec, _ = up.Step(ctx, tg, ""); rec.Phase != desired.PhaseFailed || rec.Attempt != 2 {
		t.Fatalf("past the limit: phase %s attempt %d, want it to stay failed", rec.Phase, rec.Attempt)
	}
	installs := 0
	for _, p := range phases(rec) {
		if p == desired.PhaseInstalling {
			installs++
		}
	}
	if installs != 2 {
		t.Errorf("installer ran %d times, want 2 (the limit)", installs)
	}

	// A person resets it: the daemon answers with a higher generation.
	var sent []desired.UpgradeReport
	send := func(_ context.Context, rep desired.UpgradeReport) (desired.UpgradeAnswer, error) {
		sent = append(sent, rep)
		return desired.UpgradeAnswer{Reset: 1}, nil
	}
	reset, err := up.Sync(ctx, send)
	if err != nil || !reset {
		t.Fatalf("sync: reset %v err %v", reset, err)
	}
	if len(sent) != len(phases(rec)) {
		t.Errorf("sent %d reports, want the %d queued", len(sent), len(phases(rec)))
	}
	rec, _ = up.Load()
	if rec.Phase != desired.PhasePending || rec.Attempt != 1 || rec.Reset != 1 || len(rec.Unsent) != 1 {
		t.Fatalf("after reset: %s attempt %d reset %d unsent %d", rec.Phase, rec.Attempt, rec.Reset, len(rec.Unsent))
	}
	// The same answer again resets nothing more.
	if rec, _ = up.Step(ctx, tg, ""); rec.Phase != desired.PhaseFailed {
		t.Fatalf("after reset the upgrade runs again: %s", rec.Phase)
	}
	if reset, _ := up.Sync(ctx, send); reset {
		t.Error("the same reset generation reset again")
	}
}

// fakeSystem is for what a test cannot drive on a real OS: power, disk, a build that does not
// change, Windows installers.
type fakeSystem struct {
	mu        sync.Mutex
	build     string
	free      int64
	battery   bool
	installs  int
	installFn func(file string) error
	afterBoot string // the build after the restart
}

func (f *fakeSystem) Build() (string, error)      { f.mu.Lock(); defer f.mu.Unlock(); return f.build, nil }
func (f *fakeSystem) FreeDiskMiB() (int64, error) { return f.free, nil }
func (f *fakeSystem) OnBattery() (bool, bool)     { return f.battery, true }
func (f *fakeSystem) Install(_ context.Context, _ desired.OSInstaller, file, _ string, out io.Writer) error {
	f.mu.Lock()
	f.installs++
	f.mu.Unlock()
	io.WriteString(out, "setup: phase 1 of 4\n")
	if f.installFn != nil {
		return f.installFn(file)
	}
	return nil
}
func (f *fakeSystem) LogTail(desired.OSInstaller, int) string { return "" }
func (f *fakeSystem) Reboot(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.build = f.afterBoot
	return nil
}

var _ System = (*fakeSystem)(nil)

func winTarget(url, sum string) *desired.OSTarget {
	return &desired.OSTarget{Release: "windows-11-25h2", Build: "26200", Action: "upgrade", Upgrade: &desired.OSUpgrade{
		From: "windows-11-24h2", FromBuild: "26100", Reboot: true, MaxDurationMinutes: 60, FreeDiskMiB: 2048, RequireAC: true,
		Installer: desired.OSInstaller{Type: "feature-update", URL: url, SHA256: sum},
	}}
}

func TestPreconditions(t *testing.T) {
	c := &clock{t: time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)}
	tests := []struct {
		name string
		sys  *fakeSystem
		hold Hold
		win  *desired.Window
		want string
	}{
		{"too little disk", &fakeSystem{build: "26100", free: 1000}, "", nil, "needs 2048 MiB free on the system drive, has 1000"},
		{"on battery", &fakeSystem{build: "26100", free: 1 << 20, battery: true}, "", nil, "on battery: waiting for AC power"},
		{"held by a failed driver pack", &fakeSystem{build: "26100", free: 1 << 20}, "driver pack failed", nil, "driver pack failed"},
		{"outside the window", &fakeSystem{build: "26100", free: 1 << 20}, "", &desired.Window{Start: "22:00", End: "05:00"}, "waiting for the maintenance window 22:00-05:00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg := winTarget("https://dist.example.org/x.msu", strings.Repeat("a", 64))
			tg.Upgrade.Window = tt.win
			rec, err := newUpgrader(t, t.TempDir(), tt.sys, c).Step(context.Background(), tg, tt.hold)
			if err != nil {
				t.Fatal(err)
			}
			if rec.Phase != desired.PhasePending || rec.Message != tt.want || tt.sys.installs != 0 {
				t.Errorf("phase %s message %q installs %d; want pending, %q, none", rec.Phase, rec.Message, tt.sys.installs, tt.want)
			}
		})
	}
}

func TestInWindow(t *testing.T) {
	day := func(h, m int) time.Time { return time.Date(2026, 12, 3, h, m, 0, 0, time.UTC) }
	tests := []struct {
		w    desired.Window
		at   time.Time
		want bool
	}{
		{desired.Window{Start: "22:00", End: "05:00"}, day(23, 30), true},
		{desired.Window{Start: "22:00", End: "05:00"}, day(4, 59), true},
		{desired.Window{Start: "22:00", End: "05:00"}, day(5, 0), false},
		{desired.Window{Start: "09:00", End: "17:00"}, day(12, 0), true},
		{desired.Window{Start: "09:00", End: "17:00"}, day(8, 59), false},
	}
	for _, tt := range tests {
		if got, err := InWindow(tt.w, tt.at); err != nil || got != tt.want {
			t.Errorf("%v at %s: %v %v, want %v", tt.w, tt.at.Format("15:04"), got, err, tt.want)
		}
	}
	if _, err := InWindow(desired.Window{Start: "25:00", End: "05:00"}, day(1, 0)); err == nil {
		t.Error("25:00 accepted")
	}
}

// serve serves content with range support and records the Range headers asked for.
func serve(t *testing.T, content []byte) (*httptest.Server, *[]string) {
	var mu sync.Mutex
	var ranges []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ranges = append(ranges, r.Header.Get("Range"))
		mu.Unlock()
		http.ServeContent(w, r, "x.msu", time.Time{}, bytes.NewReader(content))
	}))
	t.Cleanup(srv.Close)
	return srv, &ranges
}

func TestFeatureUpdateDownloadVerifyRollback(t *testing.T) {
	content := bytes.Repeat([]byte("feature update payload "), 4096)
	sum := sha256.Sum256(content)
	srv, ranges := serve(t, content)
	c := &clock{t: time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)}

	t.Run("verified, installed, confirmed after the restart", func(t *testing.T) {
		dir := t.TempDir()
		sys := &fakeSystem{build: "26100", free: 1 << 20, afterBoot: "26200"}
		var got []byte
		sys.installFn = func(file string) error {
			b, err := os.ReadFile(file)
			got = b
			return err
		}
		tg := winTarget(srv.URL+"/os/x.msu", hex.EncodeToString(sum[:]))
		rec, _ := newUpgrader(t, dir, sys, c).Step(context.Background(), tg, "")
		if rec.Phase != desired.PhaseRebooting || !bytes.Equal(got, content) {
			t.Fatalf("phase %s (%s); installer got %d bytes of %d", rec.Phase, rec.Message, len(got), len(content))
		}
		rec, _ = newUpgrader(t, dir, sys, c).Step(context.Background(), tg, "")
		want := []string{"pending", "downloading", "verifying", "installing", "rebooting", "confirming", "done"}
		if !slices.Equal(phases(rec), want) {
			t.Errorf("phases %v, want %v", phases(rec), want)
		}
	})

	t.Run("a wrong sha256 never runs", func(t *testing.T) {
		sys := &fakeSystem{build: "26100", free: 1 << 20, afterBoot: "26200"}
		rec, _ := newUpgrader(t, t.TempDir(), sys, c).Step(context.Background(), winTarget(srv.URL+"/os/x.msu", strings.Repeat("0", 64)), "")
		if rec.Phase != desired.PhaseFailed || !strings.Contains(rec.Message, "sha256 mismatch") || sys.installs != 0 {
			t.Errorf("phase %s message %q installs %d", rec.Phase, rec.Message, sys.installs)
		}
	})

	t.Run("back on the old build: rolled back", func(t *testing.T) {
		dir := t.TempDir()
		sys := &fakeSystem{build: "26100", free: 1 << 20, afterBoot: "26100"}
		tg := winTarget(srv.URL+"/os/x.msu", hex.EncodeToString(sum[:]))
		newUpgrader(t, dir, sys, c).Step(context.Background(), tg, "")
		rec, _ := newUpgrader(t, dir, sys, c).Step(context.Background(), tg, "")
		if rec.Phase != desired.PhaseRolledBack || !strings.Contains(rec.Message, "rolled back") {
			t.Errorf("phase %s message %q, want rolled-back", rec.Phase, rec.Message)
		}
	})

	t.Run("an installer that restarts the device itself", func(t *testing.T) {
		dir := t.TempDir()
		sys := &fakeSystem{build: "26100", free: 1 << 20}
		sys.installFn = func(string) error { sys.build = "26200"; return ErrRebootStarted }
		tg := winTarget(srv.URL+"/os/x.msu", hex.EncodeToString(sum[:]))
		newUpgrader(t, dir, sys, c).Step(context.Background(), tg, "")
		rec, _ := newUpgrader(t, dir, sys, c).Step(context.Background(), tg, "")
		if rec.Phase != desired.PhaseDone || sys.installs != 1 {
			t.Errorf("phase %s installs %d, want done after one", rec.Phase, sys.installs)
		}
	})
	_ = ranges
}

func TestDownloadResumes(t *testing.T) {
	content := bytes.Repeat([]byte("0123456789abcdef"), 1<<14) // 256 KiB
	srv, ranges := serve(t, content)
	dir := t.TempDir()
	half := len(content) / 2
	if err := os.WriteFile(filepath.Join(dir, "x.msu.part"), content[:half], 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := Download(context.Background(), srv.Client(), srv.URL+"/x.msu", dir)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	if !bytes.Equal(b, content) {
		t.Fatalf("resumed file has %d bytes, want the %d served", len(b), len(content))
	}
	if want := []string{"bytes=131072-"}; !slices.Equal(*ranges, want) {
		t.Errorf("ranges asked %q, want %q", *ranges, want)
	}

	t.Run("a server without ranges sends it all again", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(content) }))
		defer srv.Close()
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "x.msu.part"), []byte("garbage that is not the start"), 0o600)
		p, err := Download(context.Background(), srv.Client(), srv.URL+"/x.msu", dir)
		if err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(p); !bytes.Equal(b, content) {
			t.Errorf("got %d bytes, want %d", len(b), len(content))
		}
	})
	t.Run("an error status keeps nothing", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		defer srv.Close()
		if _, err := Download(context.Background(), srv.Client(), srv.URL+"/x.msu", t.TempDir()); err == nil || !strings.Contains(err.Error(), "404") {
			t.Errorf("err %v, want the 404", err)
		}
	})
}

func TestWindowsExitOK(t *testing.T) {
	for code, want := range map[int]bool{0: true, 3010: true, 1641: true, 0x240006: true, 1: false, 0x8024200D: false} {
		if WindowsExitOK(code) != want {
			t.Errorf("exit %d: %v, want %v", code, !want, want)
		}
	}
}

func TestTargetGoneDropsRecord(t *testing.T) {
	c := &clock{t: time.Now()}
	dir := t.TempDir()
	up := newUpgrader(t, dir, &fakeSystem{build: "26100", free: 10}, c)
	up.Step(context.Background(), winTarget("https://d.example.org/x.msu", strings.Repeat("a", 64)), "")
	if _, err := up.Sync(context.Background(), func(context.Context, desired.UpgradeReport) (desired.UpgradeAnswer, error) {
		return desired.UpgradeAnswer{}, nil
	}); err != nil {
		t.Fatal(err)
	}
	if rec, err := up.Step(context.Background(), &desired.OSTarget{Action: "stay"}, ""); rec != nil || err != nil {
		t.Errorf("record %+v err %v after the target went", rec, err)
	}
	if _, err := os.Stat(filepath.Join(dir, StateFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state file left: %v", err)
	}
}
