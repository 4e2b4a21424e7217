package refs

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/finding"
)

// graph is one kind of reference between named nodes, searched for cycles.
type graph struct {
	what   string                   // how the message names the relation, e.g. "baseline extends"
	field  func(i int) catalog.Path // the referring field of an edge's index
	labels []string                 // node labels, sorted
	edges  [][]edge                 // by node, sorted by target label
}

// edge is one reference: the field at index i of doc names node to.
type edge struct {
	to  int
	doc *catalog.Document
	i   int
}

// rawEdge is an edge between labels, before nodes are numbered.
type rawEdge struct {
	from, to string
	doc      *catalog.Document
	i        int
}

// newGraph numbers the labels in sorted order and keeps, for each pair of nodes, the edge whose
// document sorts first by name (then by field index), so reports do not depend on file order.
func newGraph(what string, field func(int) catalog.Path, labels []string, raw []rawEdge) *graph {
	slices.Sort(labels)
	labels = slices.Compact(labels)
	id := make(map[string]int, len(labels))
	for i, l := range labels {
		id[l] = i
	}
	g := &graph{what: what, field: field, labels: labels, edges: make([][]edge, len(labels))}
	for _, r := range raw {
		from, ok1 := id[r.from]
		to, ok2 := id[r.to]
		if ok1 && ok2 {
			g.edges[from] = append(g.edges[from], edge{to, r.doc, r.i})
		}
	}
	for v, es := range g.edges {
		if len(es) < 2 {
			continue
		}
		slices.SortFunc(es, func(a, b edge) int {
			return cmp.Or(cmp.Compare(a.to, b.to), cmp.Compare(a.doc.Name, b.doc.Name),
				cmp.Compare(a.doc.Namespace, b.doc.Namespace), cmp.Compare(a.i, b.i))
		})
		g.edges[v] = slices.CompactFunc(es, func(a, b edge) bool { return a.to == b.to })
	}
	return g
}

// cycles reports one finding per strongly connected component that has a cycle: the shortest
// cycle through its lexically first node, at that node's referring field.
func (g *graph) cycles() []finding.Finding {
	var out []finding.Finding
	for _, scc := range g.components() {
		start := slices.Min(scc)
		if len(scc) == 1 && !slices.ContainsFunc(g.edges[start], func(e edge) bool { return e.to == start }) {
			continue
		}
		in := make(map[int]bool, len(scc))
		for _, v := range scc {
			in[v] = true
		}
		cycle, first, ok := g.shortestCycle(start, in)
		if !ok {
			continue // cannot happen: every node of a component lies on a cycle
		}
		names := make([]string, len(cycle))
		onCycle := make(map[int]bool, len(cycle))
		for i, v := range cycle {
			names[i] = g.labels[v]
			onCycle[v] = true
		}
		msg := fmt.Sprintf("%s cycle: %s", g.what, strings.Join(names, " → "))
		var others []string
		for _, v := range scc {
			if !onCycle[v] {
				others = append(others, g.labels[v])
			}
		}
		if len(others) > 0 {
			slices.Sort(others)
			msg += fmt.Sprintf("; %s also in a cycle with these", strings.Join(others, ", "))
		}
		out = append(out, first.doc.Finding(finding.RuleRefCycle, finding.Deny, g.field(first.i), "%s", msg))
	}
	return out
}

// shortestCycle finds by breadth-first search the shortest path from start back to start
// within the component in, and returns it (start first and last) with its first edge.
func (g *graph) shortestCycle(start int, in map[int]bool) ([]int, edge, bool) {
	type step struct {
		from int
		via  edge
	}
	parent := map[int]step{}
	queue := []int{start}
	for len(queue) > 0 {
		u := queue[0]
		queue = queue[1:]
		for _, e := range g.edges[u] {
			if !in[e.to] {
				continue
			}
			if e.to == start {
				path := []int{start}
				last := e
				for v := u; v != start; v = parent[v].from {
					path = append(path, v)
					last = parent[v].via
				}
				path = append(path, start)
				slices.Reverse(path)
				return path, last, true
			}
			if _, seen := parent[e.to]; !seen {
				parent[e.to] = step{u, e}
				queue = append(queue, e.to)
			}
		}
	}
	return nil, edge{}, false
}

// components returns the strongly connected components (Tarjan's algorithm, without recursion
// so a long chain of references cannot exhaust the stack).
func (g *graph) components() [][]int {
	n := len(g.labels)
	index := make([]int, n)
	low := make([]int, n)
	onStack := make([]bool, n)
	for i := range index {
		index[i] = -1
	}
	var stack []int
	var out [][]int
	type frame struct{ v, next int }
	counter := 0
	for root := range n {
		if index[root] >= 0 {
			continue
		}
		call := []frame{{root, 0}}
		index[root], low[root] = counter, counter
		counter++
		stack = append(stack, root)
		onStack[root] = true
		for len(call) > 0 {
			f := &call[len(call)-1]
			v := f.v
			if f.next < len(g.edges[v]) {
				w := g.edges[v][f.next].to
				f.next++
				switch {
				case index[w] < 0:
					index[w], low[w] = counter, counter
					counter++
					stack = append(stack, w)
					onStack[w] = true
					call = append(call, frame{w, 0})
				case onStack[w]:
					low[v] = min(low[v], index[w])
				}
				continue
			}
			call = call[:len(call)-1]
			if len(call) > 0 {
				p := call[len(call)-1].v
				low[p] = min(low[p], low[v])
			}
			if low[v] == index[v] {
				var scc []int
				for {
					w := stack[len(stack)-1]
					stack = stack[:len(stack)-1]
					onStack[w] = false
					scc = append(scc, w)
					if w == v {
						break
					}
				}
				out = append(out, scc)
			}
		}
	}
	return out
}

// cycles reports the cycles of the three reference graphs that must be acyclic, from the edges
// collected while checking references.
func (c *checker) cycles() {
	c.out = append(c.out, newGraph("baseline extends", func(i int) catalog.Path { return catalog.Path{"spec", "extends", i} },
		labelsOf(c.cat.OfKind(catalog.KindBaseline), baselineLabel), c.extends).cycles()...)
	c.out = append(c.out, newGraph("service dependsOn", func(i int) catalog.Path { return catalog.Path{"spec", "dependsOn", i} },
		labelsOf(c.cat.OfKind(catalog.KindService), func(d *catalog.Document) string { return d.Name }), c.dependsOn).cycles()...)
	products := make([]string, 0, len(c.products))
	for id := range c.products {
		products = append(products, id)
	}
	c.out = append(c.out, newGraph("product dependency", func(i int) catalog.Path { return catalog.Path{"spec", "dependencies", i, "product"} },
		products, c.productDeps).cycles()...)
}

func labelsOf(docs []*catalog.Document, label func(*catalog.Document) string) []string {
	out := make([]string, len(docs))
	for i, d := range docs {
		out[i] = label(d)
	}
	return out
}

func baselineLabel(d *catalog.Document) string {
	if d.Namespace == "" {
		return d.Name
	}
	return d.Namespace + "/" + d.Name
}
