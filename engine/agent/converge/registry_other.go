//go:build !windows

package converge

import (
	"context"

	"samverk.io/samverk/engine/desired"
)

func (p *registryProvider) check(context.Context, *desired.Resource) (string, error) {
	return "", skip("registry is Windows-only")
}

func (p *registryProvider) apply(context.Context, *desired.Resource) error {
	return skip("registry is Windows-only")
}
