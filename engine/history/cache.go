package history

import (
	"container/list"
	"context"
	"sync"

	"samverk.io/samverk/engine/compile"
)

// cache keeps the compiled catalogs of the last few revisions asked for. A revision being
// loaded is loaded once, however many ask for it at the same time; a failed load is not kept,
// so that a repository that was briefly unreadable is read again next time. At most
// maxLoads revisions are loaded at once, so that questions about many old revisions cannot
// hold many whole catalogs in memory together.
type cache struct {
	max   int
	loads chan struct{}

	mu      sync.Mutex
	lru     *list.List // of *cacheEntry, most recently used first
	entries map[string]*list.Element
}

type cacheEntry struct {
	revision string
	done     chan struct{} // closed when comp and err are set
	comp     *compile.Compiler
	err      error
}

// maxLoads is the number of revisions loaded at the same time.
const maxLoads = 2

func newCache(max int) *cache {
	return &cache{max: max, loads: make(chan struct{}, maxLoads), lru: list.New(), entries: map[string]*list.Element{}}
}

// get returns revision's compiler, calling load when it is not cached.
func (c *cache) get(ctx context.Context, revision string, load func() (*compile.Compiler, error)) (*compile.Compiler, error) {
	c.mu.Lock()
	if el, ok := c.entries[revision]; ok {
		c.lru.MoveToFront(el)
		e := el.Value.(*cacheEntry)
		c.mu.Unlock()
		select {
		case <-e.done:
			return e.comp, e.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	e := &cacheEntry{revision: revision, done: make(chan struct{})}
	c.entries[revision] = c.lru.PushFront(e)
	for c.lru.Len() > c.max {
		old := c.lru.Back()
		c.lru.Remove(old)
		delete(c.entries, old.Value.(*cacheEntry).revision)
	}
	c.mu.Unlock()

	select {
	case c.loads <- struct{}{}:
		e.comp, e.err = load()
		<-c.loads
	case <-ctx.Done():
		e.err = ctx.Err()
	}
	close(e.done)
	if e.err != nil {
		c.mu.Lock()
		if el, ok := c.entries[revision]; ok && el.Value == e {
			c.lru.Remove(el)
			delete(c.entries, revision)
		}
		c.mu.Unlock()
	}
	return e.comp, e.err
}

// len is the number of revisions cached.
func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}
