package catalog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"samverk.io/samverk/engine/blockyaml"
	"samverk.io/samverk/engine/finding"
)

// scratches keep memory from one file to the next: ParseYAML allocates it for the first few
// files only.
var scratches = sync.Pool{New: func() any { return new(scratch) }}

// maxPooledFile is the largest file whose scratch goes back to the pool.
const maxPooledFile = 256 << 10

type scratch struct {
	parser  blockyaml.Parser
	paths   []byte // a converter's
	pending []span
}

// ParseYAML reads every document of a YAML file. maxNodes bounds how many nodes one document
// may expand to through aliases. Problems come back as findings, never as panics.
func ParseYAML(file string, src []byte, maxNodes int) (docs []*Document, findings []finding.Finding) {
	defer func() {
		// yaml.v3 has panicked on hostile input before; a file must never take the loader down.
		if r := recover(); r != nil {
			docs = nil
			findings = []finding.Finding{{Rule: finding.RuleYAMLSyntax, Severity: finding.Deny, File: file,
				Message: fmt.Sprintf("YAML cannot be parsed: %v", r)}}
		}
	}()
	if maxNodes <= 0 {
		maxNodes = 100_000
	}
	if f, ok := checkUTF8(file, src); !ok {
		return nil, []finding.Finding{f}
	}
	sc := scratches.Get().(*scratch)
	defer func() {
		// What a large file (or a document of many aliases) made the scratch grow to is not kept.
		if len(src) <= maxPooledFile && cap(sc.paths) <= maxPooledFile {
			scratches.Put(sc)
		}
	}()
	fd := fileDocs{file: file, maxNodes: maxNodes, scratch: sc}
	// Most catalog files are plain block YAML, which blockyaml reads into the same trees several
	// times faster; it leaves everything else, errors included, to yaml.v3.
	if nodes, ok := sc.parser.Parse(src); ok {
		for _, n := range nodes {
			fd.add(n) // keeps no node, only strings: the parser may reuse the nodes
		}
		return fd.docs, fd.findings
	}
	dec := yaml.NewDecoder(bytes.NewReader(src))
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return fd.docs, fd.findings
		}
		if err != nil {
			fd.findings = append(fd.findings, yamlSyntax(file, src, err))
			return fd.docs, fd.findings
		}
		fd.add(&n)
	}
}

// fileDocs collects the documents of one file and the findings about them.
type fileDocs struct {
	file     string
	maxNodes int
	index    int // of the next document
	docs     []*Document
	findings []finding.Finding
	scratch  *scratch
}

// add converts a document node, as yaml.v3 decodes it, to a Document.
func (fd *fileDocs) add(n *yaml.Node) {
	if n.Kind != yaml.DocumentNode || len(n.Content) == 0 {
		return
	}
	root := n.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return // an empty document between separators
	}
	file, maxNodes := fd.file, fd.maxNodes
	c := converter{file: file, budget: maxNodes, paths: fd.scratch.paths[:0], pending: fd.scratch.pending[:0]}
	d := &Document{File: file, Index: fd.index, Start: Pos{root.Line, root.Column}}
	d.positions = make([]posEntry, 0, countPositions(root, maxNodes))
	fd.index++
	v := c.value(root, span{}, d)
	c.flush(d)
	fd.scratch.paths, fd.scratch.pending = c.paths, c.pending // for the next document
	if c.exhausted {
		fd.findings = append(fd.findings, finding.Finding{Rule: finding.RuleAliasBomb, Severity: finding.Deny,
			File: file, Line: root.Line, Column: root.Column,
			Message: fmt.Sprintf("document expands to more than %d nodes through aliases; refused", maxNodes)})
		return
	}
	fd.findings = append(fd.findings, c.findings...)
	obj, ok := v.(map[string]any)
	if !ok {
		fd.findings = append(fd.findings, finding.Finding{Rule: finding.RuleYAMLSyntax, Severity: finding.Deny,
			File: file, Line: root.Line, Column: root.Column,
			Message: fmt.Sprintf("a document must be a mapping with apiVersion, kind, metadata and spec; got %s", describe(v))})
		return
	}
	d.Object = obj
	fillIdentity(d)
	fd.docs = append(fd.docs, d)
}

