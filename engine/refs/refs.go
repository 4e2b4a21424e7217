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
	c.versions()
	return finding.Sort(c.out)
}

// product is what the catalog knows of one product id, which exists once a Package names it.
type product struct {
	// allRetired is set when every version's lifecycle stage is retired.
	allRetired bool
}

type checker struct {
	cat      *catalog.Catalog
	products map[string]*product
	// sharedNames holds the names of the shared documents of the kinds referred to most, so a
	// lookup hashes one string rather than a whole DocRef.
	sharedNames map[string]map[string]bool
	// retiredVia memoises, by service, the delivered products whose every version is retired.
	retiredVia map[string][]string
	// teams are the consortium teams Members name in spec.teams; an owner may be one.
	teams map[string]bool
	// names caches candidate names for suggestions, by kind and namespace.
	names map[[2]string][]string
	// Edges of the graphs that must be acyclic, collected while references are checked.
	extends, dependsOn, productDeps []rawEdge
	out                             []finding.Finding
}

func newChecker(cat *catalog.Catalog) *checker {
	c := &checker{cat: cat, products: make(map[string]*product), sharedNames: make(map[string]map[string]bool),
		retiredVia: make(map[string][]string), names: make(map[[2]string][]string)}
	for _, kind := range []string{catalog.KindOSRelease, catalog.KindMember, catalog.KindService, catalog.KindHardwareModel} {
		set := make(map[string]bool, len(cat.OfKind(kind)))
		for _, d := range cat.OfKind(kind) {
			if d.Namespace == "" {
				set[d.Name] = true
			}
		}
		c.sharedNames[kind] = set
	}
	c.teams = map[string]bool{}
	for _, m := range cat.OfKind(catalog.KindMember) {
		list, _ := m.Spec()["teams"].([]any)
		for _, t := range list {
			if name, ok := t.(string); ok {
				c.teams[name] = true
			}
		}
	}
	for _, d := range cat.OfKind(catalog.KindPackage) {
		spec := d.Spec()
		id, ok := str(spec["product"])
		if !ok {
			continue
		}
		p := c.products[id]
		if p == nil {
			p = &product{allRetired: true}
			c.products[id] = p
		}
		lc, _ := spec["lifecycle"].(map[string]any)
		if stage, _ := str(lc["stage"]); stage != catalog.StageRetired {
			p.allRetired = false
		}
	}
	return c
}

func (c *checker) add(f finding.Finding) { c.out = append(c.out, f) }

func (c *checker) document(d *catalog.Document) {
	if d.Owner != "" && !c.exists(catalog.KindMember, d.Owner) && !c.teams[d.Owner] {
		c.dangling(d, catalog.Path{"metadata", "owner"}, catalog.KindMember, "", d.Owner)
	}
	if d.Namespace != "" && !c.exists(catalog.KindMember, d.Namespace) {
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
	case catalog.KindOSRelease:
		c.osRelease(d, spec)
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

// osRelease checks the releases the upgrade paths start from.
func (c *checker) osRelease(d *catalog.Document, spec map[string]any) {
	up, _ := spec["upgrade"].(map[string]any)
	for i, v := range list(up["paths"]) {
		p, _ := v.(map[string]any)
		for j, from := range list(p["from"]) {
			c.shared(d, catalog.KindOSRelease, from, "spec", "upgrade", "paths", i, "from", j)
		}
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
	from, _ := str(spec["product"])
	for i, v := range list(spec["dependencies"]) {
		dep, _ := v.(map[string]any)
		c.product(d, dep["product"], "spec", "dependencies", i, "product")
		if to, ok := str(dep["product"]); ok && from != "" {
			c.productDeps = append(c.productDeps, rawEdge{from, to, d, i})
		}
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
		if to := c.cat.Resolve(catalog.KindBaseline, d.Namespace, name); to != nil {
			c.extends = append(c.extends, rawEdge{baselineLabel(d), baselineLabel(to), d, i})
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
		if to, ok := str(v); ok {
			c.dependsOn = append(c.dependsOn, rawEdge{d.Name, to, d, i})
		}
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
		if !c.exists(catalog.KindService, name) {
			c.dangling(d, catalog.Path{"spec", "services", i}, catalog.KindService, "", name)
			continue
		}
		for _, id := range c.retiredDelivered(name) {
			c.add(d.Finding(finding.RuleRefRetired, finding.Deny, catalog.Path{"spec", "services", i},
				"Service %q delivers product %q, whose every version is retired", name, id))
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
		if ns != "" && scope == catalog.Shared {
			c.add(d.Finding(finding.RuleRefDangling, finding.Deny, catalog.Path{"spec", "targets", i, "namespace"},
				"%s is a shared kind: %s %q has no namespace, so the target must not give one", kind, kind, name))
			continue
		}
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

// retiredDelivered returns the products service delivers whose every version is retired. A
// product that does not exist is reported at the service, not at each group using it.
func (c *checker) retiredDelivered(service string) []string {
	if ids, ok := c.retiredVia[service]; ok {
		return ids
	}
	var ids []string
	delivers, _ := c.cat.Get(catalog.KindService, "", service).Spec()["delivers"].(map[string]any)
	for _, v := range list(delivers["products"]) {
		if id, ok := str(v); ok && c.products[id] != nil && c.products[id].allRetired {
			ids = append(ids, id)
		}
	}
	c.retiredVia[service] = ids
	return ids
}

// exists reports whether a shared document of kind is called name.
func (c *checker) exists(kind, name string) bool {
	if set, ok := c.sharedNames[kind]; ok {
		return set[name]
	}
	return c.cat.Get(kind, "", name) != nil
}

// shared checks a reference to a shared document of kind; v is skipped unless it is a string.
func (c *checker) shared(d *catalog.Document, kind string, v any, path ...any) {
	name, ok := str(v)
	if !ok || c.exists(kind, name) {
		return
	}
	c.dangling(d, slices.Clone(catalog.Path(path)), kind, "", name)
}

// product checks a reference to a product id: some Package must have spec.product equal to it.
func (c *checker) product(d *catalog.Document, v any, path ...any) {
	id, ok := str(v)
	if !ok {
		return
	}
	if c.products[id] != nil {
		return
	}
	msg := fmt.Sprintf("product %q does not exist: no Package has spec.product %q", id, id)
	if s := c.suggestProduct(id); s != "" {
		msg += "; did you mean " + s + "?"
	}
	c.add(d.Finding(finding.RuleRefDangling, finding.Deny, slices.Clone(catalog.Path(path)), "%s", msg))
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
		for p := range c.products {
			cands = append(cands, p)
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
