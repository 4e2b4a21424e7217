//go:build windows

package converge

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/mgr"

	"samverk.io/samverk/engine/desired"
)

// serviceWait bounds how long a start or stop may take.
const serviceWait = 2 * time.Minute

func (p *serviceProvider) usable() error {
	if p.rooted {
		return skip("services are not managed under --root")
	}
	return nil
}

// openService connects to the service manager and opens name; (nil, nil, nil) when the service
// does not exist.
func openService(name string, access uint32) (*mgr.Mgr, *mgr.Service, error) {
	m, err := mgr.Connect()
	if err != nil {
		return nil, nil, fmt.Errorf("connect to service manager: %w", err)
	}
	h, err := windows.OpenService(m.Handle, windows.StringToUTF16Ptr(name), access)
	if errors.Is(err, windows.ERROR_SERVICE_DOES_NOT_EXIST) {
		_ = m.Disconnect()
		return nil, nil, nil
	}
	if err != nil {
		_ = m.Disconnect()
		return nil, nil, fmt.Errorf("open service %s: %w", name, err)
	}
	return m, &mgr.Service{Name: name, Handle: h}, nil
}

func (p *serviceProvider) check(_ context.Context, r *desired.Resource) (string, error) {
	if err := p.usable(); err != nil {
		return "", err
	}
	want, err := wantService(r)
	if err != nil {
		return "", err
	}
	m, s, err := openService(r.Service.Name, windows.SERVICE_QUERY_STATUS|windows.SERVICE_QUERY_CONFIG)
	if err != nil {
		return "", err
	}
	if s == nil {
		if want == svcRunning {
			return "", fmt.Errorf("service %s is not installed", r.Service.Name)
		}
		return "", nil
	}
	defer m.Disconnect()
	defer s.Close()
	st, err := s.Query()
	if err != nil {
		return "", fmt.Errorf("query service %s: %w", r.Service.Name, err)
	}
	cfg, err := s.Config()
	if err != nil {
		return "", fmt.Errorf("read service %s config: %w", r.Service.Name, err)
	}
	running := st.State != svc.Stopped && st.State != svc.StopPending
	switch want {
	case svcRunning:
		if !running {
			return "not running", nil
		}
		if cfg.StartType == mgr.StartDisabled {
			return "running but disabled at boot", nil
		}
	case svcStopped:
		if running {
			return "running, want stopped", nil
		}
	case svcDisabled:
		if running {
			return "running, want disabled", nil
		}
		if cfg.StartType != mgr.StartDisabled {
			return "not disabled at boot", nil
		}
	}
	return "", nil
}

func (p *serviceProvider) apply(ctx context.Context, r *desired.Resource) error {
	if err := p.usable(); err != nil {
		return err
	}
	want, err := wantService(r)
	if err != nil {
		return err
	}
	name := r.Service.Name
	m, s, err := openService(name, windows.SERVICE_QUERY_STATUS|windows.SERVICE_QUERY_CONFIG|
		windows.SERVICE_CHANGE_CONFIG|windows.SERVICE_START|windows.SERVICE_STOP)
	if err != nil {
		return err
	}
	if s == nil {
		if want == svcRunning {
			return fmt.Errorf("service %s is not installed", name)
		}
		return nil
	}
	defer m.Disconnect()
	defer s.Close()
	cfg, err := s.Config()
	if err != nil {
		return fmt.Errorf("read service %s config: %w", name, err)
	}
	setStart := func(t uint32) error {
		if cfg.StartType == t {
			return nil
		}
		cfg.StartType = t
		if err := s.UpdateConfig(cfg); err != nil {
			return fmt.Errorf("set start type of %s: %w", name, err)
		}
		return nil
	}
	switch want {
	case svcRunning:
		if cfg.StartType == mgr.StartDisabled {
			if err := setStart(mgr.StartAutomatic); err != nil {
				return err
			}
		}
		st, err := s.Query()
		if err != nil {
			return fmt.Errorf("query service %s: %w", name, err)
		}
		if st.State == svc.Running {
			return nil
		}
		if st.State == svc.Stopped {
			if err := s.Start(); err != nil {
				return fmt.Errorf("start service %s: %w", name, err)
			}
		}
		return waitService(ctx, s, svc.Running)
	case svcDisabled:
		if err := setStart(mgr.StartDisabled); err != nil {
			return err
		}
		fallthrough
	case svcStopped:
		st, err := s.Query()
		if err != nil {
			return fmt.Errorf("query service %s: %w", name, err)
		}
		if st.State == svc.Stopped {
			return nil
		}
		if st.State != svc.StopPending {
			if _, err := s.Control(svc.Stop); err != nil {
				return fmt.Errorf("stop service %s: %w", name, err)
			}
		}
		return waitService(ctx, s, svc.Stopped)
	}
	return nil
}

func waitService(ctx context.Context, s *mgr.Service, want svc.State) error {
	ctx, cancel := context.WithTimeout(ctx, serviceWait)
	defer cancel()
	t := time.NewTicker(300 * time.Millisecond)
	defer t.Stop()
	for {
		st, err := s.Query()
		if err != nil {
			return fmt.Errorf("query service %s: %w", s.Name, err)
		}
		if st.State == want {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("service %s: still in state %d after %s", s.Name, st.State, serviceWait)
		case <-t.C:
		}
	}
}
