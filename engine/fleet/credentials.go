package fleet

import (
	"context"
	"crypto/sha256"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"samverk.io/samverk/engine/auth"
	"samverk.io/samverk/engine/desired"
	"samverk.io/samverk/engine/store"
)

// enrollGate holds, per enrollment token, the rate of its enrollments (a generic cell rate
// algorithm, as for devices) and the number of devices it has enrolled (for its quota).
type enrollGate struct {
	mu     sync.Mutex
	tokens map[string]*tokenUse
}

type tokenUse struct {
	tat     int64 // Unix nanoseconds
	devices int
}

func (g *enrollGate) use(id string) *tokenUse {
	if g.tokens == nil {
		g.tokens = map[string]*tokenUse{}
	}
	u := g.tokens[id]
	if u == nil {
		u = &tokenUse{}
		g.tokens[id] = u
	}
	return u
}

// count records a device enrolled with token id (on load).
func (g *enrollGate) count(id string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.use(id).devices++
}

// take charges one enrollment to token id's rate of perHour, bursts of burst; when the rate
// is spent it returns how long until the next would pass.
func (g *enrollGate) take(id string, perHour, burst int, now int64) (wait time.Duration, ok bool) {
	interval := int64(time.Hour) / int64(perHour)
	g.mu.Lock()
	defer g.mu.Unlock()
	u := g.use(id)
	tat := max(u.tat, now)
	if over := tat - now - int64(burst-1)*interval; over > 0 {
		return time.Duration(over), false
	}
	u.tat = tat + interval
	return 0, true
}

// reserve counts one more device for token id if it has enrolled fewer than quota; release
// undoes it when the enrollment does not commit.
func (g *enrollGate) reserve(id string, quota int) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	u := g.use(id)
	if u.devices >= quota {
		return false
	}
	u.devices++
	return true
}

func (g *enrollGate) release(id string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.use(id).devices--
}

// limits returns token tok's rate and quota.
func (s *Service) limits(tok Token) (perHour, quota int) {
	perHour, quota = s.opt.EnrollPerHour, s.opt.EnrollQuota
	if tok.PerHour > 0 {
		perHour = tok.PerHour
	}
	if tok.Quota > 0 {
		quota = tok.Quota
	}
	return perHour, quota
}

// placeholderSerials are serial numbers firmware reports when it has none; they name no
// device, so a device reporting one is never taken for another enrolling again.
var placeholderSerials = []string{"to be filled by o.e.m.", "default string", "system serial number", "not specified",
	"not applicable", "none", "n/a", "0", "00000000", "0000000000", "123456789", "0123456789", "1234567890", "chassis serial number"}

// identifiesDevice reports whether serial names one piece of hardware.
func identifiesDevice(serial string) bool {
	s := strings.ToLower(strings.TrimSpace(serial))
	if len(s) < 4 {
		return false
	}
	for _, p := range placeholderSerials {
		if s == p {
			return false
		}
	}
	return true
}

// applyCredential sets what id says of device k's credential: revoked, or rotating with a
// previous one still in its grace.
func (s *Service) applyCredential(k devKey, id *store.Identity) {
	if len(id.CredentialHash) != sha256.Size {
		return
	}
	cred := [sha256.Size]byte(id.CredentialHash)
	if id.Revoked {
		cred = revokedCred
	}
	var prev *[sha256.Size]byte
	if len(id.PrevCredentialHash) == sha256.Size && id.PrevUntil.After(s.opt.Now()) && !id.Revoked {
		p := [sha256.Size]byte(id.PrevCredentialHash)
		prev = &p
	}
	s.ix.setCredential(k, cred, prev, id.PrevUntil.UnixNano())
}

// endGrace records that device k used its new credential (hash): the previous one no longer
// works, here at once and, once written, on every replica.
func (s *Service) endGrace(k devKey, hash [sha256.Size]byte) {
	c := store.CredentialChange{DeviceID: k.String(), At: s.opt.Now().UTC(), Hash: hash[:], EndGrace: true}
	go func() {
		if err := s.b.Credential(context.Background(), c); err != nil && !errors.Is(err, store.ErrClosed) {
			s.log.Warn("cannot record the end of a credential's grace; it ends on its own", "device", c.DeviceID, "err", err)
		}
	}()
}

