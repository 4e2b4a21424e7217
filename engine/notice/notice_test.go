package notice_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	bundled "samverk.io/samverk/catalog"
	"samverk.io/samverk/engine/auth"
	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/desired"
	"samverk.io/samverk/engine/fleet"
	"samverk.io/samverk/engine/notice"
	"samverk.io/samverk/engine/store"
	"samverk.io/samverk/engine/store/storetest"
)

// device is an enrolled device of the test fleet.
type device struct {
	id, cred, member, etag string
}

// env is a real fleet service and the notice API over one store, served on loopback. People's
// requests act as the principal in their X-Test-Principal header (an index into principals),
// as the route table would after its checks.
type env struct {
	url        string
	fleet      *fleet.Service
	board      *notice.Board
	api        *notice.API
	st         store.Store
	reg        *prometheus.Registry
	devices    map[string][]device // by "member/label"
	principals []*auth.Principal
	// told are the notices OnSent was told of.
	mu   sync.Mutex
	told []int64
}

var (
	operatorNorr = &auth.Principal{Subject: "oidc:norr-op", Method: "oidc", Grants: []auth.Grant{{Role: auth.Operator, Member: "region-norr"}}}
	viewerNorr   = &auth.Principal{Subject: "oidc:norr-view", Method: "oidc", Grants: []auth.Grant{{Role: auth.Viewer, Member: "region-norr"}}}
	viewerVast   = &auth.Principal{Subject: "oidc:vast-view", Method: "oidc", Grants: []auth.Grant{{Role: auth.Viewer, Member: "kommun-vasterby"}}}
	consortiumOp = &auth.Principal{Subject: "oidc:desk", Method: "oidc", Grants: []auth.Grant{{Role: auth.Operator, Member: "*"}}}
)

