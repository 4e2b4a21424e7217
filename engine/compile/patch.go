package compile

import (
	"bytes"
	"crypto/sha256"
	"slices"
	"strings"
	"sync"

	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/desired"
	"samverk.io/samverk/engine/finding"
	"samverk.io/samverk/engine/pkgversion"
)

// A commit that only changes a product's Package documents (a new version, a stage moved on)
// most often changes, in every body that installs the product, only that product's own
// resources: the resource that installs it (its version, the Why's first words) and the
// removals of the versions its version supersedes. The same products are installed, needing
// the same, for the same reasons. For a product almost every group installs, compiling each
// of those bodies again costs far more than swapping those resources, so Next swaps them
// where it can show the result is what a compilation gives, and compiles the body where it
// cannot.
//
// What it checks, across the catalog (slotChangeOf): the commit changed nothing but some
// products' Package documents; no other product's package supersedes one of theirs; their
// retired versions, which every body installing them removes, are the same. Per ring and OS
// release (slotProduct.pickFor): the product had a version to install before and has one now,
// with the same dependencies, and the new version meets every minimum another package sets
// for it, as the old one did. Per body (slotChange.patch): the body installed the product at
// the version the old index picked; every version the old and the new version supersede is
// removed, by a resource of its own (none merged with another removal, none left in place
// because the body installs it), and the body has no dependency cycle.
//
// Order: a body's packages are in the order orderItems gives, the smallest id first among
// those whose dependencies are placed. A removal is a sink: it depends on the package that
// replaces it, and nothing depends on it. Taking a sink out leaves the others' order as it was,
// and a sink put in goes before the first resource after its dependency whose id is greater:
// that is where orderItems would place it.

// slotChange is a commit whose changed products can be patched into bodies.
type slotChange struct {
	old, cur *Index
	products []*slotProduct
}

// slotProduct is one changed product: its old and new versions, and the minimum versions
// packages require of it.
type slotProduct struct {
	id       string
	old, cur *product
	mins     []string

	mu    sync.Mutex
	picks []slotPick
}

// slotPick is what a ring takes of a product on an OS release, before and now; cur is nil
// when the change cannot be patched for them.
type slotPick struct {
	ring, os string
	old, cur *pkg
}

// slotChangeOf returns the slotChange of the commit from old to cur, whose differences are
// changed, or nil when it is not one.
func slotChangeOf(old, cur *Index, changed map[dep]struct{}) *slotChange {
	ids := map[string]bool{}
	var docs []finding.DocRef
	for d := range changed {
		switch {
		case d.kind == depProduct:
			ids[d.ref.Name] = true
		case d.kind == depDoc && d.ref.Kind == catalog.KindPackage:
			docs = append(docs, d.ref)
		default:
			return nil
		}
	}
	if len(ids) == 0 {
		return nil
	}
	// Each changed document is a changed product's, before and after.
	for _, ref := range docs {
		for _, ix := range []*Index{old, cur} {
			e := ix.docs[ref]
			if e == nil {
				continue
			}
			v, ok := e.val.(*pkg)
			if !ok || !ids[v.spec.Product] {
				return nil
			}
		}
	}
	sc := &slotChange{old: old, cur: cur}
	for id := range ids {
		p := &slotProduct{id: id, old: old.products[id], cur: cur.products[id]}
		if p.old == nil || p.cur == nil || !sameRetired(p.old.retired, p.cur.retired) {
			return nil
		}
		names := map[string]bool{}
		for _, pr := range []*product{p.old, p.cur} {
			for _, v := range pr.versions {
				names[v.name] = true
			}
		}
		for _, ix := range []*Index{old, cur} {
			for v, sups := range ix.supersedes {
				for _, s := range sups {
					if names[s.name] && v.spec.Product != id {
						return nil
					}
				}
			}
			for _, v := range ix.pkgByName {
				for _, d := range v.spec.Dependencies {
					if d.Product == id && d.MinVersion != "" && !slices.Contains(p.mins, d.MinVersion) {
						p.mins = append(p.mins, d.MinVersion)
					}
				}
			}
		}
		sc.products = append(sc.products, p)
	}
	return sc
}

