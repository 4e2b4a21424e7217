package converge

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"samverk.io/samverk/engine/desired"
)

func newEngine(t testing.TB, root string, mod ...func(*Options)) *Engine {
	t.Helper()
	opts := Options{Root: root, CacheDir: t.TempDir(), Systemctl: "off"}
	for _, m := range mod {
		m(&opts)
	}
	return New(opts)
}

func state(mode string, rs ...desired.Resource) *desired.State {
	ps := make([]*desired.Resource, len(rs))
	for i := range rs {
		ps[i] = &rs[i]
	}
	return &desired.State{Revision: "r1", Hash: "h1", Member: "m", Mode: mode, Resources: ps}
}

func fileRes(id, path, content, mode string) desired.Resource {
	return desired.Resource{ID: id, Type: desired.TypeFile, Ensure: Present,
		File: &desired.File{Path: path, Content: content, Mode: mode}}
}

func cmdRes(id, check, set string, deps ...string) desired.Resource {
	return desired.Resource{ID: id, Type: desired.TypeCommand, Ensure: Present, DependsOn: deps,
		Command: &desired.Command{Check: check, Set: set}}
}

func scriptPkg(id, product, detectFile, install, uninstall string) desired.Resource {
	return desired.Resource{ID: id, Type: desired.TypePackage, Ensure: Present,
		Package: &desired.Package{Product: product, Version: "1.0", Name: product + "-1.0",
			Installer: desired.Installer{Type: installerScript, DetectFile: detectFile, Install: install, Uninstall: uninstall}}}
}

// runOne converges a single resource and returns its result.
func runOne(t *testing.T, e *Engine, mode string, r desired.Resource) desired.ResourceResult {
	t.Helper()
	res := e.Run(context.Background(), state(mode, r))
	if len(res.Resources) != 1 {
		t.Fatalf("got %d results, want 1", len(res.Resources))
	}
	return res.Resources[0]
}

func expect(t *testing.T, got desired.ResourceResult, outcome, reasonPart string) {
	t.Helper()
	if got.Outcome != outcome || !strings.Contains(got.Reason, reasonPart) {
		t.Fatalf("%s: got %s (%q), want %s with reason containing %q", got.ID, got.Outcome, got.Reason, outcome, reasonPart)
	}
}

func writeFile(t *testing.T, path, content string, mode fs.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

func TestFile(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(t *testing.T, root string)
		res     desired.Resource
		outcome string
		reason  string
		// after checks the tree under root after the run.
		after func(t *testing.T, root string)
	}{
		{
			name:    "unchanged",
			setup:   func(t *testing.T, root string) { writeFile(t, root+"/etc/motd", "hello\n", 0o644) },
			res:     fileRes("f", "/etc/motd", "hello\n", "0644"),
			outcome: desired.Unchanged,
		},
		{
			name:    "missing file is created with its mode",
			res:     fileRes("f", "/etc/samverk/new.conf", "a=1\n", "0600"),
			outcome: desired.Corrected, reason: "missing",
			after: func(t *testing.T, root string) {
				p := root + "/etc/samverk/new.conf"
				if got := readFile(t, p); got != "a=1\n" {
					t.Errorf("content %q", got)
				}
				if fi, _ := os.Stat(p); runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
					t.Errorf("mode %v", fi.Mode())
				}
			},
		},
		{
			name:    "content differs",
			setup:   func(t *testing.T, root string) { writeFile(t, root+"/etc/motd", "old\n", 0o640) },
			res:     fileRes("f", "/etc/motd", "new\n", ""),
			outcome: desired.Corrected, reason: "content differs",
			after: func(t *testing.T, root string) {
				if got := readFile(t, root+"/etc/motd"); got != "new\n" {
					t.Errorf("content %q", got)
				}
				// Without a mode in the desired state, the old mode is kept.
				if fi, _ := os.Stat(root + "/etc/motd"); fi.Mode().Perm() != 0o640 {
					t.Errorf("mode %v, want 0640 kept", fi.Mode())
				}
			},
		},
		{
			name:    "mode differs",
			setup:   func(t *testing.T, root string) { writeFile(t, root+"/etc/motd", "x", 0o666) },
			res:     fileRes("f", "/etc/motd", "x", "0644"),
			outcome: desired.Corrected, reason: "mode 0666, want 0644",
		},
		{
			name:    "absent file is removed",
			setup:   func(t *testing.T, root string) { writeFile(t, root+"/etc/old", "x", 0o644) },
			res:     desired.Resource{ID: "f", Type: desired.TypeFile, Ensure: Absent, File: &desired.File{Path: "/etc/old"}},
			outcome: desired.Corrected, reason: "present, want absent",
			after: func(t *testing.T, root string) {
				if exists(root + "/etc/old") {
					t.Error("file still there")
				}
			},
		},
		{
			name:    "absent and missing",
			res:     desired.Resource{ID: "f", Type: desired.TypeFile, Ensure: Absent, File: &desired.File{Path: "/etc/old"}},
			outcome: desired.Unchanged,
		},
		{
			name:    "directory in the way fails",
			setup:   func(t *testing.T, root string) { _ = os.MkdirAll(root+"/etc/motd", 0o755) },
			res:     fileRes("f", "/etc/motd", "x", ""),
			outcome: desired.Failed, reason: "not a regular file",
		},
		{
			name:    "relative path fails",
			res:     fileRes("f", "etc/motd", "x", ""),
			outcome: desired.Failed, reason: "not absolute",
		},
		{
			name:    "bad mode fails",
			res:     fileRes("f", "/etc/motd", "x", "rw-r--r--"),
			outcome: desired.Failed, reason: "want octal",
		},
		{
			name:    "dot-dot stays inside the root",
			res:     fileRes("f", "/../../escape", "x", ""),
			outcome: desired.Corrected,
			after: func(t *testing.T, root string) {
				if !exists(root + "/escape") {
					t.Error("file not written inside root")
				}
			},
		},
		{
			name:    "missing file section fails",
			res:     desired.Resource{ID: "f", Type: desired.TypeFile},
			outcome: desired.Failed, reason: "no file section",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			if tc.setup != nil {
				tc.setup(t, root)
			}
			got := runOne(t, newEngine(t, root), ModeEnforce, tc.res)
			expect(t, got, tc.outcome, tc.reason)
			if tc.after != nil {
				tc.after(t, root)
			}
			// Converging again finds nothing to do.
			if tc.outcome == desired.Corrected {
				expect(t, runOne(t, newEngine(t, root), ModeEnforce, tc.res), desired.Unchanged, "")
			}
		})
	}
}