// fillIdentity copies apiVersion, kind and metadata out of the document object.
func fillIdentity(d *Document) {
	d.APIVersion, _ = d.Object["apiVersion"].(string)
	d.Kind, _ = d.Object["kind"].(string)
	md, _ := d.Object["metadata"].(map[string]any)
	d.Name, _ = md["name"].(string)
	d.Namespace, _ = md["namespace"].(string)
	d.Owner, _ = md["owner"].(string)
	if labels, ok := md["labels"].(map[string]any); ok {
		d.Labels = make(map[string]string, len(labels))
		for k, v := range labels {
			if s, ok := v.(string); ok {
				d.Labels[k] = s
			}
		}
	}
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func yamlSyntax(file string, src []byte, err error) finding.Finding {
	f := finding.Finding{Rule: finding.RuleYAMLSyntax, Severity: finding.Deny, File: file, Message: err.Error()}
	if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
		f.Line, _ = strconv.Atoi(m[1])
		f.Message = m[2]
		// yaml.v3 says "found character that cannot start any token" of a tab; say what it is.
		if col := indentTab(src, f.Line); col > 0 && strings.Contains(f.Message, "cannot start any token") {
			f.Column = col
			f.Message = "a tab in the indentation: YAML indents with spaces only"
		}
	} else {
		f.Message = strings.TrimPrefix(f.Message, "yaml: ")
	}
	return f
}

type converter struct {
	file      string
	budget    int
	exhausted bool
	findings  []finding.Finding

	// The paths of the positions recorded are printed into paths, and become strings only when
	// flushed, all of a document's in one: a string for each field would cost an allocation.
	paths      []byte
	pending    []span // where the paths of d.positions[flushed:] stand in paths
	flushed    int
	flushedEnd int // paths[:flushedEnd] has been flushed
}

// span is where a printed path stands in converter.paths.
type span struct{ start, end int }

// value converts a node to a JSON-shaped value and records positions under the printed path
// key. Aliases are expanded against the budget, so a billion-laughs document stops early.
func (c *converter) value(n *yaml.Node, key span, d *Document) any {
	c.budget--
	if c.budget < 0 {
		c.exhausted = true
		return nil
	}
	switch n.Kind {
	case yaml.AliasNode:
		if n.Alias == nil {
			return nil
		}
		return c.value(n.Alias, key, d)
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		var merged map[string]bool // keys that came from a merge key; explicit keys override them
		for i := 0; i+1 < len(n.Content) && !c.exhausted; i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Tag == "!!merge" || (k.Kind == yaml.ScalarNode && k.Value == "<<" && k.Style == 0) {
				if merged == nil {
					merged = map[string]bool{}
				}
				c.merge(m, v, key, d, merged)
				continue
			}
			name := k.Value
			child := c.field(key, name)
			if _, dup := m[name]; dup && !merged[name] {
				c.flush(d)
				path := string(c.paths[child.start:child.end])
				c.findings = append(c.findings, finding.Finding{Rule: finding.RuleDuplicateKey, Severity: finding.Deny,
					File: c.file, Line: k.Line, Column: k.Column, Path: path,
					Message: fmt.Sprintf("key %q is already set at line %d", name, d.Pos(ParsePath(path)).Line)})
				continue
			}
			// A field points at its key, where a reader looks for it; the value may be far below.
			if merged != nil {
				delete(merged, name)
				c.flush(d)
				d.SetPos(string(c.paths[child.start:child.end]), Pos{k.Line, k.Column}) // may replace a merged field's position
				c.flushed = len(d.positions)
			} else {
				c.addPos(d, child, Pos{k.Line, k.Column})
			}
			m[name] = c.value(v, child, d)
		}
		return m
	case yaml.SequenceNode:
		l := make([]any, 0, len(n.Content))
		for i, el := range n.Content {
			if c.exhausted {
				break
			}
			child := c.index(key, i)
			c.addPos(d, child, Pos{el.Line, el.Column})
			l = append(l, c.value(el, child, d))
		}
		return l
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil
		}
		return c.value(n.Content[0], key, d)
	}
	return scalar(n)
}

// addPos records a position for a path not recorded yet; its path is filled in by flush.
func (c *converter) addPos(d *Document, path span, p Pos) {
	d.addPos("", p)
	c.pending = append(c.pending, path)
}

// flush gives the positions recorded since the last flush their paths.
func (c *converter) flush(d *Document) {
	if len(c.pending) == 0 {
		return
	}
	s := string(c.paths[c.flushedEnd:])
	for i, sp := range c.pending {
		d.positions[c.flushed+i].path = s[sp.start-c.flushedEnd : sp.end-c.flushedEnd]
	}
	c.flushed, c.flushedEnd = len(d.positions), len(c.paths)
	c.pending = c.pending[:0]
}

