package notice

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"samverk.io/samverk/engine/auth"
	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/desired"
	"samverk.io/samverk/engine/fleet"
	"samverk.io/samverk/engine/httpjson"
	"samverk.io/samverk/engine/store"
)

// Devices is what the API needs of the fleet service: the agents' own authentication, where
// a device stands, and the load-shedding slots of agent work.
type Devices interface {
	Fleet
	// AuthenticateDevice checks the request's device credential against the {id} of its
	// path; on failure it has answered.
	AuthenticateDevice(w http.ResponseWriter, r *http.Request) (id string, p fleet.Placement, ok bool)
	// TryEnter takes a slot of agent work, or reports false while the daemon sheds load.
	TryEnter() bool
	Leave()
}

var _ Devices = (*fleet.Service)(nil)

// Options configure the API. Board, Store, Devices and Catalog are required.
type Options struct {
	Board   *Board
	Store   Store
	Devices Devices
	// Catalog is the catalog revision served, or nil before the first publish.
	Catalog func() (revision string, cat *catalog.Catalog)
	// KeepAlive is how often an idle stream is sent a comment line (default 30s), so that
	// proxies keep it open and a dead peer is found.
	KeepAlive time.Duration
	// Registerer receives the notices metrics (default: a private registry, i.e. none
	// exported).
	Registerer prometheus.Registerer
	// Logger receives failures (default: discard).
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// OnSent observers are told, in order, of every notice once it is stored. They must
	// return promptly (queue, never wait on the network).
	OnSent []func(ctx context.Context, n *store.Notice)
}

// API serves the notice routes.
type API struct {
	opt Options
	log *slog.Logger
	m   *metrics
}

// New returns the API.
func New(opt Options) (*API, error) {
	if opt.Board == nil || opt.Store == nil || opt.Devices == nil || opt.Catalog == nil {
		return nil, errors.New("notice: board, store, devices and catalog are required")
	}
	if opt.KeepAlive <= 0 {
		opt.KeepAlive = 30 * time.Second
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Registerer == nil {
		opt.Registerer = prometheus.NewRegistry()
	}
	m, err := newMetrics(opt.Registerer, opt.Board)
	if err != nil {
		return nil, fmt.Errorf("notices metrics: %w", err)
	}
	return &API{opt: opt, log: opt.Logger, m: m}, nil
}

// Limits on request bodies.
const (
	maxNoticeBody = 256 << 10
	maxAnswerBody = 1 << 10
)

// Routes are the notice routes. People: operators send and withdraw (within their member's
// scope, checked by the handler against the target), viewers read the notices and answers of
// their members. Agents: public routes that authenticate the device's own credential.
func (a *API) Routes() []auth.Route {
	return []auth.Route{
		{Method: http.MethodPost, Pattern: "/api/v1/notices", Need: auth.Operator, Audit: true, Handler: http.HandlerFunc(a.create)},
		{Method: http.MethodGet, Pattern: "/api/v1/notices", Need: auth.Viewer, Handler: http.HandlerFunc(a.list)},
		{Method: http.MethodGet, Pattern: "/notices", Need: auth.Viewer, Handler: http.HandlerFunc(a.page)},
		{Method: http.MethodPost, Pattern: "/api/v1/notices/{seq}/withdraw", Need: auth.Operator, Member: a.Sender, Audit: true,
			Handler: http.HandlerFunc(a.withdraw)},
		{Method: http.MethodGet, Pattern: "/api/v1/devices/{id}/notices", Handler: http.HandlerFunc(a.deviceNotices)},
		{Method: http.MethodGet, Pattern: "/api/v1/devices/{id}/notices/stream", Handler: http.HandlerFunc(a.stream)},
		{Method: http.MethodPost, Pattern: "/api/v1/devices/{id}/notices/{seq}/answer", Handler: http.HandlerFunc(a.answer)},
	}
}

// Sender is the Member resolver of routes with a notice in the path: the member it was sent
// for ("*" for the consortium).
func (a *API) Sender(r *http.Request) (string, error) {
	seq, err := strconv.ParseInt(r.PathValue("seq"), 10, 64)
	if err != nil || seq <= 0 {
		return "", auth.ErrNotFound
	}
	n, err := a.opt.Store.Notice(r.Context(), seq)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return "", auth.ErrNotFound
		}
		return "", err
	}
	return n.Sender, nil
}

