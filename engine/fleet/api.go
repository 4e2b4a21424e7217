package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"samverk.io/samverk/engine/desired"
	"samverk.io/samverk/engine/servedlog"
	"samverk.io/samverk/engine/store"
)

var (
	jsonContentType = []string{"application/json"}
	noCache         = []string{"no-cache"}
)

// enter takes one of the MaxInFlight slots of agent work, or answers 503 and reports false.
// It is called once a request is authenticated and its body read, so that slow or
// unauthenticated clients never hold a slot; leave gives it back.
func (s *Service) enter(w http.ResponseWriter) bool {
	if s.inflight.Add(1) > int64(s.opt.MaxInFlight) {
		s.inflight.Add(-1)
		s.busy(w, "the server is busy")
		return false
	}
	return true
}

func (s *Service) leave() { s.inflight.Add(-1) }

// busy answers 503 with a Retry-After of RetryAfter plus up to as much again.
func (s *Service) busy(w http.ResponseWriter, reason string) {
	s.m.shed.WithLabelValues("busy").Inc()
	base := s.opt.RetryAfter
	wait := base + rand.N(base+time.Second)
	w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())))
	writeError(w, http.StatusServiceUnavailable, reason)
}

// enroll registers a device of the member whose enrollment token the request carries. A
// device of that member with the same hardware serial enrolls again: it keeps its id and
// history, and its old credential stops working.
func (s *Service) enroll(w http.ResponseWriter, r *http.Request) {
	tok, ok := s.opt.EnrollTokens.Lookup(bearer(r))
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="samverk"`)
		writeError(w, http.StatusUnauthorized, "missing or invalid enrollment token")
		return
	}
	member := tok.Member
	perHour, quota := s.limits(tok)
	if wait, ok := s.gate.take(tok.ID, perHour, s.opt.EnrollBurst, s.opt.Now().UnixNano()); !ok {
		s.m.shed.WithLabelValues("enroll").Inc()
		w.Header().Set("Retry-After", strconv.FormatInt(int64((wait+time.Second-1)/time.Second), 10))
		writeError(w, http.StatusTooManyRequests, fmt.Sprintf("this enrollment token enrolls at most %d devices an hour", perHour))
		return
	}
	var req desired.EnrollRequest
	if !decode(w, r, s.opt.MaxEnrollBytes, &req) {
		return
	}
	if err := checkFacts(&req.Facts); err != nil {
		writeError(w, http.StatusBadRequest, "facts: "+err.Error())
		return
	}
	if req.Facts.Hostname == "" {
		writeError(w, http.StatusBadRequest, "facts: hostname is required")
		return
	}
	if !s.enter(w) {
		return
	}
	defer s.leave()
	rev, known := s.ix.published(member)
	switch {
	case rev == "":
		s.busy(w, "no catalog revision is published yet")
		return
	case !known:
		writeError(w, http.StatusForbidden, fmt.Sprintf("member %s is not in the catalog", member))
		return
	}
	facts, err := store.EncodeFacts(&req.Facts)
	if err != nil { // cannot happen: facts are strings
		writeError(w, http.StatusBadRequest, "facts: "+err.Error())
		return
	}
	k, cred, hash := newDevice()
	again := false
	if identifiesDevice(req.Facts.Serial) {
		id, err := s.st.DeviceBySerial(r.Context(), member, req.Facts.Serial)
		switch {
		case err == nil:
			if old, ok := parseID(id); ok {
				k, again = old, true
				cred, hash = newCredential(k)
			}
		case !errors.Is(err, store.ErrNotFound):
			s.writeFailed(w, r, "find device by serial", err)
			return
		}
	}
	if !again && !s.gate.reserve(tok.ID, quota) {
		s.log.Warn("enrollment refused: the token has enrolled its quota", "member", member, "token", tok.ID, "quota", quota)
		writeError(w, http.StatusForbidden, fmt.Sprintf("this enrollment token has enrolled its quota of %d devices", quota))
		return
	}
	// The device's class is taken before the write, so that a device is never stored
	// without a place in memory.
	cls := s.ix.classFor(member, &req.Facts, false)
	if cls == nil {
		if !again {
			s.gate.release(tok.ID)
		}
		s.m.classFull.Inc()
		s.log.Warn("enrollment refused: the device index holds the most distinct device classes it may", "member", member, "classes", s.opt.MaxClasses)
		s.busy(w, "the server holds as many distinct device classes (member, labels, hardware, OS) as it may")
		return
	}
	if again {
		// Replacing a credential: not at once with a rotation or revocation of it.
		s.credMu.Lock()
		defer s.credMu.Unlock()
	}
	id := k.String()
	e := store.Enrollment{ID: id, Member: member, CredentialHash: hash[:], Facts: req.Facts, At: s.opt.Now().UTC(), Remote: remoteHost(r),
		Token: tok.ID, Replaces: again}
	if err := s.b.Enroll(r.Context(), e); err != nil {
		s.ix.release(cls)
		if !again {
			s.gate.release(tok.ID)
		}
		s.writeFailed(w, r, "enroll", err)
		return
	}
	s.ix.place(k, hash, cls, facts.Digest)
	s.m.enrollments.WithLabelValues(member).Inc()
	if again {
		s.m.credentials.WithLabelValues("replaced").Inc()
		s.log.Info("device enrolled again; its previous credential is revoked", "device", id, "member", member, "hostname", req.Facts.Hostname, "remote", e.Remote)
	} else {
		s.log.Info("device enrolled", "device", id, "member", member, "hostname", req.Facts.Hostname, "remote", e.Remote)
	}
	w.Header().Set("Location", "/api/v1/devices/"+id)
	writeJSON(w, http.StatusCreated, desired.EnrollResponse{DeviceID: id, Credential: cred, Member: member})
}

// desired serves a device its desired state, or 304 when its If-None-Match names it. The
// admin token may read any device's.
func (s *Service) desired(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	k, ok := parseID(id)
	if !ok {
		writeError(w, http.StatusNotFound, "no such device")
		return
	}
	// One reading of the clock serves the rate limit, the rollout's hold and the record.
	now := s.opt.Now()
	e, admin, ok := s.authDevice(w, r, k, true, now)
	if !ok {
		return
	}
	cls := e.cls
	v := s.ix.viewWith(cls, e.ov)
	h := w.Header()
	if s.opt.Notices != nil && !admin {
		// Before the load-shedding slot: a turned-away poll still tells of a notice.
		group := ""
		if v != nil {
			group = v.state.Group
		}
		if hv := s.opt.Notices.Latest(id, cls.dev.Member, group); hv != nil {
			h[noticeHeader] = hv
		}
	}
	if !s.enter(w) {
		return
	}
	defer s.leave()
	if v == nil {
		s.busy(w, "no catalog revision is published yet")
		return
	}
	inm := r.Header["If-None-Match"]
	if v.frozen && !admin {
		if len(inm) > 0 {
			// Suspended: the device keeps whatever state it has.
			h["Etag"] = inm[:1]
			h["Cache-Control"] = noCache
			w.WriteHeader(http.StatusNotModified)
			return
		}
		if v.prev != nil {
			v = v.prev
		}
	} else if v.prev != nil && !admin && !(len(inm) > 0 && etagMatch(inm, v.hash)) && !v.hold.allows(now) {
		// Outside the group's maintenance window, or past the ring's hourly bound: the device
		// keeps the state of its ring's previous revision (304 when it has it).
		v = v.prev
	}
	h["Etag"] = v.etag
	h["Cache-Control"] = noCache
	if len(v.body) >= gzipMin {
		h["Vary"] = varyEncoding
	}
	if len(inm) > 0 && etagMatch(inm, v.hash) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body, clen := v.body, v.clen
	if len(body) >= gzipMin && acceptsGzip(r.Header["Accept-Encoding"]) {
		gz := v.gzipped()
		body, clen = gz.body, gz.clen
		h["Content-Encoding"] = gzipEncoding
	}
	h["Content-Type"] = jsonContentType
	h["Content-Length"] = clen
	w.WriteHeader(http.StatusOK)
	w.Write(body)
	if !admin {
		// In memory only: the served log writes it to the store in batches (see servedlog).
		s.served.Record(servedlog.Key(k), v.rec, now.UTC())
	}
}

// report ingests a device's report and answers 202 once it is committed.
func (s *Service) report(w http.ResponseWriter, r *http.Request) {
	k, ok := parseID(r.PathValue("id"))
	if !ok {
		writeError(w, http.StatusNotFound, "no such device")
		return
	}
	e, _, ok := s.authDevice(w, r, k, false, s.opt.Now())
	if !ok {
		return
	}
	cls, sum := e.cls, e.facts
	var rep desired.Report
	if !decode(w, r, s.opt.MaxReportBytes, &rep) {
		return
	}
	if err := checkReport(&rep); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if !s.enter(w) {
		return
	}
	defer s.leave()
	if err := s.ingest(r.Context(), k, cls.dev.Member, sum, s.opt.Now().UTC(), &rep); err != nil {
		s.writeFailed(w, r, "ingest report", err)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// authDevice authenticates a device request for device k: the credential must be k's. With
// allowAdmin the admin token passes too. It returns the device's entry (for the admin token,
// its class and overlay only). The rate limit counts the request at now. On failure it has
// written the answer.
func (s *Service) authDevice(w http.ResponseWriter, r *http.Request, k devKey, allowAdmin bool, now time.Time) (e entry, admin, ok bool) {
	tok := bearer(r)
	ck, hash, parsed := parseCredential(tok)
	if !parsed {
		if allowAdmin && s.admin.match(tok) {
			if e.cls, e.ov = s.ix.lookupOverlay(k); e.cls == nil {
				// Not in memory: read the store, in a slot.
				if !s.enter(w) {
					return entry{}, false, false
				}
				if s.fetch(r.Context(), k) {
					e.cls, e.ov = s.ix.lookupOverlay(k)
				}
				s.leave()
			}
			if e.cls == nil {
				writeError(w, http.StatusNotFound, "no such device")
				return entry{}, false, false
			}
			return e, true, true
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="samverk"`)
		writeError(w, http.StatusUnauthorized, "missing or malformed device credential")
		return entry{}, false, false
	}
	e, wait, res, firstNew := s.ix.auth(ck, &hash, now.UnixNano(), s.limit)
	if res == authUnknown {
		// Perhaps enrolled through another replica sharing the store. The store read takes a
		// slot, so that made-up device ids cannot flood the database.
		if !s.enter(w) {
			return entry{}, false, false
		}
		found := s.fetch(r.Context(), ck)
		s.leave()
		if found {
			e, wait, res, firstNew = s.ix.auth(ck, &hash, s.opt.Now().UnixNano(), s.limit)
		}
	}
	if firstNew {
		s.endGrace(ck, hash)
	}
	switch res {
	case authRevoked:
		w.Header().Set("WWW-Authenticate", `Bearer realm="samverk", error="invalid_token"`)
		writeError(w, http.StatusUnauthorized, "the device credential is revoked; enroll the device again")
		return entry{}, false, false
	case authUnknown, authBadSecret:
		w.Header().Set("WWW-Authenticate", `Bearer realm="samverk", error="invalid_token"`)
		writeError(w, http.StatusUnauthorized, "invalid device credential")
		return entry{}, false, false
	case authLimited:
		s.m.shed.WithLabelValues("rate").Inc()
		w.Header().Set("Retry-After", strconv.FormatInt(int64((wait+time.Second-1)/time.Second), 10))
		writeError(w, http.StatusTooManyRequests, "this device is sending requests too often")
		return entry{}, false, false
	}
	if ck != k {
		writeError(w, http.StatusForbidden, "the credential is another device's")
		return entry{}, false, false
	}
	return e, false, true
}

