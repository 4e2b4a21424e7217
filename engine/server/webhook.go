package server

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"

	"samverk.io/samverk/engine/reconcile"
)

// Webhook providers: the path segment after /hooks/ and the `provider` metric label.
const (
	providerGitHub  = "github"
	providerGitLab  = "gitlab"
	providerGeneric = "generic"
)

// Webhook results: the `result` metric label.
const (
	resultAccepted = "accepted" // signature good, fetch triggered
	resultIgnored  = "ignored"  // signature good, nothing to do (ping, other branch, suspended)
	resultRefused  = "refused"  // missing or bad signature
	resultLimited  = "limited"  // over the rate limit
)

// webhook receives a push notification. The order matters: the rate limit first, so that a
// flood of bad requests costs no HMAC work; then the signature over the exact body; only then
// is the payload looked at.
func (s *Server) webhook(provider string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.opt.WebhookSecret == "" {
			http.NotFound(w, r)
			return
		}
		if res := s.limiter.Reserve(); !res.OK() || res.Delay() > 0 {
			delay := res.Delay()
			res.Cancel()
			w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(delay.Seconds())))))
			s.opt.Metrics.webhook(provider, resultLimited)
			writeError(w, http.StatusTooManyRequests, "too many webhook requests")
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxWebhookBody))
		if err != nil {
			writeError(w, http.StatusRequestEntityTooLarge, "payload too large")
			return
		}
		if !s.authentic(provider, r, body) {
			s.opt.Metrics.webhook(provider, resultRefused)
			s.log.Warn("webhook refused: bad signature", "provider", provider, "remote", r.RemoteAddr)
			writeError(w, http.StatusUnauthorized, "missing or bad signature")
			return
		}
		if reason := s.ignore(provider, r, body); reason != "" {
			s.opt.Metrics.webhook(provider, resultIgnored)
			writeJSON(w, http.StatusOK, map[string]any{"triggered": false, "reason": reason})
			return
		}
		if err := s.opt.Reconciler.Trigger("webhook/"+provider, false); err != nil {
			reason := err.Error()
			if errors.Is(err, reconcile.ErrSuspended) {
				reason = "reconciling is suspended"
			}
			s.opt.Metrics.webhook(provider, resultIgnored)
			writeJSON(w, http.StatusAccepted, map[string]any{"triggered": false, "reason": reason})
			return
		}
		s.opt.Metrics.webhook(provider, resultAccepted)
		s.log.Info("webhook: fetch triggered", "provider", provider, "remote", r.RemoteAddr)
		writeJSON(w, http.StatusAccepted, map[string]any{"triggered": true})
	}
}

// authentic checks the provider's proof that the sender knows the secret.
func (s *Server) authentic(provider string, r *http.Request, body []byte) bool {
	secret := []byte(s.opt.WebhookSecret)
	switch provider {
	case providerGitHub:
		return validHMAC(secret, body, r.Header.Get("X-Hub-Signature-256"))
	case providerGeneric:
		return validHMAC(secret, body, r.Header.Get("X-Samverk-Signature"))
	case providerGitLab:
		// GitLab sends the secret itself; compare in constant time.
		got := r.Header.Get("X-Gitlab-Token")
		return got != "" && subtle.ConstantTimeCompare([]byte(got), secret) == 1
	}
	return false
}

// validHMAC checks a "sha256=<hex>" header against HMAC-SHA256(secret, body).
func validHMAC(secret, body []byte, header string) bool {
	hexSig, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return false
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}

// Sign returns the X-Samverk-Signature (and X-Hub-Signature-256) header value for body.
func Sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// ignore says why an authentic delivery needs no fetch, or "".
func (s *Server) ignore(provider string, r *http.Request, body []byte) string {
	switch provider {
	case providerGitHub:
		switch ev := r.Header.Get("X-GitHub-Event"); ev {
		case "ping":
			return "ping"
		case "push", "":
		default:
			return "event " + ev + " is not a push"
		}
	case providerGitLab:
		switch ev := r.Header.Get("X-Gitlab-Event"); ev {
		case "Push Hook", "Tag Push Hook", "System Hook", "":
		default:
			return "event " + ev + " is not a push"
		}
	}
	if s.opt.Branch == "" || len(body) == 0 {
		return ""
	}
	var p struct {
		Ref string `json:"ref"`
	}
	if json.Unmarshal(body, &p) != nil || p.Ref == "" {
		return "" // not a payload we understand: fetch anyway, it is cheap
	}
	if p.Ref != "refs/heads/"+s.opt.Branch {
		return "push to " + p.Ref + ", not to the followed branch " + s.opt.Branch
	}
	return ""
}
