package cli

import (
	"context"
	"log/slog"
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"samverk.io/samverk/engine/auth"
	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/fleet"
	"samverk.io/samverk/engine/impact"
	"samverk.io/samverk/engine/notice"
	"samverk.io/samverk/engine/reconcile"
	"samverk.io/samverk/engine/servicestatus"
	"samverk.io/samverk/engine/store"
	"samverk.io/samverk/engine/usage"
)

// serviceDeskRoutes puts together what the service desk uses: outage impact, service status,
// notices and usage per member, over the catalog rec serves, the store and the fleet.
// onSent observers are told of every notice sent.
func serviceDeskRoutes(rec *reconcile.Reconciler, st store.Store, devices *fleet.Service, board *notice.Board,
	onSent []func(context.Context, *store.Notice), reg prometheus.Registerer, log *slog.Logger) ([]auth.Route, error) {
	current := func() (string, *catalog.Catalog) {
		if p := rec.Current(); p != nil {
			return p.Revision, p.Catalog
		}
		return "", nil
	}
	statuses, err := servicestatus.New(servicestatus.Options{Store: st, Catalog: current, Logger: log.With("component", "servicestatus")})
	if err != nil {
		return nil, err
	}
	notices, err := notice.New(notice.Options{Board: board, Store: st, Devices: devices, Catalog: current, Registerer: reg,
		Logger: log.With("component", "notices"), OnSent: onSent})
	if err != nil {
		return nil, err
	}
	use, err := usage.New(usage.Options{Catalog: current, Counts: devices.GroupCounts, Installed: st, Logger: log.With("component", "usage")})
	if err != nil {
		return nil, err
	}
	imp := &impact.API{Catalog: current, Counts: devices.GroupCounts}
	return slices.Concat(imp.Routes(), statuses.Routes(), notices.Routes(), use.Routes()), nil
}
