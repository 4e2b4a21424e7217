package server

import (
	"crypto/hmac"
	"crypto/sha256"
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
	resultAccepted  = "accepted"  // signature good, fetch triggered
	resultIgnored   = "ignored"   // signature good, nothing to do (ping, other branch, suspended)
	resultRefused   = "refused"   // missing or bad signature
	resultLimited   = "limited"   // signature good, over the rate limit
	resultDuplicate = "duplicate" // signature good, a delivery id already received
)

// webhook receives a push notification. The order matters. The signature over the exact body
// comes first, so a flood of unsigned or wrongly signed requests is refused without touching
// the rate limit that GitHub's real deliveries need; a delivery already received is answered
// before the limit too, so a replayed delivery cannot spend it either. Only then is the
// payload looked at.
func (s *Server) webhook(provider string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.opt.WebhookSecret == "" {
			http.NotFound(w, r)
			return
		}
		// GitLab's token is a header: check it before reading a body at all.
		if provider == providerGitLab && !s.gitlabToken.Match(r.Header.Get("X-Gitlab-Token")) {
			s.refuse(w, r, provider)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxWebhookBody))
		if err != nil {
			writeError(w, http.StatusRequestEntityTooLarge, "payload too large")
			return
		}
		if !s.authentic(provider, r, body) {
			s.refuse(w, r, provider)
			return
		}
		id := deliveryID(provider, r)
		if id != "" && s.seen.has(id) {
			s.duplicate(w, provider, id)
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
		// Remembered only once past the limit: a delivery turned away with 429 may come again.
		if id != "" && !s.seen.add(id) {
			s.duplicate(w, provider, id)
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
		s.log.Info("webhook: fetch triggered", "provider", provider, "delivery", id, "remote", r.RemoteAddr)
		writeJSON(w, http.StatusAccepted, map[string]any{"triggered": true})
	}
}

// refuse answers a request without a valid signature. The warning is itself rate-limited, so
// a flood of garbage does not flood the log.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, provider string) {
	s.opt.Metrics.webhook(provider, resultRefused)
	if s.refusedLog.Allow() {
		s.log.Warn("webhook refused: bad signature", "provider", provider, "remote", r.RemoteAddr)
	}
	writeError(w, http.StatusUnauthorized, "missing or bad signature")
}

// duplicate answers an authentic delivery that was already received: 200, nothing done.
func (s *Server) duplicate(w http.ResponseWriter, provider, id string) {
	s.opt.Metrics.webhook(provider, resultDuplicate)
	writeJSON(w, http.StatusOK, map[string]any{"triggered": false, "reason": "delivery " + id + " was already received"})
}

// Delivery id headers. GitLab sends Idempotency-Key (the same across its retries) since 17.x
// and X-Gitlab-Event-UUID before.
const (
	headerGitHubDelivery  = "X-GitHub-Delivery"
	headerGitLabKey       = "Idempotency-Key"
	headerGitLabEvent     = "X-Gitlab-Event-UUID"
	headerGenericDelivery = "X-Samverk-Delivery"
)

// maxDeliveryID bounds a delivery id; the providers' are UUIDs.
const maxDeliveryID = 128

// deliveryID is the provider's id of this delivery, prefixed with the provider, or "" when the
// request carries none (it is then not checked for replays).
func deliveryID(provider string, r *http.Request) string {
	var id string
	switch provider {
	case providerGitHub:
		id = r.Header.Get(headerGitHubDelivery)
	case providerGitLab:
		if id = r.Header.Get(headerGitLabKey); id == "" {
			id = r.Header.Get(headerGitLabEvent)
		}
	case providerGeneric:
		id = r.Header.Get(headerGenericDelivery)
	}
	id = strings.TrimSpace(id)
	if id == "" {
		return ""
	}
	if len(id) > maxDeliveryID {
		// Still unique enough, and the set stays small.
		sum := sha256.Sum256([]byte(id))
		id = "sha256:" + hex.EncodeToString(sum[:])
	}
	return provider + "/" + id
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
		// GitLab sends the secret itself: compared on hashes, in constant time.
		return s.gitlabToken.Match(r.Header.Get("X-Gitlab-Token"))
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
