package catalog

import (
	"cmp"
	"slices"

	"samverk.io/samverk/engine/finding"
)

// Catalog is a set of loaded documents with an index by kind, namespace and name.
type Catalog struct {
	// Docs are sorted by file and index within the file.
	Docs   []*Document
	byRef  map[finding.DocRef]*Document
	byKind map[string][]*Document
}

// New indexes docs in file order. A document whose ref an earlier one already has is left
// out, and returned as a duplicate beside the earlier one.
func New(docs []*Document) (c *Catalog, dups [][2]*Document) {
	slices.SortStableFunc(docs, func(a, b *Document) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Index, b.Index))
	})
	c = &Catalog{Docs: make([]*Document, 0, len(docs)), byRef: make(map[finding.DocRef]*Document, len(docs)), byKind: make(map[string][]*Document)}
	for _, d := range docs {
		ref := d.Ref()
		if first, dup := c.byRef[ref]; dup {
			dups = append(dups, [2]*Document{first, d})
			continue
		}
		c.Docs = append(c.Docs, d)
		c.byRef[ref] = d
		c.byKind[d.Kind] = append(c.byKind[d.Kind], d)
	}
	return c, dups
}

// Get returns the document of kind in namespace ns (empty for shared) named name, or nil.
func (c *Catalog) Get(kind, ns, name string) *Document {
	return c.byRef[finding.DocRef{Kind: kind, Namespace: ns, Name: name}]
}

// Resolve looks a name up first in namespace ns and then among shared documents, the way a
// member-scoped document refers to a kind that may be either.
func (c *Catalog) Resolve(kind, ns, name string) *Document {
	if ns != "" {
		if d := c.Get(kind, ns, name); d != nil {
			return d
		}
	}
	return c.Get(kind, "", name)
}

// OfKind returns the documents of kind, in file order.
func (c *Catalog) OfKind(kind string) []*Document {
	return c.byKind[kind]
}

// Len is the number of documents.
func (c *Catalog) Len() int { return len(c.Docs) }
