// Package catalog is the document model of a samverk catalog: documents with the source
// position of every field, loaded from a directory or any fs.FS (a Git snapshot).
package catalog

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"samverk.io/samverk/engine/finding"
)

// APIVersion is the only apiVersion samverk accepts today.
const APIVersion = "samverk.io/v1"

// Kinds of documents.
const (
	KindOSRelease     = "OSRelease"
	KindHardwareModel = "HardwareModel"
	KindPackage       = "Package"
	KindBaseline      = "Baseline"
	KindService       = "Service"
	KindMember        = "Member"
	KindDeviceGroup   = "DeviceGroup"
	KindWaiver        = "Waiver"
	KindRolloutPolicy = "RolloutPolicy"
)

// Kinds lists every kind, in the order documentation and output use.
var Kinds = []string{KindOSRelease, KindHardwareModel, KindPackage, KindBaseline, KindService, KindMember, KindDeviceGroup, KindWaiver, KindRolloutPolicy}

// Scope says whether a kind's documents have a namespace.
type Scope int

const (
	Shared       Scope = iota // never namespaced
	MemberScoped              // always namespaced by the owning Member
	EitherScope               // shared, or namespaced by a Member
)

// ScopeOf returns the scope of kind, and false for an unknown kind.
func ScopeOf(kind string) (Scope, bool) {
	switch kind {
	case KindOSRelease, KindHardwareModel, KindPackage, KindService, KindMember:
		return Shared, true
	case KindDeviceGroup:
		return MemberScoped, true
	case KindBaseline, KindWaiver, KindRolloutPolicy:
		return EitherScope, true
	}
	return 0, false
}

// Pos is a 1-based line and column in a file.
type Pos struct {
	Line   int `json:"line"`
	Column int `json:"column"`
}

// Document is one catalog document. Object holds the whole document as JSON-shaped values
// (map[string]any, []any, string, int64, float64, bool, nil); positions map field paths to
// where they stand in the source.
type Document struct {
	File       string // slash-separated, relative to the catalog root
	Index      int    // position of the document within its file, from 0
	Start      Pos    // where the document begins
	APIVersion string
	Kind       string
	Name       string
	Namespace  string
	Owner      string
	Labels     map[string]string
	Object     map[string]any

	// positions in source order; looked up only when a finding is made, so a slice beats a map.
	positions []posEntry
}

type posEntry struct {
	path string
	pos  Pos
}

// Ref names the document.
func (d *Document) Ref() finding.DocRef {
	return finding.DocRef{Kind: d.Kind, Namespace: d.Namespace, Name: d.Name}
}

// Spec returns the document's spec field, or nil.
func (d *Document) Spec() map[string]any {
	s, _ := d.Object["spec"].(map[string]any)
	return s
}

// DecodeSpec decodes the spec into v (a pointer to one of the *Spec types) via JSON.
func (d *Document) DecodeSpec(v any) error {
	b, err := json.Marshal(d.Object["spec"])
	if err != nil {
		return fmt.Errorf("%s: encode spec: %w", d.Ref(), err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: decode spec: %w", d.Ref(), err)
	}
	return nil
}

// Pos returns where the field at path stands. A path that does not exist (a missing field)
// resolves to its nearest existing ancestor, and at worst to the document's start.
func (d *Document) Pos(path Path) Pos {
	key := path.String()
	for {
		if p, ok := d.lookupPos(key); ok {
			return p
		}
		if key == "" {
			return d.Start
		}
		key = parentKey(key)
	}
}

// Finding builds a finding about the field at path of this document.
func (d *Document) Finding(rule string, sev finding.Severity, path Path, format string, args ...any) finding.Finding {
	p := d.Pos(path)
	ref := d.Ref()
	return finding.Finding{
		Rule: rule, Severity: sev, Message: fmt.Sprintf(format, args...),
		File: d.File, Line: p.Line, Column: p.Column,
		Path: path.String(), Document: &ref,
	}
}

// SetPos records the position of the field at the printed path, replacing an earlier one.
func (d *Document) SetPos(path string, p Pos) {
	for i := range d.positions {
		if d.positions[i].path == path {
			d.positions[i].pos = p
			return
		}
	}
	d.addPos(path, p)
}

// addPos records a position for a path not recorded yet (the loaders' fast path).
func (d *Document) addPos(path string, p Pos) {
	d.positions = append(d.positions, posEntry{path, p})
}

func (d *Document) lookupPos(path string) (Pos, bool) {
	for _, e := range d.positions {
		if e.path == path {
			return e.pos, true
		}
	}
	return Pos{}, false
}

// Lookup returns the value at path in Object.
func (d *Document) Lookup(path Path) (any, bool) {
	var cur any = d.Object
	for _, el := range path {
		switch k := el.(type) {
		case string:
			m, ok := cur.(map[string]any)
			if !ok {
				return nil, false
			}
			if cur, ok = m[k]; !ok {
				return nil, false
			}
		case int:
			l, ok := cur.([]any)
			if !ok || k < 0 || k >= len(l) {
				return nil, false
			}
			cur = l[k]
		default:
			return nil, false
		}
	}
	return cur, true
}

// Path is a field path inside a document: string elements are field names, int elements list
// indices. It prints as "spec.certifications[2].evidence".
type Path []any

// ParsePath reads the printed form back.
func ParsePath(s string) Path {
	var p Path
	for s != "" {
		switch s[0] {
		case '.':
			s = s[1:]
		case '[':
			end := strings.IndexByte(s, ']')
			if end < 0 {
				return append(p, s)
			}
			inner := s[1:end]
			if n, err := strconv.Atoi(inner); err == nil {
				p = append(p, n)
			} else {
				p = append(p, unquoteKey(inner))
			}
			s = s[end+1:]
		default:
			end := strings.IndexAny(s, ".[")
			if end < 0 {
				end = len(s)
			}
			p = append(p, s[:end])
			s = s[end:]
		}
	}
	return p
}

func (p Path) String() string {
	var b strings.Builder
	for _, el := range p {
		switch v := el.(type) {
		case int:
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(v))
			b.WriteByte(']')
		case string:
			if plainKey(v) {
				if b.Len() > 0 {
					b.WriteByte('.')
				}
				b.WriteString(v)
			} else {
				b.WriteString("[")
				b.WriteString(strconv.Quote(v))
				b.WriteString("]")
			}
		default:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			fmt.Fprint(&b, v)
		}
	}
	return b.String()
}

// Append returns a new path with els added; p itself is not changed.
func (p Path) Append(els ...any) Path {
	out := make(Path, 0, len(p)+len(els))
	return append(append(out, p...), els...)
}

func plainKey(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r == '-' || r == '_' || r == '/' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

func unquoteKey(s string) string {
	if u, err := strconv.Unquote(s); err == nil {
		return u
	}
	return s
}

// parentKey strips the last element of a printed path.
func parentKey(key string) string {
	if strings.HasSuffix(key, "]") {
		if i := strings.LastIndexByte(key, '['); i >= 0 {
			return key[:i]
		}
	}
	if i := strings.LastIndexAny(key, ".]"); i >= 0 {
		if key[i] == ']' {
			return key[:i+1]
		}
		return key[:i]
	}
	return ""
}
