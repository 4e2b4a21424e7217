package converge

import (
	"context"
	"errors"
	"fmt"

	"samverk.io/samverk/engine/desired"
)

// commandProvider runs a check script (exit 0 = compliant) and, when it fails, the set script.
type commandProvider struct {
	sh *shell
}

var _ provider = (*commandProvider)(nil)

func (p *commandProvider) check(ctx context.Context, r *desired.Resource) (string, error) {
	c := r.Command
	if r.Ensure == Absent {
		return "", errors.New("ensure absent has no meaning for a command; the check script says what compliant is")
	}
	if c.Check == "" {
		return "", errors.New("no check script")
	}
	res, err := p.sh.script(ctx, c.Check, timeout(c.TimeoutSeconds, DefaultCommandTimeout), "SAMVERK_RESOURCE="+r.ID)
	if err != nil {
		return "", fmt.Errorf("check script: %w", err)
	}
	if res.code != 0 {
		return res.summary("check"), nil
	}
	return "", nil
}

func (p *commandProvider) apply(ctx context.Context, r *desired.Resource) error {
	c := r.Command
	if c.Set == "" {
		return errors.New("no set script")
	}
	res, err := p.sh.script(ctx, c.Set, timeout(c.TimeoutSeconds, DefaultCommandTimeout), "SAMVERK_RESOURCE="+r.ID)
	if err != nil {
		return fmt.Errorf("set script: %w", err)
	}
	if res.code != 0 {
		return errors.New(res.summary("set script"))
	}
	return nil
}
