//go:build windows

package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/mgr"

	"samverk.io/samverk/engine/agent/converge"
	"samverk.io/samverk/engine/agent/statedir"
)

// logFile is where the service logs, in its state directory; it is rotated once at start when
// larger than maxLogSize.
const (
	logFile    = "agent.log"
	maxLogSize = 10 << 20
)

func isWindowsService() bool {
	ok, err := svc.IsWindowsService()
	return err == nil && ok
}

// runService runs the agent under the service control manager.
func runService(f *flags) error {
	if err := statedir.SecureDir(f.opts.StateDir); err != nil {
		return err
	}
	lf, err := openLog(filepath.Join(f.opts.StateDir, logFile))
	if err != nil {
		return err
	}
	defer lf.Close()
	log := f.logger(lf)
	h := &handler{opts: f.opts, log: log}
	if err := svc.Run(ServiceName, h); err != nil {
		log.Error("service failed", "err", err)
		return err
	}
	return h.err
}

func openLog(path string) (*os.File, error) {
	if fi, err := os.Stat(path); err == nil && fi.Size() > maxLogSize {
		_ = os.Rename(path, path+".1")
	}
	return os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
}

type handler struct {
	opts Options
	log  *slog.Logger
	err  error
}

// Execute is called by the service control manager.
func (h *handler) Execute(_ []string, req <-chan svc.ChangeRequest, status chan<- svc.Status) (bool, uint32) {
	status <- svc.Status{State: svc.StartPending}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- runAgent(ctx, h.opts, h.log) }()
	const accepts = svc.AcceptStop | svc.AcceptShutdown
	status <- svc.Status{State: svc.Running, Accepts: accepts}
	for {
		select {
		case err := <-done:
			// The agent stopped on its own: a configuration error, or --once.
			h.err = err
			if err != nil {
				h.log.Error("agent stopped", "err", err)
				return true, 1
			}
			return false, 0
		case c := <-req:
			switch c.Cmd {
			case svc.Interrogate:
				status <- c.CurrentStatus
			case svc.Stop, svc.Shutdown:
				h.log.Info("service stop requested")
				// A correction under way gets converge.DefaultStopGrace to finish.
				wait := converge.DefaultStopGrace + 10*time.Second
				status <- svc.Status{State: svc.StopPending, WaitHint: uint32(wait.Milliseconds())}
				cancel()
				select {
				case h.err = <-done:
				case <-time.After(wait):
					h.log.Warn("agent did not stop in time", "waited", wait)
				}
				return false, 0
			}
		}
	}
}

// cmdInstall registers the agent as an automatically started service running as LocalSystem
// with the given flags, restarts it when it crashes, and starts it.
func cmdInstall(args []string, stdout, stderr io.Writer) error {
	f := newFlags(stderr)
	if err := f.parse(args); err != nil {
		return err
	}
	if f.opts.Server == "" {
		return usageError("install: --server is required")
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("install: %w", err)
	}
	exe, err = filepath.Abs(exe)
	if err != nil {
		return fmt.Errorf("install: %w", err)
	}
	dir, err := statedir.Open(f.opts.StateDir)
	if err != nil {
		return fmt.Errorf("install: %w", err)
	}
	if f.opts.EnrollToken != "" {
		if err := dir.SaveEnrollToken(f.opts.EnrollToken); err != nil {
			return fmt.Errorf("install: %w", err)
		}
	} else if _, err := dir.Credential(); err != nil {
		return usageError("install: not enrolled yet; give --enroll-token")
	}

	m, err := mgr.Connect()
	if err != nil {
		return fmt.Errorf("install: connect to service manager: %w", err)
	}
	defer m.Disconnect()
	if s, err := m.OpenService(ServiceName); err == nil {
		s.Close()
		return fmt.Errorf("install: service %s already exists; uninstall it first", ServiceName)
	}
	s, err := m.CreateService(ServiceName, exe, mgr.Config{
		DisplayName:      "samverk agent",
		Description:      "Keeps this PC in its desired state as compiled by samverk, and reports.",
		StartType:        mgr.StartAutomatic,
		DelayedAutoStart: true,
	}, f.serviceArgs()...)
	if err != nil {
		return fmt.Errorf("install: create service: %w", err)
	}
	defer s.Close()
	err = s.SetRecoveryActions([]mgr.RecoveryAction{
		{Type: mgr.ServiceRestart, Delay: time.Minute},
		{Type: mgr.ServiceRestart, Delay: 5 * time.Minute},
		{Type: mgr.ServiceRestart, Delay: 10 * time.Minute},
	}, uint32((24 * time.Hour).Seconds()))
	if err != nil {
		return fmt.Errorf("install: set recovery actions: %w", err)
	}
	if err := s.Start(); err != nil {
		return fmt.Errorf("install: start service: %w", err)
	}
	fmt.Fprintf(stdout, "installed and started service %s (%s)\nstate: %s\nlog: %s\n",
		ServiceName, exe, dir.Path(), filepath.Join(dir.Path(), logFile))
	return nil
}

// cmdUninstall stops and removes the service; the state directory stays.
func cmdUninstall(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		return usageError("uninstall takes no arguments")
	}
	m, err := mgr.Connect()
	if err != nil {
		return fmt.Errorf("uninstall: connect to service manager: %w", err)
	}
	defer m.Disconnect()
	s, err := m.OpenService(ServiceName)
	if err != nil {
		return fmt.Errorf("uninstall: open service %s: %w", ServiceName, err)
	}
	defer s.Close()
	if st, err := s.Control(svc.Stop); err == nil {
		deadline := time.Now().Add(45 * time.Second)
		for st.State != svc.Stopped && time.Now().Before(deadline) {
			time.Sleep(300 * time.Millisecond)
			if st, err = s.Query(); err != nil {
				break
			}
		}
	} else if !errors.Is(err, windows.ERROR_SERVICE_NOT_ACTIVE) {
		return fmt.Errorf("uninstall: stop service: %w", err)
	}
	if err := s.Delete(); err != nil {
		return fmt.Errorf("uninstall: delete service: %w", err)
	}
	fmt.Fprintf(stdout, "removed service %s; its state directory is left in place\n", ServiceName)
	return nil
}
