package catalog

import (
	"crypto/sha256"
	"sync"

	"samverk.io/samverk/engine/finding"
)

// Cache remembers parsed files by path and content, so loading a catalog that differs from the
// previous one in a few files parses only those: the daemon on a new commit, diff on its second
// side. Documents are then shared between the catalogs and must be treated as read-only.
//
// A Cache holds the files of the last two loads at most: each load keeps what it used and drops
// the rest. It is safe for concurrent use.
type Cache struct {
	mu        sync.Mutex
	cur, prev map[cacheKey]parsed
}

type cacheKey struct {
	path string
	sum  [sha256.Size]byte
}

type parsed struct {
	docs     []*Document
	findings []finding.Finding
}

// NewCache returns an empty cache.
func NewCache() *Cache {
	return &Cache{cur: map[cacheKey]parsed{}, prev: map[cacheKey]parsed{}}
}

func (c *Cache) get(k cacheKey) (parsed, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := c.cur[k]; ok {
		return p, true
	}
	if p, ok := c.prev[k]; ok {
		c.cur[k] = p
		return p, true
	}
	return parsed{}, false
}

func (c *Cache) put(k cacheKey, p parsed) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cur[k] = p
}

// rotate ends a load: what it used becomes the previous generation, the rest is dropped.
func (c *Cache) rotate() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.prev, c.cur = c.cur, make(map[cacheKey]parsed, len(c.cur))
}
