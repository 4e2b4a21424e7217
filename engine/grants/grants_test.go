package grants_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	bundled "samverk.io/samverk/catalog"
	"samverk.io/samverk/engine/auth"
	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/desired"
	"samverk.io/samverk/engine/grants"
	"samverk.io/samverk/engine/store"
	"samverk.io/samverk/engine/store/storetest"
)

var t0 = time.Date(2026, 11, 10, 9, 0, 0, 0, time.UTC)

// People of the tests: a requester of kommun-vasterby, two of its approvers, an approver of
// region-norr (which owns fjarratkomst), and a consortium approver.
var (
	anna    = person("oidc:anna", auth.Grant{Role: auth.Viewer, Member: "kommun-vasterby"})
	bo      = person("oidc:bo", auth.Grant{Role: auth.Approver, Member: "kommun-vasterby"})
	dan     = person("oidc:dan", auth.Grant{Role: auth.Approver, Member: "kommun-vasterby"})
	cilla   = person("oidc:cilla", auth.Grant{Role: auth.Approver, Member: "region-norr"})
	consort = person("oidc:cab", auth.Grant{Role: auth.Approver, Member: auth.Consortium})
	viewer  = person("oidc:vera", auth.Grant{Role: auth.Viewer, Member: "region-norr"})
)

func person(sub string, gs ...auth.Grant) *auth.Principal {
	return &auth.Principal{Subject: sub, Name: strings.TrimPrefix(sub, "oidc:"), Method: "oidc", Grants: gs}
}

// fixture is a ledger over the bundled catalog and a real store with devices of two members.
type fixture struct {
	st     store.Store
	l      *grants.Ledger
	now    time.Time
	mu     sync.Mutex
	cat    *catalog.Catalog
	pushed []map[string]grants.Overlay
	warned []int64
}

func (f *fixture) deliverer() grants.Deliverer { return deliverFunc(f.deliver) }

type deliverFunc func(map[string]grants.Overlay) error

func (d deliverFunc) SetOverlays(m map[string]grants.Overlay) error { return d(m) }

func (f *fixture) deliver(m map[string]grants.Overlay) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pushed = append(f.pushed, m)
	return nil
}

func (f *fixture) last() map[string]grants.Overlay {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.pushed) == 0 {
		return nil
	}
	return f.pushed[len(f.pushed)-1]
}

