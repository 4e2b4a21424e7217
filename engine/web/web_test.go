package web_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	bundled "samverk.io/samverk/catalog"
	"samverk.io/samverk/engine/auth"
	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/desired"
	"samverk.io/samverk/engine/finding"
	"samverk.io/samverk/engine/fleet"
	"samverk.io/samverk/engine/policy"
	"samverk.io/samverk/engine/reconcile"
	"samverk.io/samverk/engine/store"
	"samverk.io/samverk/engine/store/storetest"
	"samverk.io/samverk/engine/validate"
	"samverk.io/samverk/engine/web"
	"samverk.io/samverk/policies"
)

// daemon holds a status and a published revision, as the reconciler would after publishing.
type daemon struct {
	mu  sync.Mutex
	st  *reconcile.Status
	cur *reconcile.Published
}

func (d *daemon) Status() *reconcile.Status {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.st
}

func (d *daemon) Current() *reconcile.Published {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cur
}

var now = time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)

// dev is one device of the test fleet.
type dev struct {
	id, member, hostname, label string
	vendor, model               string
	// outcome of its one report ("" for none), and the reason of its failed resource.
	outcome, reason string
}

// The fleet: two members, each with a device that failed, one in line and one never
// reported; the hostnames and ids tell the members apart.
var devs = []dev{
	{id: devID(1), member: "region-norr", hostname: "norr-pc-1", label: "vard", vendor: "Dell Inc.", model: "Latitude 5450", outcome: desired.Failed, reason: "registry value is 0, want 1: access denied"},
	{id: devID(2), member: "region-norr", hostname: "norr-pc-2", label: "vard", vendor: "Dell Inc.", model: "Latitude 5450", outcome: desired.Unchanged},
	{id: devID(3), member: "region-norr", hostname: "norr-pc-3", label: "vard", vendor: "Dell Inc.", model: "Latitude 5450"},
	{id: devID(4), member: "kommun-vasterby", hostname: "vasterby-pc-4", label: "kommunledning", vendor: "HP", model: "HP EliteBook 840 G10 Notebook PC", outcome: desired.Failed, reason: "vasterby's own failure"},
	{id: devID(5), member: "kommun-vasterby", hostname: "vasterby-pc-5", label: "kommunledning", vendor: "HP", model: "HP EliteBook 840 G10 Notebook PC", outcome: desired.Unchanged},
}

// labelKey is the label d's label value goes under: department, or ring for the pilots.
func labelKey(d dev) string {
	if d.label == "pilot" {
		return "ring"
	}
	return "department"
}

func devID(n int) string {
	h := sha256.Sum256([]byte{byte(n)})
	return fmt.Sprintf("%x", h[:16])
}

// fixture is a console over a real SQLite store and a real fleet service that published the
// bundled catalog.
type fixture struct {
	c      *web.Console
	st     store.Store
	fleet  *fleet.Service
	d      *daemon
	failed string // the resource id the failed devices report
}

