package converge

import (
	"context"
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"strings"
	"time"

	"samverk.io/samverk/engine/desired"
	"samverk.io/samverk/engine/pkgversion"
)

// Installer types besides script, msi, winget and deb (package.go).
const (
	installerMSIX     = "msix"
	installerExe      = "exe"
	installerPortable = "portable"
	installerZip      = "zip"
	installerRPM      = "rpm"
)

// machine is what the installers ask of the operating system besides running programs: the
// Windows Installer database, the Uninstall registry entries, file version resources and the
// MSIX packages. The agent's own is in installer_windows.go; elsewhere every method fails
// (those installer types are skipped there first), and tests give their own.
type machine interface {
	// msiInstalled reports whether the product with this ProductCode is installed.
	msiInstalled(productCode string) (bool, error)
	// uninstallEntries lists the entries under the Uninstall keys of HKLM (both registry
	// views) whose DisplayName matches the pattern (path.Match, case-insensitive).
	uninstallEntries(displayName string) ([]uninstallEntry, error)
	// fileVersion reads the file version of the version resource of the file at path.
	fileVersion(path string) (string, error)
	// msixVersions lists the versions of the MSIX packages of a family provisioned for all
	// users or installed for any.
	msixVersions(ctx context.Context, familyName string) ([]string, error)
}

// uninstallEntry is one program in the Uninstall registry keys.
type uninstallEntry struct {
	DisplayName, DisplayVersion, UninstallString, QuietUninstallString string
}

// runner runs the programs installers start. *shell is the real one.
type runner interface {
	program(ctx context.Context, timeout time.Duration, name string, args []string, env ...string) (exitResult, error)
	// commandLine runs exe with a command line handed over as written: msiexec and setup
	// programs parse their own, and /v"/qn" must reach them unquoted by anyone else.
	commandLine(ctx context.Context, timeout time.Duration, exe, line string, env ...string) (exitResult, error)
}

var _ runner = (*shell)(nil)

// switches are the silent switches of a family of setup programs: those its installer takes
// and those its uninstaller (the Uninstall entry's UninstallString) takes.
type switches struct{ install, uninstall string }

// silentSwitches by exe installer family. "other" has none: its package gives arguments.
var silentSwitches = map[string]switches{
	"inno":           {"/VERYSILENT /SUPPRESSMSGBOXES /NORESTART /SP-", "/VERYSILENT /SUPPRESSMSGBOXES /NORESTART"},
	"nullsoft":       {"/S", "/S"},
	"wix-burn":       {"/quiet /norestart", "/quiet /norestart"},
	"install-shield": {`/s /v"/qn /norestart"`, ""},
}

// SilentSwitches returns the switches the agent gives an exe installer of family when its
// package names no arguments, and whether the family has any.
func SilentSwitches(family string) (string, bool) {
	s, ok := silentSwitches[family]
	return s.install, ok
}

// installers installs, detects and removes the packages of the types that are files and
// programs rather than a package manager's business: msi, msix, exe, portable, zip and rpm.
// All that touches the system goes through m and run, so each is tested on any platform.
type installers struct {
	m    machine
	run  runner
	root string
	// msiexec and powershell are the programs run for msi and msix packages.
	msiexec, powershell string
}

// hasRules reports whether inst names detection rules of its own.
func hasRules(inst *desired.Installer) bool {
	return inst.DetectFile != "" || inst.DetectCommand != "" || inst.UninstallDisplayName != "" ||
		inst.FileVersionPath != "" || inst.PackageFamilyName != "" ||
		inst.ProductCode != "" && inst.Type != installerMSI
}

