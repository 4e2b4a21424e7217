package impact

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"samverk.io/samverk/engine/auth"
	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/fleet"
	"samverk.io/samverk/engine/grants"
	"samverk.io/samverk/engine/httpjson"
)

// API serves GET /api/v1/impact.
type API struct {
	// Catalog is the catalog revision served, or nil before the first publish.
	Catalog func() (revision string, cat *catalog.Catalog)
	// Counts counts the devices served by member and device group (fleet.Service.GroupCounts).
	Counts func() []fleet.GroupCount
	// Held lists the devices that have a service through an active grant
	// (grants.Ledger.Held); nil counts none.
	Held func(ctx context.Context) ([]grants.Held, error)
}

// Routes are the impact API's rows of the route table. Any viewer may ask: the dependency
// graph is of shared documents; the device counts are of the members the reader sees.
// Without ?service= it answers every service's impact in a line.
func (a *API) Routes() []auth.Route {
	return []auth.Route{
		{Method: http.MethodGet, Pattern: "/api/v1/impact", Need: auth.Viewer, Handler: http.HandlerFunc(a.impact)},
	}
}

func (a *API) impact(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("service")
	if name == "" {
		a.index(w, r)
		return
	}
	rep, err := a.Report(r.Context(), name)
	switch {
	case errors.Is(err, ErrUnknownService):
		writeError(w, http.StatusNotFound, err.Error())
		return
	case err != nil:
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	who := auth.FromContext(r.Context())
	rep.Restrict(who.Sees)
	writeJSON(w, http.StatusOK, rep)
}

// Summary is one service's line of the impact index.
type Summary struct {
	Service     string `json:"service"`
	DisplayName string `json:"displayName,omitempty"`
	Owner       string `json:"owner,omitempty"`
	Dependents  int    `json:"dependents"`
	Members     int    `json:"members"`
	Devices     int    `json:"devices"`
}

// index answers GET /api/v1/impact without ?service=: every service's impact in one line,
// counted over the members the reader sees.
func (a *API) index(w http.ResponseWriter, r *http.Request) {
	rev, cat := a.Catalog()
	if cat == nil {
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, ErrNotPublished.Error())
		return
	}
	var counts []fleet.GroupCount
	if a.Counts != nil {
		counts = a.Counts()
	}
	held, err := a.held(r.Context())
	if err != nil {
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	who := auth.FromContext(r.Context())
	out := []Summary{}
	for _, d := range cat.OfKind(catalog.KindService) {
		rep, err := Analyze(cat, d.Name, counts, held)
		if err != nil {
			continue
		}
		rep.Restrict(who.Sees)
		out = append(out, Summary{Service: rep.Service, DisplayName: rep.DisplayName, Owner: rep.Owner, Dependents: len(rep.Dependents),
			Members: len(rep.Members), Devices: rep.Devices})
	}
	writeJSON(w, http.StatusOK, map[string]any{"revision": rev, "services": out})
}

// ErrNotPublished is returned before the first catalog revision is published.
var ErrNotPublished = errors.New("no catalog revision is published yet")

// held is what Held lists, or nothing without it.
func (a *API) held(ctx context.Context) ([]grants.Held, error) {
	if a.Held == nil {
		return nil, nil
	}
	h, err := a.Held(ctx)
	if err != nil {
		return nil, fmt.Errorf("the grants cannot be read now: %w", err)
	}
	return h, nil
}

// Report is the unrestricted impact of service on the catalog served.
func (a *API) Report(ctx context.Context, service string) (*Report, error) {
	rev, cat := a.Catalog()
	if cat == nil {
		return nil, ErrNotPublished
	}
	var counts []fleet.GroupCount
	if a.Counts != nil {
		counts = a.Counts()
	}
	held, err := a.held(ctx)
	if err != nil {
		return nil, err
	}
	rep, err := Analyze(cat, service, counts, held)
	if err != nil {
		return nil, err
	}
	rep.Revision = rev
	return rep, nil
}

var writeJSON, writeError = httpjson.Write, httpjson.Error