// sameRetired reports whether two lists of retired versions remove the same.
func sameRetired(a, b []*pkg) bool {
	return slices.EqualFunc(a, b, func(x, y *pkg) bool {
		return bytes.Equal(x.retiredAfter.full, y.retiredAfter.full) && bytes.Equal(x.retiredAlone.full, y.retiredAlone.full)
	})
}

// pickFor returns what ring takes of p on os, before and now (cur nil: not patchable). The
// answer is kept: thousands of bodies ask it for a few rings and releases.
func (p *slotProduct) pickFor(ring, os string) slotPick {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, k := range p.picks {
		if k.ring == ring && k.os == os {
			return k
		}
	}
	k := slotPick{ring: ring, os: os, old: p.old.pick(ring, os).pick}
	if cur := p.cur.pick(ring, os).pick; k.old != nil && cur != nil && p.meets(k.old) && p.meets(cur) &&
		slices.Equal(k.old.spec.Dependencies, cur.spec.Dependencies) {
		k.cur = cur
	}
	p.picks = append(p.picks, k)
	return k
}

// meets reports whether v is at least every minimum version packages require of p: a
// dependency on p that v fails would change its dependent, and the conditions' messages.
func (p *slotProduct) meets(v *pkg) bool {
	for _, m := range p.mins {
		if pkgversion.Compare(v.spec.Version, m) < 0 {
			return false
		}
	}
	return true
}