// rules checks the machine-level detection rules inst names (product code, uninstall entry,
// file version, package family): every one given must hold.
func (o *installers) rules(ctx context.Context, r *desired.Resource) (bool, error) {
	inst := &r.Package.Installer
	if inst.ProductCode != "" {
		ok, err := o.m.msiInstalled(inst.ProductCode)
		if err != nil || !ok {
			return false, err
		}
	}
	if inst.UninstallDisplayName != "" {
		e, err := o.entry(inst)
		if err != nil || e == nil {
			return false, err
		}
	}
	if inst.FileVersionPath != "" {
		p, err := managedPath(o.root, inst.FileVersionPath)
		if err != nil {
			return false, err
		}
		v, err := o.m.fileVersion(p)
		if err != nil {
			return false, nil // no such file, or no version resource: not installed
		}
		if inst.FileVersion != "" && pkgversion.Compare(v, inst.FileVersion) < 0 {
			return false, nil
		}
	}
	if inst.PackageFamilyName != "" {
		vs, err := o.m.msixVersions(ctx, inst.PackageFamilyName)
		if err != nil {
			return false, err
		}
		found := false
		for _, v := range vs {
			if inst.Type != installerMSIX || pkgversion.Compare(v, r.Package.Version) >= 0 {
				found = true
			}
		}
		if !found {
			return false, nil
		}
	}
	return true, nil
}

// entry finds the Uninstall entry inst detects by: the first whose DisplayVersion is at least
// the one asked for, or nil.
func (o *installers) entry(inst *desired.Installer) (*uninstallEntry, error) {
	es, err := o.m.uninstallEntries(inst.UninstallDisplayName)
	if err != nil {
		return nil, err
	}
	for _, e := range es {
		if inst.UninstallVersion == "" || pkgversion.Compare(e.DisplayVersion, inst.UninstallVersion) >= 0 {
			return &e, nil
		}
	}
	return nil, nil
}

// detect is the detection of a type when the package names no rules of its own.
func (o *installers) detect(ctx context.Context, r *desired.Resource) (bool, error) {
	inst := &r.Package.Installer
	switch inst.Type {
	case installerMSI:
		if inst.ProductCode == "" {
			return false, errors.New("msi installer has no productCode to detect it by")
		}
		return o.m.msiInstalled(inst.ProductCode)
	case installerMSIX:
		return false, errors.New("msix installer has no packageFamilyName to detect it by")
	case installerExe:
		return false, errors.New("exe installer has no detection rule: give detect.uninstallEntry, productCode, fileVersion, file or command")
	case installerPortable, installerZip:
		return o.placedDetect(r)
	case installerRPM:
		res, err := o.run.program(ctx, DefaultCommandTimeout, "rpm", o.rpmArgs("--query", "--", rpmPackage(r)))
		if err != nil {
			return false, err
		}
		return res.code == 0, nil // rpm -q exits 1 for a package that is not installed
	}
	return false, fmt.Errorf("installer type %q has no detection here", inst.Type)
}

func (o *installers) install(ctx context.Context, r *desired.Resource, file string, env []string) error {
	inst := &r.Package.Installer
	t := timeout(inst.TimeoutSeconds, DefaultInstallerTimeout)
	switch inst.Type {
	case installerMSI:
		if file == "" {
			return errors.New("msi installer has no url to install from")
		}
		// msiexec parses its own command line; PROPERTY="a b" arguments must reach it as
		// written.
		line := fmt.Sprintf(`%s /i "%s" /qn /norestart /l*v "%s"`, quoteExe(o.msiexec), file, file+".install.log")
		if len(inst.Arguments) > 0 {
			line += " " + strings.Join(inst.Arguments, " ")
		}
		return o.exit("msiexec", inst.Type, false)(o.run.commandLine(ctx, t, o.msiexec, line, env...))
	case installerMSIX:
		if file == "" {
			return errors.New("msix installer has no url to install from")
		}
		// Provisioned, it is installed for every user who signs in, now or later.
		script := "Add-AppxProvisionedPackage -Online -PackagePath " + psQuote(file) + " -SkipLicense | Out-Null"
		return o.exit("Add-AppxProvisionedPackage", inst.Type, false)(o.run.program(ctx, t, o.powershell, psArgs(script), env...))
	case installerExe:
		if file == "" {
			return errors.New("exe installer has no url to install from")
		}
		args := strings.Join(inst.Arguments, " ")
		if len(inst.Arguments) == 0 {
			sw, ok := silentSwitches[inst.Family]
			if !ok {
				return fmt.Errorf("exe installer of family %q: give arguments, the switches that make it install silently", inst.Family)
			}
			args = sw.install
		}
		line := strings.TrimSpace(quoteExe(file) + " " + args)
		return o.exit(filepath.Base(file), inst.Type, false)(o.run.commandLine(ctx, t, file, line, env...))
	case installerPortable, installerZip:
		return o.place(r, file)
	case installerRPM:
		name, args := "dnf", []string{"install", "--assumeyes"}
		args = append(args, inst.Arguments...)
		if file != "" {
			args = append(args, file)
		} else {
			args = append(args, "--", rpmPackage(r))
		}
		if o.root != "" {
			if file == "" {
				return errors.New("rpm installer: under --root only a downloaded .rpm (url and sha256) can be installed")
			}
			name, args = "rpm", o.rpmArgs("--upgrade", "--replacepkgs", "--nodeps", file)
		}
		return o.exit(name+" install", inst.Type, false)(o.run.program(ctx, t, name, args, env...))
	}
	return fmt.Errorf("installer type %q cannot install here", inst.Type)
}

