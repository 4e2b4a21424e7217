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

// blockParsers keep the memory of their nodes from one file to the next.
var blockParsers = sync.Pool{New: func() any { return new(blockyaml.Parser) }}

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
	fd := fileDocs{file: file, maxNodes: maxNodes}
	// Most catalog files are plain block YAML, which blockyaml reads into the same trees several
	// times faster; it leaves everything else, errors included, to yaml.v3.
	bp := blockParsers.Get().(*blockyaml.Parser)
	defer blockParsers.Put(bp)
	if nodes, ok := bp.Parse(src); ok {
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
	c := converter{file: file, budget: maxNodes}
	d := &Document{File: file, Index: fd.index, Start: Pos{root.Line, root.Column}}
	d.positions = make([]posEntry, 0, countNodes(root, maxNodes))
	fd.index++
	v := c.value(root, "", d)
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
}

// value converts a node to a JSON-shaped value and records positions under the printed path
// key. Aliases are expanded against the budget, so a billion-laughs document stops early.
func (c *converter) value(n *yaml.Node, key string, d *Document) any {
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
			child := childKey(key, name)
			if _, dup := m[name]; dup && !merged[name] {
				c.findings = append(c.findings, finding.Finding{Rule: finding.RuleDuplicateKey, Severity: finding.Deny,
					File: c.file, Line: k.Line, Column: k.Column, Path: child,
					Message: fmt.Sprintf("key %q is already set at line %d", name, d.Pos(ParsePath(child)).Line)})
				continue
			}
			// A field points at its key, where a reader looks for it; the value may be far below.
			if merged != nil {
				delete(merged, name)
				d.SetPos(child, Pos{k.Line, k.Column}) // may replace a merged field's position
			} else {
				d.addPos(child, Pos{k.Line, k.Column})
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
			child := key + "[" + strconv.Itoa(i) + "]"
			d.addPos(child, Pos{el.Line, el.Column})
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

// countNodes counts the nodes under n without following aliases, to size the position table.
func countNodes(n *yaml.Node, limit int) int {
	count := 1
	for _, c := range n.Content {
		if count >= limit {
			break
		}
		count += countNodes(c, limit-count)
	}
	return count
}

// childKey prints the path of field name under parent, as Path.String would.
func childKey(parent, name string) string {
	if !plainKey(name) {
		return parent + "[" + strconv.Quote(name) + "]"
	}
	if parent == "" {
		return name
	}
	return parent + "." + name
}

// merge applies a YAML merge key: fields of the merged mapping(s) that m lacks.
func (c *converter) merge(m map[string]any, v *yaml.Node, key string, d *Document, merged map[string]bool) {
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
