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
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"

	"samverk.io/samverk/engine/desired"
)

const platformName = "Windows"

// nativeInstallers are the installer types this platform handles besides script.
var nativeInstallers = []string{installerMSI, installerWinget}

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
	switch inst.Type {
	case installerMSI:
		if inst.ProductCode == "" {
			return false, errors.New("msi installer has no productCode to detect it by")
		}
		return msiInstalled(inst.ProductCode)
	case installerWinget:
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
	return false, fmt.Errorf("installer type %q has no native detection", inst.Type)
}

func (p *packageProvider) nativeInstall(ctx context.Context, r *desired.Resource, file string) error {
	inst := &r.Package.Installer
	t := timeout(inst.TimeoutSeconds, DefaultInstallerTimeout)
	switch inst.Type {
	case installerMSI:
		if file == "" {
			return errors.New("msi installer has no url to install from")
		}
		logFile := file + ".install.log"
		// msiexec parses its own command line; PROPERTY="a b" arguments must reach it as
		// written, so the line is built here rather than quoted by exec.
		line := fmt.Sprintf(`msiexec.exe /i "%s" /qn /norestart /l*v "%s"`, file, logFile)
		if len(inst.Arguments) > 0 {
			line += " " + strings.Join(inst.Arguments, " ")
		}
		return p.msiexec(ctx, t, r, line, file, false)
	case installerWinget:
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
	return fmt.Errorf("installer type %q cannot install natively", inst.Type)
}

func (p *packageProvider) nativeUninstall(ctx context.Context, r *desired.Resource) error {
	inst := &r.Package.Installer
	t := timeout(inst.TimeoutSeconds, DefaultInstallerTimeout)
	switch inst.Type {
	case installerMSI:
		if inst.ProductCode == "" {
			return errors.New("msi installer has no productCode to uninstall by")
		}
		line := fmt.Sprintf(`msiexec.exe /x "%s" /qn /norestart`, inst.ProductCode)
		return p.msiexec(ctx, t, r, line, "", true)
	case installerWinget:
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
	return fmt.Errorf("installer type %q cannot uninstall natively", inst.Type)
}

// msiexec runs msiexec with a ready-made command line. 1605 (unknown product) counts as
// success when removing: the product is gone either way.
func (p *packageProvider) msiexec(ctx context.Context, t time.Duration, r *desired.Resource, line, file string, removing bool) error {
	exe := filepath.Join(os.Getenv("SystemRoot"), "System32", "msiexec.exe")
	res, err := p.sh.run(ctx, t, exe, nil, func(c *exec.Cmd) {
		c.SysProcAttr = &syscall.SysProcAttr{CmdLine: line}
	}, p.env(r, file))
	if err != nil {
		return err
	}
	if successCode(installerMSI, res.code) || removing && res.code == 1605 {
		return nil
	}
	return fmt.Errorf("msiexec exited %d", res.code)
}
