//go:build windows

package osupgrade

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"

	"samverk.io/samverk/engine/desired"
)

// windowsSystem upgrades Windows: feature updates with wusa.exe (.msu) or DISM (.cab), setup
// media (a zip of the ISO's contents) with setup.exe, scripts with PowerShell. Not yet run on
// a real Windows machine; see docs/os-delivery.md.
type windowsSystem struct {
	root string
	log  *slog.Logger
}

var _ System = (*windowsSystem)(nil)

// NewSystem returns the running OS's System.
func NewSystem(opts SystemOptions) System {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &windowsSystem{root: opts.Root, log: log}
}

func (s *windowsSystem) Build() (string, error) {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, `SOFTWARE\Microsoft\Windows NT\CurrentVersion`, registry.QUERY_VALUE|registry.WOW64_64KEY)
	if err != nil {
		return "", fmt.Errorf("open CurrentVersion: %w", err)
	}
	defer k.Close()
	b, _, err := k.GetStringValue("CurrentBuild")
	if err != nil {
		return "", fmt.Errorf("read CurrentBuild: %w", err)
	}
	return b, nil
}

func (s *windowsSystem) FreeDiskMiB() (int64, error) {
	drive := os.Getenv("SystemDrive")
	if drive == "" {
		drive = "C:"
	}
	p, err := windows.UTF16PtrFromString(drive + `\`)
	if err != nil {
		return 0, err
	}
	var free, total, totalFree uint64
	if err := windows.GetDiskFreeSpaceEx(p, &free, &total, &totalFree); err != nil {
		return 0, fmt.Errorf("GetDiskFreeSpaceEx %s: %w", drive, err)
	}
	return int64(free >> 20), nil
}

// systemPowerStatus is SYSTEM_POWER_STATUS.
type systemPowerStatus struct {
	ACLineStatus        byte
	BatteryFlag         byte
	BatteryLifePercent  byte
	SystemStatusFlag    byte
	BatteryLifeTime     uint32
	BatteryFullLifeTime uint32
}

var procGetSystemPowerStatus = windows.NewLazySystemDLL("kernel32.dll").NewProc("GetSystemPowerStatus")

// OnBattery asks GetSystemPowerStatus: ACLineStatus 0 is on battery, 1 on AC, 255 unknown;
// BatteryFlag 128 means no battery.
func (s *windowsSystem) OnBattery() (bool, bool) {
	var st systemPowerStatus
	if r, _, _ := procGetSystemPowerStatus.Call(uintptr(unsafe.Pointer(&st))); r == 0 {
		return false, false
	}
	if st.BatteryFlag == 128 {
		return false, true
	}
	switch st.ACLineStatus {
	case 0:
		return true, true
	case 1:
		return false, true
	}
	return false, false
}

func (s *windowsSystem) Install(ctx context.Context, in desired.OSInstaller, file, workDir string, out io.Writer) error {
	sys := os.Getenv("SystemRoot")
	if sys == "" {
		sys = `C:\Windows`
	}
	var name string
	var args []string
	switch in.Type {
	case "feature-update":
		switch strings.ToLower(filepath.Ext(file)) {
		case ".msu":
			name, args = filepath.Join(sys, "System32", "wusa.exe"), []string{file, "/quiet", "/norestart"}
		case ".cab":
			name, args = filepath.Join(sys, "System32", "dism.exe"), []string{"/Online", "/Add-Package", "/PackagePath:" + file, "/Quiet", "/NoRestart"}
		default:
			return fmt.Errorf("feature update %s: want a .msu or .cab file", filepath.Base(file))
		}
	case "setup-media":
		if !strings.EqualFold(filepath.Ext(file), ".zip") {
			return fmt.Errorf("setup media %s: want a zip of the ISO's contents", filepath.Base(file))
		}
		media := filepath.Join(workDir, "media")
		if err := unzip(file, media); err != nil {
			return fmt.Errorf("unpack setup media: %w", err)
		}
		name = filepath.Join(media, "setup.exe")
	case "script":
		if in.Script != "" {
			p, err := writeScript(workDir, "upgrade.ps1", in.Script)
			if err != nil {
				return err
			}
			file = p
		}
		name, args = "powershell.exe", []string{"-NoLogo", "-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-File", file}
	case "package-manager":
		name, args = filepath.Join(sys, "System32", "cmd.exe"), []string{"/D", "/C", in.Command}
	default:
		return fmt.Errorf("installer type %s does not run on Windows", in.Type)
	}
	args = append(args, in.Arguments...)
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = workDir
	cmd.Env = append(os.Environ(), "SAMVERK_ROOT="+s.root, "SAMVERK_UPGRADE_DIR="+workDir)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{HideWindow: true}
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) && WindowsExitOK(exit.ExitCode()) {
		return nil
	}
	if errors.As(err, &exit) {
		return fmt.Errorf("%s exited with %d (0x%X)", filepath.Base(name), exit.ExitCode(), uint32(exit.ExitCode()))
	}
	return err
}

func (s *windowsSystem) LogTail(in desired.OSInstaller, max int) string {
	if in.LogFile == "" {
		return ""
	}
	return TailOf(filepath.Join(s.root, in.LogFile), max)
}

func (s *windowsSystem) Reboot(ctx context.Context) error {
	if s.root != "" {
		s.log.Warn("OS upgrade asks for a restart; under --root the PC is left running: restart the agent to go on", "root", s.root)
		return nil
	}
	out, err := exec.CommandContext(ctx, "shutdown.exe", "/r", "/t", "300", "/d", "p:2:17", "/c", "samverk: OS upgrade, restart in 5 minutes").CombinedOutput()
	if err != nil {
		return fmt.Errorf("shutdown /r: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// unzip extracts an archive into dir, refusing entries that would land outside it.
func unzip(file, dir string) error {
	zr, err := zip.OpenReader(file)
	if err != nil {
		return err
	}
	defer zr.Close()
	for _, f := range zr.File {
		p := filepath.Join(dir, filepath.FromSlash(f.Name))
		if !strings.HasPrefix(p, filepath.Clean(dir)+string(os.PathSeparator)) {
			return fmt.Errorf("entry %s leaves the directory", f.Name)
		}
		if f.FileInfo().IsDir() {
			if err := os.MkdirAll(p, 0o700); err != nil {
				return err
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return err
		}
		if err := extract(f, p); err != nil {
			return err
		}
	}
	return nil
}

func extract(f *zip.File, p string) error {
	r, err := f.Open()
	if err != nil {
		return err
	}
	defer r.Close()
	w, err := os.OpenFile(p, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, r); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

func killGroup(*exec.Cmd) {}
