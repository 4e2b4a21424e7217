package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// Errors of the Batcher that callers turn into "try again later".
var (
	// ErrQueueFull: the write queue is full; the caller should shed load.
	ErrQueueFull = errors.New("write queue full")
	// ErrClosed: the Batcher has stopped.
	ErrClosed = errors.New("batcher stopped")
)

// BatcherOptions tune a Batcher. The zero value is a working default.
type BatcherOptions struct {
	// MaxBatch is the most writes one transaction carries (default 2,000).
	MaxBatch int
	// Queue is how many writes may wait for the writer (default 20,000); beyond it,
	// submissions fail with ErrQueueFull at once.
	Queue int
	// DrainTimeout bounds the final flush when Run's context ends (default 10s).
	DrainTimeout time.Duration
}

func (o BatcherOptions) withDefaults() BatcherOptions {
	if o.MaxBatch <= 0 {
		o.MaxBatch = 2000
	}
	if o.Queue <= 0 {
		o.Queue = 20_000
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = 10 * time.Second
	}
	return o
}

// Writer is what a Batcher writes to; every Store is one.
type Writer interface {
	Write(ctx context.Context, b *Batch) error
}

// Batcher is group commit in front of a Store: callers queue writes, one goroutine (Run) takes
// whatever has queued up while the previous transaction committed and writes it as the next
// batch. A caller that must not answer before its write is durable waits for its batch's
// commit (Enroll, Report); one that need not (Served) returns at once.
type Batcher struct {
	w       Writer
	opt     BatcherOptions
	queue   chan item
	stopped chan struct{}
	once    sync.Once

	bisected atomic.Int64
}

type item struct {
	enroll *Enrollment
	served *Served
	report *Report
	cred   *CredentialChange
	done   chan error // nil: nobody waits
}

// NewBatcher returns a Batcher writing to w; start it with Run.
func NewBatcher(w Writer, opt BatcherOptions) *Batcher {
	opt = opt.withDefaults()
	return &Batcher{w: w, opt: opt, queue: make(chan item, opt.Queue), stopped: make(chan struct{})}
}

// Enroll queues an enrollment and returns once it is committed.
func (b *Batcher) Enroll(ctx context.Context, e Enrollment) error {
	return b.wait(ctx, item{enroll: &e, done: make(chan error, 1)})
}

// Report queues a report and returns once it is committed.
func (b *Batcher) Report(ctx context.Context, r Report) error {
	return b.wait(ctx, item{report: &r, done: make(chan error, 1)})
}

// Credential queues a credential change and returns once it is committed.
func (b *Batcher) Credential(ctx context.Context, c CredentialChange) error {
	return b.wait(ctx, item{cred: &c, done: make(chan error, 1)})
}

// Served queues a served-state record without waiting; it reports whether there was room.
func (b *Batcher) Served(s Served) bool {
	select {
	case <-b.stopped:
		return false
	default:
	}
	select {
	case b.queue <- item{served: &s}:
		return true
	default:
		return false
	}
}

// Pending is the number of writes waiting for the writer.
func (b *Batcher) Pending() int { return len(b.queue) }

func (b *Batcher) wait(ctx context.Context, it item) error {
	select {
	case <-b.stopped:
		return ErrClosed
	default:
	}
	select {
	case b.queue <- it:
	default:
		return ErrQueueFull
	}
	select {
	case err := <-it.done:
		return err
	case <-b.stopped:
		// Run may have written it on its way out; look once more before giving up.
		select {
		case err := <-it.done:
			return err
		default:
			return ErrClosed
		}
	case <-ctx.Done():
		return fmt.Errorf("wait for commit: %w", ctx.Err())
	}
}

// Run writes batches until ctx ends, then writes what is still queued (bounded by
// DrainTimeout) and returns. A Batcher runs once.
func (b *Batcher) Run(ctx context.Context) error {
	ran := false
	b.once.Do(func() { ran = true })
	if !ran {
		return errors.New("batcher: Run called twice")
	}
	defer close(b.stopped)
	var items []item
	for {
		select {
		case <-ctx.Done():
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.opt.DrainTimeout)
			defer cancel()
			for {
				if items = b.collect(items); len(items) == 0 {
					return nil
				}
				b.flush(dctx, items)
				items = clearItems(items)
			}
		case it := <-b.queue:
			items = append(items, it)
			// Let the requests that are ready to queue do so before the batch closes: with
			// few CPUs the writer would otherwise commit one write at a time.
			runtime.Gosched()
			items = b.collect(items)
			b.flush(ctx, items)
			items = clearItems(items)
		}
	}
}

// collect moves queued items into items without waiting, up to MaxBatch.
func (b *Batcher) collect(items []item) []item {
	for len(items) < b.opt.MaxBatch {
		select {
		case it := <-b.queue:
			items = append(items, it)
		default:
			return items
		}
	}
	return items
}

func clearItems(items []item) []item {
	clear(items)
	return items[:0]
}

// flush writes items as one batch. When the batch fails for a reason that may lie in one of
// its writes (a value the database refuses, a duplicate key), rather than in the database
// being unreachable, it writes each half again, down to the single write at fault: one bad
// write then fails alone, and every other in the batch commits.
func (b *Batcher) flush(ctx context.Context, items []item) {
	var batch Batch
	for _, it := range items {
		switch {
		case it.enroll != nil:
			batch.Enrollments = append(batch.Enrollments, *it.enroll)
		case it.served != nil:
			batch.Served = append(batch.Served, *it.served)
		case it.report != nil:
			batch.Reports = append(batch.Reports, *it.report)
		case it.cred != nil:
			batch.Credentials = append(batch.Credentials, *it.cred)
		}
	}
	err := b.w.Write(ctx, &batch)
	if err != nil && len(items) > 1 && ctx.Err() == nil && !Unavailable(err) {
		b.bisected.Add(1)
		half := len(items) / 2
		b.flush(ctx, items[:half])
		b.flush(ctx, items[half:])
		return
	}
	for _, it := range items {
		if it.done != nil {
			it.done <- err
		}
	}
}

// Bisected counts the batches that failed and were written again in halves.
func (b *Batcher) Bisected() int64 { return b.bisected.Load() }

// Unavailable reports whether err says the database could not be reached or the write was
// cut short (context ended, connection lost), rather than that it refused something a write
// carried. Splitting a batch cannot help such a write.
func Unavailable(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, ErrClosed) || errors.Is(err, sql.ErrConnDone) || errors.Is(err, driver.ErrBadConn) {
		return true
	}
	var (
		netErr  net.Error
		connErr *pgconn.ConnectError
		pgErr   *pgconn.PgError
	)
	switch {
	case errors.As(err, &connErr), errors.As(err, &netErr):
		return true
	case errors.As(err, &pgErr):
		// Class 08: connection exception; 53: insufficient resources; 57: operator
		// intervention (shutdown); 58: system error.
		switch pgErr.Code[:2] {
		case "08", "53", "57", "58":
			return true
		}
	case pgconn.SafeToRetry(err):
		return true
	}
	return false
}
