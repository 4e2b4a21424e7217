package fleet_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"samverk.io/samverk/engine/auth"
	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/desired"
	"samverk.io/samverk/engine/fleet"
	"samverk.io/samverk/engine/store"
	"samverk.io/samverk/engine/store/storetest"
)

const (
	norrToken     = "norr-enroll-0123456789abcdef0123456789abcdef"
	vasterbyToken = "vasterby-enroll-0123456789abcdef0123456789ab"
	adminToken    = "admin-0123456789abcdef0123456789abcdef"
	norrRead      = "norr-read-0123456789abcdef0123456789abcdef"
)

// client gives up on a request that hangs, so that a stuck handler fails its test.
var client = &http.Client{Timeout: time.Minute}

// harness is a Service on a real store behind a real loopback HTTP server.
type harness struct {
	t   *testing.T
	url string
	svc *fleet.Service
	st  store.Store
	reg *prometheus.Registry
	cat *catalog.Catalog
}

func start(t *testing.T, kind string, opt fleet.Options) *harness {
	t.Helper()
	return startOn(t, storetest.Open(t, kind, store.Options{}), opt)
}

// startOn starts a Service on st; wrap, if given, wraps the handler the server runs.
func startOn(t *testing.T, st store.Store, opt fleet.Options, wrap ...func(http.Handler) http.Handler) *harness {
	t.Helper()
	if opt.EnrollTokens.Len() == 0 {
		tok, err := fleet.ParseTokenList("region-norr=" + norrToken + ",kommun-vasterby=" + vasterbyToken)
		if err != nil {
			t.Fatal(err)
		}
		opt.EnrollTokens = tok
	}
	if opt.ReadTokens.Len() == 0 {
		if err := opt.ReadTokens.Add("region-norr", norrRead); err != nil {
			t.Fatal(err)
		}
	}
	if opt.AdminToken == "" {
		opt.AdminToken = adminToken
	}
	reg := prometheus.NewRegistry()
	opt.Registerer = reg
	svc, err := fleet.New(context.Background(), st, opt)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	mux := http.NewServeMux()
	guard := auth.NewGuard(auth.GuardOptions{Tokens: []auth.TokenAuthenticator{auth.NewAdminToken(opt.AdminToken), svc.ReadTokens()}})
	auth.NewTable(mux, guard).MustAdd(svc.Routes()...)
	var handler http.Handler = mux
	for _, w := range wrap {
		handler = w(handler)
	}
	srv := httptest.NewServer(handler)
	t.Cleanup(func() {
		srv.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	h := &harness{t: t, url: srv.URL, svc: svc, st: st, reg: reg, cat: loadCatalog(t)}
	h.publish("rev1", h.cat)
	return h
}

func loadCatalog(t *testing.T) *catalog.Catalog {
	t.Helper()
	res, err := catalog.LoadDir("testdata/catalog", catalog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Findings) > 0 {
		t.Fatalf("test catalog: %v", res.Findings)
	}
	return res.Catalog
}

func (h *harness) publish(rev string, cat *catalog.Catalog) {
	h.t.Helper()
	if err := h.svc.Publish(context.Background(), rev, cat); err != nil {
		h.t.Fatal(err)
	}
}

type response struct {
	code   int
	header http.Header
	body   []byte
}

func (r response) errorMsg() string {
	var e struct{ Error string }
	json.Unmarshal(r.body, &e)
	return e.Error
}

func (h *harness) do(method, path, token string, body any, hdr ...string) response {
	h.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	case io.Reader:
		rd = b // sent chunked: no Content-Length
	default:
		j, err := json.Marshal(b)
		if err != nil {
			h.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, h.url+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return response{code: resp.StatusCode, header: resp.Header, body: b}
}

func (h *harness) enroll(token string, f desired.Facts) desired.EnrollResponse {
	h.t.Helper()
	r := h.do("POST", "/api/v1/enroll", token, desired.EnrollRequest{Facts: f})
	if r.code != http.StatusCreated {
		h.t.Fatalf("enroll: %d %s", r.code, r.body)
	}
	var out desired.EnrollResponse
	if err := json.Unmarshal(r.body, &out); err != nil {
		h.t.Fatal(err)
	}
	if r.header.Get("Location") != "/api/v1/devices/"+out.DeviceID {
		h.t.Errorf("Location %q", r.header.Get("Location"))
	}
	return out
}

func (h *harness) desired(dev desired.EnrollResponse, etag string) (response, *desired.State) {
	h.t.Helper()
	var hdr []string
	if etag != "" {
		hdr = []string{"If-None-Match", etag}
	}
	r := h.do("GET", "/api/v1/devices/"+dev.DeviceID+"/desired", dev.Credential, nil, hdr...)
	if r.code != http.StatusOK {
		return r, nil
	}
	var st desired.State
	if err := json.Unmarshal(r.body, &st); err != nil {
		h.t.Fatal(err)
	}
	return r, &st
}

var (
	norrFacts = desired.Facts{Hostname: "rn-lap-0001", Vendor: "Dell Inc.", Model: "Latitude 5450", OSFamily: "windows",
		OSBuild: "22631", Serial: "SN1", Labels: map[string]string{"role": "staff", "site": "umea"}}
	vasterbyFacts = desired.Facts{Hostname: "vb-pc-0001", Vendor: "Dell Inc.", Model: "Latitude 5450", OSFamily: "windows",
		OSBuild: "26100", Serial: "SN2"}
)

// TestEndToEnd is the acceptance path over loopback with the real handlers and each store.
func TestEndToEnd(t *testing.T) {
	for _, kind := range storetest.Kinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			h := start(t, kind, fleet.Options{})
			a := h.enroll(norrToken, norrFacts)
			b := h.enroll(vasterbyToken, vasterbyFacts)
			if a.Member != "region-norr" || b.Member != "kommun-vasterby" || a.DeviceID == b.DeviceID {
				t.Fatalf("enrolled %+v and %+v", a, b)
			}

			// Each device gets its own desired state, compiled from its member's groups.
			ra, sa := h.desired(a, "")
			rb, sb := h.desired(b, "")
			if sa == nil || sb == nil {
				t.Fatalf("desired: %d %s / %d %s", ra.code, ra.body, rb.code, rb.body)
			}
			if sa.Member != "region-norr" || sa.Group != "staff" || sa.Revision != "rev1" || sa.OS == nil || sa.OS.Action != "upgrade" {
				t.Errorf("device a state: %+v", sa)
			}
			if sb.Member != "kommun-vasterby" || sb.Group != "everyone" || sb.Ring != "early" {
				t.Errorf("device b state: %+v", sb)
			}
			if !hasResource(sa, "package/firefox") || hasResource(sb, "package/firefox") {
				t.Errorf("firefox is for region-norr staff only: a %v, b %v", ids(sa), ids(sb))
			}
			if et := ra.header.Get("ETag"); et != strconv.Quote(sa.Hash) || sa.Hash == "" {
				t.Errorf("ETag %q, hash %q", et, sa.Hash)
			}

			// The second poll revalidates: 304, no body.
			r, _ := h.desired(a, strconv.Quote(sa.Hash))
			if r.code != http.StatusNotModified || len(r.body) != 0 || r.header.Get("ETag") != strconv.Quote(sa.Hash) {
				t.Errorf("revalidate: %d, %d bytes, ETag %q", r.code, len(r.body), r.header.Get("ETag"))
			}
			for _, inm := range []string{`W/"` + sa.Hash + `"`, `"other", "` + sa.Hash + `"`, "*"} {
				if r, _ := h.desired(a, inm); r.code != http.StatusNotModified {
					t.Errorf("If-None-Match %s: %d, want 304", inm, r.code)
				}
			}
			if r, _ := h.desired(a, `"stale"`); r.code != http.StatusOK {
				t.Errorf("If-None-Match of another hash: %d, want 200", r.code)
			}

			// A report is stored and visible in the fleet view.
			rep := desired.Report{Revision: sa.Revision, Hash: sa.Hash, StartedAt: time.Now().UTC(), DurationMs: 900, Facts: norrFacts,
				Resources: []desired.ResourceResult{{ID: "package/firefox", Outcome: desired.Corrected, DurationMs: 800}, {ID: "setting/legal-notice", Outcome: desired.Unchanged}}}
			if r := h.do("POST", "/api/v1/devices/"+a.DeviceID+"/reports", a.Credential, rep); r.code != http.StatusAccepted {
				t.Fatalf("report: %d %s", r.code, r.body)
			}
			var list fleet.DeviceList
			r = h.do("GET", "/api/v1/devices?member=region-norr", adminToken, nil)
			if r.code != http.StatusOK {
				t.Fatalf("fleet view: %d %s", r.code, r.body)
			}
			json.Unmarshal(r.body, &list)
			if len(list.Devices) != 1 || list.Devices[0].ID != a.DeviceID {
				t.Fatalf("fleet view of region-norr: %s", r.body)
			}
			d := list.Devices[0]
			// Its hardware is certified for its group's target OS, which it does not run yet: its
			// upgrade is due and has not started, so it is not compliant whatever it reports.
			if d.Compliance != store.OSPending || d.LastReport == nil || d.LastReport.Counts.Corrected != 1 ||
				d.LastReport.AppliedHash != sa.Hash || d.Group != "staff" || d.DesiredHash != sa.Hash || d.Facts.Hostname != "rn-lap-0001" {
				t.Errorf("device in fleet view: %s", r.body)
			}
			r = h.do("GET", "/api/v1/devices?compliance=stale", adminToken, nil)
			json.Unmarshal(r.body, &list)
			if len(list.Devices) != 1 || list.Devices[0].ID != b.DeviceID {
				t.Errorf("stale devices: %s", r.body)
			}
			var hist struct{ Reports []store.StoredReport }
			json.Unmarshal(h.do("GET", "/api/v1/devices/"+a.DeviceID+"/reports", adminToken, nil).body, &hist)
			if len(hist.Reports) != 1 || len(hist.Reports[0].Resources) != 1 || hist.Reports[0].Resources[0].ID != "package/firefox" ||
				hist.Reports[0].Counts.Unchanged != 1 || hist.Reports[0].DurationMs != 900 {
				t.Errorf("history: %+v", hist)
			}
			var sum fleet.Summary
			json.Unmarshal(h.do("GET", "/api/v1/fleet/summary", adminToken, nil).body, &sum)
			if sum.Total.Devices != 2 || sum.Total.OSPending != 1 || sum.Total.Stale != 1 || len(sum.Members) != 2 ||
				sum.Members[1].Member != "region-norr" || sum.Members[1].Groups[0].Group != "staff" || sum.Members[1].Groups[0].Counts.OSPending != 1 {
				t.Errorf("summary: %+v", sum)
			}

			// Isolation.
			for _, c := range []struct {
				name, method, path, token string
				body                      any
				want                      int
			}{
				{"a's credential reads b", "GET", "/api/v1/devices/" + b.DeviceID + "/desired", a.Credential, nil, http.StatusForbidden},
				{"a's credential reports for b", "POST", "/api/v1/devices/" + b.DeviceID + "/reports", a.Credential, rep, http.StatusForbidden},
				{"enrollment token on a device", "GET", "/api/v1/devices/" + b.DeviceID + "/desired", norrToken, nil, http.StatusUnauthorized},
				{"other member's enrollment token", "GET", "/api/v1/devices/" + a.DeviceID + "/desired", vasterbyToken, nil, http.StatusUnauthorized},
				{"wrong secret", "GET", "/api/v1/devices/" + a.DeviceID + "/desired", a.DeviceID + "." + strings.Repeat("A", 43), nil, http.StatusUnauthorized},
				{"no credential", "GET", "/api/v1/devices/" + a.DeviceID + "/desired", "", nil, http.StatusUnauthorized},
				{"unknown device", "GET", "/api/v1/devices/" + strings.Repeat("0", 32) + "/desired", a.Credential, nil, http.StatusForbidden},
				{"malformed device id", "GET", "/api/v1/devices/nope/desired", a.Credential, nil, http.StatusNotFound},
				{"bad enrollment token", "POST", "/api/v1/enroll", "nope-0123456789abcdef0123456789abcdef", desired.EnrollRequest{Facts: norrFacts}, http.StatusUnauthorized},
				{"device credential enrolls", "POST", "/api/v1/enroll", a.Credential, desired.EnrollRequest{Facts: norrFacts}, http.StatusUnauthorized},
				{"fleet view without token", "GET", "/api/v1/devices", "", nil, http.StatusUnauthorized},
				{"fleet view with an enrollment token", "GET", "/api/v1/devices", norrToken, nil, http.StatusUnauthorized},
				{"fleet view with a device credential", "GET", "/api/v1/fleet/summary", a.Credential, nil, http.StatusUnauthorized},
				{"member read token, other member", "GET", "/api/v1/devices?member=kommun-vasterby", norrRead, nil, http.StatusForbidden},
				{"member read token, other member's device", "GET", "/api/v1/devices/" + b.DeviceID, norrRead, nil, http.StatusForbidden},
				{"member read token, other member's reports", "GET", "/api/v1/devices/" + b.DeviceID + "/reports", norrRead, nil, http.StatusForbidden},
				{"member read token, unknown device", "GET", "/api/v1/devices/" + strings.Repeat("0", 32), norrRead, nil, http.StatusNotFound},
				{"member read token, own device", "GET", "/api/v1/devices/" + a.DeviceID, norrRead, nil, http.StatusOK},
				{"admin reads any desired state", "GET", "/api/v1/devices/" + b.DeviceID + "/desired", adminToken, nil, http.StatusOK},
			} {
				t.Run(c.name, func(t *testing.T) {
					if r := h.do(c.method, c.path, c.token, c.body); r.code != c.want {
						t.Errorf("%d %s, want %d", r.code, r.body, c.want)
					}
				})
			}
			var own fleet.DeviceList
			json.Unmarshal(h.do("GET", "/api/v1/devices", norrRead, nil).body, &own)
			if len(own.Devices) != 1 || own.Devices[0].Member != "region-norr" {
				t.Errorf("member read token lists %+v", own.Devices)
			}
			var ownSum fleet.Summary
			json.Unmarshal(h.do("GET", "/api/v1/fleet/summary", norrRead, nil).body, &ownSum)
			if len(ownSum.Members) != 1 || ownSum.Total.Devices != 1 {
				t.Errorf("member read token summary %+v", ownSum)
			}

			// Metrics.
			if got := metricValues(t, h.reg, "samverk_fleet_reports_ingested_total"); got[""] != 1 {
				t.Errorf("reports ingested %v", got)
			}
			if got := metricValues(t, h.reg, "samverk_fleet_enrollments_total"); got["member=region-norr"] != 1 || got["member=kommun-vasterby"] != 1 {
				t.Errorf("enrollments %v", got)
			}
			deadline := time.Now().Add(5 * time.Second)
			for {
				got := metricValues(t, h.reg, "samverk_fleet_devices")
				if len(got) == 2*len(store.ComplianceStates) && got["member=region-norr,state=os-pending"] == 1 && got["member=kommun-vasterby,state=stale"] == 1 {
					break
				}
				if time.Now().After(deadline) {
					t.Errorf("samverk_fleet_devices %v; want 2 members x 8 states, a os-pending, b stale", got)
					break
				}
				h.svc.Publish(context.Background(), "rev1", h.cat) // asks for a recount
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}

// metricValues returns a metric's series by their labels ("k=v,k=v").
func metricValues(t *testing.T, g prometheus.Gatherer, name string) map[string]float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			v := m.GetGauge().GetValue() + m.GetCounter().GetValue()
			out[strings.Join(labels, ",")] = v
		}
	}
	return out
}

// TestBadRequests checks that malformed and oversize bodies are refused with a reason.
func TestBadRequests(t *testing.T) {
	h := start(t, "sqlite", fleet.Options{MaxReportBytes: 1024, MaxEnrollBytes: 2048})
	a := h.enroll(norrToken, norrFacts)
	reports := "/api/v1/devices/" + a.DeviceID + "/reports"
	big := `{"revision":"r","hash":"h","resources":[` + strings.Repeat(`{"id":"x","outcome":"unchanged","durationMs":1},`, 40) + `{"id":"x","outcome":"unchanged"}]}`
	for _, c := range []struct {
		name, path, token string
		body              any
		hdr               []string
		want              int
		reason            string
	}{
		{"not JSON", reports, a.Credential, "{nope", nil, 400, "invalid JSON"},
		{"cut short", reports, a.Credential, `{"revision":"r",`, nil, 400, "ends early"},
		{"empty", reports, a.Credential, "", nil, 400, "empty"},
		{"wrong type", reports, a.Credential, `{"revision":5}`, nil, 400, "field revision"},
		{"two values", reports, a.Credential, `{} {}`, nil, 400, "after the JSON value"},
		{"unknown outcome", reports, a.Credential, `{"resources":[{"id":"x","outcome":"exploded"}]}`, nil, 400, "outcome"},
		{"too large", reports, a.Credential, big, nil, 413, "limit of 1024 bytes"},
		{"too large, chunked", reports, a.Credential, struct{ io.Reader }{strings.NewReader(big)}, nil, 413, "limit of 1024 bytes"},
		{"not JSON content", reports, a.Credential, "{}", []string{"Content-Type", "text/plain"}, 415, "application/json"},
		{"enroll without hostname", "/api/v1/enroll", norrToken, `{"facts":{"vendor":"x"}}`, nil, 400, "hostname"},
		{"enroll too large", "/api/v1/enroll", norrToken, `{"facts":{"hostname":"` + strings.Repeat("x", 3000) + `"}}`, nil, 413, "limit of 2048"},
		{"enroll, too many labels", "/api/v1/enroll", norrToken, desired.EnrollRequest{Facts: desired.Facts{Hostname: "h", Labels: manyLabels(65)}}, nil, 400, "labels"},
		{"NUL in facts", reports, a.Credential, `{"revision":"r","facts":{"hostname":"pc\u0000"}}`, nil, 400, "facts.hostname: holds a NUL byte"},
		{"NUL in a label", "/api/v1/enroll", norrToken, `{"facts":{"hostname":"h","labels":{"site":"a\u0000"}}}`, nil, 400, "facts.labels.site: holds a NUL byte"},
		{"NUL in a resource", reports, a.Credential, `{"resources":[{"id":"x\u0000","outcome":"failed"}]}`, nil, 400, "resources[0].id: holds a NUL byte"},
		{"invalid UTF-8 in facts", reports, a.Credential, "{\"facts\":{\"model\":\"Lat\xe9\"}}", nil, 400, "facts.model: not valid UTF-8"},
		{"invalid UTF-8 in enrollment", "/api/v1/enroll", norrToken, "{\"facts\":{\"hostname\":\"\xff\"}}", nil, 400, "facts.hostname: not valid UTF-8"},
		{"bad list limit", "/api/v1/devices?limit=0", adminToken, nil, nil, 400, "limit"},
		{"bad compliance", "/api/v1/devices?compliance=great", adminToken, nil, nil, 400, "compliance"},
	} {
		t.Run(c.name, func(t *testing.T) {
			method := "POST"
			if c.body == nil {
				method = "GET"
			}
			r := h.do(method, c.path, c.token, c.body, c.hdr...)
			if r.code != c.want || !strings.Contains(r.errorMsg(), c.reason) {
				t.Errorf("%d %q, want %d with a reason containing %q", r.code, r.errorMsg(), c.want, c.reason)
			}
		})
	}
}

// TestReportStormWithBadText: many devices report at once while one sends a NUL byte and
// another invalid UTF-8; those two are refused with 400 naming the field, and every other
// report is accepted, on each store.
func TestReportStormWithBadText(t *testing.T) {
	for _, kind := range storetest.Kinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			h := start(t, kind, fleet.Options{})
			const devices = 60
			devs := make([]desired.EnrollResponse, devices)
			for i := range devs {
				f := norrFacts
				f.Hostname, f.Serial = fmt.Sprintf("rn-%03d", i), fmt.Sprintf("SN-%03d", i)
				devs[i] = h.enroll(norrToken, f)
			}
			codes := make([]int, devices)
			msgs := make([]string, devices)
			var wg sync.WaitGroup
			for round := range 3 {
				for i, d := range devs {
					wg.Go(func() {
						body := fmt.Sprintf(`{"revision":"rev1","hash":"h%d","facts":{"hostname":"rn-%03d","osFamily":"windows"}}`, round, i)
						switch i {
						case 7:
							body = `{"revision":"rev1","facts":{"hostname":"rn\u0000","osFamily":"windows"}}`
						case 8:
							body = "{\"revision\":\"rev1\",\"facts\":{\"hostname\":\"rn\xc3\",\"osFamily\":\"windows\"}}"
						}
						r := h.do("POST", "/api/v1/devices/"+d.DeviceID+"/reports", d.Credential, body)
						if round == 2 {
							codes[i], msgs[i] = r.code, r.errorMsg()
						}
						if r.code != http.StatusAccepted && i != 7 && i != 8 {
							t.Errorf("round %d, device %d: %d %s", round, i, r.code, r.body)
						}
					})
				}
			}
			wg.Wait()
			if codes[7] != http.StatusBadRequest || !strings.Contains(msgs[7], "facts.hostname: holds a NUL byte") {
				t.Errorf("NUL byte: %d %q", codes[7], msgs[7])
			}
			if codes[8] != http.StatusBadRequest || !strings.Contains(msgs[8], "facts.hostname: not valid UTF-8") {
				t.Errorf("invalid UTF-8: %d %q", codes[8], msgs[8])
			}
			if got := metricValues(t, h.reg, "samverk_fleet_reports_ingested_total"); got[""] != 3*(devices-2) {
				t.Errorf("reports ingested %v, want %d", got, 3*(devices-2))
			}
		})
	}
}

