package converge

import (
	"fmt"

	"samverk.io/samverk/engine/desired"
)

// Wanted service states.
const (
	svcRunning  = "running"
	svcStopped  = "stopped"
	svcDisabled = "disabled"
)

// serviceProvider manages a system service: running (and allowed to start at boot), stopped,
// or disabled (stopped and not started at boot). Ensure absent means disabled.
type serviceProvider struct {
	sh *shell
	// systemctl is the program Linux services are managed with; "" when there is none.
	systemctl string
	// rooted is true when the agent works under a root prefix; services are then not managed,
	// because the root is not the system whose services run.
	rooted bool
}

var _ provider = (*serviceProvider)(nil)

func wantService(r *desired.Resource) (string, error) {
	s := r.Service
	if s.Name == "" {
		return "", fmt.Errorf("service has no name")
	}
	if r.Ensure == Absent {
		return svcDisabled, nil
	}
	switch s.State {
	case svcRunning, svcStopped, svcDisabled:
		return s.State, nil
	}
	return "", fmt.Errorf("service state %q: want running, stopped or disabled", s.State)
}
