package compile

import (
	"sync"
	"sync/atomic"

	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/desired"
	"samverk.io/samverk/engine/finding"
)

// Compiler serves the desired states of one catalog revision. It compiles each distinct
// outcome once, on first demand, and hands every device of that outcome the same *State, which
// callers must treat as read-only. A Compiler is safe for concurrent use.
type Compiler struct {
	ix       *Index
	revision string

	mu   sync.RWMutex
	memo map[outcome]*entry
	// bodies holds the body of each State compiled or carried over (nil for a State without
	// one), for Encode.
	bodies map[*desired.State]*body

	compiled atomic.Int64
	reused   int
}

type entry struct {
	once sync.Once
	res  atomic.Pointer[result]
}

type result struct {
	state *desired.State
	// deps are the lookups the State's compilation made itself; body, if not nil, is the part
	// it shares with other States, which has lookups of its own.
	deps deps
	body *body
}

// Stats counts a Compiler's work.
type Stats struct {
	// Compiled is the number of States compiled by this Compiler.
	Compiled int
	// Reused is the number of States carried over from the previous Compiler by Next.
	Reused int
	// Bodies is the number of bodies compiled: the resources and conditions a group's States
	// on one OS release share, the costly part of a State.
	Bodies int
	// Patched is the number of bodies Next made from the previous Compiler's by swapping the
	// resources of the products a commit changed, instead of compiling them.
	Patched int
}

// New returns a Compiler for cat at revision. Problems met while indexing the catalog are
// reported by Err; the Compiler works regardless.
func New(cat *catalog.Catalog, revision string) *Compiler {
	return &Compiler{ix: newIndex(cat, nil), revision: revision, memo: map[outcome]*entry{}, bodies: map[*desired.State]*body{}}
}

// Err joins the problems met while indexing the catalog, or is nil.
func (c *Compiler) Err() error { return c.ix.Err() }

// Index is the typed catalog the Compiler reads.
func (c *Compiler) Index() *Index { return c.ix }

// Revision is the catalog revision the Compiler's States carry.
func (c *Compiler) Revision() string { return c.revision }

// Stats returns the work done so far.
func (c *Compiler) Stats() Stats {
	return Stats{Compiled: int(c.compiled.Load()), Reused: c.reused, Bodies: int(c.ix.bodies.Load()), Patched: int(c.ix.patched.Load())}
}

// ProfileOf returns the profile of dev.
func (c *Compiler) ProfileOf(dev Device) Profile { return c.ix.ProfileOf(dev) }

// Desired returns the desired state of dev and its profile. The State is shared with every
// device whose profile leads to the same outcome; do not modify it.
func (c *Compiler) Desired(dev Device) (*desired.State, Profile) {
	p, g := c.ix.profileOf(dev)
	return c.state(c.ix.outcomeOf(p, g)), p
}

func (c *Compiler) state(o outcome) *desired.State {
	c.mu.RLock()
	e := c.memo[o]
	c.mu.RUnlock()
	if e == nil {
		c.mu.Lock()
		if e = c.memo[o]; e == nil {
			e = &entry{}
			c.memo[o] = e
		}
		c.mu.Unlock()
	}
	e.once.Do(func() {
		st, deps, bd := c.ix.compileOutcome(o)
		st.Revision = c.revision
		e.res.Store(&result{state: st, deps: deps, body: bd})
		c.compiled.Add(1)
		c.mu.Lock()
		c.bodies[st] = bd
		c.mu.Unlock()
	})
	return e.res.Load().state
}

