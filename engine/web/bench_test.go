package web_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	bundled "samverk.io/samverk/catalog"
	"samverk.io/samverk/engine/auth"
	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/desired"
	"samverk.io/samverk/engine/fleet"
	"samverk.io/samverk/engine/policy"
	"samverk.io/samverk/engine/reconcile"
	"samverk.io/samverk/engine/store"
	"samverk.io/samverk/engine/validate"
	"samverk.io/samverk/engine/web"
	"samverk.io/samverk/policies"
)

// benchDevices is the fleet the benchmarks run against: the consortium's 370,000 devices.
// SAMVERK_BENCH_DEVICES sets another number.
func benchDevices() int {
	if n, err := strconv.Atoi(os.Getenv("SAMVERK_BENCH_DEVICES")); err == nil && n > 0 {
		return n
	}
	return 370_000
}

// benchFleet is a store filled once per process, with the fleet service that published the
// bundled catalog to it.
type benchFleet struct {
	st    store.Store
	fleet *fleet.Service
	d     *daemon
	ids   []string
	err   error
}

var (
	benchOnce sync.Once
	bench     benchFleet
	benchDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if bench.st != nil {
		bench.st.Close()
	}
	if benchDir != "" {
		os.RemoveAll(benchDir)
	}
	os.Exit(code)
}

// benchFacts spreads devices over 40 members (four of them the bundled catalog's, whose
// groups select them), four departments, the catalog's hardware and three Windows builds.
func benchFacts(i int) (string, desired.Facts) {
	members := []string{"region-norr", "kommun-vasterby", "mittlands-universitet", "myndigheten-for-samhallsdata"}
	member := members[i%4]
	if i%40 >= 4 {
		member = fmt.Sprintf("member-%02d", i%40)
	}
	hw := [][2]string{{"Dell Inc.", "Latitude 5450"}, {"Dell Inc.", "Latitude 7450"}, {"HP", "HP EliteBook 840 G10 Notebook PC"},
		{"HP", "HP Elite Mini 800 G9 Desktop PC"}, {"LENOVO", "21MA"}, {"Microsoft Corporation", "Surface Pro 9"}}
	depts := []string{"vard", "administration", "kommunledning", "skola"}
	builds := []string{"22631", "26100", "26200"}
	h := hw[i/7%len(hw)]
	return member, desired.Facts{Hostname: fmt.Sprintf("pc-%07d", i), Vendor: h[0], Model: h[1], OSFamily: "windows",
		OSBuild: builds[i/11%len(builds)], Serial: fmt.Sprintf("SN%07d", i),
		Labels: map[string]string{"department": depts[i/3%len(depts)], "site": fmt.Sprintf("site-%d", i/5%10)}}
}

// benchKind spreads the outcomes over every member: 0-4 never reported, 5-11 stale, 12-16
// failed, 17-19 drifted, the rest in line.
func benchKind(i int) int { return (i/40 + i%40*13) % 100 }

func benchID(i int) string {
	h := sha256.Sum256([]byte(strconv.Itoa(i)))
	return hex.EncodeToString(h[:16])
}

func loadBench(b *testing.B) *benchFleet {
	b.Helper()
	benchOnce.Do(func() { bench.err = fillBench(b) })
	if bench.err != nil {
		b.Fatal(bench.err)
	}
	return &bench
}