func newEnv(t testing.TB, kind string, maxInFlight int) *env {
	t.Helper()
	ctx := context.Background()
	res, err := catalog.Load(bundled.FS, catalog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cat := res.Catalog
	st := storetest.Open(t, kind, store.Options{})
	toks, err := fleet.ParseTokens(strings.NewReader("region-norr=enroll-norr-0123456789abcdef0123456789\n" +
		"kommun-vasterby=enroll-vast-0123456789abcdef0123456789\nmittlands-universitet=enroll-mitt-0123456789abcdef012345678\n"))
	if err != nil {
		t.Fatal(err)
	}
	board := notice.NewBoard(notice.BoardOptions{Store: st, Interval: time.Hour})
	f, err := fleet.New(ctx, st, fleet.Options{EnrollTokens: toks, Notices: board, MaxInFlight: maxInFlight, DeviceInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- f.Run(runCtx) }()
	t.Cleanup(func() { cancel(); <-done })
	if err := f.Publish(ctx, "0123abcd", cat); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	e := &env{fleet: f, board: board, st: st, reg: reg, devices: map[string][]device{},
		principals: []*auth.Principal{operatorNorr, viewerNorr, viewerVast, consortiumOp}}
	api, err := notice.New(notice.Options{Board: board, Store: st, Devices: f, Registerer: reg,
		Catalog: func() (string, *catalog.Catalog) { return "0123abcd", cat },
		OnSent: []func(context.Context, *store.Notice){func(_ context.Context, n *store.Notice) {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.told = append(e.told, n.Seq)
		}}})
	if err != nil {
		t.Fatal(err)
	}
	e.api = api
	mux := http.NewServeMux()
	for _, rt := range slices.Concat(f.Routes(), api.Routes()) {
		h := rt.Handler
		mux.Handle(rt.Method+" "+rt.Pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if rt.Need != "" {
				var i int
				fmt.Sscan(r.Header.Get("X-Test-Principal"), &i)
				r = r.WithContext(auth.WithPrincipal(r.Context(), e.principals[i]))
			}
			h.ServeHTTP(w, r)
		}))
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	e.url = srv.URL

	for _, d := range []struct {
		member, token, label, vendor, model string
		n                                   int
	}{
		{"region-norr", "enroll-norr-0123456789abcdef0123456789", "vard", "Dell Inc.", "Latitude 5450", 2},
		{"region-norr", "enroll-norr-0123456789abcdef0123456789", "none", "Acme", "Unknown", 1},
		{"kommun-vasterby", "enroll-vast-0123456789abcdef0123456789", "kommunledning", "HP", "HP EliteBook 840 G10 Notebook PC", 2},
		{"mittlands-universitet", "enroll-mitt-0123456789abcdef012345678", "forskning", "Acme", "Unknown", 1},
	} {
		for i := range d.n {
			body, _ := json.Marshal(desired.EnrollRequest{Facts: desired.Facts{Hostname: fmt.Sprintf("%s-%s-%d", d.member, d.label, i), Vendor: d.vendor,
				Model: d.model, OSFamily: "windows", OSBuild: "26100", Labels: map[string]string{"department": d.label}}})
			resp, b := e.do(t, "POST", "/api/v1/enroll", "Bearer "+d.token, body)
			if resp.StatusCode != http.StatusCreated {
				t.Fatalf("enroll: %s %s", resp.Status, b)
			}
			var er desired.EnrollResponse
			json.Unmarshal(b, &er)
			dev := device{id: er.DeviceID, cred: er.Credential, member: d.member}
			resp, _ = e.do(t, "GET", "/api/v1/devices/"+dev.id+"/desired", "Bearer "+dev.cred, nil)
			dev.etag = resp.Header.Get("Etag")
			e.devices[d.member+"/"+d.label] = append(e.devices[d.member+"/"+d.label], dev)
		}
	}
	return e
}

func (e *env) do(t testing.TB, method, path, authz string, body []byte) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, e.url+path, bytes.NewReader(body))
	if strings.HasPrefix(authz, "Bearer ") {
		req.Header.Set("Authorization", authz)
	} else if authz != "" {
		req.Header.Set("X-Test-Principal", authz)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// as names a principal for do.
func (e *env) as(p *auth.Principal) string { return fmt.Sprint(slices.Index(e.principals, p)) }

func (e *env) send(t testing.TB, p *auth.Principal, q any) notice.View {
	t.Helper()
	b, _ := json.Marshal(q)
	resp, body := e.do(t, "POST", "/api/v1/notices", e.as(p), b)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("send: %s %s", resp.Status, body)
	}
	var v notice.View
	json.Unmarshal(body, &v)
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.told) == 0 || e.told[len(e.told)-1] != v.Seq {
		t.Fatalf("notice %d sent, observers told of %v", v.Seq, e.told)
	}
	return v
}

// poll is a device's desired-state poll with its ETag: the notice header of the 304.
func (e *env) poll(t *testing.T, d device) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", e.url+"/api/v1/devices/"+d.id+"/desired", nil)
	req.Header.Set("Authorization", "Bearer "+d.cred)
	req.Header.Set("If-None-Match", d.etag)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get(notice.Header)
}

func (e *env) fetch(t *testing.T, d device, after int64) notice.DeviceNotices {
	t.Helper()
	resp, body := e.do(t, "GET", fmt.Sprintf("/api/v1/devices/%s/notices?after=%d", d.id, after), "Bearer "+d.cred, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("notices of %s: %s %s", d.id, resp.Status, body)
	}
	var dn notice.DeviceNotices
	json.Unmarshal(body, &dn)
	return dn
}

func window() (time.Time, time.Time) {
	now := time.Now().UTC()
	return now.Add(-time.Minute), now.Add(time.Hour)
}

