package converge

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"samverk.io/samverk/engine/desired"
)

// recorder runs nothing: it records each command an installer would run and answers with the
// exit code the test chose. It stands for Windows where the tests do not run on Windows.
type recorder struct {
	ran  []string
	code int
}

var _ runner = (*recorder)(nil)

func (r *recorder) program(_ context.Context, _ time.Duration, name string, args []string, _ ...string) (exitResult, error) {
	r.ran = append(r.ran, name+" "+strings.Join(args, " "))
	return exitResult{code: r.code}, nil
}

func (r *recorder) commandLine(_ context.Context, _ time.Duration, exe, line string, _ ...string) (exitResult, error) {
	r.ran = append(r.ran, "["+exe+"] "+line)
	return exitResult{code: r.code}, nil
}

// answers is a machine whose answers the test sets.
type answers struct {
	msi      map[string]bool
	entries  []uninstallEntry
	versions map[string]string   // file path -> version
	msix     map[string][]string // family -> versions
}

var _ machine = (*answers)(nil)

func (m *answers) msiInstalled(code string) (bool, error) { return m.msi[code], nil }

func (m *answers) uninstallEntries(pattern string) ([]uninstallEntry, error) {
	var out []uninstallEntry
	for _, e := range m.entries {
		if matchName(pattern, e.DisplayName) {
			out = append(out, e)
		}
	}
	return out, nil
}

func (m *answers) fileVersion(path string) (string, error) {
	if v, ok := m.versions[path]; ok {
		return v, nil
	}
	return "", errors.New("no version resource")
}

func (m *answers) msixVersions(_ context.Context, family string) ([]string, error) {
	return m.msix[family], nil
}

func pkgRes(version string, inst desired.Installer) *desired.Resource {
	return &desired.Resource{ID: "package/app", Type: desired.TypePackage, Ensure: Present,
		Package: &desired.Package{Product: "app", Version: version, Name: "app-" + version, Installer: inst}}
}

const msiexec = `C:\Windows\System32\msiexec.exe`

func windowsInstallers(m machine, rec *recorder) *installers {
	return &installers{m: m, run: rec, msiexec: msiexec, powershell: "powershell.exe"}
}

// TestWindowsInstallCommands checks the command line each Windows installer type runs: the
// silent switches of each exe family, arguments that replace them, msiexec and MSIX
// provisioning.
func TestWindowsInstallCommands(t *testing.T) {
	const file = `C:\cache\abc\setup.exe`
	tests := []struct {
		name    string
		inst    desired.Installer
		file    string
		want    string
		wantErr string
	}{
		{name: "msi", inst: desired.Installer{Type: "msi", Arguments: []string{"ALLUSERS=1"}}, file: `C:\cache\7z.msi`,
			want: `[` + msiexec + `] ` + msiexec + ` /i "C:\cache\7z.msi" /qn /norestart /l*v "C:\cache\7z.msi.install.log" ALLUSERS=1`},
		{name: "inno", inst: desired.Installer{Type: "exe", Family: "inno"}, file: file,
			want: `[` + file + `] ` + file + ` /VERYSILENT /SUPPRESSMSGBOXES /NORESTART /SP-`},
		{name: "nullsoft", inst: desired.Installer{Type: "exe", Family: "nullsoft"}, file: file,
			want: `[` + file + `] ` + file + ` /S`},
		{name: "wix burn", inst: desired.Installer{Type: "exe", Family: "wix-burn"}, file: file,
			want: `[` + file + `] ` + file + ` /quiet /norestart`},
		{name: "install shield", inst: desired.Installer{Type: "exe", Family: "install-shield"}, file: file,
			want: `[` + file + `] ` + file + ` /s /v"/qn /norestart"`},
		{name: "arguments replace the family's switches", inst: desired.Installer{Type: "exe", Family: "nullsoft", Arguments: []string{"/S", "/D=C:\\Apps\\App"}}, file: file,
			want: `[` + file + `] ` + file + ` /S /D=C:\Apps\App`},
		{name: "a path with a space is quoted", inst: desired.Installer{Type: "exe", Family: "inno"}, file: `C:\Program Data\setup.exe`,
			want: `[C:\Program Data\setup.exe] "C:\Program Data\setup.exe" /VERYSILENT /SUPPRESSMSGBOXES /NORESTART /SP-`},
		{name: "other needs arguments", inst: desired.Installer{Type: "exe", Family: "other"}, file: file,
			wantErr: `exe installer of family "other": give arguments`},
		{name: "other with arguments", inst: desired.Installer{Type: "exe", Family: "other", Arguments: []string{"--silent"}}, file: file,
			want: `[` + file + `] ` + file + ` --silent`},
		{name: "msix is provisioned for all users", inst: desired.Installer{Type: "msix"}, file: `C:\cache\MSTeams-x64.msix`,
			want: `powershell.exe -NoLogo -NoProfile -NonInteractive -ExecutionPolicy Bypass -Command Add-AppxProvisionedPackage -Online -PackagePath 'C:\cache\MSTeams-x64.msix' -SkipLicense | Out-Null`},
		{name: "exe without download", inst: desired.Installer{Type: "exe", Family: "inno"}, wantErr: "exe installer has no url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			err := windowsInstallers(&answers{}, rec).install(context.Background(), pkgRes("1.0", tt.inst), tt.file, nil)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, want an error containing %q", err, tt.wantErr)
				}
				if len(rec.ran) > 0 {
					t.Errorf("ran %v after all", rec.ran)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(rec.ran, []string{tt.want}) {
				t.Errorf("ran:\n  %s\nwant:\n  %s", strings.Join(rec.ran, "\n  "), tt.want)
			}
		})
	}
}

