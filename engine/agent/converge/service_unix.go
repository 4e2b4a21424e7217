//go:build !windows

package converge

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"samverk.io/samverk/engine/desired"
)

const systemctlTimeout = 2 * time.Minute

// unitState is what `systemctl show` says about a unit.
type unitState struct {
	load, active, unitFile string
}

func (p *serviceProvider) usable() error {
	if p.rooted {
		return skip("services are not managed under --root")
	}
	if p.systemctl == "" {
		return skip("systemd is not running on this system")
	}
	return nil
}

func (p *serviceProvider) show(ctx context.Context, name string) (unitState, error) {
	res, err := p.sh.program(ctx, systemctlTimeout, p.systemctl,
		[]string{"show", "--property=LoadState,ActiveState,UnitFileState", "--", name})
	if err != nil {
		return unitState{}, err
	}
	if res.code != 0 {
		return unitState{}, errors.New(res.summary("systemctl show"))
	}
	var u unitState
	sc := bufio.NewScanner(strings.NewReader(res.output))
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), "=")
		switch k {
		case "LoadState":
			u.load = v
		case "ActiveState":
			u.active = v
		case "UnitFileState":
			u.unitFile = v
		}
	}
	if u.load == "" {
		return unitState{}, fmt.Errorf("systemctl show %s: no LoadState in its output", name)
	}
	return u, nil
}

// running is true for units that are up or on their way up.
func (u unitState) running() bool {
	return u.active == "active" || u.active == "activating" || u.active == "reloading"
}

func (p *serviceProvider) check(ctx context.Context, r *desired.Resource) (string, error) {
	if err := p.usable(); err != nil {
		return "", err
	}
	want, err := wantService(r)
	if err != nil {
		return "", err
	}
	u, err := p.show(ctx, r.Service.Name)
	if err != nil {
		return "", err
	}
	if u.load == "not-found" {
		if want == svcRunning {
			return "", fmt.Errorf("service %s is not installed", r.Service.Name)
		}
		return "", nil // a service that does not exist is neither running nor enabled
	}
	switch want {
	case svcRunning:
		if !u.running() {
			return "not running (" + u.active + ")", nil
		}
		if u.unitFile == "disabled" || strings.HasPrefix(u.unitFile, "masked") {
			return "running but " + u.unitFile + " at boot", nil
		}
	case svcStopped:
		if u.running() {
			return "running, want stopped", nil
		}
	case svcDisabled:
		if u.running() {
			return "running, want disabled", nil
		}
		if strings.HasPrefix(u.unitFile, "enabled") {
			return u.unitFile + " at boot, want disabled", nil
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
	u, err := p.show(ctx, name)
	if err != nil {
		return err
	}
	var steps [][]string
	switch want {
	case svcRunning:
		if strings.HasPrefix(u.unitFile, "masked") {
			steps = append(steps, []string{"unmask", "--", name})
		}
		if u.unitFile == "disabled" || strings.HasPrefix(u.unitFile, "masked") {
			steps = append(steps, []string{"enable", "--", name})
		}
		steps = append(steps, []string{"start", "--", name})
	case svcStopped:
		steps = append(steps, []string{"stop", "--", name})
	case svcDisabled:
		if strings.HasPrefix(u.unitFile, "enabled") {
			steps = append(steps, []string{"disable", "--", name})
		}
		steps = append(steps, []string{"stop", "--", name})
	}
	for _, args := range steps {
		res, err := p.sh.program(ctx, systemctlTimeout, p.systemctl, args)
		if err != nil {
			return err
		}
		if res.code != 0 {
			return errors.New(res.summary("systemctl " + args[0]))
		}
	}
	return nil
}