// TestLabelChurn: devices enroll and report ever-new labels; the classes they leave are
// forgotten, the count never passes MaxClasses, and past it an enrollment needing a new class
// is refused with 503 while reports are still accepted.
func TestLabelChurn(t *testing.T) {
	const devices, bound = 10, 12
	h := start(t, "sqlite", fleet.Options{MaxClasses: bound, DeviceInterval: -1})
	facts := func(i, round int) desired.Facts {
		f := norrFacts
		f.Hostname, f.Serial = fmt.Sprintf("rn-%03d", i), fmt.Sprintf("SN-%03d", i)
		f.Labels = map[string]string{"role": "staff", "churn": fmt.Sprintf("%d-%d", i, round)}
		return f
	}
	big := desired.EnrollRequest{Facts: desired.Facts{Hostname: "h", Labels: bigLabels(20, 250)}}
	if r := h.do("POST", "/api/v1/enroll", norrToken, big); r.code != http.StatusBadRequest || !strings.Contains(r.errorMsg(), "at most 4096 together") {
		t.Errorf("labels of 5 KB: %d %s, want 400", r.code, r.body)
	}
	devs := make([]desired.EnrollResponse, devices)
	for i := range devs {
		devs[i] = h.enroll(norrToken, facts(i, 0))
	}
	for round := 1; round <= 20; round++ {
		for i, d := range devs {
			rep := desired.Report{Revision: "rev1", Facts: facts(i, round)}
			if r := h.do("POST", "/api/v1/devices/"+d.DeviceID+"/reports", d.Credential, rep); r.code != http.StatusAccepted {
				t.Fatalf("round %d, device %d: %d %s", round, i, r.code, r.body)
			}
		}
		if n := h.svc.Classes(); n != devices {
			t.Fatalf("round %d: %d classes for %d devices", round, n, devices)
		}
	}
	for i := devices; i < bound; i++ {
		h.enroll(norrToken, facts(i, 0))
	}
	r := h.do("POST", "/api/v1/enroll", norrToken, desired.EnrollRequest{Facts: facts(99, 0)})
	if r.code != http.StatusServiceUnavailable || !strings.Contains(r.errorMsg(), "distinct device classes") {
		t.Errorf("enrollment past the class bound: %d %s, want 503", r.code, r.body)
	}
	// A report that would need a new class is stored; the device keeps its state.
	d := devs[0]
	if r := h.do("POST", "/api/v1/devices/"+d.DeviceID+"/reports", d.Credential, desired.Report{Revision: "rev1", Facts: facts(0, 99)}); r.code != http.StatusAccepted {
		t.Errorf("report past the class bound: %d %s", r.code, r.body)
	}
	if n := h.svc.Classes(); n != bound {
		t.Errorf("%d classes, want the bound %d", n, bound)
	}
	if got := metricValues(t, h.reg, "samverk_fleet_class_limit_hits_total"); got[""] != 2 {
		t.Errorf("class limit hits %v, want 2", got)
	}
	if got := metricValues(t, h.reg, "samverk_fleet_device_classes"); got[""] != bound {
		t.Errorf("device classes gauge %v, want %d", got, bound)
	}
}