func loadCatalog(t testing.TB) *catalog.Catalog {
	t.Helper()
	res, err := catalog.Load(bundled.FS, catalog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return res.Catalog
}

func newFixture(t testing.TB, kind string) *fixture {
	t.Helper()
	f := &fixture{st: storetest.Open(t, kind, store.Options{}), now: t0, cat: loadCatalog(t)}
	var b store.Batch
	for _, d := range []struct{ id, member string }{{"vb-1", "kommun-vasterby"}, {"vb-2", "kommun-vasterby"}, {"rn-1", "region-norr"}} {
		h := sha256.Sum256([]byte(d.id))
		b.Enrollments = append(b.Enrollments, store.Enrollment{ID: d.id, Member: d.member, CredentialHash: h[:], At: t0,
			Facts: desired.Facts{Hostname: d.id, OSFamily: "windows"}})
	}
	if err := f.st.Write(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	f.l = f.ledger(t)
	return f
}

// ledger is a new ledger over f's store, as after a restart of the daemon.
func (f *fixture) ledger(t testing.TB) *grants.Ledger {
	t.Helper()
	l, err := grants.New(grants.Options{Store: f.st, Devices: f.st, Deliverer: f.deliverer(),
		Catalog: func() (string, *catalog.Catalog) {
			f.mu.Lock()
			defer f.mu.Unlock()
			return "rev1", f.cat
		},
		Warn: func(_ context.Context, g store.Grant) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.warned = append(f.warned, g.ID)
		},
		Now: func() time.Time {
			f.mu.Lock()
			defer f.mu.Unlock()
			return f.now
		}})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func (f *fixture) advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

func remote(days int) grants.Order {
	return grants.Order{Service: "fjarratkomst", Member: "kommun-vasterby", Devices: []string{"vb-1"}, Justification: "on call in December",
		Days: days, CostCentre: "VK-100"}
}

func rule(err error) string {
	var r *grants.Refusal
	if errors.As(err, &r) {
		return r.Rule
	}
	if err != nil {
		return "error: " + err.Error()
	}
	return ""
}

// TestOrderRefusals: every rule a request can break is refused with a message naming it.
func TestOrderRefusals(t *testing.T) {
	f := newFixture(t, "sqlite")
	for _, c := range []struct {
		name string
		who  *auth.Principal
		edit func(o *grants.Order)
		rule string
		msg  string
	}{
		{"a service not in the catalog", anna, func(o *grants.Order) { o.Service = "teleport" }, grants.RuleUnknownService, `no service "teleport"`},
		{"a member not in the catalog", anna, func(o *grants.Order) { o.Member = "kommun-x" }, grants.RuleUnknownMember, `no member "kommun-x"`},
		{"for a member one does not act for", viewer, nil, grants.RuleMemberScope, "do not act for member kommun-vasterby"},
		{"a service the member may not request", anna, func(o *grants.Order) { o.Service = "journalatkomst"; o.Days = 0 },
			grants.RuleRequestableBy, "not requestable by kommun-vasterby (a municipality)"},
		{"another member's device", anna, func(o *grants.Order) { o.Devices = []string{"rn-1"} }, grants.RuleDeviceMember, `"rn-1" is not a device of kommun-vasterby`},
		{"a device that does not exist", anna, func(o *grants.Order) { o.Devices = []string{"nope"} }, grants.RuleDeviceMember, `"nope"`},
		{"no device nor person", anna, func(o *grants.Order) { o.Devices = nil }, grants.RuleTarget, "names the devices or the person"},
		{"a device twice", anna, func(o *grants.Order) { o.Devices = []string{"vb-1", "vb-1"} }, grants.RuleTarget, "named twice"},
		{"too many devices", anna, func(o *grants.Order) { o.Devices = make([]string, grants.MaxDevices+1) }, grants.RuleTarget, "at most 100 devices"},
		{"longer than maxDays", anna, func(o *grants.Order) { o.Days = 181 }, grants.RuleMaxDays, "at most 180 days (duration.maxDays), not 181"},
		{"a time-limited service without days", anna, func(o *grants.Order) { o.Days = 0 }, grants.RuleMaxDays, "time-limited"},
		{"negative days", anna, func(o *grants.Order) { o.Days = -1 }, grants.RuleMaxDays, "negative"},
		{"no justification", anna, func(o *grants.Order) { o.Justification = "  " }, grants.RuleJustification, "says why"},
		{"a justification too long", anna, func(o *grants.Order) { o.Justification = strings.Repeat("x", grants.MaxText+1) }, grants.RuleJustification, "at most 2000"},
		{"another member's cost centre", anna, func(o *grants.Order) { o.CostCentre = "RN-1100" }, grants.RuleCostCentre, `"RN-1100" is not one of kommun-vasterby's`},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := remote(30)
			if c.edit != nil {
				c.edit(&o)
			}
			_, err := f.l.Create(context.Background(), c.who, o)
			if rule(err) != c.rule || !strings.Contains(err.Error(), c.msg) || !strings.Contains(err.Error(), "rule "+c.rule) {
				t.Errorf("Create: %v; want rule %s saying %q", err, c.rule, c.msg)
			}
		})
	}
	if rs, _ := f.st.ListRequests(context.Background(), store.RequestFilter{}); len(rs) != 0 {
		t.Errorf("refused requests were stored: %+v", rs)
	}
}