func TestWindowsExitCodes(t *testing.T) {
	for _, tt := range []struct {
		typ  string
		code int
		ok   bool
	}{
		{"exe", 0, true}, {"exe", 3010, true}, {"exe", 1641, true}, {"exe", 1, false},
		{"msi", 3010, true}, {"msi", 1603, false}, {"msix", 3010, false},
	} {
		rec := &recorder{code: tt.code}
		inst := desired.Installer{Type: tt.typ, Family: "inno"}
		err := windowsInstallers(&answers{}, rec).install(context.Background(), pkgRes("1.0", inst), `C:\x`, nil)
		if (err == nil) != tt.ok {
			t.Errorf("%s exiting %d: got %v, want success %v", tt.typ, tt.code, err, tt.ok)
		}
	}
}

// TestWindowsUninstallCommands checks how each type is removed: by product code, by the
// Uninstall entry's quiet string, by its UninstallString with the family's switches, or by
// the MSIX package name.
func TestWindowsUninstallCommands(t *testing.T) {
	const burn = `"C:\ProgramData\Package Cache\{6ab3}\PowerToysSetup.exe"`
	entries := []uninstallEntry{
		{DisplayName: "Notepad++ (64-bit x64)", DisplayVersion: "8.8.7", UninstallString: `"C:\Program Files\Notepad++\uninstall.exe"`},
		{DisplayName: "Git", DisplayVersion: "2.51.0", UninstallString: `"C:\Program Files\Git\unins000.exe"`,
			QuietUninstallString: `"C:\Program Files\Git\unins000.exe" /SILENT`},
		{DisplayName: "PowerToys (Preview) x64", DisplayVersion: "0.95.1", UninstallString: burn + "  /uninstall"},
		{DisplayName: "PDF Tool", DisplayVersion: "7.1", UninstallString: `MsiExec.exe /X{11111111-2222-3333-4444-555555555555}`},
		{DisplayName: "Old Tool", DisplayVersion: "1.0", UninstallString: `C:\old\uninst.exe`},
	}
	tests := []struct {
		name    string
		inst    desired.Installer
		want    string
		wantErr string
	}{
		{name: "msi by product code", inst: desired.Installer{Type: "msi", ProductCode: "{23170F69-40C1-2702-2409-000001000000}"},
			want: `[` + msiexec + `] ` + msiexec + ` /x "{23170F69-40C1-2702-2409-000001000000}" /qn /norestart`},
		{name: "nullsoft by its UninstallString", inst: desired.Installer{Type: "exe", Family: "nullsoft", UninstallDisplayName: "Notepad++*"},
			want: `[C:\Program Files\Notepad++\uninstall.exe] "C:\Program Files\Notepad++\uninstall.exe" /S`},
		{name: "the quiet string as the vendor wrote it", inst: desired.Installer{Type: "exe", Family: "inno", UninstallDisplayName: "git"},
			want: `[C:\Program Files\Git\unins000.exe] "C:\Program Files\Git\unins000.exe" /SILENT`},
		{name: "wix burn", inst: desired.Installer{Type: "exe", Family: "wix-burn", UninstallDisplayName: "PowerToys*"},
			want: `[C:\ProgramData\Package Cache\{6ab3}\PowerToysSetup.exe] ` + burn + `  /uninstall /quiet /norestart`},
		{name: "an msi behind install shield", inst: desired.Installer{Type: "exe", Family: "install-shield", UninstallDisplayName: "PDF Tool"},
			want: `[` + msiexec + `] ` + msiexec + ` /x "{11111111-2222-3333-4444-555555555555}" /qn /norestart`},
		{name: "exe wrapping an msi, by product code", inst: desired.Installer{Type: "exe", Family: "wix-burn", ProductCode: "{11111111-2222-3333-4444-555555555555}"},
			want: `[` + msiexec + `] ` + msiexec + ` /x "{11111111-2222-3333-4444-555555555555}" /qn /norestart`},
		{name: "other has no known switches", inst: desired.Installer{Type: "exe", Family: "other", UninstallDisplayName: "Old Tool"},
			wantErr: `its uninstaller takes no known silent switches; give uninstall`},
		{name: "already gone", inst: desired.Installer{Type: "exe", Family: "inno", UninstallDisplayName: "Gone"}},
		{name: "exe with nothing to go by", inst: desired.Installer{Type: "exe", Family: "inno"},
			wantErr: "give uninstall, detect.productCode or detect.uninstallEntry"},
		{name: "msix", inst: desired.Installer{Type: "msix", PackageFamilyName: "MSTeams_8wekyb3d8bbwe"},
			want: `powershell.exe -NoLogo -NoProfile -NonInteractive -ExecutionPolicy Bypass -Command Get-AppxProvisionedPackage -Online | Where-Object { $_.DisplayName -eq 'MSTeams' } | Remove-AppxProvisionedPackage -Online -AllUsers | Out-Null; Get-AppxPackage -AllUsers -Name 'MSTeams' | Remove-AppxPackage -AllUsers`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			err := windowsInstallers(&answers{entries: entries}, rec).uninstall(context.Background(), pkgRes("1.0", tt.inst), nil)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			if tt.want != "" {
				want = []string{tt.want}
			}
			if !slices.Equal(rec.ran, want) {
				t.Errorf("ran:\n  %s\nwant:\n  %s", strings.Join(rec.ran, "\n  "), tt.want)
			}
		})
	}
}

