// Package blockyaml parses the block-style YAML that catalog files are written in, building the
// very node trees yaml.v3 builds, several times faster; anything else it leaves to yaml.v3.
package blockyaml

import (
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// The subset Parse handles: block mappings and sequences (compact ones inside sequence entries
// too), keys and values that are plain, single-quoted or double-quoted scalars on one line, the
// empty flow collections {} and [], comments and "---" separators. Everything else (anchors,
// aliases, tags, flow collections with content, block scalars, multi-line scalars, merge keys,
// directives, "...", tabs, carriage returns, a byte order mark, control characters), and every
// input yaml.v3 would refuse, makes Parse give up, so the caller's yaml.v3 has the last word,
// including on error messages. When unsure, Parse gives up.

// maxDepth bounds the nesting of collections; yaml.v3 refuses nesting beyond 10,000.
const maxDepth = 1000

// maxKey is the longest key in bytes; yaml.v3 refuses an implicit key longer than 1024
// characters.
const maxKey = 1000

// Tags yaml.v3 gives the nodes it builds.
const (
	tagStr  = "!!str"
	tagNull = "!!null"
	tagMap  = "!!map"
	tagSeq  = "!!seq"
)

// Parse reads every document of src and returns them as the yaml.v3 Decoder does, one
// DocumentNode each (comments aside: nodes carry none), with ok true; or ok false when src is
// outside the subset this package handles or is not valid YAML. The caller then parses src
// with yaml.v3.
func Parse(src []byte) (docs []*yaml.Node, ok bool) {
	return new(Parser).Parse(src)
}

// A Parser parses file after file, reusing its memory: the nodes one Parse call returns are
// valid until the next call. A program that keeps nothing of the nodes but their strings (they
// share one copy of src) saves allocating them anew. The zero value is ready to use; a Parser
// is not safe for concurrent use.
type Parser struct {
	nodes  arena[yaml.Node]  // every node
	kids   arena[*yaml.Node] // the Content slices of collections
	stack  []*yaml.Node      // children of the collections being parsed
	docs   []*yaml.Node
	single [1]*yaml.Node
}

// Parse is the package's Parse, with the nodes valid until the next call.
func (ps *Parser) Parse(src []byte) (docs []*yaml.Node, ok bool) {
	if !plainText(src) {
		return nil, false
	}
	ps.nodes.reset()
	ps.kids.reset()
	ps.stack, ps.docs = ps.stack[:0], ps.docs[:0]
	p := &parser{Parser: ps, s: string(src), ln: 1}
	if !p.nextLine() {
		return nil, false
	}
	if p.at == atContent { // a document without "---"
		doc := p.node(yaml.DocumentNode, "", "", p.ln, p.ind+1)
		if !p.root(doc) {
			return nil, false
		}
		ps.docs = append(ps.docs, doc)
	}
	for p.at == atMarker {
		doc := p.node(yaml.DocumentNode, "", "", p.ln, 1)
		p.i += len("---")
		if !p.endLine() {
			return nil, false
		}
		if p.at == atContent {
			if !p.root(doc) {
				return nil, false
			}
		} else {
			// An empty document: a null scalar where the next token begins.
			line := p.ln
			if p.at == atEnd {
				line = p.endLine1()
			}
			ps.single[0] = p.node(yaml.ScalarNode, tagNull, "", line, 1)
			doc.Content = p.children(ps.single[:])
		}
		ps.docs = append(ps.docs, doc)
	}
	if p.at != atEnd {
		return nil, false
	}
	return ps.docs, true
}

// chunk is how many elements an arena allocates at once, at least.
const chunk = 512

// An arena hands out slices of chunks it keeps from one use to the next.
type arena[T any] struct {
	chunks [][]T
	cur    int // chunks[cur][used:] is free
	used   int
}

func (a *arena[T]) reset() { a.cur, a.used = 0, 0 }

// take returns n elements, which hold what they held before.
func (a *arena[T]) take(n int) []T {
	for {
		if a.cur == len(a.chunks) {
			a.chunks = append(a.chunks, make([]T, max(n, chunk)))
		}
		if c := a.chunks[a.cur]; a.used+n <= len(c) {
			a.used += n
			return c[a.used-n : a.used : a.used]
		}
		a.cur++
		a.used = 0
	}
}

// plainText checks that src holds only characters the subset allows.
func plainText(src []byte) bool {
	for i := 0; i < len(src); {
		c := src[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\n' || c == 0x7f { // tabs, carriage returns and control characters
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(src[i:])
		switch {
		case r == utf8.RuneError && size == 1,
			r < 0xa0,                   // C1 controls and NEL, a line break to YAML
			r == 0x2028 || r == 0x2029, // line and paragraph separators: line breaks too
			r == 0xfeff,                // a byte order mark
			r == 0xfffe || r == 0xffff:
			return false
		}
		i += size
	}
	return true
}

type lineKind int

const (
	atContent lineKind = iota // a line with a node on it
	atMarker                  // a "---" line
	atEnd                     // the end of the input
)

type parser struct {
	*Parser
	s     string
	i     int      // the read position
	ls    int      // where the current line starts
	ln    int      // the current line, from 1
	ind   int      // the indentation of the current line when at is atContent
	at    lineKind // what the read position is at, after a line was left
	wide  bool     // the current line holds a multi-byte character before i
	depth int
}

func (p *parser) node(kind yaml.Kind, tag, value string, line, col int) *yaml.Node {
	n := &p.nodes.take(1)[0]
	*n = yaml.Node{Kind: kind, Tag: tag, Value: value, Line: line, Column: col}
	return n
}

// children returns a Content slice holding nodes.
func (p *parser) children(nodes []*yaml.Node) []*yaml.Node {
	out := p.kids.take(len(nodes))
	copy(out, nodes)
	return out
}

// col is the 1-based column of byte offset i of the current line, counted in characters as
// yaml.v3 counts them.
func (p *parser) col(i int) int {
	if !p.wide {
		return i - p.ls + 1
	}
	return utf8.RuneCountInString(p.s[p.ls:i]) + 1
}

// nextLine moves from the start of a line to the next line that is neither blank nor a comment,
// and says what it holds. It is false for a line outside the subset.
func (p *parser) nextLine() bool {
	s := p.s
	for {
		j := p.i
		for j < len(s) && s[j] == ' ' {
			j++
		}
		if j == len(s) {
			p.i, p.at = j, atEnd
			return true
		}
		switch s[j] {
		case '\n':
			p.i, p.ls = j+1, j+1
			p.ln++
			continue
		case '#':
			k := strings.IndexByte(s[j:], '\n')
			if k < 0 {
				p.i, p.at = len(s), atEnd
				return true
			}
			p.i, p.ls = j+k+1, j+k+1
			p.ln++
			continue
		}
		p.i, p.ind, p.wide = j, j-p.ls, false
		if j == p.ls && len(s)-j >= 3 && blankz(s, j+3) {
			switch s[j : j+3] {
			case "---":
				p.at = atMarker
				return true
			case "...":
				return false // a document end marker
			}
		}
		p.at = atContent
		return true
	}
}

// endLine leaves the current line, which may end in spaces and a comment, for the next line
// that holds something. It is false when anything else is left on the line.
func (p *parser) endLine() bool {
	s := p.s
	j := p.i
	for j < len(s) && s[j] == ' ' {
		j++
	}
	if j < len(s) && s[j] == '#' {
		if j == p.i {
			return false // a comment must follow a space
		}
		k := strings.IndexByte(s[j:], '\n')
		if k < 0 {
			j = len(s)
		} else {
			j += k
		}
	}
	if j == len(s) {
		p.i, p.at = j, atEnd
		return true
	}
	if s[j] != '\n' {
		return false
	}
	p.i, p.ls = j+1, j+1
	p.ln++
	return p.nextLine()
}

// endLine1 is the line yaml.v3 places the end of the input on.
func (p *parser) endLine1() int {
	if p.s == "" || p.s[len(p.s)-1] == '\n' {
		return p.ln
	}
	return p.ln + 1
}

// blankz reports whether s[i] ends a token: a space, a line break or the end of the input.
func blankz(s string, i int) bool {
	return i >= len(s) || s[i] == ' ' || s[i] == '\n'
}

// root parses the node of a document that starts on the current line.
func (p *parser) root(doc *yaml.Node) bool {
	n := p.block(p.ind)
	if n == nil || p.at == atContent {
		return false
	}
	p.single[0] = n
	doc.Content = p.children(p.single[:])
	return true
}

// block parses the collection that starts at the read position, in column col (0-based).
func (p *parser) block(col int) *yaml.Node {
	if p.s[p.i] == '-' && blankz(p.s, p.i+1) {
		return p.sequence(col, false)
	}
	return p.mapping(col, nil)
}

// mapping parses a block mapping whose keys stand in column col (0-based), from the read
// position, at its first key; key is that key when the caller has read it already.
func (p *parser) mapping(col int, key *yaml.Node) *yaml.Node {
	if p.depth++; p.depth > maxDepth {
		return nil
	}
	defer func() { p.depth-- }()
	n := p.node(yaml.MappingNode, tagMap, "", p.ln, col+1)
	base := len(p.stack)
	for {
		if key == nil {
			start := p.i
			if key = p.scalar(); key == nil || p.i-start > maxKey {
				return nil
			}
		}
		if key.Style == 0 && key.Value == "<<" {
			return nil // a merge key
		}
		if p.i >= len(p.s) || p.s[p.i] != ':' || !blankz(p.s, p.i+1) {
			return nil
		}
		line, colon := p.ln, p.col(p.i)
		p.i++
		p.stack = append(p.stack, key)
		key = nil
		var v *yaml.Node
		if j := p.skipSpaces(); j < len(p.s) && p.s[j] != '\n' && p.s[j] != '#' {
			p.i = j
			if v = p.inline(false); v == nil {
				return nil
			}
		} else {
			if !p.endLine() {
				return nil
			}
			switch {
			case p.at == atContent && p.ind > col:
				v = p.block(p.ind)
			case p.at == atContent && p.ind == col && p.s[p.i] == '-' && blankz(p.s, p.i+1):
				v = p.sequence(col, true)
			default:
				v = p.node(yaml.ScalarNode, tagNull, "", line, colon+1)
			}
			if v == nil {
				return nil
			}
		}
		p.stack = append(p.stack, v)
		if p.at != atContent || p.ind < col {
			break
		}
		if p.ind > col {
			return nil
		}
	}
	n.Content = p.children(p.stack[base:])
	p.stack = p.stack[:base]
	return n
}

// sequence parses a block sequence whose "-" stand in column col (0-based), from the read
// position, at its first "-". An indentless sequence is a mapping value in its key's column.
func (p *parser) sequence(col int, indentless bool) *yaml.Node {
	if p.depth++; p.depth > maxDepth {
		return nil
	}
	defer func() { p.depth-- }()
	n := p.node(yaml.SequenceNode, tagSeq, "", p.ln, col+1)
	base := len(p.stack)
	for {
		line := p.ln
		p.i++ // the "-"
		var v *yaml.Node
		if j := p.skipSpaces(); j < len(p.s) && p.s[j] != '\n' && p.s[j] != '#' {
			p.i = j
			v = p.inline(true)
		} else {
			if !p.endLine() {
				return nil
			}
			if p.at == atContent && p.ind > col {
				v = p.block(p.ind)
			} else {
				v = p.node(yaml.ScalarNode, tagNull, "", line, col+2)
			}
		}
		if v == nil {
			return nil
		}
		p.stack = append(p.stack, v)
		if p.at != atContent || p.ind < col {
			break
		}
		if p.ind > col {
			return nil
		}
		if p.s[p.i] != '-' || !blankz(p.s, p.i+1) {
			if indentless {
				break // the mapping goes on
			}
			return nil
		}
	}
	n.Content = p.children(p.stack[base:])
	p.stack = p.stack[:base]
	return n
}

func (p *parser) skipSpaces() int {
	j := p.i
	for j < len(p.s) && p.s[j] == ' ' {
		j++
	}
	return j
}

// inline parses the node that starts at the read position after "key:" or "-" on the same
// line, and leaves the line. After "-" (entry), that may be a compact mapping or sequence.
func (p *parser) inline(entry bool) *yaml.Node {
	s, i := p.s, p.i
	switch s[i] {
	case '-':
		if blankz(s, i+1) {
			if !entry {
				return nil
			}
			// All of the line before a compact collection is spaces and "-": a byte is a column.
			return p.sequence(i-p.ls, false)
		}
	case '{', '[':
		if i+1 < len(s) && (s[i] == '{' && s[i+1] == '}' || s[i] == '[' && s[i+1] == ']') && blankz(s, i+2) {
			kind, tag := yaml.MappingNode, tagMap
			if s[i] == '[' {
				kind, tag = yaml.SequenceNode, tagSeq
			}
			n := p.node(kind, tag, "", p.ln, p.col(i))
			n.Style = yaml.FlowStyle
			p.i = i + 2
			if !p.endLine() {
				return nil
			}
			return n
		}
		return nil
	}
	v := p.scalar()
	if v == nil {
		return nil
	}
	if p.i < len(s) && s[p.i] == ':' && blankz(s, p.i+1) {
		if !entry || p.i-i > maxKey {
			return nil
		}
		return p.mapping(i-p.ls, v)
	}
	if !p.endLine() {
		return nil
	}
	return v
}

// scalar reads a plain, single-quoted or double-quoted scalar that ends on its line, and leaves
// the read position right after it.
func (p *parser) scalar() *yaml.Node {
	switch p.s[p.i] {
	case '"':
		return p.doubleQuoted()
	case '\'':
		return p.singleQuoted()
	}
	return p.plain()
}

// plain reads a plain scalar: up to ": ", " #" or the end of the line, without the spaces
// before them.
func (p *parser) plain() *yaml.Node {
	s, i := p.s, p.i
	switch c := s[i]; c {
	case '-':
		// "-" followed by a space is an entry, else it starts a scalar ("-1").
		if blankz(s, i+1) {
			return nil
		}
	case ' ', '\n', '?', ':', ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '\'', '"', '%', '@', '`':
		return nil
	}
	end := i
	for j := i; j < len(s); {
		c := s[j]
		if c == '\n' {
			break
		}
		if c == ' ' {
			k := j + 1
			for k < len(s) && s[k] == ' ' {
				k++
			}
			if k == len(s) || s[k] == '\n' || s[k] == '#' {
				break
			}
			j = k
			continue
		}
		if c == ':' && blankz(s, j+1) {
			break
		}
		if c >= utf8.RuneSelf {
			p.wide = true
		}
		j++
		end = j
	}
	v := s[i:end]
	n := p.node(yaml.ScalarNode, plainTag(v), v, p.ln, p.col(i))
	p.i = end
	return n
}

// plainTag is the tag yaml.v3 resolves a plain scalar to.
func plainTag(v string) string {
	// yaml.v3 resolves only values that start with a sign, a digit, a dot, "~" or a letter
	// of true, false, null, yes, no, on, off; all else is a string.
	switch v[0] {
	case 'y', 'Y', 'n', 'N', 't', 'T', 'f', 'F', 'o', 'O':
		if len(v) > len("false") {
			return tagStr // longer than any word it resolves (true, False, NULL...)
		}
		fallthrough
	case '+', '-', '.', '~', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		n := yaml.Node{Kind: yaml.ScalarNode, Value: v}
		return n.ShortTag()
	case '<':
		if v == "<<" {
			return "!!merge" // as the decoder tags it, though it resolves as a string
		}
	}
	return tagStr
}

// singleQuoted reads a single-quoted scalar, where ” stands for '.
func (p *parser) singleQuoted() *yaml.Node {
	s, start := p.s, p.i
	var buf []byte
	from := start + 1
	for j := from; ; j++ {
		if j >= len(s) || s[j] == '\n' {
			return nil
		}
		c := s[j]
		if c >= utf8.RuneSelf {
			p.wide = true
		}
		if c != '\'' {
			continue
		}
		if j+1 < len(s) && s[j+1] == '\'' {
			buf = append(buf, s[from:j+1]...)
			j++
			from = j + 1
			continue
		}
		var v string
		if buf == nil {
			v = s[from:j]
		} else {
			v = string(append(buf, s[from:j]...))
		}
		n := p.node(yaml.ScalarNode, tagStr, v, p.ln, p.col(start))
		n.Style = yaml.SingleQuotedStyle
		p.i = j + 1
		return n
	}
}

// doubleQuoted reads a double-quoted scalar and its escapes, as yaml.v3 reads them.
func (p *parser) doubleQuoted() *yaml.Node {
	s, start := p.s, p.i
	var buf []byte
	from := start + 1
	for j := from; ; {
		if j >= len(s) || s[j] == '\n' {
			return nil
		}
		c := s[j]
		if c >= utf8.RuneSelf {
			p.wide = true
		}
		switch c {
		case '"':
			var v string
			if buf == nil {
				v = s[from:j]
			} else {
				v = string(append(buf, s[from:j]...))
			}
			n := p.node(yaml.ScalarNode, tagStr, v, p.ln, p.col(start))
			n.Style = yaml.DoubleQuotedStyle
			p.i = j + 1
			return n
		case '\\':
			if j+1 >= len(s) {
				return nil
			}
			buf = append(buf, s[from:j]...)
			var code int
			switch e := s[j+1]; e {
			case '0':
				buf = append(buf, 0)
			case 'a':
				buf = append(buf, '\a')
			case 'b':
				buf = append(buf, '\b')
			case 't':
				buf = append(buf, '\t')
			case 'n':
				buf = append(buf, '\n')
			case 'v':
				buf = append(buf, '\v')
			case 'f':
				buf = append(buf, '\f')
			case 'r':
				buf = append(buf, '\r')
			case 'e':
				buf = append(buf, 0x1b)
			case ' ', '"', '\'', '\\':
				buf = append(buf, e)
			case 'N':
				buf = append(buf, "\u0085"...)
			case '_':
				buf = append(buf, "\u00a0"...)
			case 'L':
				buf = append(buf, "\u2028"...)
			case 'P':
				buf = append(buf, "\u2029"...)
			case 'x':
				code = 2
			case 'u':
				code = 4
			case 'U':
				code = 8
			default:
				return nil // an escaped line break (a multi-line scalar), or no escape at all
			}
			j += 2
			if code > 0 {
				if j+code > len(s) {
					return nil
				}
				r := 0
				for _, h := range []byte(s[j : j+code]) {
					d, ok := hexDigit(h)
					if !ok {
						return nil
					}
					r = r<<4 | d
				}
				if r >= 0xd800 && r <= 0xdfff || r > 0x10ffff {
					return nil
				}
				buf = utf8.AppendRune(buf, rune(r))
				j += code
			}
			from = j
		default:
			j++
		}
	}
}

func hexDigit(c byte) (int, bool) {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0'), true
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10, true
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10, true
	}
	return 0, false
}