// TestDecisionRefusals: nobody approves their own request or approves twice; only approvers of
// the roles the service demands decide; rejections and revocations say why; an ended request
// cannot be decided again.
func TestDecisionRefusals(t *testing.T) {
	f := newFixture(t, "sqlite")
	ctx := context.Background()
	bosOwn, err := f.l.Create(ctx, bo, remote(30))
	if err != nil {
		t.Fatal(err)
	}
	r, err := f.l.Create(ctx, anna, remote(30))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.l.Approve(ctx, bo, bosOwn.ID, ""); rule(err) != grants.RuleOwnRequest {
		t.Errorf("approving one's own request: %v", err)
	}
	if _, err := f.l.Approve(ctx, viewer, r.ID, ""); rule(err) != grants.RuleApproverRole {
		t.Errorf("approved by someone with no approver role: %v", err)
	}
	if _, err := f.l.Approve(ctx, bo, r.ID, "fine"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.l.Approve(ctx, bo, r.ID, "again"); rule(err) != grants.RuleApprovedTwice {
		t.Errorf("approved twice by one person: %v", err)
	}
	// The manager's approval is given: another approver of kommun-vasterby is no service owner.
	_, err = f.l.Approve(ctx, dan, r.ID, "")
	if rule(err) != grants.RuleApproverRole || !strings.Contains(err.Error(), "the approver role for region-norr") {
		t.Errorf("a second manager: %v", err)
	}
	if _, err := f.l.Reject(ctx, cilla, r.ID, " "); rule(err) != grants.RuleReason {
		t.Errorf("a rejection without a reason: %v", err)
	}
	if _, err := f.l.Reject(ctx, viewer, r.ID, "no"); rule(err) != grants.RuleApproverRole {
		t.Errorf("rejected by a viewer: %v", err)
	}
	if _, err := f.l.Reject(ctx, anna, r.ID, "no"); rule(err) != grants.RuleOwnRequest {
		t.Errorf("rejecting one's own request: %v", err)
	}
	if _, err := f.l.Cancel(ctx, bo, r.ID, ""); rule(err) != grants.RuleCanceller {
		t.Errorf("cancelled by someone else: %v", err)
	}
	if _, err := f.l.Approve(ctx, bo, 999, ""); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("approving no request: %v", err)
	}
	got, err := f.l.Approve(ctx, cilla, r.ID, "as owner")
	if err != nil {
		t.Fatal(err)
	}
	if got.State != string(grants.Approved) || got.Grant == 0 || len(got.Decisions) != 2 || got.Decisions[0].As != grants.ApprovalManager ||
		got.Decisions[1].As != grants.ApprovalOwner {
		t.Fatalf("approved request = %+v", got)
	}
	for _, c := range []struct {
		name string
		do   func() error
	}{
		{"approve", func() error { _, err := f.l.Approve(ctx, consort, r.ID, ""); return err }},
		{"reject", func() error { _, err := f.l.Reject(ctx, cilla, r.ID, "late"); return err }},
		{"cancel", func() error { _, err := f.l.Cancel(ctx, anna, r.ID, ""); return err }},
	} {
		if err := c.do(); rule(err) != grants.RuleState {
			t.Errorf("%s an approved request: %v", c.name, err)
		}
	}
	if _, err := f.l.Revoke(ctx, bo, got.Grant, ""); rule(err) != grants.RuleReason {
		t.Errorf("a revocation without a reason: %v", err)
	}
	if _, err := f.l.Revoke(ctx, anna, got.Grant, "gone"); rule(err) != grants.RuleApproverRole {
		t.Errorf("revoked by the requester: %v", err)
	}
	g, err := f.l.Revoke(ctx, cilla, got.Grant, "the project ended")
	if err != nil || g.State != string(grants.Revoked) || !strings.Contains(g.EndReason, "the project ended") {
		t.Fatalf("revoke = %+v, %v", g, err)
	}
	if _, err := f.l.Revoke(ctx, cilla, got.Grant, "again"); rule(err) != grants.RuleState {
		t.Errorf("revoked twice: %v", err)
	}
	// A request whose service left the catalog can no longer be approved.
	r2, err := f.l.Create(ctx, anna, grants.Order{Service: "mfa-token", Member: "kommun-vasterby", Person: "anna@vasterby.se",
		Justification: "new job", CostCentre: "VK-100"})
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.cat = without(t, f.cat, "mfa-token")
	f.mu.Unlock()
	if _, err := f.l.Approve(ctx, bo, r2.ID, ""); rule(err) != grants.RuleUnknownService {
		t.Errorf("approving a request for a service that left: %v", err)
	}
	if _, err := f.l.Reject(ctx, bo, r2.ID, "the service is gone"); err != nil {
		t.Errorf("rejecting a request for a service that left: %v", err)
	}
}

