// Package fleet is the daemon's device side: enrollment, the agent API (desired state by ETag,
// reports), the fleet view and its metrics, over an in-memory index of every device and a store.
package fleet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"samverk.io/samverk/engine/auth"
	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/desired"
	"samverk.io/samverk/engine/rollout"
	"samverk.io/samverk/engine/servedlog"
	"samverk.io/samverk/engine/store"
)

// Options configure a Service. The zero value is a working default, except that without
// EnrollTokens no device can enroll.
type Options struct {
	// EnrollTokens let devices of a member enroll (see LoadEnrollTokens).
	EnrollTokens Tokens
	// ReadTokens are member-scoped tokens for the fleet view: each reads its member's devices
	// and summary only.
	ReadTokens Tokens
	// AdminToken reads any device's desired state (the fleet view takes it through the route
	// table's guard).
	AdminToken string

	// MaxInFlight bounds the agent requests handled at once (default 4096); past it the
	// answer is 503 with Retry-After. A request counts only once it is authenticated and its
	// body read: clients that send slowly, or without a valid credential, hold no slot.
	MaxInFlight int
	// RetryAfter is the base of the Retry-After a 503 carries (default 10s); each answer adds
	// up to as much again at random, so that turned-away agents do not return in step.
	RetryAfter time.Duration
	// DeviceInterval and DeviceBurst limit each device's requests: on average one per
	// DeviceInterval (default 2s), up to DeviceBurst (default 30) at once. Past it the answer
	// is 429 with Retry-After. A negative DeviceInterval turns the limit off.
	DeviceInterval time.Duration
	DeviceBurst    int
	// MaxReportBytes and MaxEnrollBytes bound request bodies (default 4 MiB and 64 KiB);
	// larger ones are refused with 413.
	MaxReportBytes int64
	MaxEnrollBytes int64
	// EnrollPerHour and EnrollBurst limit each enrollment token's enrollments: on average
	// EnrollPerHour an hour (default 2,000), up to EnrollBurst at once (default 500). Past it
	// the answer is 429 with Retry-After. A token's line in the token file may set its own
	// rate (perHour=N).
	EnrollPerHour int
	EnrollBurst   int
	// EnrollQuota is the most devices one enrollment token may enroll in total (default
	// 50,000); past it the answer is 403. A device of the same member enrolling again (the
	// same hardware serial) does not count again. A token's line may set its own (quota=N).
	// Each replica counts the devices in its store at start and those it enrolls.
	EnrollQuota int
	// CredentialGrace is how long a device's previous credential keeps working after a
	// rotation, unless the new one is used first (default 10m).
	CredentialGrace time.Duration
	// MaxClasses bounds the distinct device classes held in memory (default 100,000): the
	// devices that share member, labels, hardware and OS share one class and one compiled
	// state. A class is forgotten when its last device leaves it. An enrollment that would
	// need a new class past the bound is refused with 503; a report whose facts would move
	// its device to a new one is stored, and the device keeps its old state until there is
	// room. Devices already in the store are always loaded.
	MaxClasses int
	// StaleAfter is how long a device may go without reporting before it counts as stale
	// (default 24h).
	StaleAfter time.Duration
	// MetricsInterval is how often the device gauges are recounted from the store
	// (default 30s).
	MetricsInterval time.Duration
	// Batcher tunes the group commit of reports and enrollments.
	Batcher store.BatcherOptions
	// Served tunes the served log: what each device was last sent with a body is kept in
	// memory and written every Served.Interval (default 1s), never on the request path.
	Served servedlog.Options
	// Notices, when set, names the newest notice for a device in the header of every answer
	// to its desired-state poll (304 and 503 too), so that an agent that does not stream
	// learns of notices at its next poll.
	Notices Notices

	// Registerer receives the fleet metrics (default: a private registry, i.e. none exported).
	Registerer prometheus.Registerer
	// Logger receives enrollment and publish events (default: discard). Credentials and
	// tokens are never logged.
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = 4096
	}
	if o.RetryAfter <= 0 {
		o.RetryAfter = 10 * time.Second
	}
	if o.DeviceInterval == 0 {
		o.DeviceInterval = 2 * time.Second
	}
	if o.DeviceBurst <= 0 {
		o.DeviceBurst = 30
	}
	if o.MaxReportBytes <= 0 {
		o.MaxReportBytes = 4 << 20
	}
	if o.MaxEnrollBytes <= 0 {
		o.MaxEnrollBytes = 64 << 10
	}
	if o.EnrollPerHour <= 0 {
		o.EnrollPerHour = 2000
	}
	if o.EnrollBurst <= 0 {
		o.EnrollBurst = 500
	}
	if o.EnrollQuota <= 0 {
		o.EnrollQuota = 50_000
	}
	if o.CredentialGrace <= 0 {
		o.CredentialGrace = 10 * time.Minute
	}
	if o.MaxClasses <= 0 {
		o.MaxClasses = 100_000
	}
	if o.StaleAfter <= 0 {
		o.StaleAfter = 24 * time.Hour
	}
	if o.MetricsInterval <= 0 {
		o.MetricsInterval = 30 * time.Second
	}
	if o.Registerer == nil {
		o.Registerer = prometheus.NewRegistry()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Service serves the device API over a store. Create it with New, mount it with Register,
// feed it revisions with Publish, and keep Run running.
type Service struct {
	opt Options
	log *slog.Logger
	st  store.Store
	b   *store.Batcher
	// served holds the served-state records not yet written; Run writes them.
	served *servedlog.Log
	ix     *index
	m      *metrics
	admin  secret
	limit  limit
	gate   enrollGate
	// credMu serialises rotations and revocations.
	credMu sync.Mutex
	// credSync is when syncCredentials last read the store; Run's alone.
	credSync time.Time

	inflight atomic.Int64
	// refresh asks Run to recount the device gauges now.
	refresh chan struct{}
	// ready is closed by the first Publish.
	ready     chan struct{}
	readyOnce sync.Once
}

// New loads every device of st into memory and returns the Service. The store stays the
// caller's to close, after Run has returned.
func New(ctx context.Context, st store.Store, opt Options) (*Service, error) {
	opt = opt.withDefaults()
	m, err := newMetrics(opt.Registerer)
	if err != nil {
		return nil, fmt.Errorf("fleet metrics: %w", err)
	}
	s := &Service{
		opt: opt, log: opt.Logger, st: st, b: store.NewBatcher(st, opt.Batcher), ix: newIndex(opt.MaxClasses), m: m,
		served: servedlog.New(st, servedOptions(opt)),
		admin:  newSecret(opt.AdminToken), refresh: make(chan struct{}, 1), ready: make(chan struct{}),
	}
	if err := opt.Registerer.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "samverk", Subsystem: "fleet", Name: "device_classes",
		Help: "Distinct device classes (member, labels, hardware, OS) held in memory; at most MaxClasses.",
	}, func() float64 { return float64(s.ix.classCount()) })); err != nil {
		return nil, fmt.Errorf("fleet metrics: %w", err)
	}
	for _, c := range []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "samverk", Subsystem: "fleet", Name: "served_pending",
			Help: "Devices whose last served state is held in memory, not yet written to the store."},
			func() float64 { return float64(s.served.Pending()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "samverk", Subsystem: "fleet", Name: "served_written_total",
			Help: "Served-state records the served log wrote to the store."},
			func() float64 { return float64(s.served.Written()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "samverk", Subsystem: "fleet", Name: "served_dropped_total",
			Help: "Served-state records the store refused (logged), each alone."},
			func() float64 { return float64(s.served.Dropped()) }),
	} {
		if err := opt.Registerer.Register(c); err != nil {
			return nil, fmt.Errorf("fleet metrics: %w", err)
		}
	}
	if opt.DeviceInterval > 0 {
		s.limit = limit{interval: int64(opt.DeviceInterval), burst: int64(opt.DeviceBurst)}
	}
	start := time.Now()
	if err := s.load(ctx); err != nil {
		return nil, err
	}
	s.log.Info("device index loaded", "devices", s.ix.len(), "classes", len(s.ix.classes), "duration", time.Since(start).Round(time.Millisecond).String())
	return s, nil
}

