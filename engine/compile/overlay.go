package compile

import (
	"slices"
	"strings"

	"samverk.io/samverk/engine/desired"
)

// Overlay is what one device has on top of its group's state: products granted to it alone
// (Present), and products whose grant has ended (Absent). Ids are product ids, as a Service's
// spec.delivers.products names them.
//
// A present product is chosen as the group's own are (the highest version the group's ring
// accepts that supports the OS release the device will run, then its dependencies, and the
// superseded and retired versions to remove), with why "granted to this device". An absent
// product the group does not install itself is removed: the version the ring would choose
// for the device's OS release (else the highest that supports it, else the highest), as
// resource "package/<product>@<version>" with ensure absent. A product in both lists is
// present.
type Overlay struct {
	Present, Absent []string
}

// Why texts of a device's own products.
const (
	whyGranted   = "granted to this device"
	whyUngranted = "no longer granted to this device"
)

// Normal returns o with each list sorted and without repeats, and without the absent
// products that are also present.
func (o Overlay) Normal() Overlay {
	p := slices.Compact(slices.Sorted(slices.Values(o.Present)))
	a := slices.Compact(slices.Sorted(slices.Values(o.Absent)))
	a = slices.DeleteFunc(a, func(id string) bool {
		_, found := slices.BinarySearch(p, id)
		return found
	})
	return Overlay{Present: slices.Clip(p), Absent: slices.Clip(a)}
}

// IsZero reports whether o names no product.
func (o Overlay) IsZero() bool { return len(o.Present) == 0 && len(o.Absent) == 0 }

// Key is o's identity: equal for overlays that are equal once Normal, "" for none. Product
// ids hold neither newlines nor NULs (the schema restricts them to DNS labels).
func (o Overlay) Key() string {
	n := o
	if !o.normal() {
		n = o.Normal()
	}
	if n.IsZero() {
		return ""
	}
	return strings.Join(n.Present, "\n") + "\x00" + strings.Join(n.Absent, "\n")
}

// normal reports whether o is its own Normal form: it is, most often, and then needs no copy.
func (o Overlay) normal() bool {
	strictly := func(l []string) bool {
		for i := 1; i < len(l); i++ {
			if l[i-1] >= l[i] {
				return false
			}
		}
		return true
	}
	if !strictly(o.Present) || !strictly(o.Absent) {
		return false
	}
	for _, id := range o.Absent {
		if _, found := slices.BinarySearch(o.Present, id); found {
			return false
		}
	}
	return true
}

// splitOverlay is the inverse of Overlay.Key.
func splitOverlay(key string) (present, absent []string) {
	if key == "" {
		return nil, nil
	}
	p, a, _ := strings.Cut(key, "\x00")
	if p != "" {
		present = strings.Split(p, "\n")
	}
	if a != "" {
		absent = strings.Split(a, "\n")
	}
	return present, absent
}

// describeOverlay tells an overlay key for a person: "present a, b; absent c".
func describeOverlay(key string) string {
	p, a := splitOverlay(key)
	var parts []string
	if len(p) > 0 {
		parts = append(parts, "present "+strings.Join(p, ", "))
	}
	if len(a) > 0 {
		parts = append(parts, "absent "+strings.Join(a, ", "))
	}
	return strings.Join(parts, "; ")
}

// DesiredWith returns the desired state of dev with overlay o on top of its group's: a State
// of its own, with its own hash, shared with every device of the same outcome and overlay. A
// zero overlay gives what Desired gives. Products the catalog does not have are conditions of
// the State (see UnknownProducts to refuse them first).
func (c *Compiler) DesiredWith(dev Device, o Overlay) (*desired.State, Profile) {
	p, g := c.ix.profileOf(dev)
	oc := c.ix.outcomeOf(p, g)
	oc.extra = o.Key()
	return c.state(oc), p
}

// UnknownProducts returns the ids in ids that no Package document of the catalog has, sorted
// and without repeats; nil when every one is known.
func (c *Compiler) UnknownProducts(ids []string) []string { return c.ix.UnknownProducts(ids) }

// UnknownProducts returns the ids in ids that no Package document of the catalog has, sorted
// and without repeats; nil when every one is known.
func (ix *Index) UnknownProducts(ids []string) []string {
	var out []string
	for _, id := range ids {
		if ix.products[id] == nil {
			out = append(out, id)
		}
	}
	if out == nil {
		return nil
	}
	return slices.Compact(slices.Sorted(slices.Values(out)))
}

// removable is the version of prod a removal names when the device is to be rid of the
// product: the one ring would choose for os, else the highest that supports os, else the
// highest. Nil when prod has no versions.
func removable(prod *product, ring, os string) *pkg {
	if prod == nil || len(prod.versions) == 0 {
		return nil
	}
	var supported *pkg
	for _, v := range prod.versions {
		if !covers(v.spec.OSReleases, os) {
			continue
		}
		if accepts(ring, v.spec.Lifecycle.Stage) {
			return v
		}
		if supported == nil {
			supported = v
		}
	}
	if supported != nil {
		return supported
	}
	return prod.versions[0]
}