func bigLabels(n, size int) map[string]string {
	m := map[string]string{}
	for i := range n {
		m[fmt.Sprint("k", i)] = strings.Repeat("v", size)
	}
	return m
}

func manyLabels(n int) map[string]string {
	m := map[string]string{}
	for i := range n {
		m[fmt.Sprint("k", i)] = "v"
	}
	return m
}

// TestPublishChangesOnlyAffectedDevices publishes a revision that changes region-norr's group:
// its device gets a new state, the other keeps revalidating with 304.
func TestPublishChangesOnlyAffectedDevices(t *testing.T) {
	h := start(t, "sqlite", fleet.Options{})
	a := h.enroll(norrToken, norrFacts)
	b := h.enroll(vasterbyToken, vasterbyFacts)
	_, sa := h.desired(a, "")
	_, sb := h.desired(b, "")

	docs := h.cat.Docs
	var patched []*catalog.Document
	for _, d := range docs {
		if d.Kind == catalog.KindDeviceGroup && d.Name == "staff" {
			c := *d
			spec := map[string]any{}
			for k, v := range d.Object["spec"].(map[string]any) {
				spec[k] = v
			}
			spec["mode"] = "detect"
			obj := map[string]any{}
			for k, v := range d.Object {
				obj[k] = v
			}
			obj["spec"] = spec
			c.Object = obj
			d = &c
		}
		patched = append(patched, d)
	}
	cat2, _ := catalog.New(patched)
	h.publish("rev2", cat2)

	r, sa2 := h.desired(a, strconv.Quote(sa.Hash))
	if r.code != http.StatusOK || sa2.Mode != "detect" || sa2.Revision != "rev2" || sa2.Hash == sa.Hash {
		t.Errorf("device a after rev2: %d %+v", r.code, sa2)
	}
	if r, _ := h.desired(b, strconv.Quote(sb.Hash)); r.code != http.StatusNotModified {
		t.Errorf("device b after rev2: %d, want 304", r.code)
	}
}