// without is cat without the service name.
func without(t testing.TB, cat *catalog.Catalog, name string) *catalog.Catalog {
	t.Helper()
	var docs []*catalog.Document
	for _, d := range cat.Docs {
		if d.Kind != catalog.KindService || d.Name != name {
			docs = append(docs, d)
		}
	}
	c, _ := catalog.New(docs)
	return c
}

// TestBoth: a service that needs both approvals needs two different people; a consortium
// approver, who could act in either role, counts once.
func TestBoth(t *testing.T) {
	f := newFixture(t, "sqlite")
	ctx := context.Background()
	r, err := f.l.Create(ctx, anna, remote(30))
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.l.Approve(ctx, consort, r.ID, "")
	if err != nil || got.State != string(grants.Pending) || got.Decisions[0].As != grants.ApprovalManager {
		t.Fatalf("first approval by the consortium: %+v, %v", got, err)
	}
	if _, err := f.l.Approve(ctx, consort, r.ID, ""); rule(err) != grants.RuleApprovedTwice {
		t.Errorf("the same person in the other role: %v", err)
	}
	got, err = f.l.Approve(ctx, cilla, r.ID, "")
	if err != nil || got.State != string(grants.Approved) {
		t.Fatalf("second approval: %+v, %v", got, err)
	}
}

// TestConcurrentApprovals: approvals made at once are judged one after the other, on both
// databases: two managers of a manager-only service cannot both approve, and a manager and a
// service owner together complete a service that needs both.
func TestConcurrentApprovals(t *testing.T) {
	for _, kind := range storetest.Kinds {
		t.Run(kind, func(t *testing.T) {
			f := newFixture(t, kind)
			ctx := context.Background()
			one, err := f.l.Create(ctx, anna, grants.Order{Service: "mfa-token", Member: "kommun-vasterby", Person: "anna@vasterby.se",
				Justification: "new job", CostCentre: "VK-100"})
			if err != nil {
				t.Fatal(err)
			}
			both, err := f.l.Create(ctx, anna, remote(30))
			if err != nil {
				t.Fatal(err)
			}
			run := func(id int64, who ...*auth.Principal) []error {
				errs := make([]error, len(who))
				var wg sync.WaitGroup
				for i, p := range who {
					wg.Add(1)
					go func() { defer wg.Done(); _, errs[i] = f.l.Approve(ctx, p, id, "") }()
				}
				wg.Wait()
				return errs
			}
			errs := run(one.ID, bo, dan)
			if (errs[0] == nil) == (errs[1] == nil) {
				t.Errorf("two managers at once: %v; want exactly one to count", errs)
			}
			for _, err := range errs {
				if err != nil && rule(err) != grants.RuleState {
					t.Errorf("the second manager: %v, want rule state", err)
				}
			}
			r, _ := f.st.ServiceRequest(ctx, one.ID)
			if r.State != string(grants.Approved) || len(r.Decisions) != 1 {
				t.Errorf("after two managers at once: %+v", r)
			}
			if errs := run(both.ID, bo, cilla); errs[0] != nil || errs[1] != nil {
				t.Errorf("a manager and an owner at once: %v", errs)
			}
			r, _ = f.st.ServiceRequest(ctx, both.ID)
			if r.State != string(grants.Approved) || len(r.Decisions) != 2 || r.Decisions[0].As == r.Decisions[1].As {
				t.Errorf("after a manager and an owner at once: %+v", r)
			}
			if gs, _ := f.st.ListGrants(ctx, store.GrantFilter{}); len(gs) != 2 {
				t.Errorf("grants = %+v, want one per approved request", gs)
			}
		})
	}
}