func TestFileKeepsNoTempFiles(t *testing.T) {
	root := t.TempDir()
	e := newEngine(t, root)
	for i := range 3 {
		expect(t, runOne(t, e, ModeEnforce, fileRes("f", "/etc/x", fmt.Sprint(i), "0644")), desired.Corrected, "")
	}
	entries, err := os.ReadDir(root + "/etc")
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("want only the managed file, got %v", entries)
	}
}

func TestCommand(t *testing.T) {
	tests := []struct {
		name    string
		res     func(root string) desired.Resource
		outcome string
		reason  string
	}{
		{
			name:    "check passes",
			res:     func(string) desired.Resource { return cmdRes("c", "exit 0", "exit 1") },
			outcome: desired.Unchanged,
		},
		{
			name: "set corrects",
			res: func(string) desired.Resource {
				return cmdRes("c", `test -f "$SAMVERK_ROOT/flag"`, `echo on > "$SAMVERK_ROOT/flag"`)
			},
			outcome: desired.Corrected, reason: "check exited 1",
		},
		{
			name: "set fails",
			res: func(string) desired.Resource {
				return cmdRes("c", "exit 3", "echo cannot do it >&2; exit 4")
			},
			outcome: desired.Failed, reason: "set script exited 4: cannot do it",
		},
		{
			name:    "set does not help",
			res:     func(string) desired.Resource { return cmdRes("c", "exit 1", "exit 0") },
			outcome: desired.Failed, reason: "still out of line after correcting",
		},
		{
			name: "check times out",
			res: func(string) desired.Resource {
				r := cmdRes("c", "sleep 30", "exit 0")
				r.Command.TimeoutSeconds = 1
				return r
			},
			outcome: desired.Failed, reason: "timed out after 1s",
		},
		{
			name: "sees the resource id",
			res: func(string) desired.Resource {
				return cmdRes("setting/x", `test "$SAMVERK_RESOURCE" = setting/x`, "exit 1")
			},
			outcome: desired.Unchanged,
		},
		{
			name:    "no check script",
			res:     func(string) desired.Resource { return cmdRes("c", "", "true") },
			outcome: desired.Failed, reason: "no check script",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			got := runOne(t, newEngine(t, root), ModeEnforce, tc.res(root))
			expect(t, got, tc.outcome, tc.reason)
		})
	}
}

func TestCommandTimeoutKillsChildren(t *testing.T) {
	root := t.TempDir()
	// The background sleep holds the output pipe; the run must still end at the timeout.
	r := cmdRes("c", "sleep 60 & sleep 60", "true")
	r.Command.TimeoutSeconds = 1
	got := runOne(t, newEngine(t, root), ModeEnforce, r)
	expect(t, got, desired.Failed, "timed out")
	if got.DurationMs > 10000 {
		t.Fatalf("took %d ms", got.DurationMs)
	}
}

func TestRegistryOnLinuxIsSkipped(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the registry is real on Windows")
	}
	r := desired.Resource{ID: "setting/reg", Type: desired.TypeRegistry, Ensure: Present,
		Registry: &desired.Registry{Key: `HKLM\SOFTWARE\Policies\X`, Name: "Y", ValueType: "dword", Value: 1.0}}
	expect(t, runOne(t, newEngine(t, t.TempDir()), ModeEnforce, r), desired.Skipped, "registry is Windows-only")
}