// TestReportedFactsMoveDevice: a report whose facts put the device in another group changes
// what it is served next.
func TestReportedFactsMoveDevice(t *testing.T) {
	h := start(t, "sqlite", fleet.Options{})
	f := norrFacts
	f.Labels = map[string]string{"role": "student"}
	a := h.enroll(norrToken, f)
	_, st := h.desired(a, "")
	if st.Group != "" || len(st.Conditions) == 0 {
		t.Fatalf("student device: group %q, conditions %v; want none and NoGroup", st.Group, st.Conditions)
	}
	// Served a state of no group, it reports everything in line: it is unmanaged, never
	// compliant, in the view, the summary and the metrics.
	lost := desired.Report{Revision: st.Revision, Hash: st.Hash, Facts: f}
	if r := h.do("POST", "/api/v1/devices/"+a.DeviceID+"/reports", a.Credential, lost); r.code != http.StatusAccepted {
		t.Fatalf("report: %d %s", r.code, r.body)
	}
	var dv fleet.DeviceView
	json.Unmarshal(h.do("GET", "/api/v1/devices/"+a.DeviceID, adminToken, nil).body, &dv)
	if dv.Compliance != store.Unmanaged {
		t.Errorf("device of no group: compliance %q, want unmanaged", dv.Compliance)
	}
	var sum fleet.Summary
	json.Unmarshal(h.do("GET", "/api/v1/fleet/summary", adminToken, nil).body, &sum)
	if sum.Total.Unmanaged != 1 || sum.Total.Compliant != 0 {
		t.Errorf("summary total %+v, want 1 unmanaged", sum.Total)
	}
	var list fleet.DeviceList
	json.Unmarshal(h.do("GET", "/api/v1/devices?compliance=unmanaged", adminToken, nil).body, &list)
	if len(list.Devices) != 1 {
		t.Errorf("?compliance=unmanaged lists %d devices", len(list.Devices))
	}
	deadline := time.Now().Add(10 * time.Second)
	for metricValues(t, h.reg, "samverk_fleet_devices")["member=region-norr,state=unmanaged"] != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("samverk_fleet_devices %v, want region-norr unmanaged 1", metricValues(t, h.reg, "samverk_fleet_devices"))
		}
		h.svc.Publish(context.Background(), "rev1", h.cat) // asks for a recount
		time.Sleep(20 * time.Millisecond)
	}
	rep := desired.Report{Revision: st.Revision, Hash: st.Hash, Facts: norrFacts}
	if r := h.do("POST", "/api/v1/devices/"+a.DeviceID+"/reports", a.Credential, rep); r.code != http.StatusAccepted {
		t.Fatalf("report: %d %s", r.code, r.body)
	}
	r, st2 := h.desired(a, strconv.Quote(st.Hash))
	if r.code != http.StatusOK || st2.Group != "staff" {
		t.Errorf("after the report: %d, group %q; want 200, staff", r.code, st2.Group)
	}
	d, err := h.st.Device(context.Background(), a.DeviceID, time.Time{})
	if err != nil || d.Facts.Labels["role"] != "staff" {
		t.Errorf("stored facts %+v, %v", d.Facts, err)
	}
}