// load reads every device from the store into the index.
func (s *Service) load(ctx context.Context) error {
	if err := s.st.Identities(ctx, s.index); err != nil {
		return fmt.Errorf("load devices: %w", err)
	}
	return nil
}

// index adds a device read from the store to the index.
func (s *Service) index(id *store.Identity) error {
	k, ok := parseID(id.ID)
	if !ok || len(id.CredentialHash) != len(entry{}.cred) {
		return fmt.Errorf("device %q: malformed id or credential hash", id.ID)
	}
	f := id.Facts()
	s.ix.put(k, [32]byte(id.CredentialHash), id.Member, &f, id.FactsDigest, true)
	s.applyCredential(k, id)
	if id.EnrollToken != "" {
		s.gate.count(id.EnrollToken)
	}
	return nil
}

// Run writes enrollments and reports in batches, keeps the device gauges current and picks up
// the credential changes of other replicas (every MetricsInterval), until
// ctx ends; then it writes what is still queued and returns.
func (s *Service) Run(ctx context.Context) error {
	done := make(chan error, 1)
	go func() { done <- s.b.Run(ctx) }()
	servedDone := make(chan error, 1)
	go func() { servedDone <- s.served.Run(ctx) }()
	s.recount(ctx)
	s.syncCredentials(ctx)
	t := time.NewTicker(s.opt.MetricsInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return errors.Join(<-done, <-servedDone)
		case <-t.C:
			s.recount(ctx)
			s.syncCredentials(ctx)
		case <-s.refresh:
			s.recount(ctx)
		}
	}
}

