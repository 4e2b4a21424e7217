package cli

import (
	"context"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"samverk.io/samverk/engine/auth"
	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/fleet"
	"samverk.io/samverk/engine/grants"
	"samverk.io/samverk/engine/impact"
	"samverk.io/samverk/engine/notice"
	"samverk.io/samverk/engine/notify"
	"samverk.io/samverk/engine/reconcile"
	"samverk.io/samverk/engine/servicestatus"
	"samverk.io/samverk/engine/store"
	"samverk.io/samverk/engine/usage"
)

// serviceDeskRoutes puts together what the service desk uses: outage impact, service status,
// notices and usage per member, over the catalog rec serves, the store and the fleet.
// onSent observers are told of every notice sent.
func serviceDeskRoutes(rec *reconcile.Reconciler, st store.Store, devices *fleet.Service, ledger *grants.Ledger, board *notice.Board,
	onSent []func(context.Context, *store.Notice), reg prometheus.Registerer, log *slog.Logger) ([]auth.Route, error) {
	current := currentCatalog(rec)
	statuses, err := servicestatus.New(servicestatus.Options{Store: st, Catalog: current, Logger: log.With("component", "servicestatus")})
	if err != nil {
		return nil, err
	}
	notices, err := notice.New(notice.Options{Board: board, Store: st, Devices: devices, Catalog: current, Registerer: reg,
		Logger: log.With("component", "notices"), OnSent: onSent})
	if err != nil {
		return nil, err
	}
	use, err := usage.New(usage.Options{Catalog: current, Counts: devices.GroupCounts, Installed: st, Held: ledger.Held, Logger: log.With("component", "usage")})
	if err != nil {
		return nil, err
	}
	imp := &impact.API{Catalog: current, Counts: devices.GroupCounts, Held: ledger.Held}
	return slices.Concat(imp.Routes(), statuses.Routes(), notices.Routes(), use.Routes()), nil
}

// currentCatalog returns the catalog rec serves and its revision (nil before the first).
func currentCatalog(rec *reconcile.Reconciler) func() (string, *catalog.Catalog) {
	return func() (string, *catalog.Catalog) {
		if p := rec.Current(); p != nil {
			return p.Revision, p.Catalog
		}
		return "", nil
	}
}

// newLedger keeps service requests and grants over the catalog rec serves and the store, and
// delivers the products of grants to devices through the fleet. A grant about to end is
// logged; notifications hook in through grants.Options.Warn.
func newLedger(rec *reconcile.Reconciler, st store.Store, devices *fleet.Service, page grants.Page, leading func() bool,
	notifier *notify.Notifier, log *slog.Logger, now func() time.Time) (*grants.Ledger, error) {
	log = log.With("component", "grants")
	return grants.New(grants.Options{Store: st, Catalog: currentCatalog(rec), Devices: st, Deliverer: devices, Page: page, Logger: log, Now: now,
		Leading: leading,
		Warn: func(_ context.Context, g store.Grant) {
			log.Info("a grant ends soon", "grant", g.ID, "service", g.Service, "member", g.Member, "until", g.Until)
			subject := g.Person
			if subject == "" {
				subject = strings.Join(g.Devices, ", ")
			}
			notifier.GrantsExpiring([]notify.Grant{{ID: strconv.FormatInt(g.ID, 10), Member: g.Member, Service: g.Service,
				Subject: subject, Expires: g.Until}})
		}})
}
