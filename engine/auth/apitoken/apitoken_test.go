package apitoken_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"samverk.io/samverk/engine/auth"
	"samverk.io/samverk/engine/auth/apitoken"
	"samverk.io/samverk/engine/store"
	"samverk.io/samverk/engine/store/storetest"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

var t0 = time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)

func TestTokens(t *testing.T) {
	for _, kind := range storetest.Kinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			st := storetest.Open(t, kind, store.Options{})
			clk := &clock{t0}
			svc := apitoken.New(st, apitoken.Options{Now: clk.now})
			ctx := context.Background()

			c, err := svc.Create(ctx, apitoken.CreateRequest{Member: "region-norr", Role: "operator", Expires: "90d", Name: "ci"}, "admin-token")
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(c.Token, apitoken.Prefix) || len(c.Token) < 40 || !c.ExpiresAt.Equal(t0.Add(90*24*time.Hour)) {
				t.Fatalf("created %+v", c)
			}
			stored, err := st.Token(ctx, c.ID)
			if err != nil || !bytes.Equal(stored.Hash, apitoken.Hash(c.Token)) || bytes.Contains(stored.Hash, []byte(c.Token)) {
				t.Fatalf("stored %+v %v", stored, err)
			}

			p, err := svc.AuthenticateToken(ctx, c.Token)
			if err != nil || p.Subject != "token:"+c.ID || !p.Can(auth.Operator, "region-norr") || p.Can(auth.Viewer, "kommun-vasterby") {
				t.Fatalf("authenticate: %+v %v", p, err)
			}
			for name, tok := range map[string]string{
				"not ours":     "some-other-token",
				"unknown":      apitoken.Prefix + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
				"one char off": c.Token[:len(c.Token)-1] + "x",
			} {
				if _, err := svc.AuthenticateToken(ctx, tok); !errors.Is(err, auth.ErrUnknownToken) {
					t.Errorf("%s: %v, want ErrUnknownToken", name, err)
				}
			}

			// Last use is written on flush, not on the request.
			if got, _ := st.Token(ctx, c.ID); got.LastUsed != nil {
				t.Error("last use written before the flush")
			}
			svc.Flush(ctx)
			if got, _ := st.Token(ctx, c.ID); got.LastUsed == nil || !got.LastUsed.Equal(t0) {
				t.Errorf("last used = %v, want %v", got.LastUsed, t0)
			}

			clk.t = c.ExpiresAt
			if _, err := svc.AuthenticateToken(ctx, c.Token); !errors.Is(err, auth.ErrUnknownToken) || !strings.Contains(err.Error(), "expired") {
				t.Errorf("expired: %v", err)
			}
			clk.t = t0
			if err := st.RevokeToken(ctx, c.ID, t0); err != nil {
				t.Fatal(err)
			}
			if _, err := svc.AuthenticateToken(ctx, c.Token); !errors.Is(err, auth.ErrUnknownToken) || !strings.Contains(err.Error(), "revoked") {
				t.Errorf("revoked: %v", err)
			}
		})
	}
}

func TestCreateRefuses(t *testing.T) {
	svc := apitoken.New(storetest.Open(t, "sqlite", store.Options{}), apitoken.Options{})
	for _, tt := range []struct {
		req  apitoken.CreateRequest
		want string
	}{
		{apitoken.CreateRequest{Member: "region-norr", Role: "root"}, "unknown role"},
		{apitoken.CreateRequest{Member: "Region Norr", Role: "viewer"}, "want a member's name"},
		{apitoken.CreateRequest{Member: "region-norr", Role: "viewer", Expires: "forever"}, "want a number of days"},
		{apitoken.CreateRequest{Member: "region-norr", Role: "viewer", Expires: "-3d"}, "must be positive"},
		{apitoken.CreateRequest{Member: "region-norr", Role: "viewer", Expires: "1000d"}, "at most"},
	} {
		if _, err := svc.Create(context.Background(), tt.req, "t"); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: %v, want %q", tt.req, err, tt.want)
		}
	}
}

// TestAdminAPI: a member's admin manages that member's tokens only; the list never shows a
// token itself.
func TestAdminAPI(t *testing.T) {
	svc := apitoken.New(storetest.Open(t, "sqlite", store.Options{}), apitoken.Options{})
	ctx := context.Background()
	norrAdmin, _ := svc.Create(ctx, apitoken.CreateRequest{Member: "region-norr", Role: "admin"}, "t")
	if _, err := svc.Create(ctx, apitoken.CreateRequest{Member: "kommun-vasterby", Role: "viewer"}, "t"); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	auth.NewTable(mux, auth.NewGuard(auth.GuardOptions{Tokens: []auth.TokenAuthenticator{svc}})).MustAdd(svc.Routes()...)
	do := func(method, path, body string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, path, strings.NewReader(body))
		r.Header.Set("Authorization", "Bearer "+norrAdmin.Token)
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		return w
	}
	if w := do("POST", "/api/v1/tokens", `{"member":"region-norr","role":"viewer","expires":"30d","name":"grafana"}`); w.Code != http.StatusCreated || !strings.Contains(w.Body.String(), `"token": "svk_`) {
		t.Errorf("create own member's: %d %s", w.Code, w.Body)
	}
	for _, body := range []string{`{"member":"kommun-vasterby","role":"viewer"}`, `{"member":"*","role":"viewer"}`} {
		if w := do("POST", "/api/v1/tokens", body); w.Code != http.StatusForbidden {
			t.Errorf("create %s: %d %s, want 403", body, w.Code, w.Body)
		}
	}
	if w := do("POST", "/api/v1/tokens", `{"role":"viewer"}`); w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "member is required") {
		t.Errorf("create without a member: %d %s", w.Code, w.Body)
	}
	w := do("GET", "/api/v1/tokens", "")
	var list struct{ Tokens []map[string]any }
	json.Unmarshal(w.Body.Bytes(), &list)
	if w.Code != 200 || len(list.Tokens) != 2 || strings.Contains(w.Body.String(), "kommun-vasterby") || strings.Contains(w.Body.String(), "svk_") {
		t.Errorf("list: %d %s", w.Code, w.Body)
	}
	if w := do("DELETE", "/api/v1/tokens/"+norrAdmin.ID, ""); w.Code != 200 || !strings.Contains(w.Body.String(), "revokedAt") {
		t.Errorf("revoke own: %d %s", w.Code, w.Body)
	}
	if w := do("GET", "/api/v1/tokens", ""); w.Code != http.StatusUnauthorized {
		t.Errorf("a revoked token still works: %d", w.Code)
	}
}

// BenchmarkAuthenticate is the cost of checking an API token against the store: one indexed
// read by hash; the last use is only noted in memory.
func BenchmarkAuthenticate(b *testing.B) {
	for _, kind := range storetest.Kinds {
		b.Run(kind, func(b *testing.B) {
			st := storetest.Open(b, kind, store.Options{})
			svc := apitoken.New(st, apitoken.Options{})
			ctx := context.Background()
			var tok string
			for i := range 1000 {
				c, err := svc.Create(ctx, apitoken.CreateRequest{Member: "region-norr", Role: "viewer"}, "bench")
				if err != nil {
					b.Fatal(err)
				}
				if i == 500 {
					tok = c.Token
				}
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := svc.AuthenticateToken(ctx, tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
