// Package servedlog keeps the record of which state each device was last sent with a body
// (a 200 to its desired-state poll) in memory, the latest per device, and writes those
// records to the store in batches off the request path.
//
// Recording is a map assignment under one of 64 shard locks: it neither allocates (once the
// shard's map has grown to its devices) nor waits for the store. A flush swaps each shard's
// map for an empty one and writes what it held, so a device served many times between two
// flushes costs one write. The store learns of a state at most one flush interval late; a
// crash loses at most the records of the last interval (see docs/agent-api.md for how
// compliance copes with that). Records a flush could not write because the store was
// unreachable go back into memory, unless a newer one has come in meanwhile, and are written
// by a later flush: memory stays bounded by the number of devices.
package servedlog

import (
	"context"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"samverk.io/samverk/engine/store"
)

// Key identifies a device: the 16 bytes its id is the hex encoding of.
type Key [16]byte

// String is the device id.
func (k Key) String() string { return hex.EncodeToString(k[:]) }

// What is a state as served: shared by every device served it, and read-only once recorded.
type What struct {
	Profile, Hash, Revision, Group, Ring string
	// OSTarget is the OS release the state tells the device to upgrade to, if any.
	OSTarget string
}

// Options tune a Log. The zero value is a working default.
type Options struct {
	// Interval is how often the records are written (default 1s): the most the store lags
	// behind, and what a crash can lose.
	Interval time.Duration
	// MaxBatch is the most records one transaction carries (default 2,000).
	MaxBatch int
	// DrainTimeout bounds the final flush when Run's context ends (default 10s).
	DrainTimeout time.Duration
	// Logger receives the records the store refuses (default: discard).
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 2000
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return o
}

const shardCount = 64

// Log holds the records not yet written. It is safe for concurrent use.
type Log struct {
	w   store.Writer
	opt Options

	shards [shardCount]shard

	// flushMu serialises flushes: a flush owns every shard's spare map while it runs.
	flushMu sync.Mutex
	batch   store.Batch
	keys    []Key

	written, dropped atomic.Int64
	once             sync.Once
}

type shard struct {
	mu sync.Mutex
	m  map[Key]record
	// spare is the map the last flush emptied, swapped in by the next; only a flush uses it.
	spare map[Key]record
	_     [64 - 24]byte // keep shards on their own cache lines
}

type record struct {
	what *What
	at   time.Time
}

// New returns a Log writing to w; start it with Run.
func New(w store.Writer, opt Options) *Log {
	l := &Log{w: w, opt: opt.withDefaults()}
	for i := range l.shards {
		l.shards[i].m = map[Key]record{}
		l.shards[i].spare = map[Key]record{}
	}
	return l
}

func (l *Log) shard(k Key) *shard { return &l.shards[k[0]%shardCount] }

// Record notes that device k was sent what at at; it replaces any record of k not yet
// written.
func (l *Log) Record(k Key, what *What, at time.Time) {
	s := l.shard(k)
	s.mu.Lock()
	s.m[k] = record{what: what, at: at}
	s.mu.Unlock()
}

// Take removes and returns device k's record not yet written, for a caller that writes it
// itself (with the device's report, so that the report never reaches the store before the
// state it applied).
func (l *Log) Take(k Key) (store.Served, bool) {
	s := l.shard(k)
	s.mu.Lock()
	r, ok := s.m[k]
	if ok {
		delete(s.m, k)
	}
	s.mu.Unlock()
	if !ok {
		return store.Served{}, false
	}
	return r.served(k), true
}

// Put gives back a record that Take returned and its caller could not write, unless a newer
// one has come in meanwhile.
func (l *Log) Put(k Key, sv store.Served) { l.restore(k, recordOf(&sv)) }

// giveBack restores records a flush could not write.
func (l *Log) giveBack(sv []store.Served, keys []Key) {
	for i := range sv {
		l.restore(keys[i], recordOf(&sv[i]))
	}
}

func recordOf(sv *store.Served) record {
	return record{what: &What{Profile: sv.Profile, Hash: sv.Hash, Revision: sv.Revision, Group: sv.Group, Ring: sv.Ring}, at: sv.At}
}

