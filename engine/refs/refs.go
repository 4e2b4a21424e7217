// Package refs resolves the references between catalog documents: every name a document gives
// for another must exist, without cycles, and no device group may rely on a retired product.
package refs

import (
	"fmt"
	"slices"
	"strings"

	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/finding"
)

// Check resolves every reference in cat and returns one finding per problem, sorted. It reads
// the generic Object of each document, so documents that failed the schema are checked as far
// as their shape allows: a field of the wrong type is skipped, never a panic.
func Check(cat *catalog.Catalog) []finding.Finding {
	c := newChecker(cat)
	for _, d := range cat.Docs {
		c.document(d)
	}
	c.cycles()
	return finding.Sort(c.out)
}

// product is what the catalog knows of one product id: its versions.
type product struct {
	versions    []*catalog.Document
	allRetired  bool
	hasVersions bool
}

type checker struct {
	cat      *catalog.Catalog
	products map[string]*product
	// names caches candidate names for suggestions, by kind and namespace.
	names map[[2]string][]string
	out   []finding.Finding
}

func newChecker(cat *catalog.Catalog) *checker {
	c := &checker{cat: cat, products: make(map[string]*product), names: make(map[[2]string][]string)}
	for _, d := range cat.OfKind(catalog.KindPackage) {
		id, ok := str(d.Spec()["product"])
		if !ok {
			continue
		}
		p := c.products[id]
		if p == nil {
			p = &product{allRetired: true}
			c.products[id] = p
		}
		p.versions = append(p.versions, d)
		p.hasVersions = true
		lc, _ := d.Spec()["lifecycle"].(map[string]any)
		if stage, _ := str(lc["stage"]); stage != catalog.StageRetired {
			p.allRetired = false
		}
	}
	return c
}

func (c *checker) add(f finding.Finding) { c.out = append(c.out, f) }

func (c *checker) document(d *catalog.Document) {
	if d.Owner != "" && c.cat.Get(catalog.KindMember, "", d.Owner) == nil {
		c.dangling(d, catalog.Path{"metadata", "owner"}, catalog.KindMember, "", d.Owner)
	}
	if d.Namespace != "" && c.cat.Get(catalog.KindMember, "", d.Namespace) == nil {
		msg := fmt.Sprintf("namespace %q is not a Member: a %s's namespace must name the Member that owns it", d.Namespace, d.Kind)
		if s := c.suggest(catalog.KindMember, "", d.Namespace); s != "" {
			msg += "; did you mean " + s + "?"
		}
		c.add(d.Finding(finding.RuleRefMember, finding.Deny, catalog.Path{"metadata", "namespace"}, "%s", msg))
	}
	spec := d.Spec()
	if spec == nil {
		return
	}
	switch d.Kind {
	case catalog.KindHardwareModel:
		c.hardwareModel(d, spec)
	case catalog.KindPackage:
		c.pkg(d, spec)
	case catalog.KindBaseline:
		c.baseline(d, spec)
	case catalog.KindService:
		c.service(d, spec)
	case catalog.KindDeviceGroup:
		c.deviceGroup(d, spec)
	case catalog.KindWaiver:
		c.waiver(d, spec)
	}
}

func (c *checker) hardwareModel(d *catalog.Document, spec map[string]any) {
	for i, v := range list(spec["certifications"]) {
		cert, _ := v.(map[string]any)
		c.shared(d, catalog.KindOSRelease, cert["osRelease"], "spec", "certifications", i, "osRelease")
		c.shared(d, catalog.KindMember, cert["member"], "spec", "certifications", i, "member")
	}
	c.product(d, spec["driverPackage"], "spec", "driverPackage")
}

func (c *checker) pkg(d *catalog.Document, spec map[string]any) {
	for i, v := range list(spec["osReleases"]) {
		c.shared(d, catalog.KindOSRelease, v, "spec", "osReleases", i)
	}
	for i, v := range list(spec["dependencies"]) {
		dep, _ := v.(map[string]any)
		c.product(d, dep["product"], "spec", "dependencies", i, "product")
	}
	for i, v := range list(spec["supersedes"]) {
		c.shared(d, catalog.KindPackage, v, "spec", "supersedes", i)
	}
	lc, _ := spec["lifecycle"].(map[string]any)
	for i, v := range list(lc["records"]) {
		rec, _ := v.(map[string]any)
		c.shared(d, catalog.KindMember, rec["member"], "spec", "lifecycle", "records", i, "member")
	}
}

