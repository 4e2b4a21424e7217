package servicestatus_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	bundled "samverk.io/samverk/catalog"
	"samverk.io/samverk/engine/auth"
	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/servicestatus"
	"samverk.io/samverk/engine/store"
	"samverk.io/samverk/engine/store/storetest"
)

var t0 = time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)

// server serves the board's routes over loopback; each request acts as who (nil: anonymous),
// as the route table would after its checks.
func server(t *testing.T, kind string, who *auth.Principal, now *time.Time) (*servicestatus.Board, string) {
	t.Helper()
	res, err := catalog.Load(bundled.FS, catalog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st := storetest.Open(t, kind, store.Options{})
	b, err := servicestatus.New(servicestatus.Options{Store: st, Catalog: func() (string, *catalog.Catalog) { return "abc", res.Catalog },
		Now: func() time.Time { return *now }})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	for _, rt := range b.Routes() {
		h := rt.Handler
		mux.Handle(rt.Method+" "+rt.Pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if who != nil && rt.Need != "" {
				r = r.WithContext(auth.WithPrincipal(r.Context(), who))
			}
			h.ServeHTTP(w, r)
		}))
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return b, srv.URL
}

func do(t *testing.T, method, u, ctype string, body string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

type publicBoard struct {
	Services []struct {
		Service    string   `json:"service"`
		State      string   `json:"state"`
		Message    string   `json:"message"`
		ImpactedBy []string `json:"impactedBy"`
		Upcoming   *struct {
			State string `json:"state"`
		} `json:"upcoming"`
	} `json:"services"`
}

func (p *publicBoard) state(service string) (state, message string, impactedBy []string, upcoming string) {
	for _, s := range p.Services {
		if s.Service == service {
			if s.Upcoming != nil {
				upcoming = s.Upcoming.State
			}
			return s.State, s.Message, s.ImpactedBy, upcoming
		}
	}
	return "", "", nil, ""
}

// TestStatusBoard declares an outage of the login broker as its owner and reads it back from
// the public page, its JSON and the history, against every store.
func TestStatusBoard(t *testing.T) {
	for _, kind := range storetest.Kinds {
		t.Run(kind, func(t *testing.T) {
			now := t0
			owner := &auth.Principal{Subject: "oidc:anna", Method: "oidc", Grants: []auth.Grant{{Role: auth.Operator, Member: "myndigheten-for-samhallsdata"}}}
			_, base := server(t, kind, owner, &now)

			resp, body := do(t, "POST", base+"/api/v1/services/inloggningstjanst/status", "application/json",
				`{"state":"outage","message":"Inloggningen är nere","to":"2026-12-03T14:00:00Z"}`)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("set: %s %s", resp.Status, body)
			}
			var set store.ServiceStatus
			json.Unmarshal(body, &set)
			if set.Seq == 0 || set.SetBy != "oidc:anna" || set.Member != "myndigheten-for-samhallsdata" || !set.From.Equal(t0) {
				t.Errorf("set = %+v", set)
			}
			// A maintenance announced for tomorrow.
			if resp, body := do(t, "POST", base+"/api/v1/services/utskrift/status", "application/json",
				`{"state":"maintenance","message":"Nya skrivardrivrutiner","from":"2026-12-04T06:00:00Z","to":"2026-12-04T08:00:00Z"}`); resp.StatusCode != http.StatusOK {
				t.Fatalf("set maintenance: %s %s", resp.Status, body)
			}

			resp, body = do(t, "GET", base+"/status.json", "", "")
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
				t.Fatalf("status.json: %s %v", resp.Status, resp.Header)
			}
			if bytes.Contains(body, []byte("oidc:anna")) || bytes.Contains(body, []byte("setBy")) {
				t.Errorf("the public board names who set a status: %s", body)
			}
			var pub publicBoard
			if err := json.Unmarshal(body, &pub); err != nil {
				t.Fatal(err)
			}
			if st, msg, _, _ := pub.state("inloggningstjanst"); st != "outage" || msg != "Inloggningen är nere" {
				t.Errorf("inloggningstjanst: %s %q", st, msg)
			}
			if st, _, by, _ := pub.state("e-post"); st != "operational" || !slices.Equal(by, []string{"inloggningstjanst"}) {
				t.Errorf("e-post: %s, impacted by %v", st, by)
			}
			if st, _, by, _ := pub.state("kontorspaket-libreoffice"); st != "operational" || len(by) != 0 {
				t.Errorf("kontorspaket-libreoffice: %s, impacted by %v", st, by)
			}
			if st, _, _, up := pub.state("utskrift"); st != "operational" || up != "maintenance" {
				t.Errorf("utskrift before its window: %s, upcoming %q", st, up)
			}

			resp, body = do(t, "GET", base+"/status", "", "")
			if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(`data-service="inloggningstjanst" data-state="outage"`)) ||
				!strings.Contains(resp.Header.Get("Content-Security-Policy"), "frame-ancestors *") {
				t.Errorf("status page: %s %s\n%s", resp.Status, resp.Header.Get("Content-Security-Policy"), body)
			}

			// Past the outage's window, and inside the maintenance's, the board says so
			// (MaxAge has passed too).
			now = t0.Add(19 * time.Hour)
			_, body = do(t, "GET", base+"/status.json", "", "")
			pub = publicBoard{}
			json.Unmarshal(body, &pub)
			if st, _, _, _ := pub.state("inloggningstjanst"); st != "operational" {
				t.Errorf("inloggningstjanst after its window: %s", st)
			}
			if st, _, _, _ := pub.state("utskrift"); st != "maintenance" {
				t.Errorf("utskrift in its window: %s", st)
			}

			// The console's form, back to the console page.
			form := url.Values{"state": {"degraded"}, "message": {"Långsam"}}
			resp, _ = do(t, "POST", base+"/api/v1/services/inloggningstjanst/status", "application/x-www-form-urlencoded", form.Encode())
			if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/service-status?done=") {
				t.Errorf("form: %s %s", resp.Status, resp.Header.Get("Location"))
			}
			resp, body = do(t, "GET", base+"/service-status", "", "")
			if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(`data-service="inloggningstjanst" data-state="degraded"`)) ||
				!bytes.Contains(body, []byte(`action="/api/v1/services/inloggningstjanst/status"`)) {
				t.Errorf("console page: %s\n%s", resp.Status, body)
			}
			if bytes.Contains(body, []byte(`action="/api/v1/services/utskrift/status"`)) {
				t.Error("the console page offers to set the status of a service another member owns")
			}

			resp, body = do(t, "GET", base+"/api/v1/services/inloggningstjanst/status", "", "")
			var hist struct {
				History []store.ServiceStatus `json:"history"`
			}
			json.Unmarshal(body, &hist)
			if resp.StatusCode != http.StatusOK || len(hist.History) != 2 || hist.History[0].State != "degraded" || hist.History[1].State != "outage" {
				t.Errorf("history: %s %s", resp.Status, body)
			}
		})
	}
}