func TestRegistryValues(t *testing.T) {
	tests := []struct {
		typ   string
		value any
		want  regValue
		err   string
	}{
		{typ: "dword", value: 1.0, want: regValue{typ: regDword, num: 1}},
		{typ: "dword", value: "0x1F", want: regValue{typ: regDword, num: 31}},
		{typ: "dword", value: -1.0, want: regValue{typ: regDword, num: 0xFFFFFFFF}},
		{typ: "dword", value: true, want: regValue{typ: regDword, num: 1}},
		{typ: "dword", value: 4294967296.0, err: "out of range"},
		{typ: "dword", value: 1.5, err: "not a whole number"},
		{typ: "dword", value: "abc", err: "invalid syntax"},
		{typ: "qword", value: "18446744073709551615", want: regValue{typ: regQword, num: 1<<64 - 1}},
		{typ: "qword", value: 1e17, err: "give it as a string"},
		{typ: "string", value: "on", want: regValue{typ: regString, str: "on"}},
		{typ: "string", value: 1.0, err: "want a string"},
		{typ: "expand-string", value: `%SystemRoot%\x`, want: regValue{typ: regExpandString, str: `%SystemRoot%\x`}},
		{typ: "multi-string", value: []any{"a", "b"}, want: regValue{typ: regMultiString, strs: []string{"a", "b"}}},
		{typ: "multi-string", value: []any{"a", 2.0}, err: "item 1"},
		{typ: "binary", value: "00", err: "value type"},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s %v", tc.typ, tc.value), func(t *testing.T) {
			got, err := wantRegValue(&desired.Registry{ValueType: tc.typ, Value: tc.value})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || !got.equal(tc.want) {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestRegistryKey(t *testing.T) {
	tests := []struct{ key, hive, path, err string }{
		{key: `HKLM\SOFTWARE\Policies\Microsoft`, hive: "HKLM", path: `SOFTWARE\Policies\Microsoft`},
		{key: `HKEY_CURRENT_USER\Control Panel\Desktop`, hive: "HKCU", path: `Control Panel\Desktop`},
		{key: `HKLM:\SYSTEM\CurrentControlSet`, hive: "HKLM", path: `SYSTEM\CurrentControlSet`},
		{key: `HKXX\Nope`, err: "unknown hive"},
		{key: `HKLM`, err: "no path"},
	}
	for _, tc := range tests {
		hive, path, err := regKey(tc.key)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: err %v, want %q", tc.key, err, tc.err)
			}
			continue
		}
		if err != nil || hive != tc.hive || path != tc.path {
			t.Errorf("%s: got %s %s %v", tc.key, hive, path, err)
		}
	}
}

// systemctlStub writes a stand-in for systemctl that keeps unit states in files under dir:
// <unit>.active holds active/inactive, <unit>.enabled holds enabled/disabled/masked; a unit
// without files is not found. It understands the subcommands the provider uses.
func systemctlStub(t *testing.T, dir string) string {
	t.Helper()
	script := `#!/bin/sh
d='` + dir + `'
cmd=$1; shift
[ "$1" = "--property=LoadState,ActiveState,UnitFileState" ] && shift
[ "$1" = "--" ] && shift
u=$1
echo "$cmd $u" >> "$d/calls"
case $cmd in
show)
  if [ ! -f "$d/$u.active" ]; then
    printf 'LoadState=not-found\nActiveState=inactive\nUnitFileState=\n'; exit 0
  fi
  printf 'LoadState=loaded\nActiveState=%s\nUnitFileState=%s\n' "$(cat "$d/$u.active")" "$(cat "$d/$u.enabled")";;
start) [ -f "$d/$u.broken" ] && { echo "Job for $u failed." >&2; exit 1; }; echo active > "$d/$u.active";;
stop) echo inactive > "$d/$u.active";;
enable) echo enabled > "$d/$u.enabled";;
disable) echo disabled > "$d/$u.enabled";;
unmask) echo disabled > "$d/$u.enabled";;
*) echo "unknown command $cmd" >&2; exit 1;;
esac
`
	p := filepath.Join(dir, "systemctl")
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestService(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("uses a shell stand-in for systemctl")
	}
	unit := func(dir, name, active, enabled string) {
		writeFile(t, filepath.Join(dir, name+".active"), active+"\n", 0o644)
		writeFile(t, filepath.Join(dir, name+".enabled"), enabled+"\n", 0o644)
	}
	svcRes := func(name, st string) desired.Resource {
		return desired.Resource{ID: "setting/" + name, Type: desired.TypeService, Ensure: Present,
			Service: &desired.Service{Name: name, State: st}}
	}
	tests := []struct {
		name    string
		setup   func(dir string)
		res     desired.Resource
		outcome string
		reason  string
		state   string // want "<active> <enabled>" afterwards
	}{
		{name: "running unchanged", setup: func(d string) { unit(d, "sshd", "active", "enabled") },
			res: svcRes("sshd", "running"), outcome: desired.Unchanged, state: "active enabled"},
		{name: "start", setup: func(d string) { unit(d, "sshd", "inactive", "enabled") },
			res: svcRes("sshd", "running"), outcome: desired.Corrected, reason: "not running", state: "active enabled"},
		{name: "enable and start", setup: func(d string) { unit(d, "sshd", "inactive", "disabled") },
			res: svcRes("sshd", "running"), outcome: desired.Corrected, reason: "not running", state: "active enabled"},
		{name: "unmask", setup: func(d string) { unit(d, "sshd", "inactive", "masked") },
			res: svcRes("sshd", "running"), outcome: desired.Corrected, state: "active enabled"},
		{name: "stop", setup: func(d string) { unit(d, "cups", "active", "enabled") },
			res: svcRes("cups", "stopped"), outcome: desired.Corrected, reason: "running, want stopped", state: "inactive enabled"},
		{name: "disable", setup: func(d string) { unit(d, "cups", "inactive", "enabled") },
			res: svcRes("cups", "disabled"), outcome: desired.Corrected, reason: "enabled at boot", state: "inactive disabled"},
		{name: "absent means disabled", setup: func(d string) { unit(d, "cups", "active", "enabled") },
			res: func() desired.Resource {
				r := svcRes("cups", "")
				r.Ensure = Absent
				return r
			}(), outcome: desired.Corrected, state: "inactive disabled"},
		{name: "start fails", setup: func(d string) {
			unit(d, "db", "inactive", "enabled")
			writeFile(t, filepath.Join(d, "db.broken"), "", 0o644)
		}, res: svcRes("db", "running"), outcome: desired.Failed, reason: "systemctl start exited 1: Job for db failed."},
		{name: "missing unit, want disabled", res: svcRes("telnet", "disabled"), outcome: desired.Unchanged},
		{name: "missing unit, want running", res: svcRes("telnet", "running"), outcome: desired.Failed, reason: "not installed"},
		{name: "bad state", res: svcRes("x", "paused"), outcome: desired.Failed, reason: "want running, stopped or disabled"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.setup != nil {
				tc.setup(dir)
			}
			e := newEngine(t, "", func(o *Options) { o.Systemctl = systemctlStub(t, dir) })
			expect(t, runOne(t, e, ModeEnforce, tc.res), tc.outcome, tc.reason)
			if tc.state != "" {
				name := tc.res.Service.Name
				got := strings.TrimSpace(readFile(t, filepath.Join(dir, name+".active"))) + " " +
					strings.TrimSpace(readFile(t, filepath.Join(dir, name+".enabled")))
				if got != tc.state {
					t.Errorf("unit state %q, want %q", got, tc.state)
				}
			}
		})
	}
}