// TestDeliveryByImpact: an outage of the login broker, a disruption notice to the devices it
// affects, as the consortium's service desk: the devices in affected groups of two members
// learn of it at their next poll and fetch it; the device no group selects and the third
// member's do not. A survey answer from one shows in the counts, for its member only.
func TestDeliveryByImpact(t *testing.T) {
	for _, kind := range storetest.Kinds {
		t.Run(kind, func(t *testing.T) {
			e := newEnv(t, kind, 0)
			vard, vast := e.devices["region-norr/vard"], e.devices["kommun-vasterby/kommunledning"]
			unmanaged, mitt := e.devices["region-norr/none"][0], e.devices["mittlands-universitet/forskning"][0]
			// Before any notice, the poll carries no header.
			if code, h := e.poll(t, vard[0]); code != http.StatusNotModified || h != "" {
				t.Fatalf("poll before notices: %d %q", code, h)
			}
			from, to := window()
			v := e.send(t, consortiumOp, map[string]any{"title": "Inloggningen är nere", "body": "Vi felsöker.", "severity": "disruption",
				"from": from, "to": to, "target": map[string]any{"affectedBy": "inloggningstjanst"},
				"survey": map[string]any{"question": "Kan du arbeta?", "answers": []map[string]string{{"text": "Ja", "color": "#2e7d32"}, {"text": "Nej", "color": "#c62828"}}}})
			if v.Sender != "*" || !slices.Contains(v.Members, "region-norr") || !slices.Contains(v.Members, "kommun-vasterby") {
				t.Errorf("sent: sender %q, members %v", v.Sender, v.Members)
			}
			seq := fmt.Sprint(v.Seq)
			for _, d := range append(slices.Clone(vard), vast...) {
				if code, h := e.poll(t, d); code != http.StatusNotModified || h != seq {
					t.Errorf("poll of %s (%s): %d, header %q, want 304 with %s", d.id, d.member, code, h, seq)
				}
				got := e.fetch(t, d, 0)
				if len(got.Notices) != 1 || got.Notices[0].Seq != v.Seq || got.Notices[0].Survey == nil || got.Partial {
					t.Errorf("notices of %s: %+v", d.id, got)
				}
				if got := e.fetch(t, d, v.Seq); len(got.Notices) != 0 {
					t.Errorf("notices of %s after %d: %+v", d.id, v.Seq, got)
				}
			}
			// The hardware of mittlands-universitet's device matches no group; nor does the
			// unmanaged region-norr device's.
			for _, d := range []device{unmanaged, mitt} {
				if _, h := e.poll(t, d); h != "" {
					t.Errorf("poll of unaffected %s (%s): header %q", d.id, d.member, h)
				}
				if got := e.fetch(t, d, 0); len(got.Notices) != 0 {
					t.Errorf("unaffected %s got %+v", d.id, got)
				}
			}

			// A survey answer, then the counts each reader sees.
			if resp, body := e.do(t, "POST", "/api/v1/devices/"+vard[0].id+"/notices/"+seq+"/answer", "Bearer "+vard[0].cred, []byte(`{"answer":1}`)); resp.StatusCode != http.StatusNoContent {
				t.Fatalf("answer: %s %s", resp.Status, body)
			}
			if resp, _ := e.do(t, "POST", "/api/v1/devices/"+vast[0].id+"/notices/"+seq+"/answer", "Bearer "+vast[0].cred, []byte(`{"answer":0}`)); resp.StatusCode != http.StatusNoContent {
				t.Fatalf("answer: %s", resp.Status)
			}
			for _, c := range []struct {
				who  *auth.Principal
				want []store.AnswerCount
			}{
				{consortiumOp, []store.AnswerCount{{Member: "kommun-vasterby", Answer: 0, Devices: 1}, {Member: "region-norr", Answer: 1, Devices: 1}}},
				{viewerNorr, []store.AnswerCount{{Member: "region-norr", Answer: 1, Devices: 1}}},
				{viewerVast, []store.AnswerCount{{Member: "kommun-vasterby", Answer: 0, Devices: 1}}},
			} {
				_, body := e.do(t, "GET", "/api/v1/notices", e.as(c.who), nil)
				var l struct{ Notices []notice.View }
				json.Unmarshal(body, &l)
				if len(l.Notices) != 1 || !slices.Equal(l.Notices[0].Answers, c.want) {
					t.Errorf("as %s: %s", c.who.Subject, body)
				}
			}

			// The console page counts them per member, for the members the reader sees.
			_, page := e.do(t, "GET", "/notices", e.as(viewerNorr), nil)
			if !bytes.Contains(page, []byte(`<tr data-member="region-norr"><td>region-norr</td><td>0</td><td>1</td></tr>`)) ||
				bytes.Contains(page, []byte(`data-member="kommun-vasterby"`)) {
				t.Errorf("console page as region-norr's viewer:\n%s", page)
			}

			// Withdrawn: the header goes, the notice is no longer served.
			if resp, body := e.do(t, "POST", "/api/v1/notices/"+seq+"/withdraw", e.as(consortiumOp), []byte(`{}`)); resp.StatusCode != http.StatusOK {
				t.Fatalf("withdraw: %s %s", resp.Status, body)
			}
			if _, h := e.poll(t, vard[0]); h != "" {
				t.Errorf("poll after withdrawal: header %q", h)
			}
		})
	}
}

