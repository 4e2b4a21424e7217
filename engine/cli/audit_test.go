package cli

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"samverk.io/samverk/engine/audit"
	"samverk.io/samverk/engine/auth"
	"samverk.io/samverk/engine/auth/apitoken"
	"samverk.io/samverk/engine/grants"
	"samverk.io/samverk/engine/store"
	"samverk.io/samverk/engine/store/storetest"
)

// unaudited are the state-changing routes deliberately left out of the audit log, each with
// its reason. A new POST, PUT, PATCH or DELETE route is audited, or is added here.
var unaudited = map[string]string{
	"POST /hooks/github":                             "a webhook delivery: no person or token acts; it only asks for a fetch, and the commit it leads to is judged by the pipeline (samverk_server_webhooks_total counts it)",
	"POST /hooks/gitlab":                             "a webhook delivery, as /hooks/github",
	"POST /hooks/generic":                            "a webhook delivery, as /hooks/github",
	"POST /api/v1/enroll":                            "a device enrolls itself with its member's enrollment token; the store keeps each enrollment as an event",
	"POST /api/v1/devices/{id}/reports":              "a device reports on itself, thousands a minute; the store keeps its reports",
	"POST /api/v1/devices/{id}/credential":           "a device rotates its own credential (samverk_fleet_credential_changes_total counts it)",
	"POST /auth/local":                               "sign-in: no one is identified until it succeeds, and a session changes nothing of samverk's",
	"POST /auth/signout":                             "sign-out ends the person's own session and changes nothing of samverk's",
	"POST /api/v1/devices/{id}/notices/{seq}/answer": "a device's user answers a survey through the agent; the store keeps each answer, one per device and notice",
	"POST /api/v1/devices/{id}/os-upgrade":           "a device reports its own OS upgrade phase; the store keeps every phase as an event",
}