func (c *checker) baseline(d *catalog.Document, spec map[string]any) {
	for i, v := range list(spec["osReleases"]) {
		c.shared(d, catalog.KindOSRelease, v, "spec", "osReleases", i)
	}
	for i, v := range list(spec["extends"]) {
		name, ok := str(v)
		if !ok {
			continue
		}
		if c.cat.Resolve(catalog.KindBaseline, d.Namespace, name) != nil {
			continue
		}
		path := catalog.Path{"spec", "extends", i}
		if d.Namespace == "" {
			if ns := c.memberBaseline(name); ns != "" {
				c.add(d.Finding(finding.RuleRefDangling, finding.Deny, path,
					"Baseline %q exists only in member namespace %s: a shared baseline may not extend a member-scoped one", name, ns))
				continue
			}
		}
		c.dangling(d, path, catalog.KindBaseline, d.Namespace, name)
	}
}

// memberBaseline returns the first namespace (in name order) that has a baseline called name.
func (c *checker) memberBaseline(name string) string {
	var nss []string
	for _, b := range c.cat.OfKind(catalog.KindBaseline) {
		if b.Namespace != "" && b.Name == name {
			nss = append(nss, b.Namespace)
		}
	}
	if len(nss) == 0 {
		return ""
	}
	return slices.Min(nss)
}

func (c *checker) service(d *catalog.Document, spec map[string]any) {
	delivers, _ := spec["delivers"].(map[string]any)
	for i, v := range list(delivers["products"]) {
		c.product(d, v, "spec", "delivers", "products", i)
	}
	for i, v := range list(spec["dependsOn"]) {
		c.shared(d, catalog.KindService, v, "spec", "dependsOn", i)
	}
	rb, _ := spec["requestableBy"].(map[string]any)
	for i, v := range list(rb["members"]) {
		c.shared(d, catalog.KindMember, v, "spec", "requestableBy", "members", i)
	}
}

func (c *checker) deviceGroup(d *catalog.Document, spec map[string]any) {
	c.shared(d, catalog.KindOSRelease, spec["osRelease"], "spec", "osRelease")
	for i, v := range list(spec["baselines"]) {
		name, ok := str(v)
		if ok && c.cat.Resolve(catalog.KindBaseline, d.Namespace, name) == nil {
			c.dangling(d, catalog.Path{"spec", "baselines", i}, catalog.KindBaseline, d.Namespace, name)
		}
	}
	for i, v := range list(spec["services"]) {
		name, ok := str(v)
		if !ok {
			continue
		}
		svc := c.cat.Get(catalog.KindService, "", name)
		if svc == nil {
			c.dangling(d, catalog.Path{"spec", "services", i}, catalog.KindService, "", name)
			continue
		}
		// A product the service delivers that does not exist is reported at the service.
		delivers, _ := svc.Spec()["delivers"].(map[string]any)
		for _, pv := range list(delivers["products"]) {
			id, ok := str(pv)
			if p := c.products[id]; ok && p != nil && p.allRetired {
				c.add(d.Finding(finding.RuleRefRetired, finding.Deny, catalog.Path{"spec", "services", i},
					"Service %q delivers product %q, whose every version is retired", name, id))
			}
		}
	}
	for i, v := range list(spec["products"]) {
		id, ok := str(v)
		if !ok {
			continue
		}
		if p := c.products[id]; p != nil && p.allRetired {
			c.add(d.Finding(finding.RuleRefRetired, finding.Deny, catalog.Path{"spec", "products", i},
				"every version of product %q is retired", id))
			continue
		}
		c.product(d, v, "spec", "products", i)
	}
	sel, _ := spec["selector"].(map[string]any)
	for i, v := range list(sel["hardwareModels"]) {
		c.shared(d, catalog.KindHardwareModel, v, "spec", "selector", "hardwareModels", i)
	}
}

