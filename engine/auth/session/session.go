// Package session keeps a signed-in person's principal in a signed, expiring cookie, with a
// CSRF token bound to it, and seals the short-lived values of a sign-in in progress.
package session

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"samverk.io/samverk/engine/auth"
)

// Options configure a Manager. Key is required.
type Options struct {
	// Key signs cookies (at least 32 bytes; see LoadKey).
	Key []byte
	// TTL is how long a session lasts after sign-in (default 8h).
	TTL time.Duration
	// Secure marks cookies Secure: set it when the daemon is reached over HTTPS.
	Secure bool
	// Cookie is the session cookie's name (default samverk_session).
	Cookie string
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Manager issues and reads sessions.
type Manager struct {
	opt Options
}

var _ auth.SessionReader = (*Manager)(nil)

// MinKey is the shortest signing key accepted.
const MinKey = 32

// New returns a Manager.
func New(opt Options) (*Manager, error) {
	if len(opt.Key) < MinKey {
		return nil, fmt.Errorf("session key: %d bytes; want at least %d", len(opt.Key), MinKey)
	}
	if opt.TTL <= 0 {
		opt.TTL = 8 * time.Hour
	}
	if opt.Cookie == "" {
		opt.Cookie = "samverk_session"
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	return &Manager{opt: opt}, nil
}

// KeyFile is the name of the signing key in the data directory.
const KeyFile = "session.key"

// LoadKey reads the signing key kept in dir, creating a random one (mode 0600) when there is
// none. A key file readable by others is refused.
func LoadKey(dir string) ([]byte, error) {
	path := filepath.Join(dir, KeyFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		key := make([]byte, 32)
		rand.Read(key)
		enc := []byte(base64.RawURLEncoding.EncodeToString(key) + "\n")
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("session key: %w", err)
		}
		if _, err := f.Write(enc); err != nil {
			f.Close()
			return nil, fmt.Errorf("session key: %w", err)
		}
		if err := f.Close(); err != nil {
			return nil, fmt.Errorf("session key: %w", err)
		}
		return key, nil
	}
	if err != nil {
		return nil, fmt.Errorf("session key: %w", err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("session key %s: mode %v lets others read it; want 0600", path, fi.Mode().Perm())
	}
	return ParseKey(string(b))
}

// ParseKey decodes a key as LoadKey writes it (base64url, at least 32 bytes).
func ParseKey(s string) ([]byte, error) {
	key, err := base64.RawURLEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("session key: not base64url: %w", err)
	}
	if len(key) < MinKey {
		return nil, fmt.Errorf("session key: %d bytes; want at least %d", len(key), MinKey)
	}
	return key, nil
}

// payload is what the session cookie carries.
type payload struct {
	ID        string          `json:"id"`
	Expires   int64           `json:"exp"`
	Principal *auth.Principal `json:"p"`
}

// Issue starts a session for p: it sets the session cookie on w.
func (m *Manager) Issue(w http.ResponseWriter, p *auth.Principal) error {
	var id [16]byte
	rand.Read(id[:])
	exp := m.opt.Now().Add(m.opt.TTL)
	v, err := m.seal("session", payload{ID: base64.RawURLEncoding.EncodeToString(id[:]), Expires: exp.Unix(), Principal: p})
	if err != nil {
		return err
	}
	if len(v) > 3800 {
		return fmt.Errorf("session: %d grants do not fit in a cookie", len(p.Grants))
	}
	http.SetCookie(w, &http.Cookie{Name: m.opt.Cookie, Value: v, Path: "/", Expires: exp, MaxAge: int(m.opt.TTL.Seconds()),
		HttpOnly: true, Secure: m.opt.Secure, SameSite: http.SameSiteLaxMode})
	return nil
}

// Session implements auth.SessionReader.
func (m *Manager) Session(r *http.Request) (*auth.Principal, string) {
	c, err := r.Cookie(m.opt.Cookie)
	if err != nil {
		return nil, ""
	}
	var pl payload
	if err := m.open("session", c.Value, &pl); err != nil || pl.Principal == nil || pl.ID == "" {
		return nil, ""
	}
	if m.opt.Now().Unix() >= pl.Expires {
		return nil, ""
	}
	return pl.Principal, m.csrf(pl.ID)
}

// csrf is the CSRF token of session id: a MAC of it, so it is bound to the session and needs
// no storage.
func (m *Manager) csrf(id string) string {
	mac := hmac.New(sha256.New, m.opt.Key)
	mac.Write([]byte("csrf\x00" + id))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// Clear ends the session: it expires the cookie.
func (m *Manager) Clear(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: m.opt.Cookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: m.opt.Secure, SameSite: http.SameSiteLaxMode})
}

// Secure reports whether cookies are marked Secure.
func (m *Manager) Secure() bool { return m.opt.Secure }

// Seal sets a short-lived signed cookie name holding v (for a sign-in in progress: state,
// nonce, PKCE verifier). It expires after ttl.
func (m *Manager) Seal(w http.ResponseWriter, name string, v any, ttl time.Duration) error {
	s, err := m.seal(name, sealed{Expires: m.opt.Now().Add(ttl).Unix(), V: v})
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: name, Value: s, Path: "/auth/", MaxAge: int(ttl.Seconds()),
		HttpOnly: true, Secure: m.opt.Secure, SameSite: http.SameSiteLaxMode})
	return nil
}

// Unseal reads the cookie Seal set into v and clears it; an error when it is missing, forged
// or expired.
func (m *Manager) Unseal(w http.ResponseWriter, r *http.Request, name string, v any) error {
	c, err := r.Cookie(name)
	if err != nil {
		return fmt.Errorf("no %s cookie: the sign-in took too long or cookies are off", name)
	}
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/auth/", MaxAge: -1, HttpOnly: true, Secure: m.opt.Secure, SameSite: http.SameSiteLaxMode})
	s := sealed{V: v}
	if err := m.open(name, c.Value, &s); err != nil {
		return err
	}
	if m.opt.Now().Unix() >= s.Expires {
		return fmt.Errorf("the %s cookie has expired: start again", name)
	}
	return nil
}

type sealed struct {
	Expires int64 `json:"exp"`
	V       any   `json:"v"`
}

// seal encodes v as base64url(JSON) "." base64url(HMAC-SHA256(key, purpose, JSON)).
func (m *Manager) seal(purpose string, v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("seal %s: %w", purpose, err)
	}
	return base64.RawURLEncoding.EncodeToString(b) + "." + base64.RawURLEncoding.EncodeToString(m.mac(purpose, b)), nil
}

var errForged = errors.New("bad signature")

func (m *Manager) open(purpose, s string, v any) error {
	body, sig, ok := strings.Cut(s, ".")
	if !ok {
		return errForged
	}
	b, err1 := base64.RawURLEncoding.DecodeString(body)
	mac, err2 := base64.RawURLEncoding.DecodeString(sig)
	if err1 != nil || err2 != nil || !hmac.Equal(mac, m.mac(purpose, b)) {
		return errForged
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("open %s: %w", purpose, err)
	}
	return nil
}

func (m *Manager) mac(purpose string, b []byte) []byte {
	h := hmac.New(sha256.New, m.opt.Key)
	h.Write([]byte(purpose))
	h.Write([]byte{0})
	h.Write(b)
	return h.Sum(nil)
}
