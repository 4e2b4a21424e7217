package cli

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"testing"

	"samverk.io/samverk/engine/auth"
	"samverk.io/samverk/engine/grants"
	"samverk.io/samverk/engine/store"
)

// requestCandidates makes what the request and grant routes act on, all memberA's: a request
// that waits for approvals, a grant (of a service that needs none), and the work item of its
// entitlement. It returns their ids by path wildcard.
func (d *routeDaemon) requestCandidates(t *testing.T) map[string][]string {
	t.Helper()
	ctx := context.Background()
	asker := &auth.Principal{Subject: "test:asker", Method: "token", Grants: []auth.Grant{{Role: auth.Viewer, Member: memberA}}}
	pending, err := d.grants.Create(ctx, asker, grants.Order{Service: "fjarratkomst", Member: memberA, Devices: []string{d.devices[memberA][0]},
		Justification: "route test", Days: 30, CostCentre: "RN-1100"})
	if err != nil {
		t.Fatal(err)
	}
	granted, err := d.grants.Create(ctx, asker, grants.Order{Service: "utskrift", Member: memberA, Person: "anna@region-norr.example",
		Justification: "route test", CostCentre: "RN-1100"})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", d.url+"/api/v1/grants/work-items?member="+memberA, nil)
	req.Header.Set("Authorization", "Bearer "+d.admin)
	resp, b := send(t, req)
	var l struct {
		WorkItems []store.WorkItem `json:"workItems"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &l) != nil || len(l.WorkItems) == 0 {
		t.Fatalf("work items: %s %s", resp.Status, b)
	}
	id := func(n int64) []string { return []string{strconv.FormatInt(n, 10)} }
	return map[string][]string{"request": id(pending.ID), "grant": id(granted.Grant), "item": id(l.WorkItems[0].ID)}
}