func (c *checker) waiver(d *catalog.Document, spec map[string]any) {
	for i, v := range list(spec["targets"]) {
		t, _ := v.(map[string]any)
		kind, _ := str(t["kind"])
		name, ok := str(t["name"])
		scope, known := catalog.ScopeOf(kind)
		if !ok || !known {
			continue // the schema reports a target without a usable kind or name
		}
		path := catalog.Path{"spec", "targets", i, "name"}
		ns, _ := str(t["namespace"])
		if ns != "" {
			if c.cat.Get(kind, ns, name) == nil {
				c.dangling(d, path, kind, ns, name)
			}
			continue
		}
		// Without a namespace, a target is looked up in the waiver's own namespace, then shared.
		if c.cat.Resolve(kind, d.Namespace, name) != nil {
			continue
		}
		if scope == catalog.MemberScoped && d.Namespace == "" {
			c.add(d.Finding(finding.RuleRefDangling, finding.Deny, path,
				"%s %q needs a namespace: a shared waiver must say which Member's %s it means", kind, name, kind))
			continue
		}
		c.dangling(d, path, kind, d.Namespace, name)
	}
}

// shared checks a reference to a shared document of kind; v is skipped unless it is a string.
func (c *checker) shared(d *catalog.Document, kind string, v any, path ...any) {
	name, ok := str(v)
	if !ok || c.cat.Get(kind, "", name) != nil {
		return
	}
	c.dangling(d, catalog.Path(path), kind, "", name)
}

// product checks a reference to a product id: some Package must have spec.product equal to it.
func (c *checker) product(d *catalog.Document, v any, path ...any) {
	id, ok := str(v)
	if !ok {
		return
	}
	if p := c.products[id]; p != nil && p.hasVersions {
		return
	}
	msg := fmt.Sprintf("product %q does not exist: no Package has spec.product %q", id, id)
	if s := c.suggestProduct(id); s != "" {
		msg += "; did you mean " + s + "?"
	}
	c.add(d.Finding(finding.RuleRefDangling, finding.Deny, catalog.Path(path), "%s", msg))
}

// dangling reports that name, of kind, resolves neither in namespace ns (when set) nor among
// shared documents.
func (c *checker) dangling(d *catalog.Document, path catalog.Path, kind, ns, name string) {
	var msg string
	scope, _ := catalog.ScopeOf(kind)
	switch {
	case ns == "":
		msg = fmt.Sprintf("%s %q does not exist", kind, name)
	case scope == catalog.MemberScoped:
		msg = fmt.Sprintf("%s %q does not exist in namespace %s", kind, name, ns)
	default:
		msg = fmt.Sprintf("%s %q does not exist in namespace %s or among shared %ss", kind, name, ns, strings.ToLower(kind))
	}
	s := c.suggest(kind, ns, name)
	if s == "" && ns != "" && scope != catalog.MemberScoped {
		s = c.suggest(kind, "", name)
	}
	if s != "" {
		msg += "; did you mean " + s + "?"
	}
	c.add(d.Finding(finding.RuleRefDangling, finding.Deny, path, "%s", msg))
}

func (c *checker) suggest(kind, ns, name string) string {
	key := [2]string{kind, ns}
	cands, ok := c.names[key]
	if !ok {
		for _, d := range c.cat.OfKind(kind) {
			if d.Namespace == ns {
				cands = append(cands, d.Name)
			}
		}
		slices.Sort(cands)
		c.names[key] = cands
	}
	return closest(name, cands)
}

func (c *checker) suggestProduct(id string) string {
	key := [2]string{"product", ""}
	cands, ok := c.names[key]
	if !ok {
		for p, info := range c.products {
			if info.hasVersions {
				cands = append(cands, p)
			}
		}
		slices.Sort(cands)
		c.names[key] = cands
	}
	return closest(id, cands)
}

func str(v any) (string, bool) {
	s, ok := v.(string)
	return s, ok && s != ""
}

func list(v any) []any {
	l, _ := v.([]any)
	return l
}
