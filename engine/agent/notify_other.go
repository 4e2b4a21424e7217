//go:build !linux && !windows

package agent

import (
	"context"
	"os/exec"

	"samverk.io/samverk/engine/desired"
)

func commandContext(ctx context.Context, c Command) *exec.Cmd {
	return exec.CommandContext(ctx, c.Path, c.Args...)
}

// noDesktop: elsewhere the notice file and the hook are the desktop's way.
type noDesktop struct{}

func newDesktop(runner) desktop { return noDesktop{} }

func (noDesktop) Show(context.Context, *desired.Notice) error { return nil }
