package converge

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"slices"

	"samverk.io/samverk/engine/desired"
)

// Installer types.
const (
	installerScript = "script"
	installerMSI    = "msi"
	installerWinget = "winget"
	installerDeb    = "deb"
)

// packageProvider installs and removes products. Detection decides: the rules the installer
// names (file, command, product code, uninstall entry, file version, package family), all of
// which must hold, otherwise the installer type's own way (dpkg or rpm status, MSI product
// state, what a portable or zip installer placed, winget list).
type packageProvider struct {
	sh       *shell
	root     string
	cacheDir string
	http     *http.Client
	// os installs the types that are files and setup programs (installers.go).
	os *installers
}

var _ provider = (*packageProvider)(nil)

func (p *packageProvider) check(ctx context.Context, r *desired.Resource) (string, error) {
	pkg := r.Package
	if err := p.supported(pkg.Installer.Type); err != nil {
		return "", err
	}
	installed, err := p.detect(ctx, r)
	if err != nil {
		return "", fmt.Errorf("detect: %w", err)
	}
	switch {
	case r.Ensure == Absent && installed:
		return fmt.Sprintf("%s is installed, want absent", pkg.Product), nil
	case r.Ensure != Absent && !installed:
		return fmt.Sprintf("%s %s is not installed", pkg.Product, pkg.Version), nil
	}
	return "", nil
}

func (p *packageProvider) apply(ctx context.Context, r *desired.Resource) error {
	if r.Ensure == Absent {
		return p.uninstall(ctx, r)
	}
	return p.install(ctx, r)
}

// supported returns nil when this system can handle installers of typ, a skip when the type
// belongs to another platform, and an error for unknown types.
func (p *packageProvider) supported(typ string) error {
	switch typ {
	case installerScript, installerPortable, installerZip:
		return nil
	case installerMSI, installerMSIX, installerExe, installerWinget, installerDeb, installerRPM:
		if slices.Contains(nativeInstallers, typ) {
			return nativeReady(typ)
		}
		return skip("%s installers are not supported on %s", typ, platformName)
	}
	return fmt.Errorf("unknown installer type %q", typ)
}

// env is what install, uninstall and detect scripts see besides the agent's environment.
func (p *packageProvider) env(r *desired.Resource, installer string) []string {
	return []string{
		"SAMVERK_RESOURCE=" + r.ID,
		"SAMVERK_PRODUCT=" + r.Package.Product,
		"SAMVERK_VERSION=" + r.Package.Version,
		"SAMVERK_INSTALLER=" + installer,
	}
}

func (p *packageProvider) detect(ctx context.Context, r *desired.Resource) (bool, error) {
	inst := &r.Package.Installer
	if !hasRules(inst) {
		switch inst.Type {
		case installerScript:
			return false, errors.New("no detection rule: the installer needs detectCommand or detectFile")
		case installerWinget, installerDeb:
			return p.nativeDetect(ctx, r)
		}
		return p.os.detect(ctx, r)
	}
	if ok, err := p.os.rules(ctx, r); err != nil || !ok {
		return false, err
	}
	// Every rule given must hold.
	if inst.DetectFile != "" {
		path, err := managedPath(p.root, inst.DetectFile)
		if err != nil {
			return false, err
		}
		_, err = os.Stat(path)
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
	}
	if inst.DetectCommand != "" {
		res, err := p.sh.script(ctx, inst.DetectCommand, timeout(inst.TimeoutSeconds, DefaultCommandTimeout), p.env(r, "")...)
		if err != nil {
			return false, err
		}
		if res.code != 0 {
			return false, nil
		}
	}
	return true, nil
}

// fetch downloads and verifies the installer when the installer has a URL, and returns its
// path ("" without a URL).
func (p *packageProvider) fetch(ctx context.Context, inst *desired.Installer) (string, error) {
	if inst.URL == "" {
		return "", nil
	}
	return fetchInstaller(ctx, p.http, p.cacheDir, inst.URL, inst.SHA256)
}

func (p *packageProvider) install(ctx context.Context, r *desired.Resource) error {
	inst := &r.Package.Installer
	file, err := p.fetch(ctx, inst)
	if err != nil {
		return err
	}
	if inst.Install != "" {
		return p.runScript(ctx, r, "install", inst.Install, file)
	}
	switch inst.Type {
	case installerScript:
		return errors.New("the installer has no install command")
	case installerWinget, installerDeb:
		return p.nativeInstall(ctx, r, file)
	}
	return p.os.install(ctx, r, file, p.env(r, file))
}

func (p *packageProvider) uninstall(ctx context.Context, r *desired.Resource) error {
	inst := &r.Package.Installer
	if inst.Uninstall != "" {
		return p.runScript(ctx, r, "uninstall", inst.Uninstall, "")
	}
	switch inst.Type {
	case installerScript:
		return errors.New("the installer has no uninstall command")
	case installerWinget, installerDeb:
		return p.nativeUninstall(ctx, r)
	}
	return p.os.uninstall(ctx, r, p.env(r, ""))
}

func (p *packageProvider) runScript(ctx context.Context, r *desired.Resource, what, script, file string) error {
	inst := &r.Package.Installer
	res, err := p.sh.script(ctx, script, timeout(inst.TimeoutSeconds, DefaultInstallerTimeout), p.env(r, file)...)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if !successCode(inst.Type, res.code) {
		return errors.New(res.summary(what))
	}
	return nil
}

// successCode says whether an installer's exit code means success. Windows Installer, and the
// setup programs that wrap it, also report success with "reboot required" (3010) and "reboot
// started" (1641).
func successCode(typ string, code int) bool {
	if code == 0 {
		return true
	}
	return (typ == installerMSI || typ == installerExe) && (code == 3010 || code == 1641)
}
