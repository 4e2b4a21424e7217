package grants

import (
	"context"
	"slices"
	"strings"

	"samverk.io/samverk/engine/store"
)

// Held is one device that has a service through an active grant.
type Held struct {
	Member, Service, Device string
}

// Held lists the devices that have a service through an active grant, one row per member,
// service and device (a device with two grants of one service is one row), by member,
// service and device. Grants for a person deliver to no device and are not listed. Impact
// and usage count them as devices reached "via grant".
func (l *Ledger) Held(ctx context.Context) ([]Held, error) {
	gs, err := l.opt.Store.ListGrants(ctx, store.GrantFilter{States: []string{string(Active)}})
	if err != nil {
		return nil, err
	}
	var out []Held
	for _, g := range gs {
		for _, d := range g.Devices {
			out = append(out, Held{Member: g.Member, Service: g.Service, Device: d})
		}
	}
	slices.SortFunc(out, func(a, b Held) int {
		if c := strings.Compare(a.Member, b.Member); c != 0 {
			return c
		}
		if c := strings.Compare(a.Service, b.Service); c != 0 {
			return c
		}
		return strings.Compare(a.Device, b.Device)
	})
	return slices.Compact(out), nil
}