// rotate gives a device a new credential in exchange for its current one. The current one
// keeps working until the new one is first used, or for CredentialGrace, whichever is first,
// so that a device that loses the answer can still ask again.
func (s *Service) rotate(w http.ResponseWriter, r *http.Request) {
	k, ok := parseID(r.PathValue("id"))
	if !ok {
		writeError(w, http.StatusNotFound, "no such device")
		return
	}
	if _, _, ok := s.authDevice(w, r, k, false, s.opt.Now()); !ok || !s.enter(w) {
		return
	}
	defer s.leave()
	// One credential change at a time, so that memory and store agree on which is current.
	s.credMu.Lock()
	defer s.credMu.Unlock()
	cur, ok := s.ix.credential(k)
	if !ok {
		writeError(w, http.StatusNotFound, "no such device")
		return
	}
	cred, hash := newCredential(k)
	now := s.opt.Now().UTC()
	until := now.Add(s.opt.CredentialGrace)
	c := store.CredentialChange{DeviceID: k.String(), At: now, Hash: hash[:], Prev: cur[:], PrevUntil: until}
	if err := s.b.Credential(r.Context(), c); err != nil {
		s.writeFailed(w, r, "rotate credential", err)
		return
	}
	s.ix.setCredential(k, hash, &cur, until.UnixNano())
	s.m.credentials.WithLabelValues("rotated").Inc()
	s.log.Info("device credential rotated", "device", k.String(), "graceUntil", until.Format(time.RFC3339))
	writeJSON(w, http.StatusOK, desired.CredentialResponse{DeviceID: k.String(), Credential: cred, PreviousValidUntil: until})
}

// revoke makes a device's credential stop working at once (an admin of its member). The device can
// enroll again with its member's enrollment token.
func (s *Service) revoke(w http.ResponseWriter, r *http.Request) {
	k, ok := parseID(r.PathValue("id"))
	if !ok {
		writeError(w, http.StatusNotFound, "no such device")
		return
	}
	auth.Note(r.Context(), "device", k.String())
	if s.ix.lookup(k) == nil && !s.fetch(r.Context(), k) {
		writeError(w, http.StatusNotFound, "no such device")
		return
	}
	s.credMu.Lock()
	defer s.credMu.Unlock()
	c := store.CredentialChange{DeviceID: k.String(), At: s.opt.Now().UTC(), Hash: store.RevokedHash, Revoked: true}
	if err := s.b.Credential(r.Context(), c); err != nil {
		s.writeFailed(w, r, "revoke credential", err)
		return
	}
	s.ix.setCredential(k, revokedCred, nil, 0)
	s.m.credentials.WithLabelValues("revoked").Inc()
	s.log.Info("device credential revoked", "device", k.String(), "remote", remoteHost(r))
	writeJSON(w, http.StatusOK, struct {
		DeviceID string `json:"deviceId"`
		Revoked  bool   `json:"revoked"`
	}{k.String(), true})
}

// syncCredentials applies the credential changes other replicas wrote since the last sync
// (with a margin for clocks that differ) to the devices in memory.
func (s *Service) syncCredentials(ctx context.Context) {
	now := s.opt.Now()
	since := s.credSync.Add(-time.Minute)
	if s.credSync.IsZero() {
		since = now.Add(-s.opt.CredentialGrace - time.Minute)
	}
	err := s.st.CredentialsChanged(ctx, since, func(id *store.Identity) error {
		if k, ok := parseID(id.ID); ok {
			if c, ok := s.ix.credential(k); ok && (c != [sha256.Size]byte(id.CredentialHash) || id.Revoked) {
				s.applyCredential(k, id)
			}
		}
		return nil
	})
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("cannot read credential changes", "err", err)
		}
		return
	}
	s.credSync = now
}