// TestIsolation: a member's operator reaches its own devices only, and a member's reader
// cannot read another member's notices.
func TestIsolation(t *testing.T) {
	e := newEnv(t, "sqlite", 0)
	from, to := window()
	norr := e.send(t, operatorNorr, map[string]any{"title": "Driftstopp i vården", "body": "Journalen är långsam.", "severity": "info",
		"from": from, "to": to, "target": map[string]any{"affectedBy": "inloggningstjanst"}})
	if !slices.Equal(norr.Members, []string{"region-norr"}) || norr.Sender != "region-norr" {
		t.Errorf("a region-norr operator's notice by impact reaches %v (sender %s)", norr.Members, norr.Sender)
	}
	for _, d := range e.devices["kommun-vasterby/kommunledning"] {
		if _, h := e.poll(t, d); h != "" {
			t.Errorf("kommun-vasterby's device got region-norr's notice: %q", h)
		}
	}
	if _, h := e.poll(t, e.devices["region-norr/vard"][0]); h != fmt.Sprint(norr.Seq) {
		t.Errorf("region-norr's device: header %q", h)
	}
	_, body := e.do(t, "GET", "/api/v1/notices", e.as(viewerVast), nil)
	if bytes.Contains(body, []byte("Driftstopp")) {
		t.Errorf("kommun-vasterby's viewer reads region-norr's notice: %s", body)
	}
	_, body = e.do(t, "GET", "/api/v1/notices", e.as(viewerNorr), nil)
	if !bytes.Contains(body, []byte("Driftstopp")) {
		t.Errorf("region-norr's viewer does not read its notice: %s", body)
	}
	// A device answers a notice that does not reach it: no such notice, for it.
	vast := e.devices["kommun-vasterby/kommunledning"][0]
	if resp, _ := e.do(t, "POST", fmt.Sprintf("/api/v1/devices/%s/notices/%d/answer", vast.id, norr.Seq), "Bearer "+vast.cred, []byte(`{"answer":0}`)); resp.StatusCode != http.StatusNotFound {
		t.Errorf("answer to a notice not for the device: %s", resp.Status)
	}
	// One device's credential does not read another's notices.
	nd := e.devices["region-norr/vard"][0]
	if resp, _ := e.do(t, "GET", "/api/v1/devices/"+nd.id+"/notices", "Bearer "+vast.cred, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("another device's credential: %s", resp.Status)
	}
	if resp, _ := e.do(t, "GET", "/api/v1/devices/"+nd.id+"/notices", "", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("no credential: %s", resp.Status)
	}
}

