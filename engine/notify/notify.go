// Package notify tells people where they look of what samverk did: revisions published,
// commits refused, rollouts promoted or halted, grants ending, notices sent. Events go to the
// daemon's configured sinks (signed JSON webhooks, Microsoft Teams, Slack), each through its
// own bounded queue, retried with backoff and recorded; publishing an event never waits.
package notify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"samverk.io/samverk/engine/backoff"
	"samverk.io/samverk/engine/inflight"
	"samverk.io/samverk/engine/store"
)

// Recorder keeps delivery attempts.
type Recorder interface {
	RecordDelivery(ctx context.Context, d *store.Delivery) error
}

var _ Recorder = (store.Store)(nil)

// Options configure a Notifier. Config is required; everything else has a working default.
type Options struct {
	Config *Config
	// Console is the console's base URL (--external-url), for the events' links.
	Console string
	// Store records every attempt (default: none recorded).
	Store Recorder
	// Leading says whether this process leads (nil: always). While it does not, events are
	// dropped: the leader tells of what happens.
	Leading func() bool
	// Client sends the requests (default: one with the configuration's timeout).
	Client *http.Client
	// Registerer receives the samverk_notify_* metrics (default: none exported).
	Registerer prometheus.Registerer
	Logger     *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Notifier delivers events to the sinks. Publish from anywhere; Run delivers.
type Notifier struct {
	opt   Options
	log   *slog.Logger
	m     *metrics
	sinks []*queue

	busy inflight.Counter
}

// queue is one sink's deliveries, worked one at a time, in order.
type queue struct {
	cfg  SinkConfig
	sink sink
	jobs chan *Event
}

// New returns a Notifier for opt.Config's sinks.
func New(opt Options) (*Notifier, error) {
	if opt.Config == nil {
		return nil, errors.New("notify: a configuration is required")
	}
	c := *opt.Config
	if c.Queue <= 0 {
		c.Queue = 1000
	}
	if c.Attempts <= 0 {
		c.Attempts = 8
	}
	if c.RetryBase <= 0 {
		c.RetryBase = Duration(5 * time.Second)
	}
	if c.RetryMax <= 0 {
		c.RetryMax = Duration(5 * time.Minute)
	}
	if c.Timeout <= 0 {
		c.Timeout = Duration(10 * time.Second)
	}
	opt.Config = &c
	opt.Console = strings.TrimSuffix(opt.Console, "/")
	if opt.Client == nil {
		opt.Client = &http.Client{Timeout: time.Duration(c.Timeout)}
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
	n := &Notifier{opt: opt, log: opt.Logger}
	for _, sc := range c.Sinks {
		s, err := newSink(sc)
		if err != nil {
			return nil, err
		}
		n.sinks = append(n.sinks, &queue{cfg: sc, sink: s, jobs: make(chan *Event, c.Queue)})
	}
	m, err := newMetrics(opt.Registerer, n)
	if err != nil {
		return nil, fmt.Errorf("notify metrics: %w", err)
	}
	n.m = m
	return n, nil
}

func (n *Notifier) leading() bool { return n.opt.Leading == nil || n.opt.Leading() }

// Publish queues e for every sink that takes it, and returns at once: a slow or failing sink
// never holds up the caller. It fills in e's ID and time when they are unset. A nil Notifier
// drops the event (no sinks configured).
func (n *Notifier) Publish(e Event) {
	if n == nil {
		return
	}
	if e.ID == "" {
		e.ID = newID()
	}
	if e.At.IsZero() {
		e.At = n.opt.Now().UTC()
	}
	n.m.events.WithLabelValues(e.Kind).Inc()
	if !n.leading() {
		for _, q := range n.sinks {
			if q.cfg.wants(&e) {
				n.m.dropped.WithLabelValues(q.cfg.Name, "follower").Inc()
			}
		}
		return
	}
	for _, q := range n.sinks {
		if !q.cfg.wants(&e) {
			continue
		}
		ev := e
		n.busy.Add(1)
		select {
		case q.jobs <- &ev:
		default:
			n.busy.Add(-1)
			n.m.dropped.WithLabelValues(q.cfg.Name, "queue-full").Inc()
			n.log.Warn("notification dropped: the sink's queue is full", "sink", q.cfg.Name, "kind", e.Kind, "event", e.ID)
		}
	}
}

// Flush waits until every queued delivery is delivered or given up, or ctx ends.
func (n *Notifier) Flush(ctx context.Context) error { return n.busy.Wait(ctx) }

// Run delivers until ctx ends; what is still queued then is lost (and logged).
func (n *Notifier) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, q := range n.sinks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n.work(ctx, q)
		}()
	}
	wg.Wait()
	return nil
}

