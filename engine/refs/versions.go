package refs

import (
	"cmp"
	"fmt"
	"slices"

	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/finding"
	"samverk.io/samverk/engine/pkgversion"
)

// release is one Package document's version of its product.
type release struct {
	d       *catalog.Document
	version string
	shape   pkgversion.Shape
}

var versionPath = catalog.Path{"spec", "version"}

// versions checks the versions of each product against each other: two documents whose
// versions compare equal are an error (a device would get either), and a version written in
// another shape than most of the product's versions is a warning.
func (c *checker) versions() {
	byProduct := map[string][]release{}
	var products []string
	for _, d := range c.cat.OfKind(catalog.KindPackage) {
		spec := d.Spec()
		id, ok := str(spec["product"])
		if !ok {
			continue
		}
		v, ok := str(spec["version"])
		if !ok || v == "" {
			continue
		}
		if _, seen := byProduct[id]; !seen {
			products = append(products, id)
		}
		byProduct[id] = append(byProduct[id], release{d, v, pkgversion.ShapeOf(v)})
	}
	slices.Sort(products)
	for _, id := range products {
		rs := byProduct[id]
		// Where the documents are, so that "the first" is the same in every run.
		slices.SortStableFunc(rs, func(a, b release) int {
			return cmp.Or(cmp.Compare(a.d.File, b.d.File), cmp.Compare(a.d.Start.Line, b.d.Start.Line))
		})
		c.sameVersions(id, rs)
		c.versionShapes(id, rs)
	}
}

func (c *checker) sameVersions(id string, rs []release) {
	for i, r := range rs {
		for _, first := range rs[:i] {
			if pkgversion.Compare(r.version, first.version) != 0 {
				continue
			}
			p := first.d.Pos(versionPath)
			c.add(r.d.Finding(finding.RuleRefSameVersion, finding.Deny, versionPath,
				"version %q of product %q is the same release as %q of %s at %s:%d:%d; keep one document per release",
				r.version, id, first.version, first.d.Ref(), first.d.File, p.Line, p.Column))
			break
		}
	}
}

func (c *checker) versionShapes(id string, rs []release) {
	if len(rs) < 2 {
		return
	}
	count := map[pkgversion.Shape]int{}
	for _, r := range rs {
		count[r.shape]++
	}
	if len(count) < 2 {
		return
	}
	// The usual shape is the most common one; between equally common ones, that of the oldest
	// version, which the product had first.
	oldest := slices.MinFunc(rs, func(a, b release) int { return pkgversion.CompareTotal(a.version, b.version) })
	usual := oldest.shape
	for _, r := range rs {
		if count[r.shape] > count[usual] {
			usual = r.shape
		}
	}
	var example release
	for _, r := range rs {
		if r.shape == usual {
			example = r
			break
		}
	}
	p := example.d.Pos(versionPath)
	for _, r := range rs {
		if r.shape == usual {
			continue
		}
		c.add(r.d.Finding(finding.RuleRefVersionForm, finding.Warn, versionPath,
			"version %q is written %s, but product %q has versions written %s, such as %q at %s:%d:%d; %s",
			r.version, r.shape, id, usual, example.version, example.d.File, p.Line, p.Column, shapeAdvice(r.shape, usual)))
	}
}

// shapeAdvice says what a difference of shape does to the order of versions.
func shapeAdvice(got, usual pkgversion.Shape) string {
	if got.Scheme != usual.Scheme {
		return fmt.Sprintf("a %s version and a %s one do not order the way their releases do, so the highest version may not be the newest release", got.Scheme, usual.Scheme)
	}
	return "check that it is the vendor's version as the product reports it, or the highest version may not be the newest release"
}