// TestBadNotices: every bad notice is refused with its reason, and nothing is sent.
func TestBadNotices(t *testing.T) {
	e := newEnv(t, "sqlite", 0)
	from, to := window()
	norrDev, vastDev := e.devices["region-norr/vard"][0].id, e.devices["kommun-vasterby/kommunledning"][0].id
	base := func() map[string]any {
		return map[string]any{"title": "Titel", "body": "Text", "severity": "info", "from": from, "to": to,
			"target": map[string]any{"members": []string{"region-norr"}}}
	}
	with := func(k string, v any) map[string]any { m := base(); m[k] = v; return m }
	survey := func(n int, color string) map[string]any {
		var as []map[string]string
		for i := range n {
			as = append(as, map[string]string{"text": fmt.Sprint("svar ", i), "color": color})
		}
		return map[string]any{"question": "Hur gick det?", "answers": as}
	}
	for _, c := range []struct {
		name string
		who  *auth.Principal
		body any
		code int
		want string
	}{
		{"empty title", operatorNorr, with("title", "  "), 400, "title is empty"},
		{"long title", operatorNorr, with("title", strings.Repeat("ä", 201)), 400, "title: 201 characters; at most 200"},
		{"empty body", operatorNorr, with("body", ""), 400, "body is empty"},
		{"long body", operatorNorr, with("body", strings.Repeat("x", 4001)), 400, "body: 4001 characters; at most 4000"},
		{"unknown severity", operatorNorr, with("severity", "urgent"), 400, `severity "urgent"`},
		{"window backwards", operatorNorr, with("to", from.Add(-time.Hour)), 400, "must be after from"},
		{"window over", operatorNorr, with("to", time.Now().Add(-time.Second)), 400, "has passed"},
		{"window too long", operatorNorr, with("to", from.Add(100*24*time.Hour)), 400, "longer than 90 days"},
		{"survey of one", operatorNorr, with("survey", survey(1, "#ffffff")), 400, "1 answers; want 2 to 5"},
		{"survey of six", operatorNorr, with("survey", survey(6, "#ffffff")), 400, "6 answers; want 2 to 5"},
		{"survey colour", operatorNorr, with("survey", survey(2, "red")), 400, `color "red": want #rrggbb`},
		{"no target", operatorNorr, with("target", map[string]any{}), 400, "target: name everyone"},
		{"resolved given", operatorNorr, with("target", map[string]any{"everyone": true, "resolved": map[string]any{"reach": []string{}}}), 400, "daemon's to fill"},
		{"unknown field", operatorNorr, with("colour", "red"), 400, "unknown field"},
		{"unknown member", consortiumOp, with("target", map[string]any{"members": []string{"nowhere"}}), 400, `"nowhere" is not a member`},
		{"unknown group", operatorNorr, with("target", map[string]any{"groups": []map[string]string{{"member": "region-norr", "group": "nope"}}}), 400, "no device group"},
		{"unknown service", operatorNorr, with("target", map[string]any{"affectedBy": "nope"}), 400, "no such service"},
		{"unknown device", operatorNorr, with("target", map[string]any{"devices": []string{"ffff"}}), 400, `no device "ffff"`},
		{"everyone from a member", operatorNorr, with("target", map[string]any{"everyone": true}), 403, "only consortium operators"},
		{"another member", operatorNorr, with("target", map[string]any{"members": []string{"kommun-vasterby"}}), 403, "outside your scope"},
		{"another member's group", operatorNorr, with("target", map[string]any{"groups": []map[string]string{{"member": "kommun-vasterby", "group": "broad-skola"}}}), 403, "outside your scope"},
		{"another member's device", operatorNorr, with("target", map[string]any{"devices": []string{vastDev}}), 400, "no device"},
		{"member types from a member", operatorNorr, with("target", map[string]any{"memberTypes": []string{"region"}}), 403, "only consortium operators"},
		{"sent for another member", operatorNorr, with("member", "kommun-vasterby"), 403, "not an operator of kommun-vasterby"},
		{"crisis from a viewer", viewerNorr, with("severity", "crisis"), 403, "needs the operator role"},
		{"not JSON", operatorNorr, "{", 400, "invalid JSON"},
	} {
		t.Run(c.name, func(t *testing.T) {
			b, _ := json.Marshal(c.body)
			if s, ok := c.body.(string); ok {
				b = []byte(s)
			}
			resp, body := e.do(t, "POST", "/api/v1/notices", e.as(c.who), b)
			var msg struct{ Error string }
			json.Unmarshal(body, &msg)
			if resp.StatusCode != c.code || !strings.Contains(msg.Error, c.want) {
				t.Errorf("%s %s, want %d with %q", resp.Status, body, c.code, c.want)
			}
		})
	}
	if ns, _ := e.st.ListNotices(context.Background(), time.Time{}, 0); len(ns) != 0 {
		t.Errorf("refused notices were stored: %+v", ns)
	}
	// The good one passes, and a device of the member named gets it.
	v := e.send(t, operatorNorr, with("target", map[string]any{"devices": []string{norrDev}}))
	if _, h := e.poll(t, e.devices["region-norr/vard"][0]); h != fmt.Sprint(v.Seq) {
		t.Errorf("device-targeted notice: header %q", h)
	}
	if _, h := e.poll(t, e.devices["region-norr/vard"][1]); h != "" {
		t.Errorf("the other device got the device-targeted notice: %q", h)
	}
}