func (n *Notifier) work(ctx context.Context, q *queue) {
	for {
		select {
		case <-ctx.Done():
			if left := len(q.jobs); left > 0 {
				n.log.Warn("notifications not delivered at shutdown", "sink", q.cfg.Name, "queued", left)
			}
			return
		case e := <-q.jobs:
			n.deliver(ctx, q, e)
			n.busy.Add(-1)
		}
	}
}

// deliver tries e on q's sink until it is accepted, refused for good, out of attempts, or
// ctx ends. Every attempt is recorded.
func (n *Notifier) deliver(ctx context.Context, q *queue, e *Event) {
	cfg := n.opt.Config
	member := ""
	if len(e.Members) == 1 {
		member = e.Members[0]
	}
	for attempt := 1; ; attempt++ {
		if !n.leading() {
			n.m.dropped.WithLabelValues(q.cfg.Name, "follower").Inc()
			return
		}
		start := n.opt.Now()
		code, retryAfter, err := n.send(ctx, q, e)
		if ctx.Err() != nil {
			return
		}
		d := store.Delivery{At: start.UTC(), Sink: q.cfg.Name, Kind: e.Kind, Event: e.ID, Member: member, Attempt: attempt,
			Code: code, Duration: n.opt.Now().Sub(start), Outcome: store.DeliveryDelivered}
		retry := err != nil && retryable(code) && attempt < cfg.Attempts
		switch {
		case err == nil:
		case retry:
			d.Outcome, d.Error = store.DeliveryFailed, err.Error()
		default:
			d.Outcome, d.Error = store.DeliveryAbandoned, err.Error()
		}
		n.m.deliveries.WithLabelValues(q.cfg.Name, d.Outcome).Inc()
		if n.opt.Store != nil {
			if err := n.opt.Store.RecordDelivery(context.WithoutCancel(ctx), &d); err != nil {
				n.log.Error("cannot record a notification's delivery", "sink", q.cfg.Name, "event", e.ID, "err", err)
			}
		}
		if !retry {
			if err != nil {
				n.log.Warn("notification not delivered", "sink", q.cfg.Name, "kind", e.Kind, "event", e.ID, "attempts", attempt, "err", err)
			}
			return
		}
		wait := max(backoff.Delay(time.Duration(cfg.RetryBase), time.Duration(cfg.RetryMax), attempt), min(retryAfter, time.Duration(cfg.RetryMax)))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// send makes one attempt: the HTTP status (0 without one), the wait a Retry-After asks for,
// and an error unless the sink answered 2xx. Neither the URL nor the answer's body reaches
// the error: the URL may be a secret, the body anything.
func (n *Notifier) send(ctx context.Context, q *queue, e *Event) (int, time.Duration, error) {
	req, err := q.sink.request(ctx, e, n.opt.Now())
	if err != nil {
		return 0, 0, fmt.Errorf("build request: %w", err)
	}
	resp, err := n.opt.Client.Do(req)
	if err != nil {
		if u := errors.Unwrap(err); u != nil {
			err = u // the *url.Error around it names the URL
		}
		return 0, 0, fmt.Errorf("post to %s: %w", q.cfg.Name, err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		return resp.StatusCode, 0, nil
	}
	var after time.Duration
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		after = time.Duration(s) * time.Second
	}
	return resp.StatusCode, after, fmt.Errorf("%s answered %s", q.cfg.Name, resp.Status)
}

// retryable says whether an attempt that got code (0: no answer) may succeed if tried again.
func retryable(code int) bool {
	return code == 0 || code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500
}
