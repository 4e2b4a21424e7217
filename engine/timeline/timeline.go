// Package timeline keeps samverk's record of revisions over time: what became of each
// revision the daemon decided on (published, refused, restored after a restart), which waivers
// each published revision put in force, and how long the past is kept (retention). Device
// periods are written by the store itself as reports and served states arrive; this package
// records what the reconciler decides and prunes what retention no longer allows.
package timeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/reconcile"
	"samverk.io/samverk/engine/store"
)

// Options configure a Recorder. Store is required.
type Options struct {
	Store store.Timelines
	// Retention says how long the past is kept (zero fields: store.DefaultRetention's).
	Retention store.Retention
	// PruneEvery is how often retention is applied (default 1 hour).
	PruneEvery time.Duration
	// RetryEvery is how often events that could not be written are tried again (default 30 s).
	RetryEvery time.Duration
	// MaxPending bounds the events kept for a retry while the store is unreachable (default
	// 1,000); past it the oldest are dropped, and said so in the log.
	MaxPending int
	Logger     *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Recorder writes the revision timeline and applies retention.
type Recorder struct {
	opt Options
	log *slog.Logger

	mu      sync.Mutex
	pending []pending
}

// pending is a revision's record that the store has not taken yet.
type pending struct {
	ev      store.RevisionEvent
	waivers []store.WaiverPeriod // nil: not a publication
}

// New returns a Recorder.
func New(opt Options) (*Recorder, error) {
	if opt.Store == nil {
		return nil, errors.New("timeline: no store")
	}
	d := store.DefaultRetention
	if opt.Retention.Intervals <= 0 {
		opt.Retention.Intervals = d.Intervals
	}
	if opt.Retention.Reports <= 0 {
		opt.Retention.Reports = d.Reports
	}
	if opt.PruneEvery <= 0 {
		opt.PruneEvery = time.Hour
	}
	if opt.RetryEvery <= 0 {
		opt.RetryEvery = 30 * time.Second
	}
	if opt.MaxPending <= 0 {
		opt.MaxPending = 1000
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	return &Recorder{opt: opt, log: opt.Logger}, nil
}

// Outcome records what became of a revision; it is the reconciler's OnOutcome. A record the
// store refuses is kept and tried again (in order) by Run, so a passing database outage
// leaves no hole in the timeline.
func (r *Recorder) Outcome(ctx context.Context, a reconcile.Attempt, p *reconcile.Published) {
	at := r.opt.Now().UTC()
	ev := store.RevisionEvent{At: at, Ring: store.AllRings, Revision: a.Revision}
	var ws []store.WaiverPeriod
	switch {
	case a.Outcome == reconcile.OutcomeRefused:
		ev.Event, ev.Reason, ev.Message = store.RevisionRefused, a.Reason, a.Message
	case p != nil:
		ev.At = p.Time.UTC()
		ev.Event = store.RevisionPublished
		if a.Trigger == reconcile.TriggerRestore {
			ev.Event = store.RevisionRestored
		}
		ws = Waivers(p.Catalog, p.Revision)
	default:
		return
	}
	r.mu.Lock()
	r.pending = append(r.pending, pending{ev: ev, waivers: ws})
	if n := len(r.pending) - r.opt.MaxPending; n > 0 {
		r.log.Error("the revision timeline lost events the store would not take", "lost", n)
		r.pending = append(r.pending[:0], r.pending[n:]...)
	}
	r.mu.Unlock()
	r.flush(ctx)
}

// flush writes the pending records in order, stopping at the first the store refuses.
func (r *Recorder) flush(ctx context.Context) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for len(r.pending) > 0 {
		p := r.pending[0]
		if err := r.write(ctx, p); err != nil {
			r.log.Error("cannot record a revision in the timeline; will retry", "revision", p.ev.Revision,
				"event", p.ev.Event, "pending", len(r.pending), "error", err.Error())
			return
		}
		r.pending = r.pending[1:]
	}
}

func (r *Recorder) write(ctx context.Context, p pending) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if p.waivers != nil {
		if err := r.opt.Store.RecordWaivers(ctx, p.ev.At, p.ev.Revision, p.waivers); err != nil {
			return err
		}
	}
	return r.opt.Store.RecordRevision(ctx, p.ev)
}

// Pending is the number of records waiting for the store.
func (r *Recorder) Pending() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pending)
}

// Run retries pending records and applies retention until ctx ends. Retention runs once at
// start and then every PruneEvery, in the store's small transactions, beside ingest.
func (r *Recorder) Run(ctx context.Context) error {
	retry := time.NewTicker(r.opt.RetryEvery)
	defer retry.Stop()
	prune := time.NewTimer(0)
	defer prune.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-retry.C:
			r.flush(ctx)
		case <-prune.C:
			r.Prune(ctx)
			prune.Reset(r.opt.PruneEvery)
		}
	}
}

// Prune applies retention once and logs what it deleted.
func (r *Recorder) Prune(ctx context.Context) (store.Pruned, error) {
	start := time.Now()
	n, err := r.opt.Store.Prune(ctx, r.opt.Retention, r.opt.Now())
	if err != nil {
		if ctx.Err() == nil {
			r.log.Error("retention pass failed; will run again", "error", err.Error())
		}
		return n, err
	}
	if n.Intervals+n.Reports+n.Revisions+n.Deliveries > 0 {
		r.log.Info("retention pass", "intervals", n.Intervals, "reports", n.Reports, "revisions", n.Revisions, "deliveries", n.Deliveries,
			"took", time.Since(start).Round(time.Millisecond).String())
	}
	return n, nil
}

// Waivers lists the waivers of a revision's catalog as the periods they open.
func Waivers(cat *catalog.Catalog, revision string) []store.WaiverPeriod {
	out := []store.WaiverPeriod{}
	if cat == nil {
		return out
	}
	for _, d := range cat.OfKind(catalog.KindWaiver) {
		var spec catalog.WaiverSpec
		if err := d.DecodeSpec(&spec); err != nil {
			continue // a published revision passed its schemas; nothing to record of a malformed one
		}
		targets := make([]string, 0, len(spec.Targets))
		for _, t := range spec.Targets {
			if t.Namespace != "" {
				targets = append(targets, t.Kind+"/"+t.Namespace+"/"+t.Name)
			} else {
				targets = append(targets, t.Kind+"/"+t.Name)
			}
		}
		out = append(out, store.WaiverPeriod{Namespace: d.Namespace, Name: d.Name, Policy: spec.Policy, Targets: targets,
			Reason: spec.Reason, Approver: spec.ApprovedBy, Expires: spec.Expires, Revision: revision})
	}
	return out
}

// ParseAge reads a retention age: a number of years ("7y"), days ("90d") or a Go duration
// ("36h").
func ParseAge(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	for suffix, unit := range map[string]time.Duration{"y": 365 * 24 * time.Hour, "d": 24 * time.Hour} {
		if n, ok := strings.CutSuffix(s, suffix); ok {
			v, err := strconv.Atoi(n)
			if err != nil || v <= 0 {
				return 0, fmt.Errorf("retention %q: want a positive number of years (7y), days (90d) or a duration (36h)", s)
			}
			return time.Duration(v) * unit, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("retention %q: want a positive number of years (7y), days (90d) or a duration (36h)", s)
	}
	return d, nil
}