func (l *Log) restore(k Key, r record) {
	s := l.shard(k)
	s.mu.Lock()
	if old, ok := s.m[k]; !ok || old.at.Before(r.at) {
		s.m[k] = r
	}
	s.mu.Unlock()
}

func (r record) served(k Key) store.Served {
	w := r.what
	return store.Served{DeviceID: k.String(), At: r.at, Profile: w.Profile, Hash: w.Hash, Revision: w.Revision, Group: w.Group, Ring: w.Ring, OSTarget: w.OSTarget}
}

// Pending counts the records not yet written.
func (l *Log) Pending() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}

// Written and Dropped count the records written, and those the store refused (a write that
// failed alone, for a reason other than the store being unreachable).
func (l *Log) Written() int64 { return l.written.Load() }
func (l *Log) Dropped() int64 { return l.dropped.Load() }

// Flush writes every record held. When the store is unreachable it keeps what it could not
// write for the next flush and returns the error.
func (l *Log) Flush(ctx context.Context) error {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	var first error
	for i := 0; i < len(l.shards) && first == nil; i++ {
		s := &l.shards[i]
		s.mu.Lock()
		s.m, s.spare = s.spare, s.m
		s.mu.Unlock()
		for k, r := range s.spare {
			if first != nil {
				l.restore(k, r) // the store is unreachable: keep the rest for the next flush
				continue
			}
			l.batch.Served = append(l.batch.Served, r.served(k))
			l.keys = append(l.keys, k)
			if len(l.keys) == l.opt.MaxBatch {
				first = l.write(ctx)
			}
		}
		clear(s.spare)
	}
	if first == nil && len(l.keys) > 0 {
		first = l.write(ctx)
	}
	return first
}

// write writes the batch and empties it. When the store is unreachable the records go back.
func (l *Log) write(ctx context.Context) error {
	defer func() {
		l.batch.Reset()
		clear(l.keys)
		l.keys = l.keys[:0]
	}()
	return l.writeRange(ctx, l.batch.Served, l.keys)
}

// writeRange writes sv (whose devices are keys). A write the store refuses for a reason that
// may lie in one record is written again in halves, down to the record at fault, which is
// dropped; when the store is unreachable every record goes back and the error is returned.
func (l *Log) writeRange(ctx context.Context, sv []store.Served, keys []Key) error {
	b := store.Batch{Served: sv}
	err := l.w.Write(ctx, &b)
	switch {
	case err == nil:
		l.written.Add(int64(len(sv)))
		return nil
	case ctx.Err() != nil || store.Unavailable(err):
		l.giveBack(sv, keys)
		return err
	case len(sv) == 1:
		l.dropped.Add(1)
		l.opt.Logger.Error("the store refuses a served-state record; it is dropped", "device", sv[0].DeviceID, "hash", sv[0].Hash, "err", err)
		return nil
	}
	half := len(sv) / 2
	if err := l.writeRange(ctx, sv[:half], keys[:half]); err != nil {
		l.giveBack(sv[half:], keys[half:])
		return err
	}
	return l.writeRange(ctx, sv[half:], keys[half:])
}

// Run flushes every Interval until ctx ends, then flushes what is left (bounded by
// DrainTimeout) and returns. A Log runs once.
func (l *Log) Run(ctx context.Context) error {
	ran := false
	l.once.Do(func() { ran = true })
	if !ran {
		return errors.New("servedlog: Run called twice")
	}
	t := time.NewTicker(l.opt.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.opt.DrainTimeout)
			defer cancel()
			if err := l.Flush(dctx); err != nil {
				l.opt.Logger.Error("served-state records not written at shutdown", "records", l.Pending(), "err", err)
				return err
			}
			return nil
		case <-t.C:
			if err := l.Flush(ctx); err != nil && ctx.Err() == nil {
				l.opt.Logger.Warn("served-state records not written; kept for the next flush", "records", l.Pending(), "err", err)
			}
		}
	}
}