func (o *installers) uninstall(ctx context.Context, r *desired.Resource, env []string) error {
	inst := &r.Package.Installer
	t := timeout(inst.TimeoutSeconds, DefaultInstallerTimeout)
	switch inst.Type {
	case installerMSI:
		if inst.ProductCode == "" {
			return errors.New("msi installer has no productCode to uninstall by")
		}
		return o.msiUninstall(ctx, t, inst.ProductCode, env)
	case installerMSIX:
		if inst.PackageFamilyName == "" {
			return errors.New("msix installer has no packageFamilyName to uninstall by")
		}
		name := inst.PackageFamilyName
		if i := strings.LastIndexByte(name, '_'); i > 0 {
			name = name[:i]
		}
		script := "Get-AppxProvisionedPackage -Online | Where-Object { $_.DisplayName -eq " + psQuote(name) +
			" } | Remove-AppxProvisionedPackage -Online -AllUsers | Out-Null; Get-AppxPackage -AllUsers -Name " + psQuote(name) +
			" | Remove-AppxPackage -AllUsers"
		return o.exit("Remove-AppxProvisionedPackage", inst.Type, true)(o.run.program(ctx, t, o.powershell, psArgs(script), env...))
	case installerExe:
		return o.exeUninstall(ctx, t, inst, env)
	case installerPortable, installerZip:
		return o.unplace(r)
	case installerRPM:
		name, args := "dnf", []string{"remove", "--assumeyes", "--", rpmPackage(r)}
		if o.root != "" {
			name, args = "rpm", o.rpmArgs("--erase", "--nodeps", "--", rpmPackage(r))
		}
		return o.exit(name+" remove", inst.Type, false)(o.run.program(ctx, t, name, args, env...))
	}
	return fmt.Errorf("installer type %q cannot uninstall here", inst.Type)
}

// exeUninstall removes what a setup program installed: through Windows Installer when it
// wrapped an MSI (a product code), otherwise through its Uninstall entry, quietly.
func (o *installers) exeUninstall(ctx context.Context, t time.Duration, inst *desired.Installer, env []string) error {
	if inst.ProductCode != "" {
		return o.msiUninstall(ctx, t, inst.ProductCode, env)
	}
	if inst.UninstallDisplayName == "" {
		return errors.New("exe installer: give uninstall, detect.productCode or detect.uninstallEntry to uninstall it by")
	}
	e, err := o.entry(inst)
	if err != nil {
		return err
	}
	if e == nil {
		return nil // nothing left to remove
	}
	line := e.QuietUninstallString
	if line == "" {
		line = e.UninstallString
		if line == "" {
			return fmt.Errorf("uninstall entry %q has no UninstallString", e.DisplayName)
		}
		exe, _ := splitCommandLine(line)
		if strings.EqualFold(filepath.Base(exe), "msiexec.exe") || strings.EqualFold(exe, "msiexec") {
			// An MSI behind the setup program (InstallShield, WiX bundles' own entries):
			// msiexec /X{code} /qn.
			if i := strings.IndexByte(line, '{'); i >= 0 {
				if j := strings.IndexByte(line[i:], '}'); j > 0 {
					return o.msiUninstall(ctx, t, line[i:i+j+1], env)
				}
			}
			return fmt.Errorf("uninstall entry %q: no product code in %q", e.DisplayName, line)
		}
		sw, ok := silentSwitches[inst.Family]
		if !ok || sw.uninstall == "" {
			return fmt.Errorf("exe installer of family %q: its uninstaller takes no known silent switches; give uninstall", inst.Family)
		}
		if inst.Family == "wix-burn" && !strings.Contains(strings.ToLower(line), "/uninstall") {
			line += " /uninstall"
		}
		line += " " + sw.uninstall
	}
	exe, _ := splitCommandLine(line)
	return o.exit(filepath.Base(exe), installerExe, true)(o.run.commandLine(ctx, t, exe, line, env...))
}

