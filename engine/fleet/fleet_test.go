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

func startOn(t *testing.T, st store.Store, opt fleet.Options) *harness {
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
	srv := httptest.NewServer(mux)
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
			if d.Compliance != store.Compliant || d.LastReport == nil || d.LastReport.Counts.Corrected != 1 ||
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
			if sum.Total.Devices != 2 || sum.Total.Compliant != 1 || sum.Total.Stale != 1 || len(sum.Members) != 2 ||
				sum.Members[1].Member != "region-norr" || sum.Members[1].Groups[0].Group != "staff" || sum.Members[1].Groups[0].Counts.Compliant != 1 {
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
				if len(got) == 8 && got["member=region-norr,state=compliant"] == 1 && got["member=kommun-vasterby,state=stale"] == 1 {
					break
				}
				if time.Now().After(deadline) {
					t.Errorf("samverk_fleet_devices %v; want 2 members x 4 states, a compliant, b stale", got)
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

// TestLoadShedding: one device too often gets 429, a saturated server 503, both with
// Retry-After.
func TestLoadShedding(t *testing.T) {
	h := start(t, "sqlite", fleet.Options{DeviceInterval: time.Hour, DeviceBurst: 3, MaxInFlight: 1})
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

	// Hold the only slot with a report whose body does not end until the test says so.
	b := h.enroll(vasterbyToken, vasterbyFacts)
	probe := h.enroll(vasterbyToken, vasterbyFacts)
	pr, pw := io.Pipe()
	t.Cleanup(func() { pw.CloseWithError(io.ErrUnexpectedEOF) }) // before the server closes
	req, _ := http.NewRequest("POST", h.url+"/api/v1/devices/"+b.DeviceID+"/reports", pr)
	req.Header.Set("Authorization", "Bearer "+b.Credential)
	held := make(chan struct{})
	go func() {
		defer close(held)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	pw.Write([]byte(`{"revision":`))
	deadline := time.Now().Add(30 * time.Second)
	for {
		r, _ := h.desired(probe, "")
		if r.code == http.StatusServiceUnavailable {
			if ra, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || ra < 10 || ra > 21 {
				t.Errorf("503 Retry-After %q, want 10 to 21", r.header.Get("Retry-After"))
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no 503 while the slot is held: %d", r.code)
		}
		time.Sleep(10 * time.Millisecond)
	}
	pw.Write([]byte(`"r"}`))
	pw.Close()
	<-held
	if r, _ := h.desired(b, ""); r.code != http.StatusOK {
		t.Errorf("after the slot is free: %d", r.code)
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
