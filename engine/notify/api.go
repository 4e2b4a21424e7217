package notify

import (
	"context"
	"net/http"
	"strconv"

	"samverk.io/samverk/engine/auth"
	"samverk.io/samverk/engine/httpjson"
	"samverk.io/samverk/engine/store"
)

// Lister reads delivery records.
type Lister interface {
	Deliveries(ctx context.Context, q store.DeliveryQuery) ([]store.Delivery, error)
}

// Routes serve the record of deliveries (notifications and commit statuses) to consortium
// viewers: GET /api/v1/deliveries?sink=&event=&limit=, newest first. Sinks are the daemon's,
// not a member's, so reading them needs a consortium grant.
func Routes(st Lister) []auth.Route {
	return []auth.Route{{Method: http.MethodGet, Pattern: "/api/v1/deliveries", Need: auth.Viewer,
		Member:  func(*http.Request) (string, error) { return auth.Consortium, nil },
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { deliveries(st, w, r) })}}
}

func deliveries(st Lister, w http.ResponseWriter, r *http.Request) {
	q := store.DeliveryQuery{Sink: r.URL.Query().Get("sink"), Event: r.URL.Query().Get("event")}
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			httpjson.Error(w, http.StatusBadRequest, "limit: want a positive number")
			return
		}
		q.Limit = n
	}
	ds, err := st.Deliveries(r.Context(), q)
	if err != nil {
		httpjson.Error(w, http.StatusInternalServerError, "list deliveries: the store failed")
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"deliveries": ds})
}