// TestRestartKeepsDevices: a new Service over the same store knows every device.
func TestRestartKeepsDevices(t *testing.T) {
	for _, kind := range storetest.Kinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			st := storetest.Open(t, kind, store.Options{})
			h1 := startOn(t, st, fleet.Options{})
			a := h1.enroll(norrToken, norrFacts)
			_, sa := h1.desired(a, "")
			h2 := startOn(t, st, fleet.Options{})
			if h2.svc.Devices() != 1 {
				t.Fatalf("%d devices after restart", h2.svc.Devices())
			}
			if r, _ := h2.desired(a, strconv.Quote(sa.Hash)); r.code != http.StatusNotModified {
				t.Errorf("after restart: %d %s, want 304", r.code, r.body)
			}
			// A device enrolled through one replica is served by another sharing the store.
			b := h1.enroll(vasterbyToken, vasterbyFacts)
			if r, st := h2.desired(b, ""); r.code != http.StatusOK || st.Member != "kommun-vasterby" {
				t.Errorf("other replica's device: %d %s", r.code, r.body)
			}
		})
	}
}

// gatedStore is a real store whose writes of reports wait, once armed, until the test
// releases them: it holds a report's handler inside its slot for as long as the test needs.
type gatedStore struct {
	store.Store
	armed   atomic.Bool
	entered chan struct{} // a report write is waiting
	release chan struct{}
}

