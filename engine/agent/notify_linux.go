package agent

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"

	"samverk.io/samverk/engine/desired"
)

func commandContext(ctx context.Context, c Command) *exec.Cmd {
	cmd := exec.CommandContext(ctx, c.Path, c.Args...)
	if c.UID >= 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(c.UID), Gid: uint32(c.GID)}}
	}
	return cmd
}

// notifySend shows notices with notify-send on the desktop session buses it finds: the
// agent's own (DBUS_SESSION_BUS_ADDRESS), or, when the agent runs as root without one, each
// signed-in user's (/run/user/<uid>/bus), as that user.
type notifySend struct {
	run runner
	// path is notify-send's path; "" when it is not installed.
	path string
	// runDir is where the users' runtime directories are (/run/user).
	runDir string
	uid    int
	getenv func(string) string
}

func newDesktop(run runner) desktop {
	p, _ := exec.LookPath("notify-send")
	return &notifySend{run: run, path: p, runDir: "/run/user", uid: os.Getuid(), getenv: os.Getenv}
}

// urgency maps a severity to notify-send's urgency.
func urgency(severity string) string {
	switch severity {
	case "crisis":
		return "critical"
	case "disruption":
		return "normal"
	}
	return "low"
}

func (d *notifySend) Show(ctx context.Context, n *desired.Notice) error {
	if d.path == "" {
		return nil // no notify-send: the notice file and the hook are the desktop's way
	}
	args := []string{"--app-name=samverk", "--urgency=" + urgency(n.Severity), n.Title, n.Body}
	if d.getenv("DBUS_SESSION_BUS_ADDRESS") != "" {
		return d.run.Run(ctx, Command{Path: d.path, Args: args, UID: -1})
	}
	if d.uid != 0 {
		return nil // no session bus of our own, and no right to use others'
	}
	buses, _ := filepath.Glob(filepath.Join(d.runDir, "*", "bus"))
	var errs []error
	for _, bus := range buses {
		uid, err := strconv.Atoi(filepath.Base(filepath.Dir(bus)))
		if err != nil || uid == 0 {
			continue
		}
		fi, err := os.Stat(bus)
		if err != nil {
			continue
		}
		gid := uid
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			gid = int(st.Gid)
		}
		errs = append(errs, d.run.Run(ctx, Command{Path: d.path, Args: args, UID: uid, GID: gid,
			Env: []string{"DBUS_SESSION_BUS_ADDRESS=unix:path=" + bus, "XDG_RUNTIME_DIR=" + filepath.Dir(bus)}}))
	}
	return errors.Join(errs...)
}
