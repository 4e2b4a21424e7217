package store

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"
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
}

type item struct {
	enroll *Enrollment
	served *Served
	report *Report
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
	var (
		batch Batch
		dones []chan error
	)
	for {
		select {
		case <-ctx.Done():
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.opt.DrainTimeout)
			defer cancel()
			for {
				if !b.collect(&batch, &dones) {
					return nil
				}
				b.flush(dctx, &batch, &dones)
			}
		case it := <-b.queue:
			b.add(&batch, &dones, it)
			// Let the requests that are ready to queue do so before the batch closes: with
			// few CPUs the writer would otherwise commit one write at a time.
			runtime.Gosched()
			b.collect(&batch, &dones)
			b.flush(ctx, &batch, &dones)
		}
	}
}

// collect moves queued items into batch without waiting, up to MaxBatch, and reports whether
// the batch holds anything.
func (b *Batcher) collect(batch *Batch, dones *[]chan error) bool {
	for batch.Len() < b.opt.MaxBatch {
		select {
		case it := <-b.queue:
			b.add(batch, dones, it)
		default:
			return batch.Len() > 0
		}
	}
	return true
}

func (b *Batcher) add(batch *Batch, dones *[]chan error, it item) {
	switch {
	case it.enroll != nil:
		batch.Enrollments = append(batch.Enrollments, *it.enroll)
	case it.served != nil:
		batch.Served = append(batch.Served, *it.served)
	case it.report != nil:
		batch.Reports = append(batch.Reports, *it.report)
	}
	if it.done != nil {
		*dones = append(*dones, it.done)
	}
}

func (b *Batcher) flush(ctx context.Context, batch *Batch, dones *[]chan error) {
	err := b.w.Write(ctx, batch)
	for _, d := range *dones {
		d <- err
	}
	clear(*dones)
	*dones = (*dones)[:0]
	batch.Reset()
}