// field prints the path of field name under parent, as Path.String would.
func (c *converter) field(parent span, name string) span {
	start := len(c.paths)
	c.paths = append(c.paths, c.paths[parent.start:parent.end]...)
	switch {
	case !plainKey(name):
		c.paths = append(c.paths, '[')
		c.paths = strconv.AppendQuote(c.paths, name)
		c.paths = append(c.paths, ']')
	case parent.start == parent.end:
		c.paths = append(c.paths, name...)
	default:
		c.paths = append(c.paths, '.')
		c.paths = append(c.paths, name...)
	}
	return span{start, len(c.paths)}
}

// index prints the path of list element i under parent.
func (c *converter) index(parent span, i int) span {
	start := len(c.paths)
	c.paths = append(c.paths, c.paths[parent.start:parent.end]...)
	c.paths = append(c.paths, '[')
	c.paths = strconv.AppendInt(c.paths, int64(i), 10)
	c.paths = append(c.paths, ']')
	return span{start, len(c.paths)}
}

// countPositions counts the positions converting n records, without following aliases, to
// size the position table: one for each mapping key (none for its value node itself) and each
// list element, and those under them.
func countPositions(n *yaml.Node, limit int) int {
	first, step := 0, 1
	if n.Kind == yaml.MappingNode {
		first, step = 1, 2 // the values, each standing for its key
	}
	count := 0
	for i := first; i < len(n.Content) && count < limit; i += step {
		count += 1 + countPositions(n.Content[i], limit-count-1)
	}
	return count
}

// merge applies a YAML merge key: fields of the merged mapping(s) that m lacks.
func (c *converter) merge(m map[string]any, v *yaml.Node, key span, d *Document, merged map[string]bool) {
	var sources []*yaml.Node
	if v.Kind == yaml.SequenceNode {
		sources = v.Content
	} else {
		sources = []*yaml.Node{v}
	}
	for _, s := range sources {
		mv, ok := c.value(s, key, d).(map[string]any)
		if !ok {
			continue
		}
		for k, x := range mv {
			if _, set := m[k]; !set {
				m[k] = x
				merged[k] = true
			}
		}
	}
}

func scalar(n *yaml.Node) any {
	v := n.Value
	switch n.Tag {
	case "!!null":
		return nil
	case "!!bool":
		switch strings.ToLower(v) {
		case "true":
			return true
		case "false":
			return false
		}
	case "!!int":
		clean := strings.ReplaceAll(v, "_", "")
		if strings.HasPrefix(clean, "0o") {
			clean = "0" + clean[2:]
		}
		if i, err := strconv.ParseInt(clean, 0, 64); err == nil {
			return i
		}
		if f, err := strconv.ParseFloat(clean, 64); err == nil {
			return f
		}
	case "!!float":
		// .inf and .nan have no JSON form; they stay strings and the schema refuses them.
		if f, err := strconv.ParseFloat(strings.ReplaceAll(v, "_", ""), 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
			return f
		}
	}
	// Strings, timestamps (kept as written, e.g. "2026-05-01") and anything unusual.
	return v
}

func describe(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case []any:
		return "a list"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int64, float64:
		return "a number"
	}
	return fmt.Sprintf("%T", v)
}

// checkUTF8 refuses a file that is not UTF-8, naming the line and column of the first byte
// that is not.
func checkUTF8(file string, src []byte) (finding.Finding, bool) {
	if utf8.Valid(src) {
		return finding.Finding{}, true
	}
	line, col := 1, 1
	for i := 0; i < len(src); {
		r, size := utf8.DecodeRune(src[i:])
		if r == utf8.RuneError && size <= 1 {
			return finding.Finding{Rule: finding.RuleYAMLSyntax, Severity: finding.Deny, File: file, Line: line, Column: col,
				Message: fmt.Sprintf("byte 0x%02x is not UTF-8: save the file as UTF-8 (it may be Latin-1 or Windows-1252)", src[i])}, false
		}
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
		i += size
	}
	return finding.Finding{}, true
}

// indentTab returns the column of the first tab in the indentation of line (1-based) of src,
// or 0 when there is none.
func indentTab(src []byte, line int) int {
	for i := 1; i < line; i++ {
		j := bytes.IndexByte(src, '\n')
		if j < 0 {
			return 0
		}
		src = src[j+1:]
	}
	if j := bytes.IndexByte(src, '\n'); j >= 0 {
		src = src[:j]
	}
	for i, c := range src {
		switch c {
		case ' ':
		case '\t':
			return i + 1
		default:
			return 0
		}
	}
	return 0
}
