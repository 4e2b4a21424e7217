package history_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"samverk.io/samverk/engine/auth"
	"samverk.io/samverk/engine/history"
	"samverk.io/samverk/engine/store"
)

// tokens is a token authenticator with a fixed principal per token.
type tokens map[string]*auth.Principal

func (ts tokens) AuthenticateToken(_ context.Context, tok string) (*auth.Principal, error) {
	if p, ok := ts[tok]; ok {
		return p, nil
	}
	return nil, auth.ErrUnknownToken
}

func viewerOf(member string) *auth.Principal {
	return &auth.Principal{Subject: "token:" + member, Method: "token", Grants: []auth.Grant{{Role: auth.Viewer, Member: member}}}
}

func TestRoutes(t *testing.T) { forEachStore(t, testRoutes) }

func testRoutes(t *testing.T, kind string, rec recorder) {
	fx := newFixture(t, rec)
	if kind == "memory" {
		// A device that was region-norr's and is kommun-vasterby's now, which only a store
		// that moves devices between members holds.
		rec.enroll(t, "moved", day(1, 9), "region-norr", fx.facts)
		rec.serve(t, "moved", day(1, 9), store.ServedPeriod{Hash: fx.h1, Revision: fx.c1, Group: "broad-vard", Ring: "broad"})
		rec.enroll(t, "moved", day(20, 9), "kommun-vasterby", fx.facts)
	}

	ts := tokens{"norr": viewerOf("region-norr"), "vasterby": viewerOf("kommun-vasterby"),
		"all": viewerOf(auth.Consortium)}
	mux := http.NewServeMux()
	table := auth.NewTable(mux, auth.NewGuard(auth.GuardOptions{Tokens: []auth.TokenAuthenticator{ts}}))
	if err := table.Add(fx.svc.Routes()...); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(table.Handler())
	defer srv.Close()

	get := func(t *testing.T, token, path string, header ...string) (int, string, http.Header) {
		t.Helper()
		req, err := http.NewRequest("GET", srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}

	for _, tc := range []struct {
		name, token, path string
		code              int
		body              string
	}{
		{"member viewer", "norr", "/api/v1/devices/vard/history?at=2026-11-05", 200, fx.h2},
		{"consortium viewer", "all", "/api/v1/devices/vard/history?at=2026-11-01T12:00:00Z", 200, fx.h1},
		{"another member", "vasterby", "/api/v1/devices/vard/history?at=2026-11-05", 403, "region-norr"},
		{"another member's timeline", "vasterby", "/api/v1/devices/vard/timeline", 403, "region-norr"},
		{"no such device", "all", "/api/v1/devices/nosuch/history", 404, ""},
		{"bad at", "norr", "/api/v1/devices/vard/history?at=yesterday", 400, "at: want RFC 3339"},
		{"bad format", "norr", "/api/v1/devices/vard/history?format=xml", 400, "format"},
		{"bad from", "norr", "/api/v1/devices/vard/timeline?from=1.11.2026", 400, "from: want RFC 3339"},
		{"from after to", "norr", "/api/v1/devices/vard/timeline?from=2026-11-05&to=2026-11-01", 400, "from must be before to"},
		// The device is kommun-vasterby's now; when it was region-norr's, it is not theirs to see.
		{"then another member's", "vasterby", "/api/v1/devices/moved/history?at=2026-11-02", 404, "no such device"},
		{"now their own", "vasterby", "/api/v1/devices/moved/history?at=2026-11-21", 200, "kommun-vasterby"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if strings.Contains(tc.path, "/moved/") && kind != "memory" {
				t.Skip("the store does not move devices between members")
			}
			code, body, _ := get(t, tc.token, tc.path)
			if code != tc.code || !strings.Contains(body, tc.body) {
				t.Fatalf("%s: %d %s, want %d with %q", tc.path, code, body, tc.code, tc.body)
			}
		})
	}

	t.Run("json", func(t *testing.T) {
		_, body, h := get(t, "norr", "/api/v1/devices/vard/history?at=2026-11-05T13:00:00Z")
		var s history.Snapshot
		if err := json.Unmarshal([]byte(body), &s); err != nil || h.Get("Content-Type") != "application/json" {
			t.Fatalf("%v %s", err, h.Get("Content-Type"))
		}
		if s.Recompiled == nil || !s.Recompiled.Verified || s.Pending == nil || s.Pending.Revision != fx.c2 {
			t.Fatalf("snapshot %+v", s)
		}
		if !strings.Contains(body, `"grants": []`) {
			t.Fatal("grants should be an empty list")
		}
	})
	t.Run("csv", func(t *testing.T) {
		for _, how := range [][]string{{"?format=csv"}, {"", "Accept", "text/csv"}} {
			_, body, h := get(t, "norr", "/api/v1/devices/vard/history"+how[0], how[1:]...)
			if !strings.HasPrefix(h.Get("Content-Type"), "text/csv") {
				t.Fatalf("content type %s", h.Get("Content-Type"))
			}
			rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
			if err != nil || len(rows) != 2 || len(rows[0]) != len(rows[1]) {
				t.Fatalf("%v: %q", err, body)
			}
			row := map[string]string{}
			for i, k := range rows[0] {
				row[k] = rows[1][i]
			}
			if row["served_hash"] != fx.h2 || row["verified"] != "true" || row["revision"] != fx.c2 || row["compliance"] != "compliant" {
				t.Fatalf("row %v", row)
			}
		}
	})
	t.Run("timeline", func(t *testing.T) {
		code, body, _ := get(t, "norr", "/api/v1/devices/vard/timeline?from=2026-11-04&to=2026-11-05")
		var tl store.DeviceTimeline
		if err := json.Unmarshal([]byte(body), &tl); err != nil || code != 200 {
			t.Fatalf("%d %v %s", code, err, body)
		}
		if len(tl.Served) != 2 || tl.Served[0].Hash != fx.h1 || tl.Served[1].Hash != fx.h2 {
			t.Fatalf("served %+v, want both states of the 5th", tl.Served)
		}
		_, body, _ = get(t, "norr", "/api/v1/devices/vard/timeline?format=csv")
		rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		kinds := map[string]int{}
		for _, r := range rows[1:] {
			kinds[r[1]]++
		}
		if want := map[string]int{"facts": 2, "served": 2, "outcome": 3}; fmt.Sprint(kinds) != fmt.Sprint(want) {
			t.Fatalf("periods %v, want %v", kinds, want)
		}
	})
}
