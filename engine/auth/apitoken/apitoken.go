// Package apitoken issues, checks and revokes the API tokens automation uses: each holds one
// role for a member or the consortium, is shown once, is kept only as its SHA-256, and
// records when it was last used.
package apitoken

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"samverk.io/samverk/engine/auth"
	"samverk.io/samverk/engine/httpjson"
	"samverk.io/samverk/engine/store"
)

// Prefix starts every API token, so that a token found in a log or a repository is known for
// what it is (and secret scanners can look for it).
const Prefix = "svk_"

// Options configure a Service. The zero value is a working default.
type Options struct {
	// FlushEvery is how often last-used times are written to the store (default 1 minute):
	// recording a use costs a map write, not a database write.
	FlushEvery time.Duration
	// MaxTTL is the longest lifetime a token may be given (default 2 years).
	MaxTTL time.Duration
	// Logger receives token events (default: discard). Tokens themselves are never logged.
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Service is the API tokens: an authenticator for the guard, and the admin API's routes.
type Service struct {
	st  store.APITokens
	opt Options
	log *slog.Logger

	mu   sync.Mutex
	used map[string]time.Time
}

var _ auth.TokenAuthenticator = (*Service)(nil)

// New returns the service over st.
func New(st store.APITokens, opt Options) *Service {
	if opt.FlushEvery <= 0 {
		opt.FlushEvery = time.Minute
	}
	if opt.MaxTTL <= 0 {
		opt.MaxTTL = 2 * 365 * 24 * time.Hour
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	return &Service{st: st, opt: opt, log: opt.Logger, used: map[string]time.Time{}}
}

// Hash is what the store keeps of a token.
func Hash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// AuthenticateToken implements auth.TokenAuthenticator.
func (s *Service) AuthenticateToken(ctx context.Context, token string) (*auth.Principal, error) {
	if !strings.HasPrefix(token, Prefix) {
		return nil, auth.ErrUnknownToken
	}
	t, err := s.st.TokenByHash(ctx, Hash(token))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, auth.ErrUnknownToken
	case err != nil:
		return nil, fmt.Errorf("check api token: %w", err)
	}
	now := s.opt.Now()
	switch {
	case t.RevokedAt != nil:
		return nil, fmt.Errorf("token %s was revoked: %w", t.ID, auth.ErrUnknownToken)
	case !now.Before(t.ExpiresAt):
		return nil, fmt.Errorf("token %s has expired: %w", t.ID, auth.ErrUnknownToken)
	}
	role, err := auth.ParseRole(t.Role)
	if err != nil {
		return nil, fmt.Errorf("token %s: %w: %w", t.ID, err, auth.ErrUnknownToken)
	}
	s.mu.Lock()
	s.used[t.ID] = now
	s.mu.Unlock()
	name := t.Name
	if name == "" {
		name = "token " + t.ID
	}
	return &auth.Principal{Subject: "token:" + t.ID, Name: name, Method: "token",
		Grants: []auth.Grant{{Role: role, Member: t.Member}}}, nil
}

// Run writes last-used times every FlushEvery until ctx ends, then once more.
func (s *Service) Run(ctx context.Context) error {
	t := time.NewTicker(s.opt.FlushEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			s.Flush(fctx)
			return nil
		case <-t.C:
			s.Flush(ctx)
		}
	}
}

// Flush writes the last-used times recorded since the last flush.
func (s *Service) Flush(ctx context.Context) {
	s.mu.Lock()
	used := s.used
	s.used = map[string]time.Time{}
	s.mu.Unlock()
	if err := s.st.TouchTokens(ctx, used); err != nil {
		s.log.Warn("cannot record when api tokens were last used", "err", err, "tokens", len(used))
		// Keep them for the next flush, unless newer uses replaced them.
		s.mu.Lock()
		for id, at := range used {
			if cur, ok := s.used[id]; !ok || cur.Before(at) {
				s.used[id] = at
			}
		}
		s.mu.Unlock()
	}
}

// CreateRequest is the body of POST /api/v1/tokens.
type CreateRequest struct {
	// Member is a member's name, or "*" for the consortium.
	Member string `json:"member"`
	Role   string `json:"role"`
	// Expires is the lifetime: a Go duration or a number of days ("90d").
	Expires string `json:"expires"`
	Name    string `json:"name,omitempty"`
}

// Created is the answer to a create: the token itself, shown this once.
type Created struct {
	store.APIToken
	Token string `json:"token"`
}

// Create issues a token for req on behalf of by.
func (s *Service) Create(ctx context.Context, req CreateRequest, by string) (*Created, error) {
	role, err := auth.ParseRole(req.Role)
	if err != nil {
		return nil, err
	}
	if req.Member != auth.Consortium && !validMember(req.Member) {
		return nil, fmt.Errorf("member %q: want a member's name or * for the consortium", req.Member)
	}
	if req.Expires == "" {
		req.Expires = "90d"
	}
	ttl, err := ParseTTL(req.Expires)
	if err != nil {
		return nil, err
	}
	if ttl > s.opt.MaxTTL {
		return nil, fmt.Errorf("expires %s: at most %s", req.Expires, s.opt.MaxTTL)
	}
	if len(req.Name) > 200 {
		return nil, errors.New("name: at most 200 characters")
	}
	var idb [8]byte
	rand.Read(idb[:])
	var secret [32]byte
	rand.Read(secret[:])
	tok := Prefix + base64.RawURLEncoding.EncodeToString(secret[:])
	now := s.opt.Now().UTC()
	t := store.APIToken{ID: hex.EncodeToString(idb[:]), Name: req.Name, Member: req.Member, Role: string(role),
		Hash: Hash(tok), CreatedAt: now, CreatedBy: by, ExpiresAt: now.Add(ttl)}
	if err := s.st.CreateToken(ctx, &t); err != nil {
		return nil, err
	}
	s.log.Info("api token created", "id", t.ID, "member", t.Member, "role", t.Role, "expires", t.ExpiresAt, "by", by)
	return &Created{APIToken: t, Token: tok}, nil
}

