//go:build linux

package converge

import (
	"context"
	"errors"
	"os/exec"
	"slices"
	"strings"

	"samverk.io/samverk/engine/desired"
)

const platformName = "Linux"

// nativeInstallers are the installer types this platform handles besides script, portable
// and zip.
var nativeInstallers = []string{installerDeb, installerRPM}

func newInstallers(sh *shell, root string) *installers {
	return &installers{m: noMachine{platformName}, run: sh, root: root}
}

// aptEnv keeps apt and dpkg from asking questions.
var aptEnv = []string{"DEBIAN_FRONTEND=noninteractive", "NEEDRESTART_MODE=a"}

func nativeReady(typ string) error {
	if typ == installerRPM {
		if _, err := exec.LookPath("rpm"); err != nil {
			return skip("rpm installer: rpm not found; not an RPM-based system")
		}
		return nil
	}
	if _, err := exec.LookPath("dpkg-query"); err != nil {
		return skip("deb installer: dpkg-query not found; not a Debian-based system")
	}
	return nil
}

func debPackage(r *desired.Resource) string {
	if n := r.Package.Installer.DebPackage; n != "" {
		return n
	}
	return r.Package.Product
}

// dpkgArgs puts dpkg and dpkg-query to work on the root, when one is set.
func (p *packageProvider) dpkgArgs(args ...string) []string {
	if p.root == "" {
		return args
	}
	return append([]string{"--root=" + p.root}, args...)
}

func (p *packageProvider) nativeDetect(ctx context.Context, r *desired.Resource) (bool, error) {
	name := debPackage(r)
	res, err := p.sh.program(ctx, DefaultCommandTimeout, "dpkg-query",
		p.dpkgArgs("--show", "--showformat=${Status}\n", "--", name))
	if err != nil {
		return false, err
	}
	if res.code != 0 {
		return false, nil // dpkg-query exits 1 for a package it does not know
	}
	// Status is "want flag status", e.g. "install ok installed" or "deinstall ok config-files".
	f := strings.Fields(lastLine(res.output))
	return len(f) == 3 && f[2] == "installed", nil
}

func (p *packageProvider) nativeInstall(ctx context.Context, r *desired.Resource, file string) error {
	inst := &r.Package.Installer
	t := timeout(inst.TimeoutSeconds, DefaultInstallerTimeout)
	var name string
	var args []string
	switch {
	case p.root != "":
		if file == "" {
			return errors.New("deb installer: under --root only a downloaded .deb (url and sha256) can be installed")
		}
		name, args = "dpkg", p.dpkgArgs("--force-confdef", "--force-confold", "--install", file)
	case file != "":
		// apt-get resolves the dependencies of a local .deb, which dpkg -i does not.
		name = "apt-get"
		args = append([]string{"install", "--yes", "-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold"}, inst.Arguments...)
		args = append(args, file)
	default:
		name = "apt-get"
		args = append([]string{"install", "--yes", "-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold"}, inst.Arguments...)
		args = append(args, "--", debPackage(r))
	}
	res, err := p.sh.program(ctx, t, name, args, slices.Concat(aptEnv, p.env(r, file))...)
	if err != nil {
		return err
	}
	if res.code != 0 {
		return errors.New(res.summary(name + " install"))
	}
	return nil
}

func (p *packageProvider) nativeUninstall(ctx context.Context, r *desired.Resource) error {
	inst := &r.Package.Installer
	t := timeout(inst.TimeoutSeconds, DefaultInstallerTimeout)
	name, args := "apt-get", []string{"remove", "--yes", "--", debPackage(r)}
	if p.root != "" {
		name, args = "dpkg", p.dpkgArgs("--remove", "--", debPackage(r))
	}
	res, err := p.sh.program(ctx, t, name, args, slices.Concat(aptEnv, p.env(r, ""))...)
	if err != nil {
		return err
	}
	if res.code != 0 {
		return errors.New(res.summary(name + " remove"))
	}
	return nil
}
