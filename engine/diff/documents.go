// Package diff tells what a change to the catalog does: documents added, changed and removed,
// policy findings new and fixed, and the effect on each member's devices.
package diff

import (
	"cmp"
	"fmt"
	"reflect"
	"slices"
	"sort"

	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/finding"
)

// Change kinds of a document.
const (
	Added   = "added"
	Changed = "changed"
	Removed = "removed"
)

// DocChange is one document that differs between base and head.
type DocChange struct {
	Document finding.DocRef `json:"document"`
	Change   string         `json:"change"`
	// File is where the document stands in head (in base, when removed).
	File   string        `json:"file"`
	Fields []FieldChange `json:"fields,omitempty"`
}

// FieldChange is one field that differs; Old or New is absent when the field was added or removed.
type FieldChange struct {
	Path string `json:"path"`
	Old  any    `json:"old,omitempty"`
	New  any    `json:"new,omitempty"`
}

// Documents compares two catalogs document by document, field by field.
func Documents(base, head *catalog.Catalog) []DocChange {
	var out []DocChange
	for _, h := range head.Docs {
		b := base.Get(h.Kind, h.Namespace, h.Name)
		if b == nil {
			out = append(out, DocChange{Document: h.Ref(), Change: Added, File: h.File})
			continue
		}
		var fields []FieldChange
		compare(catalog.Path{}, b.Object, h.Object, &fields)
		if len(fields) > 0 {
			out = append(out, DocChange{Document: h.Ref(), Change: Changed, File: h.File, Fields: fields})
		}
	}
	for _, b := range base.Docs {
		if head.Get(b.Kind, b.Namespace, b.Name) == nil {
			out = append(out, DocChange{Document: b.Ref(), Change: Removed, File: b.File})
		}
	}
	slices.SortFunc(out, func(a, b DocChange) int {
		return cmp.Or(cmp.Compare(a.Document.Kind, b.Document.Kind), cmp.Compare(a.Document.Namespace, b.Document.Namespace),
			cmp.Compare(a.Document.Name, b.Document.Name))
	})
	return out
}

// listKeys are the fields that identify an element of a list of mappings, so a reordered or
// inserted element shows as itself and not as every later index changing.
var listKeys = []string{"id", "osRelease", "product", "name", "test", "stage"}

func compare(path catalog.Path, a, b any, out *[]FieldChange) {
	switch av := a.(type) {
	case map[string]any:
		bv, ok := b.(map[string]any)
		if !ok {
			break
		}
		keys := make([]string, 0, len(av)+len(bv))
		for k := range av {
			keys = append(keys, k)
		}
		for k := range bv {
			if _, dup := av[k]; !dup {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			x, inA := av[k]
			y, inB := bv[k]
			switch {
			case !inA:
				*out = append(*out, FieldChange{Path: path.Append(k).String(), New: y})
			case !inB:
				*out = append(*out, FieldChange{Path: path.Append(k).String(), Old: x})
			default:
				compare(path.Append(k), x, y, out)
			}
		}
		return
	case []any:
		bv, ok := b.([]any)
		if !ok {
			break
		}
		if key := commonKey(av, bv); key != "" {
			compareKeyed(path, key, av, bv, out)
			return
		}
		for i := range max(len(av), len(bv)) {
			switch {
			case i >= len(av):
				*out = append(*out, FieldChange{Path: path.Append(i).String(), New: bv[i]})
			case i >= len(bv):
				*out = append(*out, FieldChange{Path: path.Append(i).String(), Old: av[i]})
			default:
				compare(path.Append(i), av[i], bv[i], out)
			}
		}
		return
	}
	if !reflect.DeepEqual(a, b) {
		*out = append(*out, FieldChange{Path: path.String(), Old: a, New: b})
	}
}

// commonKey returns a field that every element of both lists has, with unique values.
func commonKey(a, b []any) string {
	for _, k := range listKeys {
		if uniqueBy(a, k) && uniqueBy(b, k) {
			return k
		}
	}
	return ""
}

func uniqueBy(l []any, key string) bool {
	if len(l) == 0 {
		return false
	}
	seen := map[string]bool{}
	for _, el := range l {
		m, ok := el.(map[string]any)
		if !ok {
			return false
		}
		s, ok := m[key].(string)
		if !ok || seen[s] {
			return false
		}
		seen[s] = true
	}
	return true
}

// compareKeyed compares lists of mappings element by element, matched by key. Paths use the
// index in head (in base, for removed elements), so they point at a real line.
func compareKeyed(path catalog.Path, key string, a, b []any, out *[]FieldChange) {
	index := func(l []any) map[string]int {
		m := make(map[string]int, len(l))
		for i, el := range l {
			m[el.(map[string]any)[key].(string)] = i
		}
		return m
	}
	ai, bi := index(a), index(b)
	for j, el := range b {
		id := el.(map[string]any)[key].(string)
		i, ok := ai[id]
		if !ok {
			*out = append(*out, FieldChange{Path: path.Append(j).String(), New: el})
			continue
		}
		compare(path.Append(j), a[i], el, out)
	}
	for i, el := range a {
		id := el.(map[string]any)[key].(string)
		if _, ok := bi[id]; !ok {
			*out = append(*out, FieldChange{Path: fmt.Sprintf("%s (%s %s)", path.Append(i), key, id), Old: el})
		}
	}
}
