//go:build !linux && !windows

package osupgrade

import (
	"context"
	"errors"
	"io"
	"os/exec"

	"samverk.io/samverk/engine/desired"
)

// otherSystem is every OS samverk does not upgrade: it reads nothing and installs nothing.
type otherSystem struct{}

var _ System = otherSystem{}

var errUnsupported = errors.New("OS upgrades run on Windows and Linux only")

// NewSystem returns the running OS's System.
func NewSystem(SystemOptions) System { return otherSystem{} }

func (otherSystem) Build() (string, error)      { return "", errUnsupported }
func (otherSystem) FreeDiskMiB() (int64, error) { return 0, errUnsupported }
func (otherSystem) OnBattery() (bool, bool)     { return false, false }
func (otherSystem) Install(context.Context, desired.OSInstaller, string, string, io.Writer) error {
	return errUnsupported
}
func (otherSystem) LogTail(desired.OSInstaller, int) string { return "" }
func (otherSystem) Reboot(context.Context) error            { return errUnsupported }

func killGroup(*exec.Cmd) {}
