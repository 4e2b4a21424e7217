//go:build !windows

package agent

import (
	"errors"
	"io"
)

func isWindowsService() bool { return false }

func runService(*flags) error { return errors.New("not a Windows service") }

func cmdInstall(_ []string, _, _ io.Writer) error {
	return usageError("install is for Windows; on Linux use the systemd unit in examples/systemd/samverk-agent.service")
}

func cmdUninstall(_ []string, _, _ io.Writer) error {
	return usageError("uninstall is for Windows; on Linux disable and remove the systemd unit")
}
