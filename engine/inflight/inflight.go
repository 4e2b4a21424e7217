// Package inflight counts work queued or under way and lets a caller wait until none is left:
// the Flush of the notifier's and the commit-status reporter's queues.
package inflight

import (
	"context"
	"sync"
)

// Counter counts work in flight. The zero value is ready to use.
type Counter struct {
	mu   sync.Mutex
	n    int
	idle chan struct{} // closed, and replaced, each time n comes back to zero
}

// Add changes the count by d (1 when work is queued, -1 when it is done or given up).
func (c *Counter) Add(d int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n += d
	if c.n == 0 && c.idle != nil {
		close(c.idle)
		c.idle = nil
	}
}

// Len is the work in flight now.
func (c *Counter) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// Wait returns once no work is in flight, or with ctx's error when ctx ends first.
func (c *Counter) Wait(ctx context.Context) error {
	c.mu.Lock()
	if c.n == 0 {
		c.mu.Unlock()
		return nil
	}
	if c.idle == nil {
		c.idle = make(chan struct{})
	}
	idle := c.idle
	c.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