// fetch reads device k from the store into memory and reports whether it exists.
func (s *Service) fetch(ctx context.Context, k devKey) bool {
	d, err := s.st.Device(ctx, k.String(), time.Time{})
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) && ctx.Err() == nil {
			s.log.Warn("cannot read device", "device", k.String(), "err", err)
		}
		return false
	}
	f, err := store.EncodeFacts(&d.Facts)
	if err != nil {
		return false
	}
	return s.index(&store.Identity{ID: d.ID, Member: d.Member, CredentialHash: d.CredentialHash, Labels: d.Facts.Labels,
		Vendor: d.Facts.Vendor, Model: d.Facts.Model, OSFamily: d.Facts.OSFamily, OSBuild: d.Facts.OSBuild, FactsDigest: f.Digest}) == nil
}

// writeFailed answers a write that did not commit: 503 with Retry-After, since the agent will
// send it again.
func (s *Service) writeFailed(w http.ResponseWriter, r *http.Request, op string, err error) {
	switch {
	case errors.Is(err, store.ErrQueueFull):
		s.busy(w, "the write queue is full")
	case errors.Is(err, store.ErrClosed):
		s.busy(w, "the server is stopping")
	case r.Context().Err() != nil:
		s.busy(w, "the request ended before the write committed")
	default:
		s.log.Error(op+": store write failed", "err", err)
		s.busy(w, "the store is unavailable")
	}
}

