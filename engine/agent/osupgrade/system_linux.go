//go:build linux

package osupgrade

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"samverk.io/samverk/engine/agent/facts"
	"samverk.io/samverk/engine/desired"
)

// linuxSystem upgrades Linux: scripts and package-manager upgrades, restarted with systemctl.
type linuxSystem struct {
	root string
	log  *slog.Logger
}

var _ System = (*linuxSystem)(nil)

// NewSystem returns the running OS's System.
func NewSystem(opts SystemOptions) System {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &linuxSystem{root: opts.Root, log: log}
}

func (s *linuxSystem) Build() (string, error) {
	b := facts.Gather(facts.Options{Root: s.root}).OSBuild
	if b == "" {
		return "", fmt.Errorf("no VERSION_ID in %s", filepath.Join(s.root, "/etc/os-release"))
	}
	return b, nil
}

func (s *linuxSystem) FreeDiskMiB() (int64, error) {
	p := s.root
	if p == "" {
		p = "/"
	}
	var st unix.Statfs_t
	if err := unix.Statfs(p, &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", p, err)
	}
	return int64(st.Bavail) * int64(st.Bsize) >> 20, nil
}

// OnBattery reads /sys/class/power_supply: on battery when a battery is there and no mains
// supply is online.
func (s *linuxSystem) OnBattery() (bool, bool) {
	dir := filepath.Join(s.root, "/sys/class/power_supply")
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) == 0 {
		return false, false
	}
	read := func(name, file string) string {
		b, _ := os.ReadFile(filepath.Join(dir, name, file))
		return strings.TrimSpace(string(b))
	}
	battery, mains := false, false
	for _, e := range entries {
		switch read(e.Name(), "type") {
		case "Battery":
			battery = true
		case "Mains", "USB":
			if read(e.Name(), "online") == "1" {
				mains = true
			}
		}
	}
	if !battery {
		return false, true
	}
	return !mains, true
}

func (s *linuxSystem) Install(ctx context.Context, in desired.OSInstaller, file, workDir string, out io.Writer) error {
	switch in.Type {
	case "script":
		if in.Script != "" {
			p, err := writeScript(workDir, "upgrade.sh", in.Script)
			if err != nil {
				return err
			}
			file = p
		}
		if file == "" {
			return fmt.Errorf("script installer without a script or a source")
		}
		return run(ctx, s.root, workDir, out, "/bin/sh", append([]string{file}, in.Arguments...)...)
	case "package-manager":
		return run(ctx, s.root, workDir, out, "/bin/sh", "-c", in.Command+" "+shellJoin(in.Arguments))
	}
	return fmt.Errorf("installer type %s does not run on Linux", in.Type)
}

func (s *linuxSystem) LogTail(in desired.OSInstaller, max int) string {
	if in.LogFile == "" {
		return ""
	}
	return TailOf(filepath.Join(s.root, in.LogFile), max)
}

func (s *linuxSystem) Reboot(ctx context.Context) error {
	if s.root != "" {
		s.log.Warn("OS upgrade asks for a restart; under --root the PC is left running: restart the agent to go on", "root", s.root)
		return nil
	}
	out, err := exec.CommandContext(ctx, "systemctl", "reboot").CombinedOutput()
	if err != nil {
		return fmt.Errorf("systemctl reboot: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// shellJoin quotes arguments for sh -c.
func shellJoin(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}

func killGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &unix.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return unix.Kill(-cmd.Process.Pid, unix.SIGKILL) }
}
