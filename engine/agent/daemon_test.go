package agent

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"samverk.io/samverk/engine/desired"
)

// daemon is a test server that speaks the agent API as the samverk daemon does:
//
//	POST /api/v1/enroll                      Bearer <enrollment token>  -> 201 EnrollResponse
//	GET  /api/v1/devices/{id}/desired         Bearer <credential>, If-None-Match -> 200 + ETag | 304
//	POST /api/v1/devices/{id}/reports         Bearer <credential>  -> 202
//
// 401 for a bad token or credential, 403 for another device's path. Faults queued per
// endpoint are answered first, in order.
type daemon struct {
	t     *testing.T
	srv   *httptest.Server
	token string
	now   func() time.Time

	mu      sync.Mutex
	devices map[string]string // device id -> credential
	state   *desired.State
	faults  map[string][]fault
	log     []request
	reports []desired.Report
	// notices are in force for every device; while shedding, the notices endpoint serves the
	// crisis ones only, as the daemon does under load.
	notices  []desired.Notice
	shedding bool
}

// fault is one canned answer, e.g. 503 with Retry-After.
type fault struct {
	status     int
	retryAfter string
}

// request is what the daemon saw of one request.
type request struct {
	endpoint    string // enroll, desired, reports
	at          time.Time
	status      int
	ifNoneMatch string
	auth        string
}

func newDaemon(t *testing.T) *daemon {
	d := &daemon{t: t, token: "member-token", now: time.Now, devices: map[string]string{}, faults: map[string][]fault{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/enroll", d.enroll)
	mux.HandleFunc("GET /api/v1/devices/{id}/desired", d.desired)
	mux.HandleFunc("POST /api/v1/devices/{id}/reports", d.report)
	mux.HandleFunc("GET /api/v1/devices/{id}/notices", d.deviceNotices)
	d.srv = httptest.NewServer(mux)
	t.Cleanup(d.srv.Close)
	return d
}

// setState publishes a state, computing its hash over everything but revision and hash.
func (d *daemon) setState(s desired.State) {
	s.Hash = ""
	rev := s.Revision
	s.Revision = ""
	b, err := json.Marshal(s)
	if err != nil {
		d.t.Fatal(err)
	}
	h := sha256.Sum256(b)
	s.Hash = hex.EncodeToString(h[:16])
	s.Revision = rev
	d.mu.Lock()
	d.state = &s
	d.mu.Unlock()
}

func (d *daemon) fail(endpoint string, fs ...fault) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.faults[endpoint] = append(d.faults[endpoint], fs...)
}

func (d *daemon) requests(endpoint string) []request {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []request
	for _, r := range d.log {
		if r.endpoint == endpoint {
			out = append(out, r)
		}
	}
	return out
}

func (d *daemon) received() []desired.Report {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]desired.Report(nil), d.reports...)
}

// begin records the request and answers a queued fault, if any; it returns false when it did.
func (d *daemon) begin(w http.ResponseWriter, r *http.Request, endpoint string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	req := request{endpoint: endpoint, at: d.now(), ifNoneMatch: r.Header.Get("If-None-Match"), auth: r.Header.Get("Authorization")}
	if fs := d.faults[endpoint]; len(fs) > 0 {
		f := fs[0]
		d.faults[endpoint] = fs[1:]
		req.status = f.status
		d.log = append(d.log, req)
		if f.retryAfter != "" {
			w.Header().Set("Retry-After", f.retryAfter)
		}
		http.Error(w, http.StatusText(f.status), f.status)
		return false
	}
	d.log = append(d.log, req)
	return true
}

func (d *daemon) setStatus(status int) {
	d.mu.Lock()
	d.log[len(d.log)-1].status = status
	d.mu.Unlock()
}

func bearer(r *http.Request) string {
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
}

func (d *daemon) enroll(w http.ResponseWriter, r *http.Request) {
	if !d.begin(w, r, "enroll") {
		return
	}
	if bearer(r) != d.token {
		d.setStatus(401)
		http.Error(w, "bad token", http.StatusUnauthorized)
		return
	}
	var req desired.EnrollRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Facts.OSFamily == "" {
		d.setStatus(400)
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	d.mu.Lock()
	id := fmt.Sprintf("dev-%d", len(d.devices)+1)
	cred := "cred-" + id
	d.devices[id] = cred
	d.mu.Unlock()
	d.setStatus(201)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(desired.EnrollResponse{DeviceID: id, Credential: cred, Member: "region-norr"})
}

// authorize answers 401/403 and returns false when the credential does not fit the path.
func (d *daemon) authorize(w http.ResponseWriter, r *http.Request) bool {
	d.mu.Lock()
	var owner string
	for id, c := range d.devices {
		if c == bearer(r) {
			owner = id
		}
	}
	d.mu.Unlock()
	switch {
	case owner == "":
		d.setStatus(401)
		http.Error(w, "unknown credential", http.StatusUnauthorized)
		return false
	case owner != r.PathValue("id"):
		d.setStatus(403)
		http.Error(w, "not your device", http.StatusForbidden)
		return false
	}
	return true
}

func (d *daemon) desired(w http.ResponseWriter, r *http.Request) {
	if !d.begin(w, r, "desired") || !d.authorize(w, r) {
		return
	}
	d.mu.Lock()
	s := d.state
	d.mu.Unlock()
	if s == nil {
		d.setStatus(404)
		http.Error(w, "no state compiled yet", http.StatusNotFound)
		return
	}
	etag := `"` + s.Hash + `"`
	w.Header().Set("ETag", etag)
	d.mu.Lock()
	if n := len(d.notices); n > 0 {
		w.Header().Set(desired.NoticeHeader, fmt.Sprint(d.notices[n-1].Seq))
	}
	d.mu.Unlock()
	if r.Header.Get("If-None-Match") == etag {
		d.setStatus(304)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	d.setStatus(200)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(s)
}

func (d *daemon) report(w http.ResponseWriter, r *http.Request) {
	if !d.begin(w, r, "reports") || !d.authorize(w, r) {
		return
	}
	var rep desired.Report
	if err := json.NewDecoder(r.Body).Decode(&rep); err != nil {
		d.setStatus(400)
		http.Error(w, "bad report", http.StatusBadRequest)
		return
	}
	d.mu.Lock()
	d.reports = append(d.reports, rep)
	d.mu.Unlock()
	d.setStatus(202)
	w.WriteHeader(http.StatusAccepted)
}

// deviceNotices serves the notices after ?after=, as GET /api/v1/devices/{id}/notices does.
func (d *daemon) deviceNotices(w http.ResponseWriter, r *http.Request) {
	if !d.begin(w, r, "notices") || !d.authorize(w, r) {
		return
	}
	var after int64
	fmt.Sscan(r.URL.Query().Get("after"), &after)
	d.mu.Lock()
	l := desired.NoticeList{Notices: []desired.Notice{}, Partial: d.shedding}
	for _, n := range d.notices {
		if n.Seq > after && (!d.shedding || n.Severity == "crisis") {
			l.Notices = append(l.Notices, n)
		}
	}
	d.mu.Unlock()
	d.setStatus(200)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(l)
}