func newFixture(t testing.TB, kind string, extra ...dev) *fixture {
	t.Helper()
	devs := append(slices.Clone(devs), extra...)
	ctx := context.Background()
	st := storetest.Open(t, kind, store.Options{})
	res, err := catalog.Load(bundled.FS, catalog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b := &store.Batch{}
	for _, d := range devs {
		h := sha256.Sum256([]byte(d.id))
		b.Enrollments = append(b.Enrollments, store.Enrollment{ID: d.id, Member: d.member, CredentialHash: h[:], At: now.Add(-time.Hour),
			Facts: desired.Facts{Hostname: d.hostname, Vendor: d.vendor, Model: d.model, OSFamily: "windows", OSBuild: "26100",
				Labels: map[string]string{labelKey(d): d.label}}})
	}
	if err := st.Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	fl, err := fleet.New(ctx, st, fleet.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if err := fl.Publish(ctx, "0123456789abcdef0123456789abcdef01234567", res.Catalog); err != nil {
		t.Fatal(err)
	}
	f := &fixture{st: st, fleet: fl}
	b = &store.Batch{}
	for _, d := range devs {
		ds := fl.DesiredOf(d.id)
		if ds == nil || len(ds.Resources) == 0 {
			t.Fatalf("device %s has no desired state", d.id)
		}
		sv := store.Served{DeviceID: d.id, At: now.Add(-30 * time.Minute), Hash: ds.Hash, Revision: ds.Revision,
			Group: ds.Group, Ring: ds.Ring, Profile: "p"}
		if ds.OS != nil && ds.OS.Action == "upgrade" {
			sv.OSTarget = ds.OS.Release
		}
		b.Served = append(b.Served, sv)
		if d.outcome == "" {
			continue
		}
		rep := &desired.Report{Revision: ds.Revision, Hash: ds.Hash, StartedAt: now.Add(-20 * time.Minute), DurationMs: 900,
			Facts: desired.Facts{Hostname: d.hostname, Vendor: d.vendor, Model: d.model, OSFamily: "windows", OSBuild: "26100",
				Labels: map[string]string{labelKey(d): d.label}}}
		failed := false
		for _, r := range ds.Resources {
			rr := desired.ResourceResult{ID: r.ID, Outcome: desired.Unchanged, Refs: r.Refs}
			if !failed && d.outcome == desired.Failed && strings.HasPrefix(r.ID, "setting/") && len(r.Refs) > 0 {
				failed = true
				rr.Outcome, rr.Reason = desired.Failed, d.reason
				f.failed = r.ID
			}
			rep.Resources = append(rep.Resources, rr)
		}
		sr, err := store.NewReport(d.id, now.Add(-19*time.Minute), rep)
		if err != nil {
			t.Fatal(err)
		}
		b.Reports = append(b.Reports, sr)
	}
	if err := st.Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	set, err := policy.Load(policies.FS, policy.Options{Dir: "policies"})
	if err != nil {
		t.Fatal(err)
	}
	started := now.Add(-time.Hour)
	f.d = &daemon{
		st: &reconcile.Status{LastAppliedRevision: "0123456789abcdef0123456789abcdef01234567", LastAppliedTime: &started,
			Conditions: []reconcile.Condition{{Type: "Ready", Status: "True", Reason: "Published", Message: "serving revision 0123456789ab"}},
			History:    []reconcile.Attempt{{Revision: "fedcba9876543210fedcba9876543210fedcba98", Trigger: "poll", Started: started, Outcome: reconcile.OutcomeRefused, Message: "1 deny finding"}},
			Report: &validate.Report{Findings: []finding.Finding{{Rule: "SV-PKG-001", Severity: finding.Deny, Message: "package has no sha256",
				File: "packages/vlc.yaml", Line: 12, Column: 7, Path: "spec.installer.source.sha256"}}}},
		cur: &reconcile.Published{Revision: "0123456789abcdef0123456789abcdef01234567", Catalog: res.Catalog},
	}
	c, err := web.New(web.Options{Daemon: f.d, Devices: st, Counts: st, States: fl, Handbook: set, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	f.c = c
	return f
}

// handler mounts the console's routes with p as every request's principal, as the route
// table does once a request is authenticated.
func (f *fixture) handler(p *auth.Principal) http.Handler {
	mux := http.NewServeMux()
	for _, rt := range f.c.Routes() {
		h := rt.Handler
		mux.Handle(rt.Method+" "+rt.Pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.ServeHTTP(w, r.WithContext(auth.WithPrincipal(r.Context(), p)))
		}))
	}
	return mux
}

func get(t testing.TB, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	b, _ := io.ReadAll(rec.Body)
	return rec.Code, string(b)
}

var (
	consortium = &auth.Principal{Subject: "ops", Grants: []auth.Grant{{Role: auth.Viewer, Member: auth.Consortium}}}
	norr       = &auth.Principal{Subject: "norr", Grants: []auth.Grant{{Role: auth.Viewer, Member: "region-norr"}}}
	vasterby   = &auth.Principal{Subject: "vasterby", Grants: []auth.Grant{{Role: auth.Operator, Member: "kommun-vasterby"}}}
)

// pages lists every page with what a consortium viewer must find on it.
var pages = []struct{ path, want string }{
	{"/", "Devices by member"},
	{"/fleet", "norr-pc-1"},
	{"/devices/" + devID(1), "access denied"},
	{"/certification", "dell-latitude-5450"},
	{"/packages", "firefox"},
	{"/baselines", "CIS"},
	{"/findings", "packages/vlc.yaml:12:7"},
}

func TestPages(t *testing.T) {
	f := newFixture(t, "sqlite")
	h := f.handler(consortium)
	for _, pg := range pages {
		t.Run(pg.path, func(t *testing.T) {
			code, body := get(t, h, pg.path)
			if code != http.StatusOK {
				t.Fatalf("GET %s: %d\n%s", pg.path, code, body)
			}
			if !strings.Contains(body, pg.want) {
				t.Errorf("GET %s does not show %q", pg.path, pg.want)
			}
		})
	}
	t.Run("stylesheet", func(t *testing.T) {
		code, body := get(t, h, "/static/console.css")
		if code != http.StatusOK || !strings.Contains(body, "@media") {
			t.Fatalf("GET /static/console.css: %d", code)
		}
	})
}

func TestOverviewCounts(t *testing.T) {
	f := newFixture(t, "sqlite")
	_, body := get(t, f.handler(consortium), "/")
	// region-norr: 1 compliant, 0 drifted, 1 failed, 0 stale, 1 never, 3 devices.
	for _, want := range []string{
		`state=compliant">1<`, `state=failed">1<`, `state=never">1<`, `<td class="num">3</td>`,
		"fedcba987654", "refused", "packages/vlc.yaml:12:7",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("overview lacks %q", want)
		}
	}
}

func TestFleetFilters(t *testing.T) {
	f := newFixture(t, "sqlite")
	h := f.handler(consortium)
	tests := []struct {
		query      string
		want, none []string
	}{
		{"?member=region-norr", []string{"norr-pc-1", "norr-pc-3"}, []string{"vasterby-pc-4"}},
		{"?state=failed", []string{"norr-pc-1", "vasterby-pc-4"}, []string{"norr-pc-2", "vasterby-pc-5"}},
		{"?state=never", []string{"norr-pc-3"}, []string{"norr-pc-1"}},
		{"?q=vasterby-pc-5", []string{"vasterby-pc-5"}, []string{"vasterby-pc-4"}},
		{"?q=" + devID(2)[:31], []string{"norr-pc-2"}, []string{"norr-pc-1"}},
		{"?model=Latitude+5450&os=26100&ring=broad", []string{"norr-pc-1"}, nil},
		{"?os=22631", nil, []string{"norr-pc-1"}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			code, body := get(t, h, "/fleet"+tt.query)
			if code != http.StatusOK {
				t.Fatalf("%d\n%s", code, body)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("lacks %s", w)
				}
			}
			for _, n := range tt.none {
				if strings.Contains(body, n) {
					t.Errorf("shows %s", n)
				}
			}
		})
	}
	t.Run("too short a search", func(t *testing.T) {
		if code, _ := get(t, h, "/fleet?q=no"); code != http.StatusBadRequest {
			t.Errorf("q=no: %d, want 400", code)
		}
	})
	t.Run("unknown state", func(t *testing.T) {
		if code, _ := get(t, h, "/fleet?state=burning"); code != http.StatusBadRequest {
			t.Errorf("state=burning: %d, want 400", code)
		}
	})
}