// fillBench enrolls every device, publishes the bundled catalog, and has them served and
// reporting: 80% in line, 5% failed, 3% drifted, 7% with a report a week old, 5% never.
func fillBench(b *testing.B) error {
	ctx := context.Background()
	start := time.Now()
	// SAMVERK_BENCH_DB keeps the filled database between runs: filling it takes minutes.
	path := os.Getenv("SAMVERK_BENCH_DB")
	if path == "" {
		var err error
		if benchDir, err = os.MkdirTemp("", "samverk-web-bench-"); err != nil {
			return err
		}
		path = filepath.Join(benchDir, "devices.db")
	}
	_, statErr := os.Stat(path)
	reuse := statErr == nil
	st, err := store.Open(ctx, "sqlite:"+path, store.Options{})
	if err != nil {
		return err
	}
	bench.st = st
	n := benchDevices()
	if reuse {
		return loadBenchFleet(b, ctx, st, n)
	}
	batch := &store.Batch{}
	flush := func(force bool) error {
		if batch.Len() >= 10_000 || force && batch.Len() > 0 {
			if err := st.Write(ctx, batch); err != nil {
				return err
			}
			batch.Reset()
		}
		return nil
	}
	bench.ids = make([]string, n)
	for i := range n {
		member, f := benchFacts(i)
		id := benchID(i)
		bench.ids[i] = id
		h := sha256.Sum256([]byte(id))
		batch.Enrollments = append(batch.Enrollments, store.Enrollment{ID: id, Member: member, CredentialHash: h[:], Facts: f, At: now.Add(-48 * time.Hour)})
		if err := flush(false); err != nil {
			return err
		}
	}
	if err := flush(true); err != nil {
		return err
	}
	fl, res, err := publishBundled(ctx, st)
	if err != nil {
		return err
	}
	bench.fleet = fl
	for i, id := range bench.ids {
		ds := fl.DesiredOf(id)
		if ds == nil {
			return fmt.Errorf("device %d has no desired state", i)
		}
		batch.Served = append(batch.Served, store.Served{DeviceID: id, At: now.Add(-2 * time.Hour), Hash: ds.Hash, Revision: benchRevision, Group: ds.Group, Ring: ds.Ring, Profile: "p"})
		at := now.Add(-time.Hour)
		k := benchKind(i)
		switch {
		case k < 5: // never reported
			continue
		case k < 12:
			at = now.Add(-7 * 24 * time.Hour)
		}
		_, f := benchFacts(i)
		r := &desired.Report{Revision: benchRevision, Hash: ds.Hash, StartedAt: at.Add(-time.Minute), DurationMs: 1200, Facts: f}
		for j, res := range ds.Resources {
			rr := desired.ResourceResult{ID: res.ID, Outcome: desired.Unchanged, Refs: res.Refs}
			switch {
			case j == 0 && k >= 12 && k < 17:
				rr.Outcome, rr.Reason = desired.Failed, "set script exited 1: access denied"
			case j == 1 && k >= 17 && k < 20:
				rr.Outcome, rr.Reason = desired.Drifted, "would correct: value differs"
			}
			r.Resources = append(r.Resources, rr)
		}
		rep, err := store.NewReport(id, at, r)
		if err != nil {
			return err
		}
		batch.Reports = append(batch.Reports, rep)
		if err := flush(false); err != nil {
			return err
		}
	}
	if err := flush(true); err != nil {
		return err
	}
	started := now.Add(-time.Hour)
	bench.d = &daemon{
		st:  &reconcile.Status{LastAppliedRevision: benchRevision, LastAppliedTime: &started, Report: &validate.Report{}},
		cur: &reconcile.Published{Revision: benchRevision, Catalog: res.Catalog},
	}
	b.Logf("filled a SQLite store with %d devices in %s", n, time.Since(start).Round(time.Second))
	return nil
}

// benchRevision is the revision the benchmarks' fleet serves.
const benchRevision = "0123456789abcdef0123456789abcdef01234567"

// publishBundled starts a fleet over st serving the bundled catalog as benchRevision.
func publishBundled(ctx context.Context, st store.Store) (*fleet.Service, *catalog.Result, error) {
	res, err := catalog.Load(bundled.FS, catalog.Options{})
	if err != nil {
		return nil, nil, err
	}
	fl, err := fleet.New(ctx, st, fleet.Options{Now: func() time.Time { return now }})
	if err != nil {
		return nil, nil, err
	}
	if err := fl.Publish(ctx, benchRevision, res.Catalog); err != nil {
		return nil, nil, err
	}
	return fl, res, nil
}