// Send checks, resolves and stores a notice sent by who, and puts it in force at once.
func (a *API) Send(ctx context.Context, q *Request, who *auth.Principal) (*store.Notice, error) {
	now := a.opt.Now().UTC()
	if err := q.Check(now); err != nil {
		return nil, err
	}
	_, cat := a.opt.Catalog()
	if cat == nil {
		return nil, errNotPublished
	}
	if err := Resolve(q, who, cat, a.opt.Devices); err != nil {
		return nil, err
	}
	target, err := json.Marshal(q.Target)
	if err != nil {
		return nil, err
	}
	n := &store.Notice{CreatedAt: now, CreatedBy: who.Subject, Sender: q.Member, Severity: q.Severity, Title: q.Title, Body: q.Body,
		From: q.From.UTC(), To: q.To.UTC(), Target: target, Members: q.Target.Resolved.Reach}
	if q.Member != auth.Consortium && !slices.Contains(n.Members, q.Member) {
		n.Members = append(slices.Clone(n.Members), q.Member)
		slices.Sort(n.Members)
	}
	if q.Survey != nil {
		if n.Survey, err = json.Marshal(q.Survey); err != nil {
			return nil, err
		}
	}
	if err := a.opt.Store.CreateNotice(ctx, n); err != nil {
		return nil, err
	}
	a.m.sent.WithLabelValues(n.Severity).Inc()
	for _, fn := range a.opt.OnSent {
		if fn != nil {
			fn(ctx, n)
		}
	}
	if err := a.opt.Board.Reload(ctx); err != nil {
		a.log.Warn("notice stored; it goes out at the next reload", "notice", n.Seq, "err", err)
	}
	return n, nil
}

var errNotPublished = errors.New("no catalog revision is published yet")

func (a *API) create(w http.ResponseWriter, r *http.Request) {
	var q Request
	if !decode(w, r, maxNoticeBody, &q) {
		return
	}
	who := auth.FromContext(r.Context())
	n, err := a.Send(r.Context(), &q, who)
	// The member it was sent for is known once the target resolved (or named in the body).
	auth.ActedOn(r.Context(), q.Member)
	if err != nil {
		a.refuse(w, r, err)
		return
	}
	auth.Note(r.Context(), "notice", strconv.FormatInt(n.Seq, 10))
	auth.Note(r.Context(), "severity", n.Severity)
	w.Header().Set("Location", "/api/v1/notices/"+strconv.FormatInt(n.Seq, 10))
	writeJSON(w, http.StatusCreated, view(n, nil))
}

func (a *API) refuse(w http.ResponseWriter, r *http.Request, err error) {
	var (
		inv  *InvalidError
		forb *ForbiddenError
	)
	switch {
	case errors.As(err, &inv):
		writeError(w, http.StatusBadRequest, err.Error())
	case errors.As(err, &forb):
		writeError(w, http.StatusForbidden, err.Error())
	case errors.Is(err, errNotPublished):
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, err.Error())
	default:
		if r.Context().Err() == nil {
			a.log.Error("notices: store", "path", r.URL.Path, "err", err)
		}
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, "notices cannot be read or written now")
	}
}

// View is a notice as the API shows it to people, with the survey's answers counted for
// the members the reader sees.
type View struct {
	Seq         int64      `json:"seq"`
	CreatedAt   time.Time  `json:"createdAt"`
	CreatedBy   string     `json:"createdBy"`
	Sender      string     `json:"sender"`
	Severity    string     `json:"severity"`
	Title       string     `json:"title"`
	Body        string     `json:"body"`
	From        time.Time  `json:"from"`
	To          time.Time  `json:"to"`
	Target      Target     `json:"target"`
	Members     []string   `json:"members"`
	Survey      *Survey    `json:"survey,omitempty"`
	WithdrawnAt *time.Time `json:"withdrawnAt,omitempty"`
	WithdrawnBy string     `json:"withdrawnBy,omitempty"`
	// Answers counts the survey's answers by member and answer (index into Survey.Answers);
	// AnswersByDay by member, answer and day (UTC), to follow them over time.
	Answers      []store.AnswerCount `json:"answers,omitempty"`
	AnswersByDay []store.AnswerCount `json:"answersByDay,omitempty"`
}

func view(n *store.Notice, byDay []store.AnswerCount) View {
	v := View{Seq: n.Seq, CreatedAt: n.CreatedAt, CreatedBy: n.CreatedBy, Sender: n.Sender, Severity: n.Severity, Title: n.Title,
		Body: n.Body, From: n.From, To: n.To, Members: n.Members, WithdrawnAt: n.WithdrawnAt, WithdrawnBy: n.WithdrawnBy, AnswersByDay: byDay}
	// byDay is ordered by member, answer, day: the totals are its runs.
	for _, c := range byDay {
		if k := len(v.Answers) - 1; k >= 0 && v.Answers[k].Member == c.Member && v.Answers[k].Answer == c.Answer {
			v.Answers[k].Devices += c.Devices
			continue
		}
		v.Answers = append(v.Answers, store.AnswerCount{Member: c.Member, Answer: c.Answer, Devices: c.Devices})
	}
	json.Unmarshal(n.Target, &v.Target)
	if len(n.Survey) > 0 {
		v.Survey = &Survey{}
		json.Unmarshal(n.Survey, v.Survey)
	}
	return v
}

