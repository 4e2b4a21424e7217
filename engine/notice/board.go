package notice

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"samverk.io/samverk/engine/desired"
	"samverk.io/samverk/engine/store"
)

// Store keeps notices and answers (store.Store does).
type Store interface {
	CreateNotice(ctx context.Context, n *store.Notice) error
	WithdrawNotice(ctx context.Context, seq int64, at time.Time, by string) error
	Notice(ctx context.Context, seq int64) (*store.Notice, error)
	ListNotices(ctx context.Context, since time.Time, limit int) ([]store.Notice, error)
	AnswerNotice(ctx context.Context, a *store.NoticeAnswer) error
	AnswerCounts(ctx context.Context, notice int64) ([]store.AnswerCount, error)
}

var _ Store = (store.Store)(nil)

// Header is the response header of a device's desired-state poll that carries the sequence
// number of the newest notice for the device; absent when there is none.
const Header = desired.NoticeHeader

// Delivered is a notice as a device receives it.
type Delivered = desired.Notice

// active is a notice in force or yet to begin, ready to match devices against.
type active struct {
	seq      int64
	from, to time.Time
	crisis   bool
	everyone bool
	members  map[string]bool
	groups   map[GroupRef]bool
	devices  map[string]bool
	// hdr is the Header value, made once, so that a poll allocates nothing for it.
	hdr []string
	msg Delivered
}

func (a *active) reaches(id, member, group string) bool {
	return a.everyone || a.members[member] || a.devices[id] || a.groups[GroupRef{Member: member, Group: group}]
}

// snapshot is the notices in force, newest first, and a channel closed when it is replaced.
type snapshot struct {
	notices []*active
	key     string
	changed chan struct{}
}

// BoardOptions configure a Board. Store is required.
type BoardOptions struct {
	Store Store
	// Interval is how often the notices are read from the store again, to learn of those
	// other replicas sent or withdrew (default 2s).
	Interval time.Duration
	// Logger receives failures to read the store (default: discard).
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Board holds the notices in force in memory, for the agent endpoints and the poll header:
// finding a device's newest notice reads no store and allocates nothing.
type Board struct {
	opt  BoardOptions
	log  *slog.Logger
	snap atomic.Pointer[snapshot]
	// loadMu serialises reloads.
	loadMu sync.Mutex
}

// NewBoard returns an empty Board; Run or Reload fills it.
func NewBoard(opt BoardOptions) *Board {
	if opt.Interval <= 0 {
		opt.Interval = 2 * time.Second
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	b := &Board{opt: opt, log: opt.Logger}
	b.snap.Store(&snapshot{changed: make(chan struct{})})
	return b
}

// Run reloads the notices every Interval until ctx ends.
func (b *Board) Run(ctx context.Context) error {
	if err := b.Reload(ctx); err != nil && ctx.Err() == nil {
		b.log.Warn("cannot read notices", "err", err)
	}
	t := time.NewTicker(b.opt.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := b.Reload(ctx); err != nil && ctx.Err() == nil {
				b.log.Warn("cannot read notices", "err", err)
			}
		}
	}
}

// Reload reads the notices whose window has not ended from the store. When they differ
// from those held, it swaps them in and wakes the streams.
func (b *Board) Reload(ctx context.Context) error {
	b.loadMu.Lock()
	defer b.loadMu.Unlock()
	ns, err := b.opt.Store.ListNotices(ctx, b.opt.Now(), store.MaxLimit)
	if err != nil {
		return err
	}
	next := &snapshot{changed: make(chan struct{})}
	key := make([]byte, 0, 16*len(ns))
	for i := range ns {
		n := &ns[i]
		if n.WithdrawnAt != nil {
			continue
		}
		a, err := activate(n)
		if err != nil {
			b.log.Warn("notice cannot be delivered", "notice", n.Seq, "err", err)
			continue
		}
		next.notices = append(next.notices, a)
		key = strconv.AppendInt(key, n.Seq, 10)
		key = append(key, ',')
	}
	next.key = string(key)
	prev := b.snap.Load()
	if prev.key == next.key {
		return nil
	}
	b.snap.Store(next)
	close(prev.changed)
	return nil
}

func activate(n *store.Notice) (*active, error) {
	var t Target
	if err := json.Unmarshal(n.Target, &t); err != nil {
		return nil, err
	}
	a := &active{seq: n.Seq, from: n.From, to: n.To, crisis: n.Severity == Crisis, everyone: t.Everyone,
		hdr: []string{strconv.FormatInt(n.Seq, 10)},
		msg: Delivered{Seq: n.Seq, Severity: n.Severity, Title: n.Title, Body: n.Body, From: n.From, To: n.To, Sender: n.Sender}}
	if len(n.Survey) > 0 {
		a.msg.Survey = &Survey{}
		if err := json.Unmarshal(n.Survey, a.msg.Survey); err != nil {
			return nil, err
		}
	}
	if r := t.Resolved; r != nil {
		if len(r.Members) > 0 {
			a.members = map[string]bool{}
			for _, m := range r.Members {
				a.members[m] = true
			}
		}
		if len(r.Groups) > 0 {
			a.groups = map[GroupRef]bool{}
			for _, g := range r.Groups {
				a.groups[g] = true
			}
		}
	}
	if len(t.Devices) > 0 {
		a.devices = map[string]bool{}
		for _, d := range t.Devices {
			a.devices[d] = true
		}
	}
	return a, nil
}

// Latest returns the Header value for device id of member, served as a member of group: the
// sequence number of the newest notice in force that reaches it, or nil when none does. It
// allocates nothing.
func (b *Board) Latest(id, member, group string) []string {
	s := b.snap.Load()
	if len(s.notices) == 0 {
		return nil
	}
	now := b.opt.Now()
	for _, a := range s.notices { // newest first
		if a.inForce(now) && a.reaches(id, member, group) {
			return a.hdr
		}
	}
	return nil
}

func (a *active) inForce(now time.Time) bool { return !now.Before(a.from) && now.Before(a.to) }

// For returns the notices in force that reach the device and are newer than after, oldest
// first; with crisisOnly, only crisis notices. Changed is closed when the notices change.
func (b *Board) For(id, member, group string, after int64, crisisOnly bool) (out []Delivered, changed <-chan struct{}) {
	s := b.snap.Load()
	now := b.opt.Now()
	for _, a := range slices.Backward(s.notices) {
		if a.seq > after && a.inForce(now) && (a.crisis || !crisisOnly) && a.reaches(id, member, group) {
			out = append(out, a.msg)
		}
	}
	return out, s.changed
}

// Changed is closed when the notices held change.
func (b *Board) Changed() <-chan struct{} { return b.snap.Load().changed }

// nextStart is when the earliest notice not yet begun begins, or zero: streams wake then.
func (b *Board) nextStart() time.Time {
	var next time.Time
	now := b.opt.Now()
	for _, a := range b.snap.Load().notices {
		if a.from.After(now) && (next.IsZero() || a.from.Before(next)) {
			next = a.from
		}
	}
	return next
}
