package winget

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	bundled "samverk.io/samverk/catalog"
	"samverk.io/samverk/engine/finding"
	"samverk.io/samverk/engine/pkgversion"
	"samverk.io/samverk/engine/policy"
	"samverk.io/samverk/engine/validate"
	"samverk.io/samverk/policies"
)

// versionDirs lists the folders of testdata that hold the manifests of one package version.
func versionDirs(t *testing.T) []string {
	t.Helper()
	var dirs []string
	err := fs.WalkDir(os.DirFS("testdata"), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".installer.yaml") {
			dirs = append(dirs, path.Dir(p))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(dirs)
	if len(dirs) < 10 {
		t.Fatalf("testdata has the manifests of %d package versions; want at least 10", len(dirs))
	}
	return dirs
}

func importDir(t *testing.T, dir string) *Result {
	t.Helper()
	m, err := Load(os.DirFS("testdata"), dir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Import(m, Options{Owner: "kommun-vasterby", OSReleases: []string{"windows-11-24h2"}})
	if err != nil {
		t.Fatalf("%s: %v", dir, err)
	}
	return r
}

// TestImportGolden compares each imported document with its golden file
// (testdata/golden/<dir>.yaml; SAMVERK_UPDATE=1 writes them), what could not be mapped included.
func TestImportGolden(t *testing.T) {
	for _, dir := range versionDirs(t) {
		t.Run(dir, func(t *testing.T) {
			r := importDir(t, dir)
			var got bytes.Buffer
			got.Write(r.YAML)
			for _, u := range r.Unmapped {
				got.WriteString("# not mapped: " + u + "\n")
			}
			golden := filepath.Join("testdata", "golden", strings.ReplaceAll(dir, "/", "_")+".yaml")
			if os.Getenv("SAMVERK_UPDATE") == "1" {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("import of %s differs from %s:\n%s", dir, golden, got.String())
			}
		})
	}
}

// catalogWith is the reference catalog with the imported documents in packages/winget/. The
// reference catalog's own Git and PuTTY were imported from these same manifests: they are left
// out, so that the import is checked, not its earlier copy.
func catalogWith(t *testing.T, rs []*Result) fstest.MapFS {
	t.Helper()
	out := fstest.MapFS{}
	err := fs.WalkDir(bundled.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || p == "packages/git.yaml" || p == "packages/putty.yaml" {
			return err
		}
		b, err := fs.ReadFile(bundled.FS, p)
		out[p] = &fstest.MapFile{Data: b}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		out["packages/winget/"+r.Name+".yaml"] = &fstest.MapFile{Data: r.YAML}
	}
	return out
}

func run(t *testing.T, fsys fs.FS) []finding.Finding {
	t.Helper()
	pol, err := policy.Load(policies.FS, policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := validate.FS(context.Background(), fsys, validate.Options{Policies: pol})
	if err != nil {
		t.Fatal(err)
	}
	return res.Report.Findings
}

// TestImportedValidate imports the manifests of every product in testdata into the reference
// catalog and validates it as `samverk validate` does, policies included: the imported
// documents are clean. The two PuTTY folders, 0.81 and 0.81.0.0, are the same release as the
// winget repository holds it twice; imported together they are refused, as they should be. So
// is Notepad++ 8.6.9, which the reference catalog has already.
func TestImportedValidate(t *testing.T) {
	var clean []*Result
	var putty []*Result
	var again *Result
	for _, dir := range versionDirs(t) {
		r := importDir(t, dir)
		if dir == "Notepad++.Notepad++/8.6.9" {
			again = r
			continue
		}
		if strings.HasPrefix(dir, "PuTTY.PuTTY/") {
			putty = append(putty, r)
			if dir != "PuTTY.PuTTY/0.81.0.0" {
				continue
			}
		}
		clean = append(clean, r)
	}
	for _, f := range run(t, catalogWith(t, clean)) {
		if strings.HasPrefix(f.File, "packages/winget/") || f.Failing(finding.Deny) {
			t.Errorf("finding: %s", f)
		}
	}

	var same []string
	for _, f := range run(t, catalogWith(t, putty)) {
		if f.Rule == finding.RuleRefSameVersion {
			same = append(same, f.String())
		}
	}
	if len(same) != 1 || !strings.Contains(same[0], `version "0.81" of product "putty" is the same release as "0.81.0.0" of Package/putty-0-81-0-0 at packages/winget/putty-0-81-0-0.yaml:14:3`) {
		t.Errorf("PuTTY 0.81 and 0.81.0.0: got %q, want one ref/same-version finding", same)
	}

	var dup []string
	for _, f := range run(t, catalogWith(t, []*Result{again})) {
		if f.Failing(finding.Deny) {
			dup = append(dup, f.String())
		}
	}
	if len(dup) != 1 || !strings.Contains(dup[0], "load/duplicate-name: metadata.name: Package/notepad-plus-plus-8-6-9 is already defined at packages/notepad-plus-plus.yaml") {
		t.Errorf("Notepad++ 8.6.9 again: got %q, want one load/duplicate-name finding", dup)
	}
}

// TestImportedVersionOrder checks that the versions of the real manifests order as releases
// do, whatever their number of parts: 0.81 and 0.81.0.0 are one release, 0.100.0 comes after
// both.
func TestImportedVersionOrder(t *testing.T) {
	var vs []string
	for _, dir := range versionDirs(t) {
		vs = append(vs, importDir(t, dir).Version)
	}
	slices.SortStableFunc(vs, pkgversion.CompareTotal)
	want := []string{"0.81", "0.81.0.0", "0.100.0", "1.7.1", "1.12.10733.0", "2.37.1", "3.0.21", "8.6.9", "14.1.1", "24.09", "128.5.0"}
	for _, w := range want {
		if !slices.Contains(vs, w) {
			t.Fatalf("no imported version %s among %v", w, vs)
		}
	}
	got := slices.DeleteFunc(slices.Clone(vs), func(v string) bool { return !slices.Contains(want, v) })
	if !slices.Equal(got, want) {
		t.Errorf("versions in order: %v, want %v", got, want)
	}
	if pkgversion.Compare("0.81", "0.81.0.0") != 0 {
		t.Error("0.81 and 0.81.0.0 do not compare equal")
	}
}

// TestImportChoices checks the options: architecture, installer type, locale, and the errors
// for what a manifest does not have.
func TestImportChoices(t *testing.T) {
	m, err := Load(os.DirFS("testdata"), "7zip.7zip/24.09")
	if err != nil {
		t.Fatal(err)
	}
	opt := Options{OSReleases: []string{"windows-11-24h2"}}
	r, err := Import(m, opt)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(r.YAML, []byte("type: msi")) || !bytes.Contains(r.YAML, []byte(`"{23170F69-40C1-2702-2409-000001000000}"`)) {
		t.Errorf("x64 default is not the x64 msi:\n%s", r.YAML)
	}
	if !slices.ContainsFunc(r.Unmapped, func(u string) bool { return strings.Contains(u, "other installers for x64 not used: exe") }) {
		t.Errorf("the exe alternative is not named: %q", r.Unmapped)
	}
	opt.InstallerType, opt.Architecture = "exe", "arm64"
	r, err = Import(m, opt)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"type: exe", "installerFamily: other", `arguments: ["/S"]`, "7z2409-arm64.exe", `displayName: "7-Zip*"`} {
		if !bytes.Contains(r.YAML, []byte(want)) {
			t.Errorf("arm64 exe: no %q in\n%s", want, r.YAML)
		}
	}
	for _, tt := range []struct {
		opt  Options
		want string
	}{
		{Options{}, "no OS release: name at least one the package is to be tested on"},
		{Options{OSReleases: []string{"w"}, Architecture: "riscv64"}, "no installer for architecture riscv64; the manifest has x86, x64, arm, arm64"},
		{Options{OSReleases: []string{"w"}, InstallerType: "msix"}, "no msix installer for x64"},
		{Options{OSReleases: []string{"w"}, Locale: "sv-SE"}, "no manifest for locale sv-SE; the manifests have en-US"},
	} {
		if _, err := Import(m, tt.opt); err == nil || err.Error() != tt.want {
			t.Errorf("%+v: got %v, want %q", tt.opt, err, tt.want)
		}
	}
	if _, err := Load(os.DirFS("testdata"), "7zip.7zip"); err == nil {
		t.Error("a folder without manifests loaded")
	}
}

func TestSlug(t *testing.T) {
	for in, want := range map[string]string{"Notepad++": "notepad-plus-plus", "7-Zip": "7-zip", "Windows Terminal": "windows-terminal",
		"RipGrep MSVC": "ripgrep-msvc", "putty-0.81.0.0": "putty-0-81-0-0", "  Git  ": "git"} {
		if got := slug(in); got != want {
			t.Errorf("slug(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzLoadImport(f *testing.F) {
	for _, seed := range []string{"PackageIdentifier: a.b\nPackageVersion: 1\nManifestType: installer\nInstallers:\n- {Architecture: x64, InstallerType: msi, InstallerUrl: u, InstallerSha256: s}\n",
		"ManifestType: singleton\nPackageIdentifier: a.b\nPackageVersion: 1\nPackageLocale: en-US\nPackageName: A\nInstallers: [{Architecture: x64, InstallerType: portable, InstallerUrl: u, InstallerSha256: s}]\n"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		fsys := fstest.MapFS{"m/x.installer.yaml": &fstest.MapFile{Data: src}}
		m, err := Load(fsys, "m")
		if err != nil {
			return
		}
		_, _ = Import(m, Options{OSReleases: []string{"windows-11-24h2"}})
	})
}
