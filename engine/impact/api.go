package impact

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"samverk.io/samverk/engine/auth"
	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/fleet"
)

// API serves GET /api/v1/impact.
type API struct {
	// Catalog is the catalog revision served, or nil before the first publish.
	Catalog func() (revision string, cat *catalog.Catalog)
	// Counts counts the devices served by member and device group (fleet.Service.GroupCounts).
	Counts func() []fleet.GroupCount
}

// Routes are the impact API's rows of the route table. Any viewer may ask: the dependency
// graph is of shared documents; the device counts are of the members the reader sees.
func (a *API) Routes() []auth.Route {
	return []auth.Route{
		{Method: http.MethodGet, Pattern: "/api/v1/impact", Need: auth.Viewer, Handler: http.HandlerFunc(a.impact)},
	}
}

func (a *API) impact(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("service")
	if name == "" {
		writeError(w, http.StatusBadRequest, "name the service: ?service=<name>")
		return
	}
	rep, err := a.Report(name)
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

// ErrNotPublished is returned before the first catalog revision is published.
var ErrNotPublished = errors.New("no catalog revision is published yet")

// Report is the unrestricted impact of service on the catalog served.
func (a *API) Report(service string) (*Report, error) {
	rev, cat := a.Catalog()
	if cat == nil {
		return nil, ErrNotPublished
	}
	var counts []fleet.GroupCount
	if a.Counts != nil {
		counts = a.Counts()
	}
	rep, err := Analyze(cat, service, counts)
	if err != nil {
		return nil, err
	}
	rep.Revision = rev
	return rep, nil
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"error":"encode response"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
}