// TestCrisisWhileShedding: with every slot of agent work taken, polls are turned away with
// 503 yet carry the notice header, and the notices endpoint still serves crisis notices (and
// only those).
func TestCrisisWhileShedding(t *testing.T) {
	e := newEnv(t, "sqlite", 1)
	from, to := window()
	info := e.send(t, consortiumOp, map[string]any{"title": "Info", "body": "Bara info.", "severity": "info", "from": from, "to": to,
		"target": map[string]any{"everyone": true}})
	crisis := e.send(t, consortiumOp, map[string]any{"title": "Kris", "body": "Lämna byggnaden.", "severity": "crisis", "from": from, "to": to,
		"target": map[string]any{"members": []string{"region-norr"}}})
	d := e.devices["region-norr/vard"][0]
	if !e.fleet.TryEnter() {
		t.Fatal("the one slot is taken already")
	}
	defer e.fleet.Leave()
	if code, h := e.poll(t, d); code != http.StatusServiceUnavailable || h != fmt.Sprint(crisis.Seq) {
		t.Errorf("poll while shedding: %d, header %q", code, h)
	}
	got := e.fetch(t, d, 0)
	if !got.Partial || len(got.Notices) != 1 || got.Notices[0].Seq != crisis.Seq {
		t.Errorf("notices while shedding: %+v", got)
	}
	e.fleet.Leave()
	got = e.fetch(t, d, 0)
	if got.Partial || len(got.Notices) != 2 || got.Notices[0].Seq != info.Seq {
		t.Errorf("notices after shedding: %+v", got)
	}
	e.fleet.TryEnter() // for the deferred Leave
}

// TestStream: a device with an open stream receives a notice sent after it connected, and
// the stream resumes after the last event id it was given.
func TestStream(t *testing.T) {
	e := newEnv(t, "sqlite", 0)
	d := e.devices["kommun-vasterby/kommunledning"][0]
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.url+"/api/v1/devices/"+d.id+"/notices/stream", nil)
	req.Header.Set("Authorization", "Bearer "+d.cred)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	events := make(chan notice.Delivered, 4)
	var ids atomic.Value
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			line := sc.Text()
			if id, ok := strings.CutPrefix(line, "id: "); ok {
				ids.Store(id)
			}
			if data, ok := strings.CutPrefix(line, "data: "); ok {
				var n notice.Delivered
				json.Unmarshal([]byte(data), &n)
				events <- n
			}
		}
		close(events)
	}()
	from, to := window()
	v := e.send(t, consortiumOp, map[string]any{"title": "Kris", "body": "Stäng av.", "severity": "crisis", "from": from, "to": to,
		"target": map[string]any{"members": []string{"kommun-vasterby"}}})
	n, ok := <-events
	if !ok || n.Seq != v.Seq || n.Title != "Kris" || n.Severity != "crisis" {
		t.Fatalf("stream event: %+v, %v", n, ok)
	}
	if id, _ := ids.Load().(string); id != fmt.Sprint(v.Seq) {
		t.Errorf("event id %q", id)
	}
	if got := metric(t, e.reg, "samverk_notices_streams", ""); got != 1 {
		t.Errorf("samverk_notices_streams = %v, want 1", got)
	}
	if got := metric(t, e.reg, "samverk_notices_delivered_total", "stream"); got != 1 {
		t.Errorf("samverk_notices_delivered_total{via=stream} = %v, want 1", got)
	}
	if got := metric(t, e.reg, "samverk_notices_sent_total", "crisis"); got != 1 {
		t.Errorf("samverk_notices_sent_total{severity=crisis} = %v, want 1", got)
	}
}

// metric reads a registered metric by name and, for a vector, its one label's value.
func metric(t *testing.T, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.Metric {
			if label != "" && (len(m.Label) != 1 || m.Label[0].GetValue() != label) {
				continue
			}
			if g := m.GetGauge(); g != nil {
				return g.GetValue()
			}
			return m.GetCounter().GetValue()
		}
	}
	t.Fatalf("no metric %s{%s}", name, label)
	return 0
}