// TestSchedule: an approved grant starts and its products are delivered to its devices; it is
// warned of ahead of its end; it expires on time even when the daemon looks after a restart;
// its products stay absent until the device reports them gone; its entitlements get work items
// to grant and to withdraw.
func TestSchedule(t *testing.T) {
	f := newFixture(t, "sqlite")
	ctx := context.Background()
	r, err := f.l.Create(ctx, anna, remote(10))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []*auth.Principal{bo, cilla} {
		if _, err := f.l.Approve(ctx, p, r.ID, ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.l.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	gs, _ := f.st.ListGrants(ctx, store.GrantFilter{})
	if len(gs) != 1 || gs[0].State != string(grants.Active) || !gs[0].From.Equal(t0) || !gs[0].Until.Equal(t0.Add(10*24*time.Hour)) {
		t.Fatalf("grants after the first look: %+v", gs)
	}
	want := map[string]grants.Overlay{"vb-1": {Present: []string{"cisco-secure-client"}}}
	if got := f.last(); !overlaysEqual(got, want) {
		t.Fatalf("overlays = %v, want %v", got, want)
	}
	work, _ := f.st.WorkItems(ctx, store.WorkFilter{Open: true})
	if len(work) != 2 || work[0].Action != store.WorkGrant || work[0].Type != "network-access" || work[1].Name != "SAM-Fjarratkomst-Anvandare" {
		t.Errorf("work items = %+v", work)
	}
	// Nothing changed: nothing delivered again, no warning yet.
	f.advance(time.Hour)
	if err := f.l.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if len(f.pushed) != 1 || len(f.warned) != 0 {
		t.Errorf("a look that changed nothing delivered %d times, warned %v", len(f.pushed), f.warned)
	}
	f.advance(4 * 24 * time.Hour)
	f.l.Tick(ctx)
	f.l.Tick(ctx)
	if !slices.Equal(f.warned, []int64{gs[0].ID}) {
		t.Errorf("warned = %v, want grant %d once", f.warned, gs[0].ID)
	}

	// The daemon is down past the grant's end; after the restart, its first look expires it
	// at its time.
	f.advance(10 * 24 * time.Hour)
	f.l = f.ledger(t)
	if err := f.l.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	g, _ := f.st.Grant(ctx, gs[0].ID)
	if g.State != string(grants.Expired) || !g.EndedAt.Equal(gs[0].Until) || g.EndReason != "expired" {
		t.Fatalf("grant after the restart = %+v", g)
	}
	want = map[string]grants.Overlay{"vb-1": {Absent: []string{"cisco-secure-client"}}}
	if got := f.last(); !overlaysEqual(got, want) {
		t.Fatalf("overlays after the end = %v, want %v", got, want)
	}
	work, _ = f.st.WorkItems(ctx, store.WorkFilter{Open: true})
	if len(work) != 4 || work[2].Action != store.WorkWithdraw || work[3].Action != store.WorkWithdraw {
		t.Errorf("work items after the end = %+v", work)
	}
	// The device reports the client gone (an inventory without it): the product is no longer
	// held absent once the report is read again.
	h := sha256.Sum256([]byte("vb-1"))
	if err := f.st.Write(ctx, &store.Batch{Enrollments: []store.Enrollment{{ID: "vb-1", Member: "kommun-vasterby", CredentialHash: h[:], At: f.now,
		Replaces: true, Facts: desired.Facts{Hostname: "vb-1", OSFamily: "windows", Products: map[string]string{"firefox-esr": "128"}}}}}); err != nil {
		t.Fatal(err)
	}
	f.advance(2 * time.Hour)
	if err := f.l.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if got := f.last(); len(got) != 0 {
		t.Errorf("overlays after the device reported the product gone = %v, want none", got)
	}
}

// TestServiceLeaves: a grant whose service leaves the catalog is revoked with that reason, and
// its products become absent.
func TestServiceLeaves(t *testing.T) {
	f := newFixture(t, "sqlite")
	ctx := context.Background()
	r, err := f.l.Create(ctx, anna, grants.Order{Service: "kontorspaket-libreoffice", Member: "kommun-vasterby", Devices: []string{"vb-1", "vb-2"},
		Justification: "documents", CostCentre: "VK-300"})
	if err != nil {
		t.Fatal(err)
	}
	if r.State != string(grants.Approved) || r.Decisions[0].As != grants.ApprovalNone {
		t.Fatalf("a service that needs no approval: %+v", r)
	}
	f.l.Tick(ctx)
	if got := f.last(); len(got) != 2 || !slices.Equal(got["vb-2"].Present, []string{"libreoffice"}) {
		t.Fatalf("overlays = %v", got)
	}
	f.mu.Lock()
	f.cat = without(t, f.cat, "kontorspaket-libreoffice")
	f.mu.Unlock()
	if err := f.l.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	g, _ := f.st.Grant(ctx, r.Grant)
	if g.State != string(grants.Revoked) || !strings.Contains(g.EndReason, "kontorspaket-libreoffice is no longer in the catalog (revision rev1)") {
		t.Errorf("grant of a service that left = %+v", g)
	}
	if got := f.last(); len(got) != 2 || !slices.Equal(got["vb-1"].Absent, []string{"libreoffice"}) || len(got["vb-1"].Present) != 0 {
		t.Errorf("overlays after the service left = %v", got)
	}
}

func overlaysEqual(a, b map[string]grants.Overlay) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok || !slices.Equal(v.Present, w.Present) || !slices.Equal(v.Absent, w.Absent) {
			return false
		}
	}
	return true
}