// Visible reports whether who may read notice n: a consortium reader reads all; a member's
// reader those sent for its member or reaching it. Another member's devices named in the
// target are left out of what it reads.
func Visible(who *auth.Principal, n *store.Notice) bool {
	if who.Sees(auth.Consortium) || who.Sees(n.Sender) && n.Sender != auth.Consortium {
		return true
	}
	for _, m := range n.Members {
		if who.Sees(m) {
			return true
		}
	}
	return false
}

// List returns the notices who may read whose window ended at or after since, newest
// first, with their answers counted for the members who sees.
func (a *API) List(ctx context.Context, who *auth.Principal, since time.Time) ([]View, error) {
	ns, err := a.opt.Store.ListNotices(ctx, since, store.MaxLimit)
	if err != nil {
		return nil, err
	}
	out := []View{}
	for i := range ns {
		n := &ns[i]
		if !Visible(who, n) {
			continue
		}
		var counts []store.AnswerCount
		if len(n.Survey) > 0 {
			all, err := a.opt.Store.AnswerCounts(ctx, n.Seq)
			if err != nil {
				return nil, err
			}
			for _, c := range all {
				if who.Sees(c.Member) {
					counts = append(counts, c)
				}
			}
		}
		v := view(n, counts)
		if !who.Sees(auth.Consortium) {
			// Members are told which members a notice reaches, never other members' devices.
			v.Target.Devices = slices.DeleteFunc(slices.Clone(v.Target.Devices), func(id string) bool {
				p, ok := a.opt.Devices.PlacementOf(id)
				return !ok || !who.Sees(p.Member)
			})
		}
		out = append(out, v)
	}
	return out, nil
}

func (a *API) list(w http.ResponseWriter, r *http.Request) {
	since := a.opt.Now().Add(-30 * 24 * time.Hour)
	if s := r.URL.Query().Get("since"); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			writeError(w, http.StatusBadRequest, "since: want an RFC 3339 time")
			return
		}
		since = t
	}
	vs, err := a.List(r.Context(), auth.FromContext(r.Context()), since)
	if err != nil {
		a.refuse(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"notices": vs})
}

func (a *API) withdraw(w http.ResponseWriter, r *http.Request) {
	seq, _ := strconv.ParseInt(r.PathValue("seq"), 10, 64)
	who := auth.FromContext(r.Context())
	auth.Note(r.Context(), "notice", strconv.FormatInt(seq, 10))
	if err := a.opt.Store.WithdrawNotice(r.Context(), seq, a.opt.Now().UTC(), who.Subject); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			writeError(w, http.StatusNotFound, "no such notice")
			return
		}
		a.refuse(w, r, err)
		return
	}
	if err := a.opt.Board.Reload(r.Context()); err != nil {
		a.log.Warn("notice withdrawn; devices learn of it at the next reload", "notice", seq, "err", err)
	}
	n, err := a.opt.Store.Notice(r.Context(), seq)
	if err != nil {
		a.refuse(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, view(n, nil))
}

// DeviceNotices is the answer of GET /api/v1/devices/{id}/notices.
type DeviceNotices = desired.NoticeList

// deviceNotices serves a device the notices for it newer than ?after=. While the daemon
// sheds load it still serves crisis notices: they come from memory and are never shed.
func (a *API) deviceNotices(w http.ResponseWriter, r *http.Request) {
	id, p, ok := a.opt.Devices.AuthenticateDevice(w, r)
	if !ok {
		return
	}
	after, ok := afterParam(w, r)
	if !ok {
		return
	}
	out := DeviceNotices{}
	if a.opt.Devices.TryEnter() {
		defer a.opt.Devices.Leave()
		out.Notices, _ = a.opt.Board.For(id, p.Member, p.Group, after, false)
	} else {
		out.Notices, _ = a.opt.Board.For(id, p.Member, p.Group, after, true)
		out.Partial = true
		w.Header().Set("Retry-After", "10")
	}
	if out.Notices == nil {
		out.Notices = []Delivered{}
	}
	via := "fetch"
	if out.Partial {
		via = "partial"
	}
	a.m.delivered.WithLabelValues(via).Add(float64(len(out.Notices)))
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, out)
}

func afterParam(w http.ResponseWriter, r *http.Request) (int64, bool) {
	s := r.URL.Query().Get("after")
	if s == "" {
		s = r.Header.Get("Last-Event-ID")
	}
	if s == "" {
		return 0, true
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		writeError(w, http.StatusBadRequest, "after: want a notice sequence number")
		return 0, false
	}
	return n, true
}

