package grants_test

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"samverk.io/samverk/engine/auth"
	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/grants"
	"samverk.io/samverk/engine/store"
)

// reachable reports whether to can follow from in zero or more transitions.
func reachable(from, to grants.State) bool {
	seen := map[grants.State]bool{from: true}
	queue := []grants.State{from}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		if s == to {
			return true
		}
		for _, e := range grants.Events {
			if n, err := grants.Next(s, e); err == nil && !seen[n] {
				seen[n] = true
				queue = append(queue, n)
			}
		}
	}
	return false
}

// FuzzNext: whatever events arrive, in any order, the state machine stays in its states, a
// refused event changes nothing, a final state refuses everything, and a grant is active only
// after an approval and ends only after it was active or approved.
func FuzzNext(f *testing.F) {
	f.Add([]byte{0, 3, 4})
	f.Add([]byte{0, 5, 3, 4, 5})
	f.Add([]byte{1, 0, 2})
	f.Fuzz(func(t *testing.T, events []byte) {
		s := grants.Pending
		var history []grants.State
		for _, b := range events {
			e := grants.Events[int(b)%len(grants.Events)]
			n, err := grants.Next(s, e)
			switch {
			case err != nil && n != s:
				t.Fatalf("%s refused in %s moved to %s", e, s, n)
			case err != nil && rule(err) != grants.RuleState:
				t.Fatalf("%s in %s: %v", e, s, err)
			case err == nil && grants.Final(s):
				t.Fatalf("final state %s took %s", s, e)
			case !slices.Contains(grants.States, n):
				t.Fatalf("%s in %s led to unknown state %q", e, s, n)
			}
			if err == nil {
				history = append(history, n)
			}
			s = n
		}
		for i, st := range history {
			switch st {
			case grants.Active:
				if !slices.Contains(history[:i], grants.Approved) {
					t.Fatalf("active without approval: %v", history)
				}
			case grants.Expired:
				if !slices.Contains(history[:i], grants.Active) {
					t.Fatalf("expired without being active: %v", history)
				}
			}
		}
	})
}

// TestRandomDecisions drives a ledger on a real store with random requests, decisions by
// random people (approvers of either member, the consortium, the requester, a viewer), revokes,
// services leaving and coming back to the catalog and the clock jumping, and checks after every
// step that no request reached a state its rules forbid.
func TestRandomDecisions(t *testing.T) {
	steps := 400
	if testing.Short() {
		steps = 100
	}
	for seed := range uint64(3) {
		t.Run("seed"+string(rune('0'+seed)), func(t *testing.T) {
			randomDecisions(t, seed, steps)
		})
	}
}

func randomDecisions(t *testing.T, seed uint64, steps int) {
	f := newFixture(t, "sqlite")
	ctx := context.Background()
	rnd := rand.New(rand.NewPCG(seed, 42))
	full := f.cat
	people := []*auth.Principal{anna, bo, dan, cilla, consort, viewer,
		person("oidc:erik", auth.Grant{Role: auth.Viewer, Member: "kommun-vasterby"}),
		person("oidc:admin", auth.Grant{Role: auth.Admin, Member: "kommun-vasterby"})}
	requesters := []*auth.Principal{anna, bo, people[6], people[7]}
	bySubject := map[string]*auth.Principal{}
	for _, p := range people {
		bySubject[p.Subject] = p
	}
	orders := []grants.Order{
		remote(30),
		{Service: "lokal-administrator", Member: "kommun-vasterby", Devices: []string{"vb-2"}, Justification: "driver test", Days: 3, CostCentre: "VK-300"},
		{Service: "mfa-token", Member: "kommun-vasterby", Person: "erik@vasterby.se", Justification: "new job", CostCentre: "VK-500"},
		{Service: "kontorspaket-libreoffice", Member: "kommun-vasterby", Devices: []string{"vb-1", "vb-2"}, Justification: "documents", CostCentre: "VK-100"},
	}
	seen := map[int64]grants.State{}
	var ids, grantIDs []int64
	pick := func(xs []int64) int64 {
		if len(xs) == 0 {
			return 0
		}
		return xs[rnd.IntN(len(xs))]
	}
	for step := range steps {
		who := people[rnd.IntN(len(people))]
		reason := []string{"", "ok", "no longer needed"}[rnd.IntN(3)]
		switch op := rnd.IntN(10); op {
		case 0, 1:
			r, err := f.l.Create(ctx, requesters[rnd.IntN(len(requesters))], orders[rnd.IntN(len(orders))])
			if err == nil {
				ids = append(ids, r.ID)
				if r.Grant != 0 {
					grantIDs = append(grantIDs, r.Grant)
				}
			} else if rule(err) != grants.RuleUnknownService {
				t.Fatalf("step %d: create: %v", step, err)
			}
		case 2, 3, 4:
			if r, err := f.l.Approve(ctx, who, pick(ids), reason); err == nil && r.Grant != 0 && !slices.Contains(grantIDs, r.Grant) {
				grantIDs = append(grantIDs, r.Grant)
			}
		case 5:
			f.l.Reject(ctx, who, pick(ids), reason)
		case 6:
			f.l.Cancel(ctx, who, pick(ids), reason)
		case 7:
			f.l.Revoke(ctx, who, pick(grantIDs), reason)
		case 8:
			f.advance(time.Duration(rnd.IntN(24*8)) * time.Hour)
			if err := f.l.Tick(ctx); err != nil {
				t.Fatalf("step %d: tick: %v", step, err)
			}
			checkTicked(t, f, step)
		case 9:
			f.mu.Lock()
			if f.cat == full && rnd.IntN(3) == 0 {
				f.cat = without(t, full, "lokal-administrator")
			} else {
				f.cat = full
			}
			f.mu.Unlock()
		}
		checkRequests(t, f, full, bySubject, seen, step)
	}
}