// auditBodies are the request bodies the test sends to audited routes that need one, and the
// detail each route's entry must then carry.
var auditBodies = map[string]struct {
	body   any
	detail []string
	// member is the member the entry names, for a route whose handler tells it (auth.ActedOn).
	member string
	// refused, when set, is the answer the action gets in the test's daemon (a rollout action
	// with no rollout under way): the attempt is still recorded once, as failed.
	refused int
}{
	"POST /api/v1/suspend": {map[string]string{"reason": "audit test: change freeze"}, []string{`"reason":"audit test: change freeze"`}, "", 0},
	"POST /api/v1/tokens": {apitoken.CreateRequest{Member: memberA, Role: "viewer", Expires: "1h", Name: "audit test"},
		[]string{`"token":"`, `"role":"viewer"`, `"name":"audit test"`}, "", 0},
	"DELETE /api/v1/tokens/{id}":       {nil, []string{`"token":"`}, "", 0},
	"POST /api/v1/devices/{id}/revoke": {nil, []string{`"device":"`}, "", 0},
	"POST /api/v1/notices": {map[string]any{"title": "Planned maintenance", "body": "The print service is down tonight.", "severity": "info",
		"member": memberA, "target": map[string]any{"members": []string{memberA}}}, []string{`"notice":"`, `"severity":"info"`}, memberA, 0},
	"POST /api/v1/notices/{seq}/withdraw":    {nil, []string{`"notice":"`}, "", 0},
	"POST /api/v1/services/{service}/status": {map[string]string{"state": "degraded", "message": "slow sign-in"}, []string{`"state":"degraded"`}, "", 0},
	"POST /api/v1/devices/{id}/os-upgrade/reset": {map[string]string{"reason": "audit test: disk cleaned"},
		[]string{`"device":"`, `"reason":"audit test: disk cleaned"`, `"phase":"failed"`}, "", 0},
	// The daemon serves one revision: there is nothing to promote or abort; a fast-track of it
	// is accepted.
	"POST /api/v1/rollout/promote":    {map[string]string{"ring": "early", "reason": "audit test"}, []string{`"ring":"early"`, `"reason":"audit test"`}, "", http.StatusConflict},
	"POST /api/v1/rollout/abort":      {map[string]string{"reason": "audit test"}, []string{`"reason":"audit test"`}, "", http.StatusConflict},
	"POST /api/v1/rollout/fast-track": {map[string]string{"reason": "audit test"}, []string{`"reason":"audit test"`}, "", 0},
	// A request waits for two approvals: the admin's, as manager, leaves it pending; its
	// rejection ends it, so that cancelling it afterwards is refused by the rules.
	"POST /api/v1/requests": {grants.Order{Service: "utskrift", Member: memberA, Person: "anna@region-norr.example", Justification: "audit test",
		CostCentre: "RN-1100"}, []string{`"service":"utskrift"`, `"request":"`}, memberA, 0},
	"POST /api/v1/requests/{request}/approve":    {map[string]string{"reason": "audit test"}, []string{`"request":"`, `"state":"pending"`}, memberA, 0},
	"POST /api/v1/requests/{request}/reject":     {map[string]string{"reason": "audit test"}, []string{`"request":"`, `"state":"rejected"`}, memberA, 0},
	"POST /api/v1/requests/{request}/cancel":     {map[string]string{"reason": "audit test"}, []string{`"request":"`}, memberA, http.StatusConflict},
	"POST /api/v1/grants/{grant}/revoke":         {map[string]string{"reason": "audit test"}, []string{`"grant":"`, `"reason":"audit test"`}, memberA, 0},
	"POST /api/v1/grants/work-items/{item}/done": {map[string]string{"note": "added to the group"}, []string{`"workItem":"`}, "", 0},
	// A member's devices are suspended by its own admin (the reference policy lets a member
	// hold), then resumed.
	"POST /api/v1/members/{member}/suspend": {map[string]string{"group": "staff", "reason": "audit test: exam week"},
		[]string{`"member":"region-norr"`, `"group":"staff"`, `"reason":"audit test: exam week"`}, "", 0},
	"POST /api/v1/members/{member}/resume": {map[string]string{"group": "staff"}, []string{`"member":"region-norr"`, `"group":"staff"`}, "", 0},
}

// viewerMay are the audited routes a member's viewer may call too (anyone who acts for a
// member orders for it and cancels their own requests), with the answer the test's viewer
// then gets, instead of the guard's 403.
var viewerMay = map[string]int{
	"POST /api/v1/requests":                  http.StatusCreated,
	"POST /api/v1/requests/{request}/cancel": http.StatusConflict,
}