// ParseTTL reads a lifetime: "90d" (days) or a Go duration ("12h").
func ParseTTL(s string) (time.Duration, error) {
	var d time.Duration
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil {
			return 0, fmt.Errorf("expires %q: want a number of days (90d) or a duration (12h)", s)
		}
		d = time.Duration(days) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("expires %q: want a number of days (90d) or a duration (12h)", s)
		}
	}
	if d <= 0 {
		return 0, fmt.Errorf("expires %q: must be positive", s)
	}
	return d, nil
}

func validMember(s string) bool {
	if s == "" || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// Routes are the admin API of tokens. Creating or revoking a token for a member needs an
// admin of that member (a consortium token: a consortium admin); the list shows the tokens
// of the members the principal administers.
func (s *Service) Routes() []auth.Route {
	return []auth.Route{
		{Method: "POST", Pattern: "/api/v1/tokens", Need: auth.Admin, Member: bodyMember, Audit: true, Handler: http.HandlerFunc(s.create)},
		{Method: "GET", Pattern: "/api/v1/tokens", Need: auth.Admin, Handler: http.HandlerFunc(s.list)},
		{Method: "DELETE", Pattern: "/api/v1/tokens/{id}", Need: auth.Admin, Member: s.tokenMember, Audit: true, Handler: http.HandlerFunc(s.revoke)},
	}
}

const maxBody = 64 << 10

// bodyMember is the Member resolver of a create: the member the body names. It leaves the
// body for the handler to read again.
func bodyMember(r *http.Request) (string, error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return "", fmt.Errorf("read body: %w: %w", err, auth.ErrBadRequest)
	}
	if len(b) > maxBody {
		return "", fmt.Errorf("the body exceeds %d bytes: %w", maxBody, auth.ErrBadRequest)
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	var req CreateRequest
	if err := json.Unmarshal(b, &req); err != nil {
		return "", fmt.Errorf("body: want JSON {\"member\", \"role\", \"expires\", \"name\"}: %w", auth.ErrBadRequest)
	}
	if req.Member == "" {
		return "", fmt.Errorf("body: member is required (a member's name, or * for the consortium): %w", auth.ErrBadRequest)
	}
	return req.Member, nil
}

// tokenMember is the Member resolver of a revoke: the member of the token in the path.
func (s *Service) tokenMember(r *http.Request) (string, error) {
	t, err := s.st.Token(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		return "", auth.ErrNotFound
	}
	if err != nil {
		return "", err
	}
	return t.Member, nil
}

func (s *Service) create(w http.ResponseWriter, r *http.Request) {
	var req CreateRequest
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "body: "+err.Error())
		return
	}
	p := auth.FromContext(r.Context())
	c, err := s.Create(r.Context(), req, p.Subject)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	auth.Note(r.Context(), "token", c.ID)
	auth.Note(r.Context(), "role", c.Role)
	auth.Note(r.Context(), "expires", c.ExpiresAt.Format(time.RFC3339))
	if c.Name != "" {
		auth.Note(r.Context(), "name", c.Name)
	}
	writeJSON(w, http.StatusCreated, c)
}

func (s *Service) list(w http.ResponseWriter, r *http.Request) {
	all, err := s.st.ListTokens(r.Context())
	if err != nil {
		s.log.Error("list api tokens", "err", err)
		writeError(w, http.StatusServiceUnavailable, "the store is unavailable")
		return
	}
	p := auth.FromContext(r.Context())
	out := []store.APIToken{}
	for _, t := range all {
		if p.Can(auth.Admin, t.Member) {
			out = append(out, t)
		}
	}
	writeJSON(w, http.StatusOK, struct {
		Tokens []store.APIToken `json:"tokens"`
	}{out})
}

func (s *Service) revoke(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	auth.Note(r.Context(), "token", id)
	err := s.st.RevokeToken(r.Context(), id, s.opt.Now().UTC())
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, "no such token")
		return
	}
	if err != nil {
		s.log.Error("revoke api token", "err", err)
		writeError(w, http.StatusServiceUnavailable, "the store is unavailable")
		return
	}
	s.log.Info("api token revoked", "id", id, "by", auth.FromContext(r.Context()).Subject)
	t, err := s.st.Token(r.Context(), id)
	if err != nil {
		writeJSON(w, http.StatusOK, map[string]string{"id": id})
		return
	}
	writeJSON(w, http.StatusOK, t)
}

var writeJSON, writeError = httpjson.Pretty, httpjson.PrettyError