// Next returns a Compiler for newCat at newRevision that keeps every State of c none of whose
// inputs changed: documents are compared by content hash, so only the outcomes that read a
// changed, added or removed document (or product, or set of a member's groups) compile again,
// and even those reuse the untouched parts they share with others. Specs of unchanged
// documents are not decoded again either, and documents newCat shares with c's catalog (as
// loads through a catalog.Cache do) are not even hashed: documents are read-only. c stays
// usable.
func (c *Compiler) Next(newCat *catalog.Catalog, newRevision string) *Compiler {
	ix := newIndex(newCat, c.ix)
	changed := diff(c.ix, ix)
	ix.slots = slotChangeOf(c.ix, ix, changed)
	n := &Compiler{ix: ix, revision: newRevision}

	// Carry over the untouched shared parts, so that outcomes compiled anew can use them.
	old := c.ix
	keptSettings := map[*settingsBody]bool{}
	old.settingsMu.Lock()
	for k, e := range old.settingsMemo {
		if sb := e.body.Load(); sb != nil && !touched(sb.deps, changed) {
			ne := &settingsEntry{}
			ne.once.Do(func() { ne.body.Store(sb) })
			ix.settingsMemo[k] = ne
			keptSettings[sb] = true
		}
	}
	old.settingsMu.Unlock()
	keptBodies := map[*body]bool{}
	old.bodyMu.Lock()
	for k, e := range old.bodyMemo {
		switch bd := e.body.Load(); {
		case bd == nil:
		case keptSettings[bd.settings] && !touched(bd.deps, changed):
			ne := &bodyEntry{}
			ne.once.Do(func() { ne.body.Store(bd) })
			ix.bodyMemo[k] = ne
			keptBodies[bd] = true
		default:
			// To compile again, from what of it the change left as it was.
			ix.bodyMemo[k] = &bodyEntry{prev: bd, patchable: keptSettings[bd.settings]}
		}
	}
	old.bodyMu.Unlock()

	c.mu.RLock()
	n.memo = make(map[outcome]*entry, len(c.memo))
	n.bodies = make(map[*desired.State]*body, len(c.memo))
	for o, e := range c.memo {
		r := e.res.Load()
		if r == nil || touched(r.deps, changed) || r.body != nil && !keptBodies[r.body] {
			continue // not compiled yet, or to compile again
		}
		st := *r.state
		st.Revision = newRevision
		ne := &entry{}
		ne.res.Store(&result{state: &st, deps: r.deps, body: r.body})
		ne.once.Do(func() {})
		n.memo[o] = ne
		n.bodies[&st] = r.body
	}
	c.mu.RUnlock()
	n.reused = len(n.memo)
	return n
}

func touched(deps deps, changed map[dep]struct{}) bool {
	switch {
	case len(changed) == 0:
		return false
	case len(changed) <= 4:
		// A commit usually changes a document or two: comparing is cheaper than hashing.
		var few [4]dep
		n := 0
		for d := range changed {
			few[n] = d
			n++
		}
		for i := range deps {
			d := &deps[i]
			for j := range n {
				if c := &few[j]; d.ref.Name == c.ref.Name && *d == *c {
					return true
				}
			}
		}
		return false
	}
	for _, d := range deps {
		if _, ok := changed[d]; ok {
			return true
		}
	}
	return false
}

// diff lists what differs between two indexes, in the terms compilations record as deps.
func diff(old, cur *Index) map[dep]struct{} {
	changed := map[dep]struct{}{}
	for ref, e := range cur.docs {
		if o := old.docs[ref]; o == nil || o.hash != e.hash {
			changed[dep{kind: depDoc, ref: ref}] = struct{}{}
		}
	}
	for ref := range old.docs {
		if cur.docs[ref] == nil {
			changed[dep{kind: depDoc, ref: ref}] = struct{}{}
		}
	}
	for id, p := range cur.products {
		if o := old.products[id]; o == nil || o.hash != p.hash {
			changed[dep{kind: depProduct, ref: finding.DocRef{Name: id}}] = struct{}{}
		}
	}
	for id := range old.products {
		if cur.products[id] == nil {
			changed[dep{kind: depProduct, ref: finding.DocRef{Name: id}}] = struct{}{}
		}
	}
	for m, h := range cur.memberGroups {
		if o, ok := old.memberGroups[m]; !ok || o != h {
			changed[dep{kind: depMemberGroups, ref: finding.DocRef{Namespace: m}}] = struct{}{}
		}
	}
	for m := range old.memberGroups {
		if _, ok := cur.memberGroups[m]; !ok {
			changed[dep{kind: depMemberGroups, ref: finding.DocRef{Namespace: m}}] = struct{}{}
		}
	}
	return changed
}