func newGatedStore(st store.Store) *gatedStore {
	return &gatedStore{Store: st, entered: make(chan struct{}, 1), release: make(chan struct{})}
}

func (g *gatedStore) Write(ctx context.Context, b *store.Batch) error {
	if len(b.Reports) > 0 && g.armed.CompareAndSwap(true, false) {
		g.entered <- struct{}{}
		<-g.release
	}
	return g.Store.Write(ctx, b)
}

// TestLoadShedding: one device too often gets 429, a saturated server 503, both with
// Retry-After.
func TestLoadShedding(t *testing.T) {
	gs := newGatedStore(storetest.Open(t, "sqlite", store.Options{}))
	h := startOn(t, gs, fleet.Options{DeviceInterval: time.Hour, DeviceBurst: 3, MaxInFlight: 1})
	a := h.enroll(norrToken, norrFacts)
	for i := range 3 {
		if r, _ := h.desired(a, ""); r.code != http.StatusOK {
			t.Fatalf("request %d: %d", i, r.code)
		}
	}
	r, _ := h.desired(a, "")
	if r.code != http.StatusTooManyRequests {
		t.Fatalf("4th request: %d, want 429", r.code)
	}
	if ra, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || ra < 3000 || ra > 3600 {
		t.Errorf("Retry-After %q, want about an hour", r.header.Get("Retry-After"))
	}

	// Hold the only slot with a report whose commit waits until the test releases it. The
	// probe asks once, after the report is known to hold the slot, so its own rate limit
	// (3 at once) is never what answers it.
	b := h.enroll(vasterbyToken, vasterbyFacts)
	probe := h.enroll(vasterbyToken, vasterbyFacts)
	gs.armed.Store(true)
	held := make(chan response, 1)
	go func() {
		held <- h.do("POST", "/api/v1/devices/"+b.DeviceID+"/reports", b.Credential, desired.Report{Revision: "r"})
	}()
	<-gs.entered
	r, _ = h.desired(probe, "")
	if r.code != http.StatusServiceUnavailable {
		t.Errorf("while the slot is held: %d %s, want 503", r.code, r.body)
	}
	if ra, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || ra < 10 || ra > 21 {
		t.Errorf("503 Retry-After %q, want 10 to 21", r.header.Get("Retry-After"))
	}
	close(gs.release)
	if rr := <-held; rr.code != http.StatusAccepted {
		t.Errorf("the held report: %d %s", rr.code, rr.body)
	}
	if r, _ := h.desired(probe, ""); r.code != http.StatusOK {
		t.Errorf("after the slot is free: %d", r.code)
	}
}