// TestBadStatus: every bad status request is refused with its reason, and nothing is stored.
func TestBadStatus(t *testing.T) {
	now := t0
	owner := &auth.Principal{Subject: "oidc:anna", Method: "oidc", Grants: []auth.Grant{{Role: auth.Operator, Member: "*"}}}
	b, base := server(t, "sqlite", owner, &now)
	for _, c := range []struct {
		name, ctype, body, want string
		code                    int
	}{
		{"unknown state", "application/json", `{"state":"broken"}`, "want operational, degraded, outage or maintenance", 400},
		{"no state", "application/json", `{"message":"x"}`, "want operational, degraded", 400},
		{"long message", "application/json", `{"state":"outage","message":"` + strings.Repeat("å", 1001) + `"}`, "1001 characters; at most 1000", 400},
		{"window backwards", "application/json", `{"state":"outage","from":"2026-12-03T12:00:00Z","to":"2026-12-03T11:00:00Z"}`, "must be after from", 400},
		{"unknown field", "application/json", `{"state":"outage","colour":"red"}`, "unknown field", 400},
		{"not JSON", "application/json", `{"state":`, "invalid JSON", 400},
		{"too large", "application/json", `{"state":"outage","message":"` + strings.Repeat("x", 20000) + `"}`, "exceeds the limit", 413},
		{"wrong type", "text/plain", `outage`, "application/json", 415},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, body := do(t, "POST", base+"/api/v1/services/inloggningstjanst/status", c.ctype, c.body)
			if resp.StatusCode != c.code || !bytes.Contains(body, []byte(c.want)) {
				t.Errorf("%s %s, want %d with %q", resp.Status, body, c.code, c.want)
			}
		})
	}
	if h, err := b.History(t.Context(), "inloggningstjanst", 0); err != nil || len(h) != 0 {
		t.Errorf("after refusals, history = %v, %v", h, err)
	}
	// The owner resolver: a service's owner, 404 for none.
	req := httptest.NewRequest("POST", "/api/v1/services/fjarratkomst/status", nil)
	req.SetPathValue("service", "fjarratkomst")
	if m, err := b.Owner(req); err != nil || m != "region-norr" {
		t.Errorf("owner of fjarratkomst = %q, %v", m, err)
	}
	req.SetPathValue("service", "nope")
	if _, err := b.Owner(req); err != auth.ErrNotFound {
		t.Errorf("owner of an unknown service: %v", err)
	}
}
