//go:build !linux && !windows

package converge

import (
	"context"
	"runtime"

	"samverk.io/samverk/engine/desired"
)

var platformName = runtime.GOOS

// nativeInstallers is empty: only script, portable and zip installers work here.
var nativeInstallers []string

func newInstallers(sh *shell, root string) *installers {
	return &installers{m: noMachine{platformName}, run: sh, root: root}
}

func nativeReady(string) error { return nil }

func (p *packageProvider) nativeDetect(context.Context, *desired.Resource) (bool, error) {
	return false, skip("no native installers on %s", platformName)
}

func (p *packageProvider) nativeInstall(context.Context, *desired.Resource, string) error {
	return skip("no native installers on %s", platformName)
}

func (p *packageProvider) nativeUninstall(context.Context, *desired.Resource) error {
	return skip("no native installers on %s", platformName)
}