// TestSlowBodiesHoldNoSlot: enrollments whose bodies never finish, many more than there are
// slots, are inside the handler; a device's polls and reports keep succeeding meanwhile.
func TestSlowBodiesHoldNoSlot(t *testing.T) {
	const slow, slots = 40, 4
	var entered atomic.Int64
	counting := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/api/v1/enroll" {
				entered.Add(1)
			}
			next.ServeHTTP(w, r)
		})
	}
	h := startOn(t, storetest.Open(t, "sqlite", store.Options{}), fleet.Options{MaxInFlight: slots}, counting)
	a := h.enroll(norrToken, norrFacts)
	base := entered.Load()

	done := make(chan struct{}, slow)
	var pipes []*io.PipeWriter
	for range slow {
		pr, pw := io.Pipe()
		pipes = append(pipes, pw)
		req, _ := http.NewRequest("POST", h.url+"/api/v1/enroll", pr)
		req.Header.Set("Authorization", "Bearer "+norrToken)
		req.Header.Set("Content-Type", "application/json")
		go func() {
			defer func() { done <- struct{}{} }()
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		}()
		go pw.Write([]byte(`{"facts":{"hostname":`)) // and nothing more, until the test ends
	}
	t.Cleanup(func() {
		for _, pw := range pipes {
			pw.CloseWithError(io.ErrUnexpectedEOF)
		}
		for range slow {
			<-done
		}
	})
	for entered.Load() < base+slow {
		time.Sleep(time.Millisecond) // wait until every slow enrollment is in its handler
	}
	var etag string
	for i := range 10 {
		r, st := h.desired(a, etag)
		if r.code != http.StatusOK && r.code != http.StatusNotModified {
			t.Fatalf("poll %d with %d slow enrollments open: %d %s", i, slow, r.code, r.body)
		}
		if st != nil {
			etag = strconv.Quote(st.Hash)
		}
	}
	if r := h.do("POST", "/api/v1/devices/"+a.DeviceID+"/reports", a.Credential, desired.Report{Revision: "r"}); r.code != http.StatusAccepted {
		t.Errorf("report with slow enrollments open: %d %s", r.code, r.body)
	}
}