// TestAuditEveryAction walks the daemon's route table: every state-changing route is
// audited unless listed deliberately, and one call of each audited route by a principal
// allowed to make it writes exactly one entry, with the right subject, action, member,
// detail and outcome; a refused attempt writes one entry too, a request without a credential
// none. A member's reader never sees another member's entries, and the chain checks out
// through the CLI, until a row is changed behind samverk's back.
func TestAuditEveryAction(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the daemon on the reference catalog")
	}
	var dsn string
	d := startRouteDaemon(t, func(o *serveOptions, dir string) {
		dsn = "sqlite:" + filepath.Join(dir, "audit-test.db")
		o.store = dsn
	})
	ctx := context.Background()
	token := func(member string, role auth.Role) (string, string) {
		c, err := d.people.tokens.Create(ctx, apitoken.CreateRequest{Member: member, Role: string(role), Expires: "1h", Name: "audit-" + string(role)}, "test")
		if err != nil {
			t.Fatal(err)
		}
		return c.Token, "token:" + c.ID
	}
	adminA, adminASubject := token(memberA, auth.Admin)
	viewerA, _ := token(memberA, auth.Viewer)
	viewerConsortium, _ := token(auth.Consortium, auth.Viewer)
	candidates := map[string][]string{"id": {d.devices[memberA][0], d.devices[memberB][0]}, "member": {memberA, memberB}}
	for _, m := range []string{memberA, memberB} {
		c, err := d.people.tokens.Create(ctx, apitoken.CreateRequest{Member: m, Role: "viewer", Expires: "1h", Name: "victim"}, "test")
		if err != nil {
			t.Fatal(err)
		}
		candidates["id"] = append(candidates["id"], c.ID)
	}

	// list reads the log through the API, as the admin token, after seq.
	list := func(t *testing.T, bearer, query string) (int, []store.AuditEntry) {
		t.Helper()
		var all []store.AuditEntry
		for after := "0"; ; {
			req, _ := http.NewRequest("GET", d.url+"/api/v1/audit?limit=1000&after="+after+query, nil)
			req.Header.Set("Authorization", "Bearer "+bearer)
			resp, b := send(t, req)
			if resp.StatusCode != http.StatusOK {
				return resp.StatusCode, nil
			}
			var l audit.List
			if err := json.Unmarshal(b, &l); err != nil {
				t.Fatal(err)
			}
			all = append(all, l.Entries...)
			if l.Next == "" {
				return http.StatusOK, all
			}
			after = l.Next
		}
	}
	head := func(t *testing.T) int64 {
		t.Helper()
		_, es := list(t, d.admin, "")
		if len(es) == 0 {
			return 0
		}
		return es[len(es)-1].Seq
	}
	do := func(t *testing.T, method, path, bearer string, body any) *http.Response {
		t.Helper()
		var b []byte
		if body != nil {
			b, _ = json.Marshal(body)
		}
		req, _ := http.NewRequest(method, d.url+path, bytes.NewReader(b))
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, _ := send(t, req)
		return resp
	}
	// newEntries returns what was appended after seq.
	newEntries := func(t *testing.T, seq int64) []store.AuditEntry {
		t.Helper()
		_, es := list(t, d.admin, "")
		var out []store.AuditEntry
		for _, e := range es {
			if e.Seq > seq {
				out = append(out, e)
			}
		}
		return out
	}

	// A service region-norr owns, and a notice of region-norr's to withdraw.
	candidates["service"] = []string{"fjarratkomst", "utskrift"}
	if resp := do(t, "POST", "/api/v1/notices", d.admin, auditBodies["POST /api/v1/notices"].body); resp.StatusCode != http.StatusCreated {
		t.Fatalf("send a notice to withdraw: %s", resp.Status)
	}
	_, sent := list(t, d.admin, "")
	if detail := sent[len(sent)-1].Detail; !strings.Contains(detail, `"notice":"`) {
		t.Fatalf("the notice's entry carries no notice: %s", detail)
	}
	candidates["seq"] = []string{noticeSeq(t, sent[len(sent)-1].Detail)}
	maps.Copy(candidates, d.requestCandidates(t))

	routes := d.srv.Routes()
	var audited []auth.Route
	seen := map[string]bool{}
	for _, rt := range routes {
		name := rt.Method + " " + rt.Pattern
		seen[name] = true
		switch {
		case rt.Audit && (rt.Method == "GET" || rt.Method == "HEAD"):
			t.Errorf("%s: a read is marked Audit; the log is for state-changing actions", name)
		case rt.Audit:
			audited = append(audited, rt)
		case rt.Method != "GET" && rt.Method != "HEAD" && unaudited[name] == "":
			t.Errorf("%s changes state but is not audited: mark it Audit: true, or list it in unaudited with the reason", name)
		}
	}
	for name := range unaudited {
		if !seen[name] {
			t.Errorf("unaudited lists %s, which the daemon does not serve: drop it", name)
		}
	}
	if len(audited) < 6 {
		t.Fatalf("only %d audited routes", len(audited))
	}

	for _, rt := range audited {
		name := rt.Method + " " + rt.Pattern
		t.Run(name, func(t *testing.T) {
			// One call, on memberA's thing by memberA's admin, or on the consortium by the admin token.
			var c *call
			for _, cc := range d.calls(t, rt, candidates) {
				if rt.Member == nil {
					cc.member = auditBodies[name].member
				}
				if cc.member == memberA || cc.member == auth.Consortium {
					c = &cc
					break
				}
			}
			if c == nil {
				t.Fatalf("no call of %s acts on %s or the consortium", name, memberA)
			}
			bearer, subject, scope := adminA, adminASubject, memberA
			if c.member == auth.Consortium {
				bearer, subject, scope = d.admin, "admin-token", auth.Consortium
			}
			spec := auditBodies[name]
			before := head(t)
			resp := do(t, rt.Method, c.path, bearer, spec.body)
			outcome := audit.OK
			switch {
			case spec.refused != 0 && resp.StatusCode != spec.refused:
				t.Fatalf("%s %s: %s, want %d", rt.Method, c.path, resp.Status, spec.refused)
			case spec.refused != 0:
				outcome = audit.Failed
			case resp.StatusCode < 200 || resp.StatusCode >= 300:
				t.Fatalf("%s %s: %s; give the test a body for it in auditBodies", rt.Method, c.path, resp.Status)
			}
			es := newEntries(t, before)
			if len(es) != 1 {
				t.Fatalf("%d entries for one call, want 1: %+v", len(es), es)
			}
			e := es[0]
			if e.Subject != subject || e.Action != name || e.Target != c.path || e.Member != c.member || e.Outcome != outcome ||
				e.Status != resp.StatusCode || e.Role != string(rt.Need) || e.SubjectMember != scope || !strings.HasPrefix(e.Remote, "127.0.0.1:") {
				t.Errorf("entry %+v; want subject %s, action %s, target %s, member %s, outcome %s, status %d", e, subject, name, c.path, c.member, outcome, resp.StatusCode)
			}
			for _, want := range spec.detail {
				if !strings.Contains(e.Detail, want) {
					t.Errorf("detail %s lacks %s", e.Detail, want)
				}
			}

			// A viewer's attempt is refused and recorded (or, where viewers may act, answered
			// and recorded); no credential, nothing to record.
			viewerWant := http.StatusForbidden
			if v := viewerMay[name]; v != 0 {
				viewerWant = v
			}
			before = head(t)
			if resp := do(t, rt.Method, c.path, viewerA, spec.body); resp.StatusCode != viewerWant {
				t.Errorf("as %s's viewer: %s, want %d", memberA, resp.Status, viewerWant)
			}
			if resp := do(t, rt.Method, c.path, "", spec.body); resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("without a credential: %s, want 401", resp.Status)
			}
			es = newEntries(t, before)
			if len(es) != 1 || es[0].Outcome != audit.Outcome(viewerWant) || es[0].Status != viewerWant || es[0].SubjectMember != memberA ||
				es[0].Action != name || es[0].AuthMethod != "token" {
				t.Errorf("after a refused attempt and an anonymous one: %+v, want one denied entry", es)
			}
		})
	}

	// Something happens to memberB, so that its entries exist to be hidden.
	if resp := do(t, "POST", "/api/v1/devices/"+d.devices[memberB][1]+"/revoke", d.admin, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke %s's device: %s", memberB, resp.Status)
	}
	_, all := list(t, d.admin, "")
	_, consortium := list(t, viewerConsortium, "")
	if len(consortium) != len(all) || len(all) < 2*len(audited)+1 {
		t.Errorf("a consortium viewer sees %d entries, the admin %d", len(consortium), len(all))
	}
	for _, bearer := range []string{d.read, viewerA} {
		code, es := list(t, bearer, "")
		if code != http.StatusOK || len(es) == 0 {
			t.Errorf("%s's reader: %d, %d entries", memberA, code, len(es))
		}
		for _, e := range es {
			if e.Member != memberA || strings.Contains(e.Target, d.devices[memberB][1]) {
				t.Errorf("%s's reader sees %+v", memberA, e)
			}
		}
		if code, es := list(t, bearer, "&member="+memberB); code != http.StatusForbidden || es != nil {
			t.Errorf("%s's reader asking for %s: %d", memberA, memberB, code)
		}
	}

	// The CLI lists the log and checks its chain; a row changed behind samverk's back is caught.
	dir := t.TempDir()
	adminFile, readFile := filepath.Join(dir, "admin"), filepath.Join(dir, "read")
	os.WriteFile(adminFile, []byte(d.admin), 0o600)
	os.WriteFile(readFile, []byte(d.read), 0o600)
	cli := func(t *testing.T, want int, args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		args = append([]string{"audit", "--server", d.url}, args...)
		if got := run(ctx, args, nil, &out, &errOut); got != want {
			t.Fatalf("%v: exit %d, want %d\nstdout: %s\nstderr: %s", args, got, want, out.String(), errOut.String())
		}
		return out.String() + errOut.String()
	}
	out := cli(t, ExitOK, "--admin-token-file", adminFile, "--member", memberB)
	if !strings.Contains(out, "POST /api/v1/devices/{id}/revoke") || strings.Contains(out, "/api/v1/suspend") {
		t.Errorf("audit --member %s:\n%s", memberB, out)
	}
	rows, err := csv.NewReader(strings.NewReader(cli(t, ExitOK, "--token-file", readFile, "-o", "csv", "--since", "1h"))).ReadAll()
	if err != nil || len(rows) < 2 {
		t.Fatalf("csv: %v %q", err, rows)
	}
	for _, r := range rows[1:] {
		if r[9] != memberA {
			t.Errorf("%s's read token exports %q", memberA, r)
		}
	}
	cli(t, ExitUsage, "--admin-token-file", adminFile, "--verify", "--member", memberA)
	cli(t, ExitUsage, "--admin-token-file", adminFile, "--since", "last tuesday")
	out = cli(t, ExitOK, "--admin-token-file", adminFile, "--verify")
	var anchor string
	for _, line := range strings.Split(out, "\n") {
		if a, ok := strings.CutPrefix(line, "Head: "); ok {
			anchor = a
		}
	}
	if !strings.Contains(out, "is whole") || anchor == "" {
		t.Fatalf("verify:\n%s", out)
	}
	// A member's listing has gaps: it cannot vouch for the chain.
	if out := cli(t, ExitFindings, "--token-file", readFile, "--verify"); !strings.Contains(out, "missing") {
		t.Errorf("verify with a member's token:\n%s", out)
	}

	if err := storetest.Raw(t, dsn, `UPDATE audit_log SET outcome = 'ok' WHERE outcome = 'denied'`); err == nil {
		t.Fatal("the database let an entry be changed")
	}
	if err := storetest.Raw(t, dsn, `DROP TRIGGER audit_log_no_update`); err != nil {
		t.Fatal(err)
	}
	if err := storetest.Raw(t, dsn, `UPDATE audit_log SET outcome = 'ok', status = 200 WHERE seq = (SELECT min(seq) FROM audit_log WHERE outcome = 'denied')`); err != nil {
		t.Fatal(err)
	}
	out = cli(t, ExitFindings, "--admin-token-file", adminFile, "--verify", "--anchor", anchor)
	if !strings.Contains(out, "broken at entry") || !strings.Contains(out, "hash does not match") {
		t.Errorf("verify after tampering:\n%s", out)
	}
}

// noticeSeq reads the notice number out of an audit entry's detail.
func noticeSeq(t *testing.T, detail string) string {
	t.Helper()
	var d map[string]string
	if err := json.Unmarshal([]byte(detail), &d); err != nil || d["notice"] == "" {
		t.Fatalf("detail %q names no notice", detail)
	}
	return d["notice"]
}
