package session_test

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"samverk.io/samverk/engine/auth"
	"samverk.io/samverk/engine/auth/session"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func issue(t *testing.T, m *session.Manager, p *auth.Principal) *http.Cookie {
	t.Helper()
	rec := httptest.NewRecorder()
	if err := m.Issue(rec, p); err != nil {
		t.Fatal(err)
	}
	return rec.Result().Cookies()[0]
}

func read(m *session.Manager, c *http.Cookie) (*auth.Principal, string) {
	r := httptest.NewRequest("GET", "/", nil)
	r.AddCookie(c)
	return m.Session(r)
}

func TestSession(t *testing.T) {
	clk := &clock{time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)}
	key := []byte(strings.Repeat("a", 32))
	m, err := session.New(session.Options{Key: key, TTL: time.Hour, Secure: true, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	p := &auth.Principal{Subject: "alice", Method: "oidc", Grants: []auth.Grant{{Role: auth.Operator, Member: "region-norr"}}}
	c := issue(t, m, p)
	if !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteLaxMode || c.MaxAge != 3600 || c.Path != "/" {
		t.Errorf("cookie %+v", c)
	}
	got, csrf := read(m, c)
	if got == nil || got.Subject != "alice" || !got.Can(auth.Operator, "region-norr") || csrf == "" {
		t.Fatalf("read back %+v %q", got, csrf)
	}
	if _, csrf2 := read(m, issue(t, m, p)); csrf2 == csrf {
		t.Error("two sessions share a CSRF token")
	}

	// Tampering: another principal's grants pasted in, a cut signature, another key.
	body, sig, _ := strings.Cut(c.Value, ".")
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil || !strings.Contains(string(raw), `"operator"`) {
		t.Fatalf("cookie payload %q %v", raw, err)
	}
	forged := base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(raw), `"operator"`, `"admin"`, 1)))
	otherBody, _, _ := strings.Cut(issue(t, m, &auth.Principal{Subject: "x"}).Value, ".")
	for name, v := range map[string]string{
		"grants changed": forged + "." + sig,
		"no signature":   body,
		"other payload":  otherBody + "." + sig,
	} {
		if p, _ := read(m, &http.Cookie{Name: c.Name, Value: v}); p != nil {
			t.Errorf("%s: accepted as %+v", name, p)
		}
	}
	other, _ := session.New(session.Options{Key: []byte(strings.Repeat("b", 32)), Now: clk.now})
	if p, _ := read(other, c); p != nil {
		t.Error("a cookie signed with another key was accepted")
	}

	clk.t = clk.t.Add(time.Hour)
	if p, _ := read(m, c); p != nil {
		t.Error("an expired session was accepted")
	}
}

func TestSealUnseal(t *testing.T) {
	clk := &clock{time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)}
	m, _ := session.New(session.Options{Key: []byte(strings.Repeat("a", 32)), Now: clk.now})
	rec := httptest.NewRecorder()
	if err := m.Seal(rec, "flow", "state-123", time.Minute); err != nil {
		t.Fatal(err)
	}
	c := rec.Result().Cookies()[0]
	r := httptest.NewRequest("GET", "/auth/x", nil)
	r.AddCookie(c)
	var v string
	if err := m.Unseal(httptest.NewRecorder(), r, "flow", &v); err != nil || v != "state-123" {
		t.Fatalf("unseal %q %v", v, err)
	}
	// A sealed value is bound to its name: a session cookie cannot pass for it, nor it for one.
	r = httptest.NewRequest("GET", "/auth/x", nil)
	r.AddCookie(&http.Cookie{Name: "other", Value: c.Value})
	if err := m.Unseal(httptest.NewRecorder(), r, "other", &v); err == nil {
		t.Error("a value sealed as flow opened as other")
	}
	clk.t = clk.t.Add(time.Minute)
	r = httptest.NewRequest("GET", "/auth/x", nil)
	r.AddCookie(c)
	if err := m.Unseal(httptest.NewRecorder(), r, "flow", &v); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("expired seal: %v", err)
	}
}

func TestLoadKey(t *testing.T) {
	dir := t.TempDir()
	k1, err := session.LoadKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, session.KeyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v %v, want 0600", fi.Mode().Perm(), err)
	}
	k2, err := session.LoadKey(dir)
	if err != nil || string(k1) != string(k2) || len(k1) < session.MinKey {
		t.Fatalf("reload gave another key (%v)", err)
	}
	os.Chmod(filepath.Join(dir, session.KeyFile), 0o644)
	if _, err := session.LoadKey(dir); err == nil || !strings.Contains(err.Error(), "want 0600") {
		t.Errorf("a world-readable key: %v", err)
	}
	if _, err := session.New(session.Options{Key: []byte("short")}); err == nil {
		t.Error("a short key was accepted")
	}
}
