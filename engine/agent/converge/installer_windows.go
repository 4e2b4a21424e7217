//go:build windows

package converge

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"unsafe"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"

	"samverk.io/samverk/engine/desired"
)

const platformName = "Windows"

// nativeInstallers are the installer types this platform handles besides script, portable
// and zip.
var nativeInstallers = []string{installerMSI, installerMSIX, installerExe, installerWinget}

func newInstallers(sh *shell, root string) *installers {
	ps := powershell()
	if ps == "" {
		ps = "powershell.exe"
	}
	return &installers{m: windowsMachine{sh: sh}, run: sh, root: root,
		msiexec: filepath.Join(os.Getenv("SystemRoot"), "System32", "msiexec.exe"), powershell: ps}
}

// windowsMachine answers the installers' questions from Windows itself.
type windowsMachine struct{ sh *shell }

var _ machine = windowsMachine{}

func (windowsMachine) msiInstalled(productCode string) (bool, error) {
	return msiInstalled(productCode)
}

const uninstallPath = `SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall`

func (windowsMachine) uninstallEntries(pattern string) ([]uninstallEntry, error) {
	var out []uninstallEntry
	for _, view := range []uint32{registry.WOW64_64KEY, registry.WOW64_32KEY} {
		k, err := registry.OpenKey(registry.LOCAL_MACHINE, uninstallPath, registry.ENUMERATE_SUB_KEYS|view)
		if err != nil {
			continue
		}
		names, err := k.ReadSubKeyNames(-1)
		k.Close()
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", uninstallPath, err)
		}
		for _, n := range names {
			sk, err := registry.OpenKey(registry.LOCAL_MACHINE, uninstallPath+`\`+n, registry.QUERY_VALUE|view)
			if err != nil {
				continue
			}
			e := uninstallEntry{}
			e.DisplayName, _, _ = sk.GetStringValue("DisplayName")
			e.DisplayVersion, _, _ = sk.GetStringValue("DisplayVersion")
			e.UninstallString, _, _ = sk.GetStringValue("UninstallString")
			e.QuietUninstallString, _, _ = sk.GetStringValue("QuietUninstallString")
			sk.Close()
			if e.DisplayName != "" && matchName(pattern, e.DisplayName) {
				out = append(out, e)
			}
		}
	}
	return out, nil
}

func (windowsMachine) fileVersion(path string) (string, error) {
	size, err := windows.GetFileVersionInfoSize(path, nil)
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	buf := make([]byte, size)
	if err := windows.GetFileVersionInfo(path, 0, size, unsafe.Pointer(&buf[0])); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	var info *windows.VS_FIXEDFILEINFO
	var n uint32
	if err := windows.VerQueryValue(unsafe.Pointer(&buf[0]), `\`, unsafe.Pointer(&info), &n); err != nil || info == nil {
		return "", fmt.Errorf("%s: no fixed file version", path)
	}
	return fmt.Sprintf("%d.%d.%d.%d", info.FileVersionMS>>16, info.FileVersionMS&0xffff,
		info.FileVersionLS>>16, info.FileVersionLS&0xffff), nil
}

// msixVersions asks the DISM and Appx modules, through PowerShell, for the versions of a
// family provisioned for all users or installed for any.
func (m windowsMachine) msixVersions(ctx context.Context, family string) ([]string, error) {
	name := family
	if i := strings.LastIndexByte(name, '_'); i > 0 {
		name = name[:i]
	}
	script := "$ErrorActionPreference = 'Stop'; " +
		"Get-AppxProvisionedPackage -Online | Where-Object { $_.DisplayName -eq " + psQuote(name) + " } | ForEach-Object { $_.Version }; " +
		"Get-AppxPackage -AllUsers | Where-Object { $_.PackageFamilyName -eq " + psQuote(family) + " } | ForEach-Object { $_.Version }"
	ps := powershell()
	if ps == "" {
		return nil, errors.New("msix: powershell.exe not found")
	}
	res, err := m.sh.program(ctx, DefaultCommandTimeout, ps, psArgs(script))
	if err != nil {
		return nil, err
	}
	if res.code != 0 {
		return nil, errors.New(res.summary("Get-AppxProvisionedPackage"))
	}
	var out []string
	for _, l := range strings.Split(res.output, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out, nil
}

func nativeReady(typ string) error {
	if typ == installerWinget && wingetPath() == "" {
		return skip("winget installer: winget.exe not found")
	}
	return nil
}

var (
	msiDLL                = windows.NewLazySystemDLL("msi.dll")
	msiQueryProductStateW = msiDLL.NewProc("MsiQueryProductStateW")
)

// installStateDefault is INSTALLSTATE_DEFAULT: the product is installed for the machine or
// the current user.
const installStateDefault = 5

func msiInstalled(productCode string) (bool, error) {
	if err := msiQueryProductStateW.Find(); err != nil {
		return false, fmt.Errorf("msi.dll: %w", err)
	}
	code, err := windows.UTF16PtrFromString(productCode)
	if err != nil {
		return false, err
	}
	r, _, _ := msiQueryProductStateW.Call(uintptr(unsafe.Pointer(code)))
	return int32(r) == installStateDefault, nil
}

// wingetPath finds winget.exe. The service runs as SYSTEM, whose PATH lacks the per-user
// WindowsApps alias, so the App Installer package directory is searched as well.
var wingetPath = sync.OnceValue(func() string {
	if p, err := exec.LookPath("winget.exe"); err == nil {
		return p
	}
	pf := os.Getenv("ProgramFiles")
	if pf == "" {
		pf = `C:\Program Files`
	}
	matches, _ := filepath.Glob(filepath.Join(pf, "WindowsApps", "Microsoft.DesktopAppInstaller_*_x64__8wekyb3d8bbwe", "winget.exe"))
	if len(matches) == 0 {
		return ""
	}
	slices.Sort(matches)
	return matches[len(matches)-1]
})

var wingetCommon = []string{"--exact", "--accept-source-agreements", "--disable-interactivity"}

func (p *packageProvider) nativeDetect(ctx context.Context, r *desired.Resource) (bool, error) {
	inst := &r.Package.Installer
	if inst.Type != installerWinget {
		return false, fmt.Errorf("installer type %q has no native detection", inst.Type)
	}
	if inst.WingetID == "" {
		return false, errors.New("winget installer has no wingetId")
	}
	args := append([]string{"list", "--id", inst.WingetID}, wingetCommon...)
	res, err := p.sh.program(ctx, DefaultCommandTimeout, wingetPath(), args)
	if err != nil {
		return false, err
	}
	return res.code == 0, nil // winget list fails when no installed package matches
}

func (p *packageProvider) nativeInstall(ctx context.Context, r *desired.Resource, file string) error {
	inst := &r.Package.Installer
	if inst.Type != installerWinget {
		return fmt.Errorf("installer type %q cannot install natively", inst.Type)
	}
	t := timeout(inst.TimeoutSeconds, DefaultInstallerTimeout)
	args := append([]string{"install", "--id", inst.WingetID, "--silent", "--accept-package-agreements"}, wingetCommon...)
	if v := r.Package.Version; v != "" {
		args = append(args, "--version", v)
	}
	args = append(args, inst.Arguments...)
	res, err := p.sh.program(ctx, t, wingetPath(), args, p.env(r, file)...)
	if err != nil {
		return err
	}
	if res.code != 0 {
		return errors.New(res.summary("winget install"))
	}
	return nil
}

func (p *packageProvider) nativeUninstall(ctx context.Context, r *desired.Resource) error {
	inst := &r.Package.Installer
	if inst.Type != installerWinget {
		return fmt.Errorf("installer type %q cannot uninstall natively", inst.Type)
	}
	t := timeout(inst.TimeoutSeconds, DefaultInstallerTimeout)
	args := append([]string{"uninstall", "--id", inst.WingetID, "--silent"}, wingetCommon...)
	res, err := p.sh.program(ctx, t, wingetPath(), args, p.env(r, "")...)
	if err != nil {
		return err
	}
	if res.code != 0 {
		return errors.New(res.summary("winget uninstall"))
	}
	return nil
}