// TestCostsAndAccess: a month's cost basis charges a monthly service pro rata by the days its
// grant was active; access at a time lists who had the service, since when and approved by
// whom.
func TestCostsAndAccess(t *testing.T) {
	f := newFixture(t, "sqlite")
	ctx := context.Background()
	f.now = time.Date(2026, 11, 16, 0, 0, 0, 0, time.UTC)
	r, err := f.l.Create(ctx, anna, grants.Order{Service: "fjarratkomst", Member: "kommun-vasterby", Devices: []string{"vb-1", "vb-2"},
		Justification: "on call", Days: 30, CostCentre: "VK-500"})
	if err != nil {
		t.Fatal(err)
	}
	f.l.Approve(ctx, bo, r.ID, "ok")
	f.l.Approve(ctx, cilla, r.ID, "ok as owner")
	f.l.Tick(ctx)
	f.advance(40 * 24 * time.Hour)
	f.l.Tick(ctx)
	lines, err := f.l.Costs(ctx, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), nil)
	if err != nil {
		t.Fatal(err)
	}
	// 15 of November's 30 days at 45 SEK a month, for each of two devices.
	if len(lines) != 2 || lines[0].Device != "vb-1" || lines[0].Days != 15 || lines[0].AmountSEK != 22.5 || lines[0].Model != "monthly" ||
		lines[1].Device != "vb-2" || lines[0].CostCentre != "VK-500" {
		t.Errorf("November = %+v", lines)
	}
	dec, _ := f.l.Costs(ctx, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), nil)
	// 15 days of December's 31.
	if len(dec) != 2 || dec[0].Days != 15 || dec[0].AmountSEK != 21.77 {
		t.Errorf("December = %+v", dec)
	}
	if other, _ := f.l.Costs(ctx, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), []string{"region-norr"}); len(other) != 0 {
		t.Errorf("another member's costs = %+v", other)
	}
	rows, err := f.l.Access(ctx, "fjarratkomst", time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC), nil)
	if err != nil || len(rows) != 1 {
		t.Fatalf("access = %+v, %v", rows, err)
	}
	if a := rows[0]; a.Justification != "on call" || len(a.Approvals) != 2 || a.Approvals[1].By != cilla.Subject || a.Approvals[1].Reason != "ok as owner" ||
		a.State != string(grants.Expired) || !slices.Equal(a.Devices, []string{"vb-1", "vb-2"}) {
		t.Errorf("access row = %+v", a)
	}
	for _, at := range []time.Time{time.Date(2026, 11, 15, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 17, 0, 0, 0, 0, time.UTC)} {
		if rows, _ := f.l.Access(ctx, "fjarratkomst", at, nil); len(rows) != 0 {
			t.Errorf("access at %v = %+v, want none", at, rows)
		}
	}
}