func TestEnrollBeforePublishAndUnknownMember(t *testing.T) {
	st := storetest.Open(t, "sqlite", store.Options{})
	tok, _ := fleet.ParseTokenList("region-norr=" + norrToken + ",region-syd=" + vasterbyToken)
	svc, err := fleet.New(context.Background(), st, fleet.Options{EnrollTokens: tok})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go svc.Run(ctx)
	mux := http.NewServeMux()
	auth.NewTable(mux, auth.NewGuard(auth.GuardOptions{})).MustAdd(svc.Routes()...)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	h := &harness{t: t, url: srv.URL, svc: svc}
	if r := h.do("POST", "/api/v1/enroll", norrToken, desired.EnrollRequest{Facts: norrFacts}); r.code != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
		t.Errorf("enroll before publish: %d %s, want 503 with Retry-After", r.code, r.body)
	}
	h.publish("rev1", loadCatalog(t))
	if r := h.do("POST", "/api/v1/enroll", vasterbyToken, desired.EnrollRequest{Facts: norrFacts}); r.code != http.StatusForbidden {
		t.Errorf("enroll for a member not in the catalog: %d %s, want 403", r.code, r.body)
	}
}

func hasResource(st *desired.State, id string) bool {
	for _, r := range st.Resources {
		if r.ID == id {
			return true
		}
	}
	return false
}

func ids(st *desired.State) []string {
	var out []string
	for _, r := range st.Resources {
		out = append(out, r.ID)
	}
	return out
}