// TestWindowsDetection checks each detection rule against what the machine answers.
func TestWindowsDetection(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the file paths are written the Unix way")
	}
	m := &answers{
		msi:      map[string]bool{"{23170F69-40C1-2702-2409-000001000000}": true},
		entries:  []uninstallEntry{{DisplayName: "Mozilla Firefox (x64 sv-SE)", DisplayVersion: "140.5.0"}},
		versions: map[string]string{`/Program Files/VideoLAN/VLC/vlc.exe`: "3.0.21.0"},
		msix:     map[string][]string{"MSTeams_8wekyb3d8bbwe": {"25153.1010.3727.5483"}},
	}
	tests := []struct {
		name    string
		version string
		inst    desired.Installer
		want    bool
		wantErr string
	}{
		{"msi installed", "24.09", desired.Installer{Type: "msi", ProductCode: "{23170F69-40C1-2702-2409-000001000000}"}, true, ""},
		{"msi not installed", "25.01", desired.Installer{Type: "msi", ProductCode: "{23170F69-40C1-2702-2501-000001000000}"}, false, ""},
		{"msi without product code", "25.01", desired.Installer{Type: "msi"}, false, "no productCode"},
		{"uninstall entry", "140.5.0", desired.Installer{Type: "exe", Family: "nullsoft", UninstallDisplayName: "Mozilla Firefox*", UninstallVersion: "140.5.0"}, true, ""},
		{"uninstall entry too old", "140.6.0", desired.Installer{Type: "exe", Family: "nullsoft", UninstallDisplayName: "Mozilla Firefox*", UninstallVersion: "140.6.0"}, false, ""},
		{"uninstall entry of any version", "1", desired.Installer{Type: "exe", Family: "nullsoft", UninstallDisplayName: "mozilla firefox (x64 sv-se)"}, true, ""},
		{"file version", "3.0.21", desired.Installer{Type: "exe", Family: "nullsoft", FileVersionPath: `/Program Files/VideoLAN/VLC/vlc.exe`, FileVersion: "3.0.21"}, true, ""},
		{"file version too old", "3.0.22", desired.Installer{Type: "exe", Family: "nullsoft", FileVersionPath: `/Program Files/VideoLAN/VLC/vlc.exe`, FileVersion: "3.0.22"}, false, ""},
		{"no such file", "1", desired.Installer{Type: "exe", Family: "nullsoft", FileVersionPath: `/nowhere.exe`, FileVersion: "1"}, false, ""},
		{"msix at least the version", "25153.1010.3727.5483", desired.Installer{Type: "msix", PackageFamilyName: "MSTeams_8wekyb3d8bbwe"}, true, ""},
		{"msix older than wanted", "25275.2601.4002.2815", desired.Installer{Type: "msix", PackageFamilyName: "MSTeams_8wekyb3d8bbwe"}, false, ""},
		{"every rule must hold", "24.09", desired.Installer{Type: "exe", Family: "wix-burn", ProductCode: "{23170F69-40C1-2702-2409-000001000000}", UninstallDisplayName: "Nothing"}, false, ""},
		{"exe without a rule", "1", desired.Installer{Type: "exe", Family: "inno"}, false, "exe installer has no detection rule"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := windowsInstallers(m, &recorder{})
			r := pkgRes(tt.version, tt.inst)
			var got bool
			var err error
			if hasRules(&r.Package.Installer) {
				got, err = o.rules(context.Background(), r)
			} else {
				got, err = o.detect(context.Background(), r)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestRPMCommands(t *testing.T) {
	rec := &recorder{}
	o := &installers{m: noMachine{"test"}, run: rec}
	r := pkgRes("1.7.1", desired.Installer{Type: "rpm", RPMPackage: "jq"})
	ctx := context.Background()
	if err := o.install(ctx, r, "/cache/jq.rpm", nil); err != nil {
		t.Fatal(err)
	}
	if err := o.uninstall(ctx, r, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := o.detect(ctx, r); err != nil {
		t.Fatal(err)
	}
	want := []string{"dnf install --assumeyes /cache/jq.rpm", "dnf remove --assumeyes -- jq", "rpm --query -- jq"}
	if !slices.Equal(rec.ran, want) {
		t.Errorf("ran %q, want %q", rec.ran, want)
	}
	rooted := &installers{m: noMachine{"test"}, run: &recorder{}, root: "/tmp/r"}
	if err := rooted.install(ctx, r, "", nil); err == nil || !strings.Contains(err.Error(), "only a downloaded .rpm") {
		t.Errorf("rooted install from the repository: got %v", err)
	}
}

// zipOf builds a zip archive of name -> content.
func zipOf(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		w, err := zw.Create(n)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(files[n])); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// serve serves each body at its path on loopback.
func serve(t *testing.T, bodies map[string][]byte) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, ok := bodies[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(b)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestPlacedPackages installs, upgrades and removes a zip and a portable package through the
// agent's engine: a real download, real files under a root, detection by what was placed.
func TestPlacedPackages(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the install folders are written the Unix way")
	}
	v1 := zipOf(t, map[string]string{"jq-1/bin/jq.exe": "jq 1", "jq-1/README": "read me", "jq-1/doc/jq.1": "man"})
	v2 := zipOf(t, map[string]string{"jq-1/bin/jq.exe": "jq 2", "jq-1/README": "read me 2"})
	tool := []byte("portable tool")
	srv := serve(t, map[string][]byte{"/jq-1.zip": v1, "/jq-2.zip": v2, "/dl/tool-x64.exe": tool})
	root := t.TempDir()
	e := newEngine(t, root)
	zipPkg := func(version, file string, body []byte, extract ...string) desired.Resource {
		r := pkgRes(version, desired.Installer{Type: "zip", URL: srv.URL + file, SHA256: sum(string(body)),
			InstallDir: "/opt/jq", Extract: extract})
		return *r
	}
	dir := filepath.Join(root, "opt", "jq")

	expect(t, runOne(t, e, ModeEnforce, zipPkg("1.0", "/jq-1.zip", v1, "jq-1/bin", "jq-1/README")), desired.Corrected, "app 1.0 is not installed")
	if b, err := os.ReadFile(filepath.Join(dir, "jq-1", "bin", "jq.exe")); err != nil || string(b) != "jq 1" {
		t.Fatalf("jq.exe: %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "jq-1", "doc")); err == nil {
		t.Error("extracted doc/, which extract leaves out")
	}
	expect(t, runOne(t, e, ModeEnforce, zipPkg("1.0", "/jq-1.zip", v1, "jq-1/bin", "jq-1/README")), desired.Unchanged, "")

	// A file of the user's own in installDir stays through an upgrade and a removal.
	writeFile(t, filepath.Join(dir, "mine.txt"), "keep", 0o644)
	expect(t, runOne(t, e, ModeEnforce, zipPkg("2.0", "/jq-2.zip", v2)), desired.Corrected, "app 2.0 is not installed")
	if b, _ := os.ReadFile(filepath.Join(dir, "jq-1", "bin", "jq.exe")); string(b) != "jq 2" {
		t.Errorf("after upgrade jq.exe is %q", b)
	}
	// A placed file removed by hand is drift.
	if err := os.Remove(filepath.Join(dir, "jq-1", "README")); err != nil {
		t.Fatal(err)
	}
	expect(t, runOne(t, e, ModeEnforce, zipPkg("2.0", "/jq-2.zip", v2)), desired.Corrected, "not installed")

	gone := zipPkg("2.0", "/jq-2.zip", v2)
	gone.Ensure = Absent
	expect(t, runOne(t, e, ModeEnforce, gone), desired.Corrected, "app is installed, want absent")
	if _, err := os.Stat(filepath.Join(dir, "jq-1")); err == nil {
		t.Error("jq-1/ is still there")
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "mine.txt")); string(b) != "keep" {
		t.Error("the user's own file went too")
	}

	port := *pkgRes("3.1", desired.Installer{Type: "portable", URL: srv.URL + "/dl/tool-x64.exe", SHA256: sum(string(tool)),
		InstallDir: "/opt/tool", FileName: "tool.exe"})
	expect(t, runOne(t, e, ModeEnforce, port), desired.Corrected, "not installed")
	if b, err := os.ReadFile(filepath.Join(root, "opt", "tool", "tool.exe")); err != nil || string(b) != "portable tool" {
		t.Fatalf("tool.exe: %q, %v", b, err)
	}
	expect(t, runOne(t, e, ModeEnforce, port), desired.Unchanged, "")
	port.Ensure = Absent
	expect(t, runOne(t, e, ModeEnforce, port), desired.Corrected, "installed, want absent")
	if _, err := os.Stat(filepath.Join(root, "opt", "tool")); err == nil {
		t.Error("the emptied install folder is still there")
	}
}

// TestZipRefusesEscapes checks that an archive entry cannot land outside installDir.
func TestZipRefusesEscapes(t *testing.T) {
	for _, name := range []string{"../evil.exe", "a/../../evil.exe", "/etc/evil", `C:\evil.exe`, `..\evil.exe`} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			file := filepath.Join(dir, "a.zip")
			if err := os.WriteFile(file, zipOf(t, map[string]string{"ok.txt": "ok", name: "evil"}), 0o644); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(dir, "out")
			if _, err := extractZip(file, out, nil); err == nil || !strings.Contains(err.Error(), "outside the install folder") {
				t.Fatalf("got %v, want a refusal", err)
			}
			if _, err := os.Stat(filepath.Join(out, "ok.txt")); err == nil {
				t.Error("extracted part of a refused archive")
			}
		})
	}
}

func TestSilentSwitches(t *testing.T) {
	for _, f := range []string{"inno", "nullsoft", "wix-burn", "install-shield"} {
		if s, ok := SilentSwitches(f); !ok || s == "" {
			t.Errorf("family %s has no silent switches", f)
		}
	}
	if _, ok := SilentSwitches("other"); ok {
		t.Error("family other has switches")
	}
}