// checkRequests checks every request against the rules, and that each moved only along the
// state machine since the last step.
func checkRequests(t *testing.T, f *fixture, full *catalog.Catalog, people map[string]*auth.Principal, seen map[int64]grants.State, step int) {
	t.Helper()
	ctx := context.Background()
	rs, err := f.st.ListRequests(ctx, store.RequestFilter{Limit: store.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	for i := range rs {
		r := &rs[i]
		var g *store.Grant
		if r.Grant != 0 {
			if g, err = f.st.Grant(ctx, r.Grant); err != nil {
				t.Fatal(err)
			}
		}
		s := grants.StateOf(r, g)
		if prev, ok := seen[r.ID]; ok && !reachable(prev, s) {
			t.Fatalf("step %d: request %d went from %s to %s", step, r.ID, prev, s)
		}
		seen[r.ID] = s
		svc, err := grants.LookupService(full, r.Service)
		if err != nil {
			t.Fatal(err)
		}
		required := grants.Required(svc.Spec.Approval)
		var approvals []store.Decision
		for _, d := range r.Decisions {
			if d.Verdict == grants.VerdictApprove {
				approvals = append(approvals, d)
			}
		}
		if len(required) == 0 {
			if g == nil || len(approvals) != 1 || approvals[0].As != grants.ApprovalNone {
				t.Fatalf("step %d: request %d of %s, which needs no approval: %+v", step, r.ID, r.Service, r)
			}
			continue
		}
		by := map[string]bool{}
		var roles []string
		for _, a := range approvals {
			if by[a.By] {
				t.Fatalf("step %d: request %d approved twice by %s", step, r.ID, a.By)
			}
			by[a.By] = true
			if a.By == r.Requester {
				t.Fatalf("step %d: request %d approved by its requester", step, r.ID)
			}
			p := people[a.By]
			ok := a.As == grants.ApprovalManager && p.Can(auth.Approver, r.Member) ||
				a.As == grants.ApprovalOwner && p.Can(auth.Approver, svc.OwnerMember)
			if !ok || !slices.Contains(required, a.As) || slices.Contains(roles, a.As) {
				t.Fatalf("step %d: request %d approved by %s as %s, which they may not: %+v", step, r.ID, a.By, a.As, r.Decisions)
			}
			roles = append(roles, a.As)
		}
		switch {
		case g != nil && (r.State != string(grants.Approved) || len(roles) != len(required)):
			t.Fatalf("step %d: request %d has a grant with approvals %v of %v: %+v", step, r.ID, roles, required, r)
		case g == nil && r.State == string(grants.Approved):
			t.Fatalf("step %d: request %d approved without a grant", step, r.ID)
		case g == nil && r.State == string(grants.Pending) && len(roles) >= len(required):
			t.Fatalf("step %d: request %d pending with every approval given", step, r.ID)
		case g != nil && g.State == string(grants.Expired) && !g.EndedAt.Equal(g.Until):
			t.Fatalf("step %d: grant %d expired at %v, not at its end %v", step, g.ID, g.EndedAt, g.Until)
		case g != nil && g.State == string(grants.Active) && g.From.IsZero():
			t.Fatalf("step %d: grant %d active with no start", step, g.ID)
		case g != nil && grants.Final(grants.State(g.State)) && (g.EndReason == "" || g.EndedAt.IsZero()):
			t.Fatalf("step %d: grant %d ended without saying when and why: %+v", step, g.ID, g)
		}
	}
}

// checkTicked checks what a look of the schedule leaves: no grant active past its end or for
// a service the catalog lacks, none still waiting to start, and the overlays delivered are
// exactly the active grants' products.
func checkTicked(t *testing.T, f *fixture, step int) {
	t.Helper()
	gs, err := f.st.ListGrants(context.Background(), store.GrantFilter{States: []string{string(grants.Approved), string(grants.Active)}})
	if err != nil {
		t.Fatal(err)
	}
	present := map[string][]string{}
	for _, g := range gs {
		svc, err := grants.LookupService(f.cat, g.Service)
		switch {
		case g.State == string(grants.Approved):
			t.Fatalf("step %d: grant %d still waits to start after a look", step, g.ID)
		case !g.Until.IsZero() && !f.now.Before(g.Until):
			t.Fatalf("step %d: grant %d active past its end", step, g.ID)
		case err != nil:
			t.Fatalf("step %d: grant %d of %s active though the service left", step, g.ID, g.Service)
		}
		for _, d := range g.Devices {
			present[d] = append(present[d], svc.Spec.Delivers.Products...)
		}
	}
	last := f.last()
	for d, ps := range present {
		slices.Sort(ps)
		if !slices.Equal(last[d].Present, slices.Compact(ps)) {
			t.Fatalf("step %d: device %s delivered %v, active grants give %v", step, d, last[d].Present, ps)
		}
	}
	for d, o := range last {
		if len(o.Present) > 0 && len(present[d]) == 0 {
			t.Fatalf("step %d: device %s delivered %v with no active grant", step, d, o.Present)
		}
	}
}
