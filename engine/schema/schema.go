// Package schema checks every catalog document against the CUE definition of its kind and
// reports each problem once, as a finding at the field's file, line and column.
package schema

import (
	"fmt"
	"io/fs"
	"runtime"
	"sync"
	"sync/atomic"

	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/finding"
	"samverk.io/samverk/schemas"
)

// Options tune a validation run. The zero value is a working default.
type Options struct {
	// Workers validate documents in parallel, each with a CUE context of its own
	// (default GOMAXPROCS).
	Workers int
	// Schemas holds the *.cue files that define the kinds, one definition #Kind per kind
	// (default: the embedded schemas.FS).
	Schemas fs.FS
	// Cache, when set, keeps each document's findings, so a document loaded unchanged through
	// a catalog.Cache is not checked again. Use one Cache with one set of schemas only.
	Cache *Cache
}

// Cache remembers the findings of documents already checked, by document identity. Like
// catalog.Cache it keeps what the last two runs used and drops the rest.
type Cache struct {
	mu        sync.Mutex
	cur, prev map[*catalog.Document][]finding.Finding
}

// NewCache returns an empty cache.
func NewCache() *Cache {
	return &Cache{cur: map[*catalog.Document][]finding.Finding{}, prev: map[*catalog.Document][]finding.Finding{}}
}

func (c *Cache) get(d *catalog.Document) ([]finding.Finding, bool) {
	if f, ok := c.cur[d]; ok {
		return f, true
	}
	if f, ok := c.prev[d]; ok {
		c.cur[d] = f
		return f, true
	}
	return nil, false
}

func (o Options) withDefaults() Options {
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.Schemas == nil {
		o.Schemas = schemas.FS
	}
	return o
}

// batch is how many documents a worker takes at a time.
const batch = 32

// Validate checks every document of cat against its kind's definition and returns all
// problems of all documents, sorted by file, line and column. The error is for a broken
// schema or a document samverk has no definition for, never for an invalid document.
func Validate(cat *catalog.Catalog, opt Options) ([]finding.Finding, error) {
	opt = opt.withDefaults()
	var docs []*catalog.Document
	if cat != nil {
		docs = cat.Docs
	}
	var cached []finding.Finding
	if c := opt.Cache; c != nil {
		c.mu.Lock()
		todo := docs[:0:0]
		for _, d := range docs {
			if f, ok := c.get(d); ok {
				cached = append(cached, f...)
			} else {
				todo = append(todo, d)
			}
		}
		c.mu.Unlock()
		docs = todo
	}
	results := make([][]finding.Finding, len(docs))
	workers := min(opt.Workers, max(1, (len(docs)+batch-1)/batch))
	errs := make([]error, workers)
	var quick *fastCheck
	if len(docs) > 0 {
		quick = fastCheckFor(opt.Schemas)
	}
	var next atomic.Int64
	var failed atomic.Bool
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			// A fresh context per run: a CUE context only grows, and its values must stay
			// on one goroutine.
			c, err := compile(opt.Schemas)
			if err != nil {
				errs[w] = err
				failed.Store(true)
				return
			}
			c.quick = quick
			for !failed.Load() {
				start := int(next.Add(batch)) - batch
				if start >= len(docs) {
					return
				}
				for i := start; i < min(start+batch, len(docs)); i++ {
					if results[i], err = c.check(docs[i]); err != nil {
						errs[w] = err
						failed.Store(true)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	out := cached
	for _, r := range results {
		out = append(out, r...)
	}
	if c := opt.Cache; c != nil {
		c.mu.Lock()
		for i, d := range docs {
			c.cur[d] = results[i]
		}
		c.prev, c.cur = c.cur, make(map[*catalog.Document][]finding.Finding, len(c.cur))
		c.mu.Unlock()
	}
	return finding.Sort(out), nil
}

// check validates one document. Almost every document is valid: the fast check, in plain Go,
// says so for most; any other costs one unification. Only an invalid one is examined further,
// to explain each of its problems.
func (c *compiled) check(d *catalog.Document) (out []finding.Finding, err error) {
	def, ok := c.fast.defs[d.Kind]
	if !ok {
		return nil, fmt.Errorf("schema: %s: no definition #%s", d.Ref(), d.Kind)
	}
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("schema: %s: evaluation failed: %v", d.Ref(), r)
		}
	}()
	if c.quick.valid(d) {
		return nil, nil
	}
	v := c.ctx.Encode(d.Object)
	if def.Unify(v).Validate(concrete...) == nil {
		return nil, nil
	}
	exact, err := c.explaining()
	if err != nil {
		return nil, err
	}
	return c.explain(d, exact, v), nil
}