func (o *installers) msiUninstall(ctx context.Context, t time.Duration, productCode string, env []string) error {
	line := fmt.Sprintf(`%s /x "%s" /qn /norestart`, quoteExe(o.msiexec), productCode)
	return o.exit("msiexec", installerMSI, true)(o.run.commandLine(ctx, t, o.msiexec, line, env...))
}

// exit turns a program's result into the installer's error: nil for its success codes.
func (o *installers) exit(what, typ string, removing bool) func(exitResult, error) error {
	return func(res exitResult, err error) error {
		if err != nil {
			return err
		}
		if successCode(typ, res.code) || removing && res.code == 1605 && (typ == installerMSI || typ == installerExe) {
			return nil
		}
		return errors.New(res.summary(what))
	}
}

func (o *installers) rpmArgs(args ...string) []string {
	if o.root == "" {
		return args
	}
	return append([]string{"--root=" + o.root}, args...)
}

func rpmPackage(r *desired.Resource) string {
	if n := r.Package.Installer.RPMPackage; n != "" {
		return n
	}
	return r.Package.Product
}

// quoteExe quotes a program path for a Windows command line.
func quoteExe(p string) string {
	if strings.ContainsAny(p, " \t") && !strings.HasPrefix(p, `"`) {
		return `"` + p + `"`
	}
	return p
}

// splitCommandLine splits a Windows command line into the program and the rest: a quoted
// first token, or up to the first space.
func splitCommandLine(line string) (exe, rest string) {
	line = strings.TrimSpace(line)
	if strings.HasPrefix(line, `"`) {
		if i := strings.IndexByte(line[1:], '"'); i >= 0 {
			return line[1 : i+1], strings.TrimSpace(line[i+2:])
		}
		return strings.Trim(line, `"`), ""
	}
	exe, rest, _ = strings.Cut(line, " ")
	return exe, strings.TrimSpace(rest)
}

// psQuote quotes s as a PowerShell single-quoted string.
func psQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func psArgs(script string) []string {
	return []string{"-NoLogo", "-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-Command", script}
}

// matchName reports whether name matches pattern (path.Match, ignoring case); a pattern that
// is not valid matches only itself.
func matchName(pattern, name string) bool {
	pattern, name = strings.ToLower(pattern), strings.ToLower(name)
	if ok, err := path.Match(pattern, name); err == nil {
		return ok
	}
	return pattern == name
}

// noMachine is the machine of a system without Windows' facilities.
type noMachine struct{ os string }

var _ machine = noMachine{}

func (n noMachine) msiInstalled(string) (bool, error) {
	return false, fmt.Errorf("detect.productCode: no Windows Installer on %s", n.os)
}

func (n noMachine) uninstallEntries(string) ([]uninstallEntry, error) {
	return nil, fmt.Errorf("detect.uninstallEntry: no Windows registry on %s", n.os)
}

func (n noMachine) fileVersion(string) (string, error) {
	return "", fmt.Errorf("detect.fileVersion: no version resources on %s", n.os)
}

func (n noMachine) msixVersions(context.Context, string) ([]string, error) {
	return nil, fmt.Errorf("detect.packageFamilyName: no MSIX packages on %s", n.os)
}
