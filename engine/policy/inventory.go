package policy

import (
	"sync"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"

	"samverk.io/samverk/engine/catalog"
)

// inventory is the catalog in Rego's own values, converted once per evaluation and shared by
// every batch:
//
//	{"<Kind>": {"<name>" | "<namespace>/<name>": document}, "products": {"<product>": {"<package name>": document}}}
type inventory struct {
	cat   *catalog.Catalog
	docs  []ast.Value // parallel to cat.Docs
	value ast.Value
}

// Key is a document's key in the inventory: its name, or namespace/name when it has one.
func Key(kind, namespace, name string) string {
	if namespace == "" {
		return name
	}
	return namespace + "/" + name
}

func newInventory(cat *catalog.Catalog, workers int) *inventory {
	inv := &inventory{cat: cat, docs: make([]ast.Value, len(cat.Docs))}
	// Converting documents is most of the cost of a run; spread it over the workers.
	const chunk = 256
	var wg sync.WaitGroup
	next := make(chan int)
	for range max(1, min(workers, (len(cat.Docs)+chunk-1)/chunk)) {
		wg.Go(func() {
			cv := converter{keys: map[string]*ast.Term{}}
			for start := range next {
				for i := start; i < min(start+chunk, len(cat.Docs)); i++ {
					inv.docs[i] = cv.value(cat.Docs[i].Object)
				}
			}
		})
	}
	for start := 0; start < len(cat.Docs); start += chunk {
		next <- start
	}
	close(next)
	wg.Wait()

	byKind := map[string]ast.Object{}
	products := ast.NewObject()
	for i, d := range cat.Docs {
		obj := byKind[d.Kind]
		if obj == nil {
			obj = ast.NewObject()
			byKind[d.Kind] = obj
		}
		term := ast.NewTerm(inv.docs[i])
		obj.Insert(ast.StringTerm(Key(d.Kind, d.Namespace, d.Name)), term)
		if d.Kind == catalog.KindPackage {
			id, _ := d.Spec()["product"].(string)
			if id == "" {
				continue
			}
			key := ast.StringTerm(id)
			var versions ast.Object
			if t := products.Get(key); t != nil {
				versions = t.Value.(ast.Object)
			} else {
				versions = ast.NewObject()
				products.Insert(key, ast.NewTerm(versions))
			}
			versions.Insert(ast.StringTerm(d.Name), term)
		}
	}
	root := ast.NewObject(ast.Item(ast.StringTerm("products"), ast.NewTerm(products)))
	for _, k := range catalog.Kinds {
		obj := byKind[k]
		if obj == nil {
			obj = ast.NewObject()
		}
		root.Insert(ast.StringTerm(k), ast.NewTerm(obj))
	}
	inv.value = root
	return inv
}

// batches splits the documents into n inputs of about equal size, each kind spread evenly,
// every one with the whole inventory and the time:
//
//	{"now": RFC 3339, "today": "YYYY-MM-DD", "documents": {"<Kind>": [document, ...]}, "inventory": {...}}
func (inv *inventory) batches(n int, now time.Time) []ast.Value {
	now = now.UTC()
	parts := make([]map[string][]*ast.Term, n)
	for i := range parts {
		parts[i] = map[string][]*ast.Term{}
	}
	counts := map[string]int{}
	for _, d := range inv.cat.Docs {
		counts[d.Kind]++
	}
	seen := map[string]int{}
	for i, d := range inv.cat.Docs {
		// Contiguous slices of each kind: the k-th of c documents goes to batch k*n/c.
		b := seen[d.Kind] * n / counts[d.Kind]
		seen[d.Kind]++
		parts[b][d.Kind] = append(parts[b][d.Kind], ast.NewTerm(inv.docs[i]))
	}
	out := make([]ast.Value, n)
	for i, p := range parts {
		docs := ast.NewObject()
		for _, k := range catalog.Kinds {
			docs.Insert(ast.StringTerm(k), ast.ArrayTerm(p[k]...))
		}
		out[i] = ast.NewObject(
			ast.Item(ast.StringTerm("now"), ast.StringTerm(now.Format(time.RFC3339))),
			ast.Item(ast.StringTerm("today"), ast.StringTerm(now.Format(time.DateOnly))),
			ast.Item(ast.StringTerm("documents"), ast.NewTerm(docs)),
			ast.Item(ast.StringTerm("inventory"), ast.NewTerm(inv.value)),
		)
	}
	return out
}

// converter turns a loaded document's JSON-shaped value into Rego's, as ast.InterfaceToValue
// does, with less garbage: an object's terms come in one block, and the keys, which repeat
// across documents (apiVersion, metadata, spec, ...), are made once per converter.
type converter struct {
	keys map[string]*ast.Term
}

func (c *converter) key(k string) *ast.Term {
	t := c.keys[k]
	if t == nil {
		t = ast.StringTerm(k)
		c.keys[k] = t
	}
	return t
}

func (c *converter) value(x any) ast.Value {
	switch x := x.(type) {
	case nil:
		return ast.Null{}
	case bool:
		return ast.InternedTerm(x).Value
	case string:
		return ast.String(x)
	case int64:
		return ast.InternedTerm(x).Value
	case []any:
		terms := make([]ast.Term, len(x))
		ptrs := make([]*ast.Term, len(x))
		for i, e := range x {
			terms[i].Value = c.value(e)
			ptrs[i] = &terms[i]
		}
		return ast.NewArray(ptrs...)
	case map[string]any:
		vals := make([]ast.Term, len(x))
		items := make([][2]*ast.Term, 0, len(x))
		for k, v := range x {
			t := &vals[len(items)]
			t.Value = c.value(v)
			items = append(items, [2]*ast.Term{c.key(k), t})
		}
		return ast.NewObject(items...)
	}
	// Loaded documents hold only the types above; anything else is a loader bug, converted
	// the general way (or, failing that, left empty) so the run goes on.
	v, err := ast.InterfaceToValue(x)
	if err != nil {
		return ast.NewObject()
	}
	return v
}