// loadBenchFleet publishes the bundled catalog over a store filled by an earlier run.
func loadBenchFleet(b *testing.B, ctx context.Context, st store.Store, n int) error {
	bench.ids = make([]string, n)
	for i := range n {
		bench.ids[i] = benchID(i)
	}
	fl, res, err := publishBundled(ctx, st)
	if err != nil {
		return err
	}
	bench.fleet = fl
	if fl.Devices() != n {
		return fmt.Errorf("SAMVERK_BENCH_DB holds %d devices, want %d", fl.Devices(), n)
	}
	started := now.Add(-time.Hour)
	bench.d = &daemon{
		st:  &reconcile.Status{LastAppliedRevision: benchRevision, LastAppliedTime: &started, Report: &validate.Report{}},
		cur: &reconcile.Published{Revision: benchRevision, Catalog: res.Catalog},
	}
	b.Logf("reusing the %d devices of SAMVERK_BENCH_DB", n)
	return nil
}

// BenchmarkPages renders each page as a consortium viewer and as one member's viewer, over
// 370,000 devices in SQLite. The fleet-wide counts are taken once and then reused, as the
// console does for CountsMaxAge; BenchmarkCount measures taking them.
func BenchmarkPages(b *testing.B) {
	bf := loadBench(b)
	set, err := policy.Load(policies.FS, policy.Options{Dir: "policies"})
	if err != nil {
		b.Fatal(err)
	}
	c, err := web.New(web.Options{Daemon: bf.d, Devices: bf.st, Counts: bf.st, States: bf.fleet, Handbook: set,
		CountsMaxAge: time.Hour, Now: func() time.Time { return now }})
	if err != nil {
		b.Fatal(err)
	}
	f := &fixture{c: c}
	member := &auth.Principal{Subject: "norr", Grants: []auth.Grant{{Role: auth.Viewer, Member: "region-norr"}}}
	failed := ""
	for i := 0; i < len(bf.ids) && failed == ""; i += 40 { // region-norr
		if k := benchKind(i); k >= 12 && k < 17 {
			failed = bf.ids[i]
		}
	}
	paths := []struct{ name, path string }{
		{"overview", "/"},
		{"fleet", "/fleet"},
		{"fleet-page-50", "/fleet?after=" + bf.ids[50]},
		{"fleet-member-failed", "/fleet?member=region-norr&state=failed"},
		{"fleet-model-os", "/fleet?model=Surface+Pro+9&os=26200"},
		{"fleet-never", "/fleet?state=never"},
		{"fleet-search-host", "/fleet?q=pc-01234"},
		{"fleet-search-id", "/fleet?q=" + bf.ids[777][:6]},
		{"fleet-search-short", "/fleet?q=pc-0"},
		{"device", "/devices/" + failed},
		{"certification", "/certification"},
		{"packages", "/packages"},
		{"baselines", "/baselines"},
		{"findings", "/findings"},
	}
	for _, who := range []struct {
		name string
		p    *auth.Principal
	}{{"consortium", consortium}, {"member", member}} {
		h := f.handler(who.p)
		for _, pg := range paths {
			b.Run(who.name+"/"+pg.name, func(b *testing.B) {
				if code, body := get(b, h, pg.path); code != http.StatusOK {
					b.Fatalf("GET %s: %d\n%.500s", pg.path, code, body)
				}
				for b.Loop() {
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, pg.path, nil))
					if rec.Code != http.StatusOK {
						b.Fatalf("GET %s: %d", pg.path, rec.Code)
					}
				}
			})
		}
	}
}

// BenchmarkCount takes the fleet-wide counts the overview, the certification matrix and
// baseline compliance read: one pass over every device (census) and over the latest reports
// of the devices that failed or drifted (outcomes).
func BenchmarkCount(b *testing.B) {
	bf := loadBench(b)
	ctx := context.Background()
	b.Run("census", func(b *testing.B) {
		for b.Loop() {
			if _, err := bf.st.Census(ctx, now.Add(-24*time.Hour)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("outcomes", func(b *testing.B) {
		for b.Loop() {
			if err := bf.st.Outcomes(ctx, nil, func(*store.Outcome) error { return nil }); err != nil {
				b.Fatal(err)
			}
		}
	})
}
