package audit_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"samverk.io/samverk/engine/audit"
	"samverk.io/samverk/engine/auth"
	"samverk.io/samverk/engine/store"
	"samverk.io/samverk/engine/store/storetest"
)

const (
	adminToken = "the-admin-token-0123456789abcdef"
	memberA    = "region-norr"
	memberB    = "kommun-vasterby"
)

// harness is a guard and route table on loopback HTTP, recording into a real store through
// the audit log, with one audited route that acts on the member in its path.
type harness struct {
	url string
	st  store.Store
	log *audit.Log
	reg *prometheus.Registry
}

func start(t *testing.T, st store.Store) *harness {
	t.Helper()
	reg := prometheus.NewRegistry()
	page := func(w http.ResponseWriter, r *http.Request, code int, nav, title string, content template.HTML) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(code)
		fmt.Fprintf(w, "<title>%s</title><nav>%s</nav>%s", title, nav, content)
	}
	l, err := audit.New(audit.Options{Store: st, Registerer: reg, Page: page})
	if err != nil {
		t.Fatal(err)
	}
	reads := auth.MemberTokens(func(tok string) (string, bool) {
		m, ok := strings.CutPrefix(tok, "read-")
		return m, ok && (m == memberA || m == memberB)
	})
	mux := http.NewServeMux()
	table := auth.NewTable(mux, auth.NewGuard(auth.GuardOptions{
		Tokens: []auth.TokenAuthenticator{auth.NewAdminToken(adminToken), reads},
		Audit:  l.Record,
	}))
	table.MustAdd(l.Routes()...)
	table.MustAdd(auth.Route{Method: "POST", Pattern: "/api/v1/act/{member}", Need: auth.Operator, Audit: true,
		Member: func(r *http.Request) (string, error) { return r.PathValue("member"), nil },
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			auth.Note(r.Context(), "reason", r.URL.Query().Get("reason"))
			if r.URL.Query().Has("fail") {
				w.WriteHeader(http.StatusConflict)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		})})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &harness{url: srv.URL, st: st, log: l, reg: reg}
}

func (h *harness) do(t *testing.T, method, path, token string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, h.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func (h *harness) list(t *testing.T, query, token string) (int, audit.List) {
	t.Helper()
	resp, b := h.do(t, "GET", "/api/v1/audit"+query, token)
	var l audit.List
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, &l); err != nil {
			t.Fatalf("%s: %v\n%s", query, err, b)
		}
	}
	return resp.StatusCode, l
}

func TestOutcome(t *testing.T) {
	for status, want := range map[int]string{200: audit.OK, 201: audit.OK, 204: audit.OK, 302: audit.OK, 401: audit.Denied,
		403: audit.Denied, 404: audit.Denied, 400: audit.Failed, 409: audit.Failed, 500: audit.Failed, 503: audit.Failed} {
		if got := audit.Outcome(status); got != want {
			t.Errorf("Outcome(%d) = %s, want %s", status, got, want)
		}
	}
}

