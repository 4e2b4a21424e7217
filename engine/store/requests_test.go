package store_test

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"samverk.io/samverk/engine/store"
	"samverk.io/samverk/engine/store/storetest"
)

// TestRequests runs the request, decision, grant and work item cases against every store.
func TestRequests(t *testing.T) {
	for _, kind := range storetest.Kinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			s := storetest.Open(t, kind, store.Options{})
			if _, err := s.ServiceRequest(ctx(t), 1); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("a request of an empty store: %v, want ErrNotFound", err)
			}
			r := &store.ServiceRequest{Service: "fjarratkomst", Member: "region-norr", Requester: "oidc:anna", RequesterName: "Anna",
				Devices: []string{"d1", "d2"}, Justification: "on call", Days: 30, CostCentre: "4711", CreatedAt: t0, State: store.RequestPending}
			if err := s.CreateRequest(ctx(t), r, nil, nil); err != nil {
				t.Fatal(err)
			}
			if r.ID <= 0 || r.Version != 1 {
				t.Fatalf("created request id %d version %d", r.ID, r.Version)
			}
			got, err := s.ServiceRequest(ctx(t), r.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.Devices, r.Devices) || got.Justification != "on call" || !got.CreatedAt.Equal(t0) || got.Days != 30 ||
				got.State != store.RequestPending || len(got.Decisions) != 0 || got.Grant != 0 {
				t.Errorf("read back %+v", got)
			}

			// A first approval keeps it pending; a write against the version read before it
			// is refused, so that two approvals read together cannot both count.
			first := store.Decision{By: "oidc:bo", ByName: "Bo", As: "manager", Verdict: "approve", Reason: "ok", At: t0.Add(time.Hour)}
			if err := s.Decide(ctx(t), &store.DecisionWrite{Request: r.ID, Version: 1, State: store.RequestPending, Decision: first}); err != nil {
				t.Fatal(err)
			}
			stale := store.DecisionWrite{Request: r.ID, Version: 1, State: store.RequestApproved,
				Decision: store.Decision{By: "oidc:cecilia", As: "service-owner", Verdict: "approve", At: t0.Add(2 * time.Hour)},
				Grant:    &store.Grant{Service: "fjarratkomst", Member: "region-norr", State: store.GrantApproved, ApprovedAt: t0}}
			if err := s.Decide(ctx(t), &stale); !errors.Is(err, store.ErrConflict) {
				t.Fatalf("a decision on a stale version: %v, want ErrConflict", err)
			}
			if gs, _ := s.ListGrants(ctx(t), store.GrantFilter{}); len(gs) != 0 {
				t.Fatalf("the refused decision left grants %+v", gs)
			}
			if err := s.Decide(ctx(t), &store.DecisionWrite{Request: 999, Version: 1, State: store.RequestRejected}); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("a decision on no request: %v, want ErrNotFound", err)
			}

			// Two approvals written at once against the same version: exactly one counts.
			var wg sync.WaitGroup
			errs := make([]error, 2)
			grants := make([]*store.Grant, 2)
			for i := range 2 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					grants[i] = &store.Grant{Service: "fjarratkomst", Member: "region-norr", Requester: "oidc:anna", Devices: []string{"d1", "d2"},
						Products: []string{"cisco-secure-client"}, CostCentre: "4711", ApprovedAt: t0.Add(2 * time.Hour), Until: t0.Add(30 * 24 * time.Hour), State: store.GrantApproved}
					errs[i] = s.Decide(ctx(t), &store.DecisionWrite{Request: r.ID, Version: 2, State: store.RequestApproved,
						Decision: store.Decision{By: []string{"oidc:cecilia", "oidc:david"}[i], As: "service-owner", Verdict: "approve", At: t0.Add(2 * time.Hour)},
						Grant:    grants[i],
						WorkItems: []store.WorkItem{{Member: "region-norr", Service: "fjarratkomst", Type: "directory-group", Name: "SAM-X",
							Action: store.WorkGrant, CreatedAt: t0.Add(2 * time.Hour)}}})
				}()
			}
			wg.Wait()
			won := -1
			for i, err := range errs {
				switch {
				case err == nil && won < 0:
					won = i
				case errors.Is(err, store.ErrConflict):
				default:
					t.Fatalf("concurrent approvals: %v", errs)
				}
			}
			if won < 0 {
				t.Fatalf("neither concurrent approval counted: %v", errs)
			}
			got, err = s.ServiceRequest(ctx(t), r.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.State != store.RequestApproved || got.Version != 3 || len(got.Decisions) != 2 || got.Decisions[0] != first ||
				got.Decisions[1].By != []string{"oidc:cecilia", "oidc:david"}[won] || got.Grant != grants[won].ID {
				t.Errorf("after the approvals: %+v", got)
			}
			gs, err := s.ListGrants(ctx(t), store.GrantFilter{})
			if err != nil || len(gs) != 1 {
				t.Fatalf("grants = %+v, %v", gs, err)
			}
			g := gs[0]
			if g.Request != r.ID || !slices.Equal(g.Devices, []string{"d1", "d2"}) || !slices.Equal(g.Products, []string{"cisco-secure-client"}) || !g.Until.Equal(t0.Add(30*24*time.Hour)) || !g.From.IsZero() ||
				g.State != store.GrantApproved || g.Version != 1 {
				t.Errorf("grant = %+v", g)
			}
			work, err := s.WorkItems(ctx(t), store.WorkFilter{Open: true})
			if err != nil || len(work) != 1 || work[0].Grant != g.ID || work[0].Name != "SAM-X" {
				t.Fatalf("work items = %+v, %v", work, err)
			}

			// The grant starts, then ends; a change against an old version is refused.
			if err := s.ChangeGrant(ctx(t), &store.GrantChange{Grant: g.ID, Version: 1, State: store.GrantActive, From: t0.Add(3 * time.Hour)}); err != nil {
				t.Fatal(err)
			}
			if err := s.ChangeGrant(ctx(t), &store.GrantChange{Grant: g.ID, Version: 1, State: store.GrantRevoked}); !errors.Is(err, store.ErrConflict) {
				t.Errorf("a change on a stale version: %v, want ErrConflict", err)
			}
			if err := s.ChangeGrant(ctx(t), &store.GrantChange{Grant: 999, Version: 1, State: store.GrantRevoked}); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("a change of no grant: %v, want ErrNotFound", err)
			}
			for _, c := range []struct {
				f    store.GrantFilter
				want int
			}{
				{store.GrantFilter{States: []string{store.GrantActive}}, 1},
				{store.GrantFilter{States: []string{store.GrantExpired}}, 0},
				{store.GrantFilter{Members: []string{"kommun-vasterby"}}, 0},
				{store.GrantFilter{Members: []string{}}, 0},
				{store.GrantFilter{Service: "fjarratkomst", Within: t0.Add(4 * time.Hour), Before: t0.Add(5 * time.Hour)}, 1},
				{store.GrantFilter{Within: t0, Before: t0.Add(2 * time.Hour)}, 0}, // not started yet
			} {
				if gs, err := s.ListGrants(ctx(t), c.f); err != nil || len(gs) != c.want {
					t.Errorf("grants of %+v = %d, %v; want %d", c.f, len(gs), err, c.want)
				}
			}
			end := store.GrantChange{Grant: g.ID, Version: 2, State: store.GrantExpired, EndedAt: t0.Add(48 * time.Hour), EndReason: "expired",
				WorkItems: []store.WorkItem{{Member: "region-norr", Service: "fjarratkomst", Type: "directory-group", Name: "SAM-X",
					Action: store.WorkWithdraw, CreatedAt: t0.Add(48 * time.Hour)}}}
			if err := s.ChangeGrant(ctx(t), &end); err != nil {
				t.Fatal(err)
			}
			g2, err := s.Grant(ctx(t), g.ID)
			if err != nil {
				t.Fatal(err)
			}
			if g2.State != store.GrantExpired || !g2.From.Equal(t0.Add(3*time.Hour)) || !g2.EndedAt.Equal(t0.Add(48*time.Hour)) || g2.EndReason != "expired" || g2.Version != 3 {
				t.Errorf("ended grant = %+v", g2)
			}
			if gs, _ := s.ListGrants(ctx(t), store.GrantFilter{Within: t0.Add(49 * time.Hour), Before: t0.Add(50 * time.Hour)}); len(gs) != 0 {
				t.Errorf("a grant ended before the window: %+v", gs)
			}
			if _, err := s.Grant(ctx(t), 999); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("no grant: %v, want ErrNotFound", err)
			}

			// Many changes in one transaction: the stale one is left out, the others written.
			r3 := &store.ServiceRequest{Service: "utskrift", Member: "region-norr", Requester: "oidc:anna", Devices: []string{}, Person: "anna",
				CreatedAt: t0, State: store.RequestApproved}
			g4 := &store.Grant{Service: "utskrift", Member: "region-norr", Requester: "oidc:anna", Person: "anna", ApprovedAt: t0, State: store.GrantApproved}
			if err := s.CreateRequest(ctx(t), r3, g4, nil); err != nil {
				t.Fatal(err)
			}
			left, err := s.ChangeGrants(ctx(t), []*store.GrantChange{
				{Grant: g4.ID, Version: 1, State: store.GrantActive, From: t0},
				{Grant: g4.ID, Version: 2, State: store.GrantRevoked, EndedAt: t0.Add(time.Hour), EndReason: "left"},
				{Grant: g.ID, Version: 1, State: store.GrantRevoked},
				{Grant: 999, Version: 1, State: store.GrantRevoked},
			})
			if err != nil || len(left) != 2 || !errors.Is(left[g.ID], store.ErrConflict) || !errors.Is(left[999], store.ErrNotFound) {
				t.Errorf("ChangeGrants: left out %v, %v", left, err)
			}
			if g5, _ := s.Grant(ctx(t), g4.ID); g5.State != store.GrantRevoked || !g5.From.Equal(t0) || g5.Version != 3 {
				t.Errorf("after two changes in one transaction: %+v", g5)
			}

			// Work items are marked done once; the first stays.
			work, _ = s.WorkItems(ctx(t), store.WorkFilter{Open: true})
			if len(work) != 2 || work[1].Action != store.WorkWithdraw {
				t.Fatalf("open work items = %+v", work)
			}
			if err := s.CompleteWorkItem(ctx(t), work[0].ID, "token:idm", t0.Add(50*time.Hour), "added"); err != nil {
				t.Fatal(err)
			}
			if err := s.CompleteWorkItem(ctx(t), work[0].ID, "token:other", t0.Add(51*time.Hour), "again"); err != nil {
				t.Fatal(err)
			}
			if w, err := s.WorkItem(ctx(t), work[0].ID); err != nil || w.DoneBy != "token:idm" || w.Member != "region-norr" {
				t.Errorf("work item %d = %+v, %v", work[0].ID, w, err)
			}
			if _, err := s.WorkItem(ctx(t), 999); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("no work item: %v, want ErrNotFound", err)
			}
			if err := s.CompleteWorkItem(ctx(t), 999, "token:idm", t0, ""); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("no work item: %v, want ErrNotFound", err)
			}
			all, _ := s.WorkItems(ctx(t), store.WorkFilter{Members: []string{"region-norr"}})
			if len(all) != 2 || all[0].DoneBy != "token:idm" || all[0].Note != "added" || !all[0].DoneAt.Equal(t0.Add(50*time.Hour)) {
				t.Errorf("work items after done = %+v", all)
			}

			// A request for a service that needs no approval is written with its grant.
			r2 := &store.ServiceRequest{Service: "standardprogram", Member: "kommun-vasterby", Requester: "oidc:eva", Devices: []string{"d9"},
				CreatedAt: t0, State: store.RequestApproved, Decisions: []store.Decision{{By: "", As: "none", Verdict: "approve", At: t0}}}
			g3 := &store.Grant{Service: "standardprogram", Member: "kommun-vasterby", Requester: "oidc:eva", Devices: []string{"d9"}, ApprovedAt: t0, State: store.GrantApproved}
			if err := s.CreateRequest(ctx(t), r2, g3, nil); err != nil {
				t.Fatal(err)
			}
			if r2.Grant == 0 || g3.Request != r2.ID {
				t.Errorf("request %+v, grant %+v", r2, g3)
			}
			for _, c := range []struct {
				f    store.RequestFilter
				want []int64
			}{
				{store.RequestFilter{}, []int64{r2.ID, r3.ID, r.ID}},
				{store.RequestFilter{Members: []string{"region-norr"}}, []int64{r3.ID, r.ID}},
				{store.RequestFilter{State: store.RequestPending}, nil},
				{store.RequestFilter{Service: "standardprogram"}, []int64{r2.ID}},
				{store.RequestFilter{Requester: "oidc:anna"}, []int64{r3.ID, r.ID}},
				{store.RequestFilter{Limit: 1}, []int64{r2.ID}},
				{store.RequestFilter{State: store.RequestApproved, Members: []string{"region-norr"}}, []int64{r3.ID, r.ID}},
			} {
				rs, err := s.ListRequests(ctx(t), c.f)
				var ids []int64
				for _, r := range rs {
					ids = append(ids, r.ID)
				}
				if err != nil || !slices.Equal(ids, c.want) {
					t.Errorf("requests of %+v = %v, %v; want %v", c.f, ids, err, c.want)
				}
			}
			rs, _ := s.ListRequests(ctx(t), store.RequestFilter{Members: []string{"kommun-vasterby"}})
			if len(rs) != 1 || len(rs[0].Decisions) != 1 || rs[0].Grant != g3.ID {
				t.Errorf("listed request with its decisions = %+v", rs)
			}
		})
	}
}
