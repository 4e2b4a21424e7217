package server

import (
	"sync"
	"time"
)

// Defaults of the set of seen webhook deliveries.
const (
	// DefaultDeliveryTTL is how long a delivery id is remembered: longer than any provider
	// retries on its own, short enough that the set stays small.
	DefaultDeliveryTTL = 24 * time.Hour
	// DefaultDeliveryCap bounds the set; the oldest id is forgotten first. A delivery id is
	// under 100 bytes, so the set stays around a megabyte.
	DefaultDeliveryCap = 10_000
)

// deliveries remembers the ids of accepted webhook deliveries, so that a replayed delivery is
// not acted on twice. It is bounded in size and in time, and safe for concurrent use.
type deliveries struct {
	mu    sync.Mutex
	ttl   time.Duration
	cap   int
	now   func() time.Time
	seen  map[string]time.Time
	order []string // ids in the order added; ids are added with nondecreasing times
}

func newDeliveries(ttl time.Duration, capacity int, now func() time.Time) *deliveries {
	return &deliveries{ttl: ttl, cap: capacity, now: now, seen: make(map[string]time.Time)}
}

// has says whether id was added and has not expired yet.
func (d *deliveries) has(id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.expire()
	_, ok := d.seen[id]
	return ok
}

// add records id and reports true, or reports false when id is already there.
func (d *deliveries) add(id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.expire()
	if _, ok := d.seen[id]; ok {
		return false
	}
	for len(d.order) >= d.cap {
		d.drop()
	}
	d.seen[id] = d.now()
	d.order = append(d.order, id)
	return true
}

// len is the number of ids remembered.
func (d *deliveries) len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.expire()
	return len(d.order)
}

// expire forgets the ids older than the TTL.
func (d *deliveries) expire() {
	cutoff := d.now().Add(-d.ttl)
	for len(d.order) > 0 && !d.seen[d.order[0]].After(cutoff) {
		d.drop()
	}
}

// drop forgets the oldest id.
func (d *deliveries) drop() {
	delete(d.seen, d.order[0])
	d.order[0] = ""
	d.order = d.order[1:]
	if len(d.order) == 0 {
		d.order = nil // let the backing array go
	}
}