// stream serves a device its notices as server-sent events as they come, until the client
// goes. Each event is "event: notice", its id the notice's sequence number, its data the
// notice's JSON. A stream holds no load-shedding slot: while idle it costs a goroutine and a
// connection.
func (a *API) stream(w http.ResponseWriter, r *http.Request) {
	id, p, ok := a.opt.Devices.AuthenticateDevice(w, r)
	if !ok {
		return
	}
	after, ok := afterParam(w, r)
	if !ok {
		return
	}
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if _, err := io.WriteString(w, ": samverk notices\n\n"); err != nil || rc.Flush() != nil {
		return
	}
	a.m.streams.Inc()
	defer a.m.streams.Dec()
	keep := time.NewTicker(a.opt.KeepAlive)
	defer keep.Stop()
	var start *time.Timer
	defer func() {
		if start != nil {
			start.Stop()
		}
	}()
	var buf bytes.Buffer
	for {
		// A publish may have moved the device to another group since the stream opened.
		if np, ok := a.opt.Devices.PlacementOf(id); ok {
			p = np
		}
		ns, changed := a.opt.Board.For(id, p.Member, p.Group, after, false)
		if len(ns) > 0 {
			buf.Reset()
			for _, n := range ns {
				b, _ := json.Marshal(n)
				fmt.Fprintf(&buf, "event: notice\nid: %d\ndata: %s\n\n", n.Seq, b)
				after = n.Seq
			}
			if _, err := w.Write(buf.Bytes()); err != nil || rc.Flush() != nil {
				return
			}
			a.m.delivered.WithLabelValues("stream").Add(float64(len(ns)))
		}
		var begins <-chan time.Time
		if next := a.opt.Board.nextStart(); !next.IsZero() {
			if start != nil {
				start.Stop()
			}
			start = time.NewTimer(max(next.Sub(a.opt.Now()), 0))
			begins = start.C
		}
		select {
		case <-r.Context().Done():
			return
		case <-changed:
		case <-begins:
		case <-keep.C:
			if _, err := io.WriteString(w, ": keep-alive\n\n"); err != nil || rc.Flush() != nil {
				return
			}
		}
	}
}

// AnswerRequest is a device's answer to a survey: the index of the answer chosen.
type AnswerRequest = desired.SurveyResponse

// answer records a device's answer to the survey of a notice that reaches it.
func (a *API) answer(w http.ResponseWriter, r *http.Request) {
	id, p, ok := a.opt.Devices.AuthenticateDevice(w, r)
	if !ok {
		return
	}
	seq, err := strconv.ParseInt(r.PathValue("seq"), 10, 64)
	if err != nil || seq <= 0 {
		writeError(w, http.StatusNotFound, "no such notice")
		return
	}
	var q AnswerRequest
	if !decode(w, r, maxAnswerBody, &q) {
		return
	}
	var n *Delivered
	ns, _ := a.opt.Board.For(id, p.Member, p.Group, seq-1, false)
	for i := range ns {
		if ns[i].Seq == seq {
			n = &ns[i]
		}
	}
	switch {
	case n == nil:
		writeError(w, http.StatusNotFound, "no notice "+strconv.FormatInt(seq, 10)+" in force for this device")
		return
	case n.Survey == nil:
		writeError(w, http.StatusBadRequest, "notice "+strconv.FormatInt(seq, 10)+" has no survey")
		return
	case q.Answer < 0 || q.Answer >= len(n.Survey.Answers):
		writeError(w, http.StatusBadRequest, fmt.Sprintf("answer %d: want 0 to %d", q.Answer, len(n.Survey.Answers)-1))
		return
	}
	if !a.opt.Devices.TryEnter() {
		w.Header().Set("Retry-After", "10")
		writeError(w, http.StatusServiceUnavailable, "the server is busy")
		return
	}
	defer a.opt.Devices.Leave()
	if err := a.opt.Store.AnswerNotice(r.Context(), &store.NoticeAnswer{Notice: seq, Device: id, Member: p.Member, Answer: q.Answer,
		At: a.opt.Now().UTC()}); err != nil {
		a.refuse(w, r, err)
		return
	}
	a.m.answers.Inc()
	w.WriteHeader(http.StatusNoContent)
}

// decode reads a JSON body of at most limit bytes into v, refusing unknown fields. On failure
// it has answered 400, 413 or 415 with the reason.
func decode(w http.ResponseWriter, r *http.Request, limit int64, v any) bool {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			writeError(w, http.StatusUnsupportedMediaType, "the body must be application/json")
			return false
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the body exceeds the limit of %d bytes", limit))
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "invalid JSON: "+err.Error())
		return false
	}
	if dec.More() {
		writeError(w, http.StatusBadRequest, "invalid JSON: data after the value")
		return false
	}
	return true
}

var writeJSON, writeError = httpjson.Write, httpjson.Error