// bearer returns the request's bearer token, or "".
func bearer(r *http.Request) string {
	v := ""
	// The server gives header names in canonical form: no need for Get's canonicalisation.
	if a := r.Header["Authorization"]; len(a) > 0 {
		v = a[0]
	}
	if len(v) > 7 && strings.EqualFold(v[:7], "bearer ") {
		return strings.TrimSpace(v[7:])
	}
	return ""
}

// etagMatch reports whether an If-None-Match header names hash (weak comparison; "*" matches).
func etagMatch(values []string, hash string) bool {
	for _, v := range values {
		// Fast path: one strong tag, as the agent sends.
		if len(v) == len(hash)+2 && v[0] == '"' && v[len(v)-1] == '"' && v[1:len(v)-1] == hash {
			return true
		}
		for tag := range strings.SplitSeq(v, ",") {
			tag = strings.TrimSpace(tag)
			if tag == "*" {
				return true
			}
			tag = strings.TrimPrefix(tag, "W/")
			if len(tag) >= 2 && tag[0] == '"' && tag[len(tag)-1] == '"' && tag[1:len(tag)-1] == hash {
				return true
			}
		}
	}
	return false
}

// decode reads a JSON body of at most limit bytes into v. On failure it has answered 400,
// 413 or 415 with the reason.
func decode(w http.ResponseWriter, r *http.Request, limit int64, v any) bool {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			writeError(w, http.StatusUnsupportedMediaType, "the body must be application/json")
			return false
		}
	}
	if r.ContentLength > limit {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the body (%d bytes) exceeds the limit of %d bytes", r.ContentLength, limit))
		return false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err == nil {
		if terr := checkText(body); terr != nil {
			writeError(w, http.StatusBadRequest, terr.Error())
			return false
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		err = dec.Decode(v)
		if err == nil {
			if _, terr := dec.Token(); terr != io.EOF {
				err = errTrailing
				if terr != nil && !isSyntax(terr) {
					err = terr
				}
			}
		}
	}
	if err == nil {
		return true
	}
	var (
		tooBig  *http.MaxBytesError
		syntax  *json.SyntaxError
		badType *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &tooBig):
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the body exceeds the limit of %d bytes", limit))
	case errors.As(err, &syntax):
		writeError(w, http.StatusBadRequest, fmt.Sprintf("invalid JSON at byte %d: %v", syntax.Offset, syntax))
	case errors.As(err, &badType):
		writeError(w, http.StatusBadRequest, fmt.Sprintf("invalid JSON: field %s: want %s, got %s", badType.Field, badType.Type, badType.Value))
	case errors.Is(err, io.EOF):
		writeError(w, http.StatusBadRequest, "the body is empty; want a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		writeError(w, http.StatusBadRequest, "invalid JSON: the body ends early")
	default:
		writeError(w, http.StatusBadRequest, "invalid JSON: "+err.Error())
	}
	return false
}

var errTrailing = errors.New("data after the JSON value")

func isSyntax(err error) bool {
	var se *json.SyntaxError
	return errors.As(err, &se)
}

// Limits on what a device may tell about itself.
const (
	maxField  = 256
	maxLabels = 64
	// maxLabelBytes bounds a device's labels together (keys and values): with MaxClasses it
	// bounds the memory the classes' labels take.
	maxLabelBytes = 4096
	maxProducts   = 10_000
	maxResults    = 100_000
)

func checkFacts(f *desired.Facts) error {
	for _, v := range []struct{ name, val string }{
		{"hostname", f.Hostname}, {"vendor", f.Vendor}, {"model", f.Model}, {"osFamily", f.OSFamily},
		{"osBuild", f.OSBuild}, {"serial", f.Serial},
	} {
		if len(v.val) > maxField {
			return fmt.Errorf("%s is longer than %d bytes", v.name, maxField)
		}
	}
	if len(f.Labels) > maxLabels {
		return fmt.Errorf("%d labels; at most %d", len(f.Labels), maxLabels)
	}
	size := 0
	for k, v := range f.Labels {
		if k == "" || len(k) > maxField || len(v) > maxField {
			return fmt.Errorf("label %.40q: keys must be 1 to %d bytes, values at most %d", k, maxField, maxField)
		}
		size += len(k) + len(v)
	}
	if size > maxLabelBytes {
		return fmt.Errorf("labels take %d bytes; at most %d together", size, maxLabelBytes)
	}
	if len(f.Products) > maxProducts {
		return fmt.Errorf("%d products; at most %d", len(f.Products), maxProducts)
	}
	return nil
}

func checkReport(r *desired.Report) error {
	if len(r.Revision) > maxField || len(r.Hash) > maxField {
		return fmt.Errorf("revision and hash must be at most %d bytes", maxField)
	}
	if len(r.Resources) > maxResults {
		return fmt.Errorf("%d resources; at most %d", len(r.Resources), maxResults)
	}
	for i, res := range r.Resources {
		switch res.Outcome {
		case desired.Unchanged, desired.Corrected, desired.Failed, desired.Skipped, desired.Drifted:
		default:
			return fmt.Errorf("resources[%d].outcome %.40q: want unchanged, corrected, failed, skipped or drifted", i, res.Outcome)
		}
	}
	if err := checkFacts(&r.Facts); err != nil {
		return fmt.Errorf("facts: %w", err)
	}
	return nil
}

func remoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

type errorBody struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, errorBody{Error: msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"error":"encode response"}`)
	}
	h := w.Header()
	h["Content-Type"] = jsonContentType
	h.Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
}