// patch returns prev, the body of group g's States on os before the commit, with the changed
// products' resources swapped for their new versions'; nil when the body must be compiled.
// prev's settings must be the new index's.
func (sc *slotChange) patch(g *group, os string, prev *body) *body {
	n := len(prev.enc) // prev's package resources; its settings follow
	if slices.ContainsFunc(prev.conds, func(c desired.Condition) bool { return c.Type == CondDependencyCycle }) {
		return nil // a cycle is broken by id, which the sink rule does not follow
	}
	type install struct {
		r   *desired.Resource
		enc []byte
		at  int // in prev
	}
	var drop []int    // prev's removals to take out
	var sinks []*item // removals to put in
	var installs []install
	looked := false
	reads := slices.Clip(prev.deps) // prev's, until a read is added
	for _, p := range sc.products {
		if !slices.Contains(prev.deps, dep{kind: depProduct, ref: finding.DocRef{Name: p.id}}) {
			continue // the body never looked at the product
		}
		pk := p.pickFor(g.spec.Ring, os)
		if pk.cur == nil {
			return nil
		}
		k := prev.find(pk.old.presentID, 0)
		if k < 0 || prev.resources[k].Package != &pk.old.resource || prev.resources[k].Ensure != present ||
			!strings.HasPrefix(prev.resources[k].Why, pk.old.whyPrefix) {
			return nil // not installed, or not at that version
		}
		// A product whose version and removals stay as they were leaves the body as it was.
		moved := pk.cur != pk.old || !sameRemovals(sc.old.supersedes[pk.old], sc.cur.supersedes[pk.cur])
		looked = true
		for _, s := range sc.old.supersedes[pk.old] {
			j := prev.find(s.item.r.ID, 0)
			if s.old == nil || j < 0 || prev.sums[j] != s.item.sum {
				return nil // a condition instead of a removal, or a merged removal
			}
			if moved {
				drop = append(drop, j)
			}
		}
		for _, s := range sc.cur.supersedes[pk.cur] {
			if s.old == nil {
				return nil // an UnresolvedReference
			}
			// A SupersedeConflict when the body is to have that very version.
			switch q := s.old.spec.Product; {
			case q == p.id:
				if s.old == pk.cur {
					return nil
				}
			case sc.changes(q):
				return nil
			default:
				if j := prev.find(s.old.presentID, 0); j >= 0 && prev.resources[j].Package == &s.old.resource {
					return nil
				}
			}
			if !moved {
				continue
			}
			sinks = append(sinks, s.item)
			if s.old.spec.Product == p.id {
				continue // the product's own documents: its dep covers them
			}
			if d := (dep{kind: depDoc, ref: finding.DocRef{Kind: catalog.KindPackage, Name: s.name}}); !slices.Contains(reads, d) {
				reads = append(reads, d)
			}
		}
		if !moved {
			continue
		}
		r := new(desired.Resource)
		*r = *prev.resources[k]
		r.Package, r.DependsOn = &pk.cur.resource, pk.cur.dependsOn
		r.Why = pk.cur.whyPrefix + r.Why[len(pk.old.whyPrefix):]
		installs = append(installs, install{r: r, enc: pk.cur.enc, at: k})
	}
	switch {
	case !looked:
		return nil
	case len(installs) == 0:
		return prev
	}
	// Where each package resource comes from: i >= 0 is prev's resource i (or the install
	// swapped in for it), -1-s is sinks[s]. The order without the removals taken out, then
	// each new one put in.
	var srcBuf [256]int32
	src := srcBuf[:0]
	for i := range n {
		if !slices.Contains(drop, i) {
			src = append(src, int32(i))
		}
	}
	id := func(s int32) string {
		if s >= 0 {
			return prev.resources[s].ID
		}
		return sinks[-1-s].r.ID
	}
	for si, it := range sinks {
		if slices.ContainsFunc(src, func(s int32) bool { return id(s) == it.r.ID }) {
			return nil // removed for another reason too: merged
		}
		after := -1
		for _, d := range it.r.DependsOn {
			i := slices.IndexFunc(src, func(s int32) bool { return id(s) == d })
			if i < 0 {
				return nil
			}
			after = max(after, i)
		}
		i := after + 1
		for i < len(src) && id(src[i]) < it.r.ID {
			i++
		}
		src = slices.Insert(src, i, int32(-1-si))
	}
	m := len(src)
	bd := &body{
		resources: make([]*desired.Resource, m+len(prev.resources)-n),
		enc:       make([][]byte, m),
		sums:      make([]digest, m),
		conds:     prev.conds,
		deps:      reads,
		settings:  prev.settings,
	}
	for i := 0; i < m; {
		s := src[i]
		if s < 0 {
			it := sinks[-1-s]
			bd.resources[i], bd.enc[i], bd.sums[i] = &it.r, it.full, it.sum
			i++
			continue
		}
		j := i + 1 // prev's resources are copied a run at a time
		for j < m && src[j] == s+int32(j-i) {
			j++
		}
		e := int(s) + j - i
		copy(bd.resources[i:j], prev.resources[s:e])
		copy(bd.enc[i:j], prev.enc[s:e])
		copy(bd.sums[i:j], prev.sums[s:e])
		i = j
	}
	copy(bd.resources[m:], prev.resources[n:])
	// The scratch's buffer only: the rest of a pooled scratch is empty.
	scr := scratchPool.Get().(*scratch)
	defer scratchPool.Put(scr)
	for _, in := range installs {
		i := slices.Index(src, int32(in.at))
		bd.resources[i], bd.enc[i] = in.r, in.enc
		scr.buf = appendResource(scr.buf[:0], in.r, in.enc)
		bd.sums[i] = sha256.Sum256(scr.buf)
	}
	scr.buf, bd.pkgDigest = runDigest(scr.buf, bd.sums)
	return bd
}

// sameRemovals reports whether two versions' supersedes remove the same, the same way.
func sameRemovals(a, b []supersede) bool {
	return slices.EqualFunc(a, b, func(x, y supersede) bool {
		return x.name == y.name && (x.old == nil) == (y.old == nil) && (x.old == nil || x.item.sum == y.item.sum)
	})
}

// changes reports whether the commit changes product id.
func (sc *slotChange) changes(id string) bool {
	return slices.ContainsFunc(sc.products, func(p *slotProduct) bool { return p.id == id })
}