func TestServiceSkipped(t *testing.T) {
	r := desired.Resource{ID: "s", Type: desired.TypeService, Ensure: Present, Service: &desired.Service{Name: "sshd", State: "running"}}
	t.Run("no systemd", func(t *testing.T) {
		if runtime.GOOS == "windows" {
			t.Skip("Windows has its service manager")
		}
		expect(t, runOne(t, newEngine(t, ""), ModeEnforce, r), desired.Skipped, "systemd is not running")
	})
	t.Run("under a root", func(t *testing.T) {
		expect(t, runOne(t, newEngine(t, t.TempDir(), func(o *Options) { o.Systemctl = "/bin/false" }), ModeEnforce, r),
			desired.Skipped, "not managed under --root")
	})
}

func TestPackageScript(t *testing.T) {
	const (
		install   = `mkdir -p "$SAMVERK_ROOT/opt/app" && echo "$SAMVERK_PRODUCT $SAMVERK_VERSION" > "$SAMVERK_ROOT/opt/app/installed"`
		uninstall = `rm -rf "$SAMVERK_ROOT/opt/app"`
	)
	absent := func(r desired.Resource) desired.Resource { r.Ensure = Absent; return r }
	tests := []struct {
		name     string
		setup    func(t *testing.T, root string)
		res      desired.Resource
		outcome  string
		reason   string
		present  bool // whether /opt/app/installed exists afterwards
		products map[string]string
	}{
		{name: "install", res: scriptPkg("package/app", "app", "/opt/app/installed", install, uninstall),
			outcome: desired.Corrected, reason: "app 1.0 is not installed", present: true, products: map[string]string{"app": "1.0"}},
		{name: "already installed", setup: func(t *testing.T, root string) { writeFile(t, root+"/opt/app/installed", "", 0o644) },
			res: scriptPkg("package/app", "app", "/opt/app/installed", "exit 1", uninstall), outcome: desired.Unchanged,
			present: true, products: map[string]string{"app": "1.0"}},
		{name: "uninstall", setup: func(t *testing.T, root string) { writeFile(t, root+"/opt/app/installed", "", 0o644) },
			res:     absent(scriptPkg("package/app", "app", "/opt/app/installed", install, uninstall)),
			outcome: desired.Corrected, reason: "installed, want absent"},
		{name: "absent and not installed", res: absent(scriptPkg("package/app", "app", "/opt/app/installed", install, "exit 1")),
			outcome: desired.Unchanged},
		{name: "install fails", res: scriptPkg("package/app", "app", "/opt/app/installed", "echo disk full; exit 2", uninstall),
			outcome: desired.Failed, reason: "install exited 2: disk full"},
		{name: "installs but detection disagrees", res: scriptPkg("package/app", "app", "/opt/app/elsewhere", install, uninstall),
			outcome: desired.Failed, reason: "still out of line", present: true},
		{name: "no detection rule", res: scriptPkg("package/app", "app", "", install, uninstall),
			outcome: desired.Failed, reason: "no detection rule"},
		{name: "no uninstall command", setup: func(t *testing.T, root string) { writeFile(t, root+"/opt/app/installed", "", 0o644) },
			res:     absent(scriptPkg("package/app", "app", "/opt/app/installed", install, "")),
			outcome: desired.Failed, reason: "no uninstall command", present: true, products: map[string]string{"app": "1.0"}},
		{name: "detect command", res: func() desired.Resource {
			r := scriptPkg("package/app", "app", "", install, uninstall)
			r.Package.Installer.DetectCommand = `grep -q "app 1.0" "$SAMVERK_ROOT/opt/app/installed"`
			return r
		}(), outcome: desired.Corrected, present: true, products: map[string]string{"app": "1.0"}},
		{name: "unknown installer type", res: func() desired.Resource {
			r := scriptPkg("package/app", "app", "/x", install, uninstall)
			r.Package.Installer.Type = "pkgng"
			return r
		}(), outcome: desired.Failed, reason: `unknown installer type "pkgng"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			if tc.setup != nil {
				tc.setup(t, root)
			}
			res := newEngine(t, root).Run(context.Background(), state(ModeEnforce, tc.res))
			expect(t, res.Resources[0], tc.outcome, tc.reason)
			if got := exists(root + "/opt/app/installed"); got != tc.present {
				t.Errorf("installed file exists: %v, want %v", got, tc.present)
			}
			if !mapsEqual(res.Products, tc.products) {
				t.Errorf("products %v, want %v", res.Products, tc.products)
			}
		})
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestPackageOtherPlatformsSkipped(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("msi and winget are native here")
	}
	for _, typ := range []string{installerMSI, installerWinget} {
		r := scriptPkg("package/app", "app", "", "", "")
		r.Package.Installer = desired.Installer{Type: typ, ProductCode: "{0000}", WingetID: "Vendor.App"}
		expect(t, runOne(t, newEngine(t, t.TempDir()), ModeEnforce, r), desired.Skipped, typ+" installers are not supported")
	}
}

// installerServer serves body at /app-setup.sh and counts the requests.
func installerServer(t *testing.T, body string) (*httptest.Server, *int) {
	t.Helper()
	var hits int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/app-setup.sh" {
			http.NotFound(w, r)
			return
		}
		hits++
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func sum(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func TestPackageDownload(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the installer is a shell script")
	}
	const payload = "#!/bin/sh\nmkdir -p \"$SAMVERK_ROOT/opt/app\" && touch \"$SAMVERK_ROOT/opt/app/installed\"\n"
	srv, hits := installerServer(t, payload)
	pkg := func(sha string) desired.Resource {
		r := scriptPkg("package/app", "app", "/opt/app/installed", `sh "$SAMVERK_INSTALLER"`, "")
		r.Package.Installer.URL = srv.URL + "/app-setup.sh"
		r.Package.Installer.SHA256 = sha
		return r
	}

	t.Run("verified installer runs", func(t *testing.T) {
		root, cache := t.TempDir(), t.TempDir()
		e := newEngine(t, root, func(o *Options) { o.CacheDir = cache })
		expect(t, runOne(t, e, ModeEnforce, pkg(sum(payload))), desired.Corrected, "")
		if !exists(root + "/opt/app/installed") {
			t.Fatal("installer did not run")
		}
		if got := readFile(t, filepath.Join(cache, sum(payload), "app-setup.sh")); got != payload {
			t.Fatalf("cached installer %q", got)
		}
	})

	t.Run("sha256 mismatch refuses to run the installer", func(t *testing.T) {
		root, cache := t.TempDir(), t.TempDir()
		e := newEngine(t, root, func(o *Options) { o.CacheDir = cache })
		wrong := sum("something else")
		got := runOne(t, e, ModeEnforce, pkg(wrong))
		expect(t, got, desired.Failed, "sha256 mismatch")
		if !strings.Contains(got.Reason, "want "+wrong) {
			t.Errorf("reason %q does not name the expected sum", got.Reason)
		}
		if exists(root + "/opt/app") {
			t.Fatal("the installer ran despite the mismatch")
		}
		var left []string
		_ = filepath.WalkDir(cache, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				left = append(left, p)
			}
			return nil
		})
		if len(left) > 0 {
			t.Fatalf("rejected download left files behind: %v", left)
		}
	})

	t.Run("url without sha256 is refused", func(t *testing.T) {
		root := t.TempDir()
		before := *hits
		expect(t, runOne(t, newEngine(t, root), ModeEnforce, pkg("")), desired.Failed, "has no sha256")
		if *hits != before {
			t.Fatal("downloaded without a sha256")
		}
	})

	t.Run("tampered cache is fetched again", func(t *testing.T) {
		root, cache := t.TempDir(), t.TempDir()
		writeFile(t, filepath.Join(cache, sum(payload), "app-setup.sh"), "#!/bin/sh\ntouch \"$SAMVERK_ROOT/pwned\"\n", 0o600)
		before := *hits
		e := newEngine(t, root, func(o *Options) { o.CacheDir = cache })
		expect(t, runOne(t, e, ModeEnforce, pkg(sum(payload))), desired.Corrected, "")
		if exists(root + "/pwned") {
			t.Fatal("ran the tampered cached installer")
		}
		if *hits != before+1 {
			t.Fatalf("downloads %d, want 1", *hits-before)
		}
	})

	t.Run("cached installer is reused", func(t *testing.T) {
		root, cache := t.TempDir(), t.TempDir()
		e := newEngine(t, root, func(o *Options) { o.CacheDir = cache })
		expect(t, runOne(t, e, ModeEnforce, pkg(sum(payload))), desired.Corrected, "")
		if err := os.RemoveAll(root + "/opt"); err != nil {
			t.Fatal(err)
		}
		before := *hits
		expect(t, runOne(t, e, ModeEnforce, pkg(sum(payload))), desired.Corrected, "")
		if *hits != before {
			t.Fatal("downloaded again although the cached copy matched")
		}
	})
}

// TestPackageDeb installs a real .deb with dpkg into a root that has its own dpkg database.
func TestPackageDeb(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("deb is for Linux")
	}
	for _, tool := range []string{"dpkg-deb", "dpkg", "dpkg-query"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	build := t.TempDir()
	writeFile(t, build+"/pkg/DEBIAN/control", "Package: samverk-test-hello\nVersion: 1.0\nArchitecture: all\n"+
		"Maintainer: samverk <samverk@example.org>\nDescription: test package\n", 0o644)
	writeFile(t, build+"/pkg/opt/hello/hello.txt", "hello\n", 0o644)
	if out, err := exec.Command("dpkg-deb", "--build", "--root-owner-group", build+"/pkg", build+"/hello.deb").CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb: %v\n%s", err, out)
	}
	deb, err := os.ReadFile(build + "/hello.deb")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(deb) }))
	defer srv.Close()

	root := t.TempDir()
	for _, d := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, root+"/var/lib/dpkg/status", "", 0o644)
	h := sha256.Sum256(deb)
	r := desired.Resource{ID: "package/hello", Type: desired.TypePackage, Ensure: Present,
		Package: &desired.Package{Product: "hello", Version: "1.0", Installer: desired.Installer{
			Type: installerDeb, DebPackage: "samverk-test-hello", URL: srv.URL + "/hello_1.0_all.deb", SHA256: hex.EncodeToString(h[:])}}}
	e := newEngine(t, root)

	expect(t, runOne(t, e, ModeEnforce, r), desired.Corrected, "hello 1.0 is not installed")
	if got := readFile(t, root+"/opt/hello/hello.txt"); got != "hello\n" {
		t.Fatalf("package content %q", got)
	}
	expect(t, runOne(t, e, ModeEnforce, r), desired.Unchanged, "")
	r.Ensure = Absent
	expect(t, runOne(t, e, ModeEnforce, r), desired.Corrected, "installed, want absent")
	if exists(root + "/opt/hello/hello.txt") {
		t.Fatal("package files still there")
	}
	expect(t, runOne(t, e, ModeEnforce, r), desired.Unchanged, "")
}

func TestDependencies(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("uses sh")
	}
	t.Run("applied before dependents", func(t *testing.T) {
		root := t.TempDir()
		log := root + "/order"
		mk := func(id string, deps ...string) desired.Resource {
			return cmdRes(id, fmt.Sprintf(`test -f "$SAMVERK_ROOT/%s.done"`, id),
				fmt.Sprintf(`echo %s >> %s && touch "$SAMVERK_ROOT/%s.done"`, id, log, id), deps...)
		}
		// Listed dependents first, so a run in list order would get it wrong.
		st := state(ModeEnforce,
			mk("c", "b"),
			mk("b", "a"),
			mk("a"),
			// d's check only passes once a has been applied.
			cmdRes("d", `test -f "$SAMVERK_ROOT/d.done" && test -f "$SAMVERK_ROOT/a.done"`,
				`test -f "$SAMVERK_ROOT/a.done" && echo d >> `+log+` && touch "$SAMVERK_ROOT/d.done"`, "a"),
		)
		for _, parallel := range []int{1, 8} {
			_ = os.Remove(log)
			for _, id := range []string{"a", "b", "c", "d"} {
				_ = os.Remove(root + "/" + id + ".done")
			}
			res := newEngine(t, root, func(o *Options) { o.Parallel = parallel }).Run(context.Background(), st)
			for _, r := range res.Resources {
				expect(t, r, desired.Corrected, "")
			}
			order := strings.Fields(readFile(t, log))
			pos := func(id string) int { return slices.Index(order, id) }
			if !(pos("a") < pos("b") && pos("b") < pos("c") && pos("a") < pos("d")) {
				t.Fatalf("parallel %d: order %v", parallel, order)
			}
			if got := []string{res.Resources[0].ID, res.Resources[1].ID}; got[0] != "c" || got[1] != "b" {
				t.Fatalf("results not in state order: %v", got)
			}
		}
	})

	t.Run("failed dependency skips dependents, others go on", func(t *testing.T) {
		root := t.TempDir()
		st := state(ModeEnforce,
			cmdRes("base", "exit 1", "exit 1"),
			cmdRes("mid", "exit 1", "touch $SAMVERK_ROOT/mid", "base"),
			cmdRes("top", "exit 1", "touch $SAMVERK_ROOT/top", "mid"),
			fileRes("independent", "/etc/ok", "ok", ""),
		)
		res := newEngine(t, root).Run(context.Background(), st)
		expect(t, res.Resources[0], desired.Failed, "set script exited 1")
		expect(t, res.Resources[1], desired.Skipped, "dependency base failed")
		expect(t, res.Resources[2], desired.Skipped, "dependency mid skipped")
		expect(t, res.Resources[3], desired.Corrected, "missing")
		if exists(root+"/mid") || exists(root+"/top") {
			t.Fatal("a dependent of a failed resource ran")
		}
		if res.Failed != 1 || res.Skipped != 2 || res.Corrected != 1 {
			t.Fatalf("counts %+v", res)
		}
	})

	t.Run("unknown dependency, cycle and duplicate fail", func(t *testing.T) {
		root := t.TempDir()
		st := state(ModeEnforce,
			cmdRes("orphan", "exit 0", "", "nowhere"),
			cmdRes("x", "exit 0", "", "y"),
			cmdRes("y", "exit 0", "", "x"),
			cmdRes("after-cycle", "exit 0", "", "y"),
			cmdRes("dup", "exit 0", ""),
			cmdRes("dup", "exit 0", ""),
		)
		res := newEngine(t, root).Run(context.Background(), st)
		expect(t, res.Resources[0], desired.Failed, "unknown dependency nowhere")
		expect(t, res.Resources[1], desired.Failed, "dependency cycle")
		expect(t, res.Resources[2], desired.Failed, "dependency cycle")
		expect(t, res.Resources[3], desired.Skipped, "dependency y failed")
		expect(t, res.Resources[4], desired.Unchanged, "")
		expect(t, res.Resources[5], desired.Failed, "duplicate resource id")
	})
}

// snapshot records every path under root with its mode and content.
func snapshot(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		v := fi.Mode().String()
		if fi.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			v += " " + string(b)
		}
		out[p] = v
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// driftedTree builds a root where every resource of driftedState is out of line.
func driftedTree(t *testing.T) (string, *desired.State) {
	root := t.TempDir()
	writeFile(t, root+"/etc/motd", "old\n", 0o644)
	writeFile(t, root+"/etc/mode", "x", 0o666)
	writeFile(t, root+"/etc/unwanted", "x", 0o644)
	writeFile(t, root+"/opt/old/installed", "", 0o644)
	st := state(ModeEnforce,
		fileRes("setting/motd", "/etc/motd", "new\n", ""),
		fileRes("setting/mode", "/etc/mode", "x", "0644"),
		fileRes("setting/new", "/etc/new", "x", ""),
		desired.Resource{ID: "setting/unwanted", Type: desired.TypeFile, Ensure: Absent, File: &desired.File{Path: "/etc/unwanted"}},
		cmdRes("setting/cmd", `test -f "$SAMVERK_ROOT/etc/cmd"`, `touch "$SAMVERK_ROOT/etc/cmd"`),
		scriptPkg("package/app", "app", "/opt/app/installed", `mkdir -p "$SAMVERK_ROOT/opt/app"; touch "$SAMVERK_ROOT/opt/app/installed"`, ""),
		func() desired.Resource {
			r := scriptPkg("package/old", "old", "/opt/old/installed", "", `rm -rf "$SAMVERK_ROOT/opt/old"`)
			r.Ensure = Absent
			return r
		}(),
		cmdRes("setting/after-cmd", `test -f "$SAMVERK_ROOT/etc/after"`, `touch "$SAMVERK_ROOT/etc/after"`, "setting/cmd"),
	)
	return root, st
}

func TestNoopChangesNothing(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("uses sh")
	}
	root, st := driftedTree(t)
	before := snapshot(t, root)
	res := newEngine(t, root, func(o *Options) { o.Noop = true }).Run(context.Background(), st)
	for _, r := range res.Resources {
		expect(t, r, desired.Drifted, "would correct: ")
	}
	if after := snapshot(t, root); !mapsEqual(before, after) {
		t.Fatalf("noop changed the tree:\nbefore %v\nafter  %v", before, after)
	}
	if res.Drifted != len(st.Resources) {
		t.Fatalf("drifted %d, want %d", res.Drifted, len(st.Resources))
	}
	// The old package is still installed, the new one is not: the inventory says so.
	if !mapsEqual(res.Products, map[string]string{"old": "1.0"}) {
		t.Fatalf("products %v", res.Products)
	}
}

func TestDetectMode(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("uses sh")
	}
	root, st := driftedTree(t)
	st.Mode = ModeDetect
	before := snapshot(t, root)
	res := newEngine(t, root).Run(context.Background(), st)
	for _, r := range res.Resources {
		if r.Outcome != desired.Drifted || strings.Contains(r.Reason, "would correct") || r.Reason == "" {
			t.Errorf("%s: %s %q", r.ID, r.Outcome, r.Reason)
		}
	}
	if after := snapshot(t, root); !mapsEqual(before, after) {
		t.Fatal("detect mode changed the tree")
	}
	// An unknown mode is read as detect, never as enforce.
	st.Mode = "yolo"
	res = newEngine(t, root).Run(context.Background(), st)
	expect(t, res.Resources[0], desired.Drifted, `unknown mode "yolo" treated as detect`)
	if after := snapshot(t, root); !mapsEqual(before, after) {
		t.Fatal("unknown mode changed the tree")
	}
	// Enforce then corrects everything, and a second run finds nothing to do.
	st.Mode = ModeEnforce
	res = newEngine(t, root).Run(context.Background(), st)
	if res.Corrected != len(st.Resources) {
		t.Fatalf("enforce: %+v", res.Resources)
	}
	res = newEngine(t, root).Run(context.Background(), st)
	if res.Unchanged != len(st.Resources) {
		t.Fatalf("second enforce: %+v", res.Resources)
	}
}

func TestCancelledRun(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	root := t.TempDir()
	res := newEngine(t, root).Run(ctx, state(ModeEnforce, fileRes("f", "/etc/x", "x", ""), cmdRes("c", "exit 1", "true", "f")))
	for _, r := range res.Resources {
		if r.Outcome == desired.Corrected || r.Outcome == desired.Unchanged {
			t.Fatalf("%s ran after cancellation: %s", r.ID, r.Outcome)
		}
	}
	if exists(root + "/etc/x") {
		t.Fatal("changed the tree after cancellation")
	}
}

func TestTailBuffer(t *testing.T) {
	b := &tailBuffer{max: 8}
	for _, s := range []string{"abc", "defgh", "ij", "0123456789"} {
		_, _ = b.Write([]byte(s))
	}
	if got := b.String(); got != "23456789" {
		t.Fatalf("got %q", got)
	}
	b = &tailBuffer{max: 8}
	_, _ = b.Write([]byte("abcdef"))
	_, _ = b.Write([]byte("ghij"))
	if got := b.String(); got != "cdefghij" {
		t.Fatalf("got %q", got)
	}
}

func TestStopGrace(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("uses sh")
	}
	// The run is cancelled while the set script runs: it may finish within the grace period,
	// and is killed after it.
	for _, tc := range []struct {
		name    string
		grace   time.Duration
		outcome string
	}{
		{"finishes within grace", 10 * time.Second, desired.Corrected},
		{"killed after grace", 100 * time.Millisecond, desired.Failed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			started := root + "/started"
			r := cmdRes("c", `test -f "$SAMVERK_ROOT/done"`, `touch "$SAMVERK_ROOT/started"; sleep 1; touch "$SAMVERK_ROOT/done"`)
			go func() {
				for !exists(started) {
					time.Sleep(5 * time.Millisecond)
				}
				cancel()
			}()
			e := newEngine(t, root, func(o *Options) { o.StopGrace = tc.grace })
			res := e.Run(ctx, state(ModeEnforce, r))
			expect(t, res.Resources[0], tc.outcome, "")
		})
	}
}

// TestProductsPreferWantedVersion: with the old version still installed beside the new one (as
// in detect mode, before the old one is removed), the inventory reports the wanted version.
func TestProductsPreferWantedVersion(t *testing.T) {
	for _, order := range []string{"present first", "absent first"} {
		t.Run(order, func(t *testing.T) {
			root := t.TempDir()
			writeFile(t, root+"/opt/app/1.1", "", 0o644)
			writeFile(t, root+"/opt/app/1.0", "", 0o644)
			cur := scriptPkg("package/app", "app", "/opt/app/1.1", "exit 1", "exit 1")
			cur.Package.Version = "1.1"
			old := scriptPkg("package/app@1.0", "app", "/opt/app/1.0", "exit 1", "exit 1")
			old.Ensure = Absent
			rs := []desired.Resource{cur, old}
			if order == "absent first" {
				rs = []desired.Resource{old, cur}
			}
			res := newEngine(t, root).Run(context.Background(), state(ModeDetect, rs...))
			if !mapsEqual(res.Products, map[string]string{"app": "1.1"}) {
				t.Errorf("products %v, want app 1.1", res.Products)
			}
		})
	}
}