// recount refreshes the device gauges from the store.
func (s *Service) recount(ctx context.Context) {
	counts, err := s.st.Summary(ctx, s.staleBefore())
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("cannot count devices for metrics", "err", err)
		}
		return
	}
	s.m.devices.set(counts, s.ix.memberSet())
}

func (s *Service) staleBefore() time.Time { return s.opt.Now().Add(-s.opt.StaleAfter) }

// Publish makes revision of cat the one served: every device class is compiled first (a
// Compiler carried over from the last revision recompiles only what changed) and then all are
// swapped in. It can be a reconcile publish hook.
func (s *Service) Publish(ctx context.Context, revision string, cat *catalog.Catalog) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("publish to devices: %w", err)
	}
	if cat == nil {
		return errors.New("publish to devices: no catalog")
	}
	start := time.Now()
	windows, werrs := rollout.WindowsOf(cat)
	for _, err := range werrs {
		s.log.Warn("maintenance windows cannot be read; the group's devices take new states at any time", "revision", revision, "err", err)
	}
	comp, classes, states := s.ix.publish(cat, revision, windows)
	if err := comp.Err(); err != nil {
		s.log.Warn("catalog has problems compilation works around", "revision", revision, "err", err)
	}
	st := comp.Stats()
	s.log.Info("desired states published", "revision", revision, "classes", classes, "states", states,
		"compiled", st.Compiled, "reused", st.Reused, "duration", time.Since(start).Round(time.Microsecond).String())
	for _, m := range s.opt.EnrollTokens.Members() {
		if _, known := s.ix.published(m); !known {
			s.log.Warn("an enrollment token names a member the catalog does not have; its devices cannot enroll", "member", m)
		}
	}
	s.readyOnce.Do(func() { close(s.ready) })
	select {
	case s.refresh <- struct{}{}:
	default:
	}
	return nil
}

// ServeRings sets which revision each ring in rings is served (the other rings keep theirs;
// a ring never set gets the newest revision published). Every revision named must have been
// published; the revisions no ring names any more are forgotten. A device's ETag changes only
// if its ring's revision changes its state.
func (s *Service) ServeRings(ctx context.Context, rings map[string]RingRevision) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("serve rings: %w", err)
	}
	if err := s.ix.serveRings(rings); err != nil {
		return fmt.Errorf("serve rings: %w", err)
	}
	s.log.Info("ring revisions served", "rings", fmt.Sprint(rings))
	return nil
}

// Suspend sets the suspended members ("member") and device groups ("member/group"), replacing
// the set before: a device of one keeps the state it has (its If-None-Match is answered 304,
// whatever it names) until the suspension is lifted; one that has no state yet is served its
// ring's previous state when there is one.
func (s *Service) Suspend(scopes []string) {
	set := make(map[string]bool, len(scopes))
	for _, sc := range scopes {
		set[sc] = true
	}
	if s.ix.suspend(set) {
		s.log.Info("suspended members and groups", "scopes", fmt.Sprint(scopes))
	}
}

// Unchanged counts the devices of ring whose state the ring's revision does not change from
// its previous one: they poll 304 and keep reporting the previous revision, yet run what the
// new one would give them. The rollout counts them as having applied it.
func (s *Service) Unchanged(ring string) int { return s.ix.unchangedIn(ring) }

