package osupgrade

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
)

// SystemOptions configure the real System.
type SystemOptions struct {
	// Root prefixes the files read and written (os-release, power supplies, the installer's
	// log) and is where installers start, as the agent's --root does: for tests and demos.
	// Under a root nothing restarts the PC; the restart is a restart of the agent.
	Root   string
	Logger *slog.Logger
}

// run starts a program in the root (or the system's root directory) with SAMVERK_ROOT set,
// output to out, and waits for it; ctx ends it (and its children, on Unix).
func run(ctx context.Context, root, workDir string, out io.Writer, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = root
	if root == "" {
		cmd.Dir = workDir
	}
	cmd.Env = append(os.Environ(), "SAMVERK_ROOT="+root, "SAMVERK_UPGRADE_DIR="+workDir)
	cmd.Stdout, cmd.Stderr = out, out
	killGroup(cmd)
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return fmt.Errorf("%s exited with %d", filepath.Base(name), exit.ExitCode())
	}
	return err
}

// writeScript puts an inline script into the upgrade's work directory.
func writeScript(workDir, name, script string) (string, error) {
	p := filepath.Join(workDir, name)
	if err := os.WriteFile(p, []byte(script), 0o700); err != nil {
		return "", fmt.Errorf("write script: %w", err)
	}
	return p, nil
}

// WindowsExitOK reports whether a Windows installer's exit code means success: 0; 3010
// (ERROR_SUCCESS_REBOOT_REQUIRED) and 1641 (ERROR_SUCCESS_REBOOT_INITIATED) want a restart,
// which the upgrade path's reboot asks for; 0x240006 (WU_S_ALREADY_INSTALLED, from wusa) says
// the update is in already.
func WindowsExitOK(code int) bool {
	switch code {
	case 0, 3010, 1641, 0x240006:
		return true
	}
	return false
}