func TestFleetPages(t *testing.T) {
	f := newFixture(t, "sqlite")
	c, err := web.New(web.Options{Daemon: f.d, Devices: f.st, Counts: f.st, States: f.fleet, PageSize: 2, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	f.c = c
	h := f.handler(consortium)
	seen := map[string]bool{}
	path := "/fleet"
	for range len(devs) {
		_, body := get(t, h, path)
		for _, d := range devs {
			if strings.Contains(body, d.hostname) {
				seen[d.hostname] = true
			}
		}
		i := strings.Index(body, `rel="next" href="`)
		if i < 0 {
			break
		}
		rest := body[i+len(`rel="next" href="`):]
		path = strings.ReplaceAll(rest[:strings.IndexByte(rest, '"')], "&amp;", "&")
	}
	if len(seen) != len(devs) {
		t.Errorf("paging showed %d devices, want %d: %v", len(seen), len(devs), seen)
	}
}

func TestDevicePage(t *testing.T) {
	f := newFixture(t, "sqlite")
	_, body := get(t, f.handler(norr), "/devices/"+devID(1))
	for _, want := range []string{
		`id="res-` + strings.ReplaceAll(f.failed, "/", "-") + `" class="outcome-failed"`,
		"registry value is 0, want 1: access denied",
		"broad-vard", // the group
		"baseline windows-grund",
		"Report history",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("device page lacks %q", want)
		}
	}
	if code, _ := get(t, f.handler(norr), "/devices/"+devID(99)); code != http.StatusNotFound {
		t.Errorf("unknown device: %d, want 404", code)
	}
}

// TestMemberScope walks every page as each member's viewer and checks that nothing of the
// other member's devices shows: their ids, hostnames, reports, or their counts.
func TestMemberScope(t *testing.T) {
	f := newFixture(t, "sqlite")
	for _, tc := range []struct {
		p            *auth.Principal
		own, other   string
		ownDevice    string
		otherDevice  string
		otherMembers []string
	}{
		{norr, "region-norr", "kommun-vasterby", devID(1), devID(4), []string{"vasterby"}},
		{vasterby, "kommun-vasterby", "region-norr", devID(4), devID(1), []string{"norr-pc"}},
	} {
		t.Run(tc.own, func(t *testing.T) {
			h := f.handler(tc.p)
			paths := []string{"/fleet?member=" + tc.other, "/fleet?q=" + tc.otherDevice[:8], "/devices/" + tc.ownDevice}
			for _, pg := range pages {
				paths = append(paths, pg.path)
			}
			for _, path := range paths {
				_, body := get(t, h, path)
				for _, d := range devs {
					if d.member == tc.own {
						continue
					}
					for _, leak := range []string{d.id, d.id[:12], d.hostname, d.reason} {
						if leak != "" && strings.Contains(body, leak) {
							t.Errorf("GET %s shows %q of %s", path, leak, d.member)
						}
					}
				}
			}
			if code, _ := get(t, h, "/devices/"+tc.otherDevice); code != http.StatusNotFound {
				t.Errorf("another member's device: %d, want 404", code)
			}
			_, body := get(t, h, "/")
			if strings.Contains(body, ">"+tc.other+"<") {
				t.Errorf("the overview counts %s", tc.other)
			}
			if !strings.Contains(body, ">"+tc.own+"<") {
				t.Errorf("the overview does not count %s", tc.own)
			}
		})
	}
	t.Run("no grant sees no device", func(t *testing.T) {
		h := f.handler(&auth.Principal{Subject: "nobody"})
		for _, path := range []string{"/", "/fleet", "/baselines", "/certification"} {
			_, body := get(t, h, path)
			for _, d := range devs {
				if strings.Contains(body, d.hostname) || strings.Contains(body, d.id[:12]) {
					t.Errorf("GET %s shows %s", path, d.hostname)
				}
			}
		}
	})
}

// TestBaselineCounts checks that the failed setting is counted as failed once per member.
func TestBaselineCounts(t *testing.T) {
	f := newFixture(t, "sqlite")
	setting := strings.TrimPrefix(f.failed, "setting/")
	for _, tc := range []struct {
		p    *auth.Principal
		fail string
	}{{consortium, "2"}, {norr, "1"}} {
		_, body := get(t, f.handler(tc.p), "/baselines")
		i := strings.Index(body, `id="setting-`+setting+`"`)
		if i < 0 {
			t.Fatalf("baselines page lacks setting %s", setting)
		}
		row := body[i : i+strings.Index(body[i:], "</tr>")]
		if !strings.Contains(row, `<td class="num bad">`+tc.fail+`</td>`) {
			t.Errorf("%s: setting %s row %s, want %s failed", tc.p.Subject, setting, row, tc.fail)
		}
	}
}

// TestCountsAreReusedThenRefreshed checks that the fleet-wide counts are taken once per
// CountsMaxAge: a device enrolled since shows only once the count is older, and the page that
// finds the count old is served the old one while a new count runs.
func TestCountsAreReusedThenRefreshed(t *testing.T) {
	f := newFixture(t, "sqlite")
	var mu sync.Mutex
	clock := now
	c, err := web.New(web.Options{Daemon: f.d, Devices: f.st, Counts: f.st, States: f.fleet, CountsMaxAge: time.Minute,
		Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }})
	if err != nil {
		t.Fatal(err)
	}
	f.c = c
	h := f.handler(consortium)
	total := func() string {
		_, body := get(t, h, "/")
		i := strings.Index(body, "<tfoot>")
		return body[i : i+strings.Index(body[i:], "</tfoot>")]
	}
	before := total()
	if !strings.Contains(before, `<th class="num">5</th></tr>`) {
		t.Fatalf("overview total %s, want 5 devices", before)
	}
	h6 := sha256.Sum256([]byte("sixth"))
	if err := f.st.Write(context.Background(), &store.Batch{Enrollments: []store.Enrollment{{ID: devID(6), Member: "region-norr",
		CredentialHash: h6[:], At: now, Facts: desired.Facts{Hostname: "norr-pc-6"}}}}); err != nil {
		t.Fatal(err)
	}
	if got := total(); got != before {
		t.Errorf("within a minute the overview counted again: %s", got)
	}
	mu.Lock()
	clock = now.Add(2 * time.Minute)
	mu.Unlock()
	if got := total(); got != before {
		t.Errorf("the page that found the count old waited for a new one: %s", got)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(total(), `<th class="num">6</th></tr>`) {
		if time.Now().After(deadline) {
			t.Fatal("the count was not refreshed in the background")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestFrame: a page another package rendered is served inside the layout, with its link
// marked and its content as given.
func TestFrame(t *testing.T) {
	f := newFixture(t, "sqlite")
	rec := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodGet, "/audit", nil)
	r = r.WithContext(auth.WithPrincipal(r.Context(), norr))
	f.c.Frame(rec, r, http.StatusForbidden, "audit", "Audit log", template.HTML(`<p id="x">a &lt;b&gt;</p>`))
	body := rec.Body.String()
	if rec.Code != http.StatusForbidden || !strings.Contains(body, `<a href="/audit" aria-current="page">Audit</a>`) ||
		!strings.Contains(body, `<p id="x">a &lt;b&gt;</p>`) || !strings.Contains(body, "<h1>Audit log</h1>") ||
		rec.Header().Get("Content-Security-Policy") == "" {
		t.Errorf("%d\n%s", rec.Code, body)
	}
}

// TestCertificationUpgradeCounts: pilot PCs on 24H2 whose group targets 25H2, for which their
// model is certified, are told to upgrade; the matrix's cell counts them by where their
// upgrade stands, and the device list finds the failed one by its OS state.
func TestCertificationUpgradeCounts(t *testing.T) {
	pilots := []dev{
		{id: devID(11), member: "region-norr", hostname: "norr-pilot-11", label: "pilot", vendor: "Dell Inc.", model: "Latitude 5450", outcome: desired.Unchanged},
		{id: devID(12), member: "region-norr", hostname: "norr-pilot-12", label: "pilot", vendor: "Dell Inc.", model: "Latitude 5450", outcome: desired.Unchanged},
		{id: devID(13), member: "region-norr", hostname: "norr-pilot-13", label: "pilot", vendor: "Dell Inc.", model: "Latitude 5450", outcome: desired.Unchanged},
		{id: devID(14), member: "region-norr", hostname: "norr-pilot-14", label: "pilot", vendor: "Dell Inc.", model: "Latitude 5450", outcome: desired.Unchanged},
	}
	f := newFixture(t, "sqlite", pilots...)
	if ds := f.fleet.DesiredOf(devID(11)); ds == nil || ds.OS == nil || ds.OS.Action != "upgrade" || ds.OS.Release != "windows-11-25h2" {
		t.Fatalf("a pilot's OS: %+v", ds)
	}
	for id, phase := range map[string]string{devID(12): desired.PhaseInstalling, devID(13): desired.PhaseFailed, devID(14): desired.PhaseDone} {
		if _, err := f.st.RecordUpgrade(context.Background(), &store.UpgradePhase{Device: id, Member: "region-norr", Group: "pilot-it",
			Release: "windows-11-25h2", From: "windows-11-24h2", Phase: phase, Attempt: 1, At: now, ReceivedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	h := f.handler(consortium)
	code, body := get(t, h, "/certification")
	if want := `data-release="windows-11-25h2">0 run · 1 wait · 1 upgrading · 1 done · 1 failed`; code != http.StatusOK || !strings.Contains(body, want) {
		t.Errorf("certification: %d, lacks %s", code, want)
	}
	code, body = get(t, h, "/fleet?state=os-failed")
	if code != http.StatusOK || !strings.Contains(body, "norr-pilot-13") || strings.Contains(body, "norr-pilot-12") {
		t.Errorf("fleet?state=os-failed: %d\n%s", code, body)
	}
}