// TestRecordAndList: what the guard admits and refuses on an audited route is recorded with
// who, what, on what and how it ended; the listing shows each reader only its members'.
func TestRecordAndList(t *testing.T) {
	for _, kind := range storetest.Kinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			h := start(t, storetest.Open(t, kind, store.Options{}))
			for _, c := range []struct {
				path, token string
				want        int
			}{
				{"/api/v1/act/" + memberA + "?reason=patch+tuesday", adminToken, 204},
				{"/api/v1/act/" + memberB + "?fail=1", adminToken, 409},
				{"/api/v1/act/" + memberB, "read-" + memberB, 403}, // a viewer attempts an operator's action
				{"/api/v1/act/" + memberA, "unknown", 401},         // no one to record
			} {
				if resp, b := h.do(t, "POST", c.path, c.token); resp.StatusCode != c.want {
					t.Fatalf("POST %s: %s %s, want %d", c.path, resp.Status, b, c.want)
				}
			}
			code, all := h.list(t, "", adminToken)
			if code != 200 || len(all.Entries) != 3 {
				t.Fatalf("admin lists %d: %+v", code, all)
			}
			e := all.Entries[0]
			if e.Seq != 1 || e.Subject != "admin-token" || e.AuthMethod != "admin-token" || e.Role != "operator" || e.SubjectMember != "*" ||
				e.Action != "POST /api/v1/act/{member}" || e.Target != "/api/v1/act/"+memberA || e.Member != memberA ||
				e.Status != 204 || e.Outcome != audit.OK || e.Detail != `{"reason":"patch tuesday"}` || !strings.HasPrefix(e.Remote, "127.0.0.1:") ||
				time.Since(e.At) > time.Hour || len(e.Hash) != 32 {
				t.Errorf("first entry %+v", e)
			}
			if e := all.Entries[1]; e.Outcome != audit.Failed || e.Status != 409 || e.Member != memberB {
				t.Errorf("second entry %+v", e)
			}
			if e := all.Entries[2]; e.Outcome != audit.Denied || e.Status != 403 || e.Subject != "read-token:"+memberB ||
				e.SubjectMember != memberB || e.Member != memberB || e.Detail != "" {
				t.Errorf("third entry %+v", e)
			}

			// Member isolation: A's viewer never sees B's entries, even by asking.
			if code, l := h.list(t, "", "read-"+memberA); code != 200 || len(l.Entries) != 1 || l.Entries[0].Member != memberA {
				t.Errorf("%s's viewer lists %d: %+v", memberA, code, l)
			}
			if code, l := h.list(t, "?member="+memberB, "read-"+memberA); code != 403 || len(l.Entries) != 0 {
				t.Errorf("%s's viewer asking for %s: %d %+v", memberA, memberB, code, l)
			}
			if code, l := h.list(t, "?subject=admin-token", "read-"+memberB); code != 200 || len(l.Entries) != 1 || l.Entries[0].Member != memberB {
				t.Errorf("%s's viewer by subject: %d %+v", memberB, code, l)
			}
			if resp, b := h.do(t, "GET", "/audit", "read-"+memberA); resp.StatusCode != 200 || !bytes.Contains(b, []byte("patch tuesday")) ||
				bytes.Contains(b, []byte(memberB)) || !bytes.Contains(b, []byte("<nav>audit</nav>")) {
				t.Errorf("console page for %s's viewer: %s\n%s", memberA, resp.Status, b)
			}
			if resp, b := h.do(t, "GET", "/audit?member="+memberB, "read-"+memberA); resp.StatusCode != 403 || bytes.Contains(b, []byte("409")) {
				t.Errorf("console page for %s asking for %s: %s", memberA, memberB, resp.Status)
			}

			// Filters, paging and bad input.
			if code, l := h.list(t, "?limit=2", adminToken); code != 200 || len(l.Entries) != 2 || l.Next != "2" {
				t.Errorf("limit 2: %d %+v", code, l)
			}
			if code, l := h.list(t, "?after=2&limit=2", adminToken); code != 200 || len(l.Entries) != 1 || l.Entries[0].Seq != 3 || l.Next != "" {
				t.Errorf("after 2: %d %+v", code, l)
			}
			if code, l := h.list(t, "?since=2000-01-01&until="+time.Now().Add(time.Hour).UTC().Format(time.RFC3339)+"&member=*", adminToken); code != 200 || len(l.Entries) != 0 {
				t.Errorf("member *: %d %+v", code, l)
			}
			for _, q := range []string{"?since=yesterday", "?until=2026-13-01", "?limit=0", "?limit=10001", "?after=-1", "?format=xml"} {
				if resp, b := h.do(t, "GET", "/api/v1/audit"+q, adminToken); resp.StatusCode != 400 || !bytes.Contains(b, []byte(`"error"`)) {
					t.Errorf("%s: %s %s, want 400", q, resp.Status, b)
				}
			}
			resp, b := h.do(t, "GET", "/api/v1/audit?limit=1", adminToken)
			if link := resp.Header.Get("Link"); link != `</api/v1/audit?after=1&limit=1>; rel="next"` {
				t.Errorf("Link %q (%s)", link, b)
			}

			// CSV, by Accept or by format.
			for _, c := range []struct{ query, accept string }{{"", "text/csv"}, {"?format=csv", ""}} {
				resp, b := h.do(t, "GET", "/api/v1/audit"+c.query, adminToken, "Accept", c.accept)
				rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
				if err != nil || resp.Header.Get("Content-Type") != "text/csv; charset=utf-8" || len(rows) != 4 {
					t.Fatalf("csv %q: %v %s\n%s", c.query, err, resp.Header.Get("Content-Type"), b)
				}
				if strings.Join(rows[0], ",") != strings.Join(audit.CSVHeader, ",") || rows[1][0] != "1" || rows[1][7] != "POST /api/v1/act/{member}" ||
					rows[1][10] != `{"reason":"patch tuesday"}` || len(rows[1][14]) != 64 {
					t.Errorf("csv rows %q", rows[:2])
				}
			}

			res, err := audit.Verify(ctx(t), h.st)
			if err != nil || res.Broken != nil || res.Entries != 3 || res.HeadSeq != 3 {
				t.Errorf("verify: %+v %v", res, err)
			}
		})
	}
}

// TestRecordFailure: an entry the store refuses is logged and counted, and the request it
// records is answered all the same.
func TestRecordFailure(t *testing.T) {
	st := storetest.Open(t, "sqlite", store.Options{})
	h := start(t, st)
	if resp, _ := h.do(t, "POST", "/api/v1/act/"+memberA, adminToken); resp.StatusCode != 204 {
		t.Fatalf("%s", resp.Status)
	}
	if n := failures(t, h.reg); n != 0 {
		t.Fatalf("failures before: %v", n)
	}
	st.Close()
	if resp, _ := h.do(t, "POST", "/api/v1/act/"+memberA, adminToken); resp.StatusCode != 204 {
		t.Errorf("with the store closed: %s", resp.Status)
	}
	if n := failures(t, h.reg); n != 1 {
		t.Errorf("samverk_audit_write_failures_total = %v, want 1", n)
	}
}

// failures reads samverk_audit_write_failures_total from reg.
func failures(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "samverk_audit_write_failures_total" {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatal("samverk_audit_write_failures_total is not registered")
	return 0
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}