// Routes are the device API's rows of the route table. The agent endpoints are public there:
// they authenticate devices by their own credentials (enrollment tokens, device credentials),
// and take a load-shedding slot only once the device is known and its body read.
// The fleet view needs a viewer; one device's pages need a viewer of that device's member.
func (s *Service) Routes() []auth.Route {
	return []auth.Route{
		{Method: "POST", Pattern: "/api/v1/enroll", Handler: http.HandlerFunc(s.enroll)},
		{Method: "GET", Pattern: "/api/v1/devices/{id}/desired", Handler: http.HandlerFunc(s.desired)},
		{Method: "POST", Pattern: "/api/v1/devices/{id}/reports", Handler: http.HandlerFunc(s.report)},
		{Method: "POST", Pattern: "/api/v1/devices/{id}/credential", Handler: http.HandlerFunc(s.rotate)},
		{Method: "POST", Pattern: "/api/v1/devices/{id}/revoke", Need: auth.Admin, Member: s.DeviceMember, Audit: true, Handler: http.HandlerFunc(s.revoke)},
		{Method: "GET", Pattern: "/api/v1/devices", Need: auth.Viewer, Handler: http.HandlerFunc(s.list)},
		{Method: "GET", Pattern: "/api/v1/devices/{id}", Need: auth.Viewer, Member: s.DeviceMember, Handler: http.HandlerFunc(s.device)},
		{Method: "GET", Pattern: "/api/v1/devices/{id}/reports", Need: auth.Viewer, Member: s.DeviceMember, Handler: http.HandlerFunc(s.history)},
		{Method: "GET", Pattern: "/api/v1/fleet/summary", Need: auth.Viewer, Handler: http.HandlerFunc(s.summary)},
	}
}

// DeviceMember is the Member resolver of routes with a device id in the path ({id}): the
// member the device belongs to, from memory or else the store.
func (s *Service) DeviceMember(r *http.Request) (string, error) {
	k, ok := parseID(r.PathValue("id"))
	if !ok {
		return "", auth.ErrNotFound
	}
	c := s.ix.lookup(k)
	if c == nil && s.fetch(r.Context(), k) {
		c = s.ix.lookup(k)
	}
	if c == nil {
		return "", auth.ErrNotFound
	}
	return c.dev.Member, nil
}

// ReadTokens are the member read tokens (Options.ReadTokens) as an authenticator: each
// token is a viewer of its member.
func (s *Service) ReadTokens() auth.TokenAuthenticator {
	return auth.MemberTokens(s.opt.ReadTokens.Match)
}

// Members lists the members of the catalog served, sorted.
func (s *Service) Members() []string {
	ms := slices.Collect(maps.Keys(s.ix.memberSet()))
	slices.Sort(ms)
	return ms
}

// Ready is closed once a revision has been published.
func (s *Service) Ready() <-chan struct{} { return s.ready }

// Classes is the number of distinct device classes in memory.
func (s *Service) Classes() int { return s.ix.classCount() }

// Devices is the number of devices in memory.
func (s *Service) Devices() int { return s.ix.len() }

// ingest is what the API ingests a parsed report as.
func (s *Service) ingest(ctx context.Context, k devKey, member string, known uint64, at time.Time, r *desired.Report) error {
	rep, err := store.NewReport(k.String(), at, r)
	if err != nil {
		return err
	}
	if rep.Facts != nil && rep.Facts.Digest == known {
		rep.Facts = nil // unchanged: leave the row's facts be
	}
	// The state the report applied reaches the store no later than the report: queued
	// first, it is written in the same transaction or an earlier one.
	sv, pending := s.served.Take(servedlog.Key(k))
	if !pending {
		sv, pending = s.confirmServed(k, at, r.Hash)
	}
	if pending && !s.b.Served(sv) {
		s.served.Put(servedlog.Key(k), sv) // the queue is full: the next flush writes it
	}
	if err := s.b.Report(ctx, rep); err != nil {
		return err
	}
	s.m.reports.Inc()
	if rep.Facts != nil && !s.ix.refacts(k, member, &r.Facts, rep.Facts.Digest) {
		// Stored, but served by its old facts until a class is free; its next report tries again.
		s.m.classFull.Inc()
	}
	return nil
}

// confirmServed returns a served-state record for device k when the state it reports having
// applied (hash) is one it is being served now: the record of the 200 that sent it may have
// been lost with a crash before the served log wrote it, and without it the store would
// judge the device stale until its state next changes. At is the report's time.
func (s *Service) confirmServed(k devKey, at time.Time, hash string) (store.Served, bool) {
	cls := s.ix.lookup(k)
	if cls == nil || hash == "" {
		return store.Served{}, false
	}
	for v := cls.cur.Load(); v != nil; v = v.prev {
		if v.hash == hash {
			w := v.rec
			return store.Served{DeviceID: k.String(), At: at, Profile: w.Profile, Hash: w.Hash, Revision: w.Revision,
				Group: w.Group, Ring: w.Ring, OSTarget: w.OSTarget}, true
		}
	}
	return store.Served{}, false
}

func servedOptions(opt Options) servedlog.Options {
	o := opt.Served
	if o.Logger == nil {
		o.Logger = opt.Logger
	}
	return o
}
