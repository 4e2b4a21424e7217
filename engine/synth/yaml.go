package synth

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"unicode"
)

// obj is a mapping whose keys keep the order they were added in, so the YAML reads the way a
// person would write it (apiVersion, kind, metadata, spec).
type obj []kv

type kv struct {
	k string
	v any
}

// set appends a field, leaving out empty optional values (nil, "", empty lists and mappings).
func (o *obj) set(k string, v any) {
	switch x := v.(type) {
	case nil:
		return
	case string:
		if x == "" {
			return
		}
	case []any:
		if len(x) == 0 {
			return
		}
	case []string:
		if len(x) == 0 {
			return
		}
	case obj:
		if len(x) == 0 {
			return
		}
	}
	*o = append(*o, kv{k, v})
}

// emitter writes block-style YAML for obj, []any, []string, string, int, float64 and bool.
type emitter struct {
	b bytes.Buffer
}

func (e *emitter) document(o obj) {
	if e.b.Len() > 0 {
		e.b.WriteString("---\n")
	}
	e.mapping(o, 0)
}

func (e *emitter) mapping(o obj, indent int) {
	for i, f := range o {
		if i > 0 {
			e.pad(indent)
		}
		e.b.WriteString(scalar(f.k))
		e.b.WriteByte(':')
		e.nested(f.v, indent)
	}
}

// nested writes a value after "key:" or "-": scalars and empty collections on the same line,
// others on the lines below, indented.
func (e *emitter) nested(v any, indent int) {
	switch x := v.(type) {
	case obj:
		if len(x) == 0 {
			e.b.WriteString(" {}\n")
			return
		}
		e.b.WriteByte('\n')
		e.pad(indent + 2)
		e.mapping(x, indent+2)
	case []string:
		l := make([]any, len(x))
		for i, s := range x {
			l[i] = s
		}
		e.nested(l, indent)
	case []any:
		if len(x) == 0 {
			e.b.WriteString(" []\n")
			return
		}
		e.b.WriteByte('\n')
		for _, el := range x {
			e.pad(indent + 2)
			e.b.WriteByte('-')
			if m, ok := el.(obj); ok && len(m) > 0 {
				e.b.WriteByte(' ')
				e.mapping(m, indent+4)
				continue
			}
			e.nested(el, indent+2)
		}
	default:
		e.b.WriteByte(' ')
		e.b.WriteString(scalarOf(v))
		e.b.WriteByte('\n')
	}
}

func (e *emitter) pad(n int) {
	for range n {
		e.b.WriteByte(' ')
	}
}

func scalarOf(v any) string {
	switch x := v.(type) {
	case string:
		return scalar(x)
	case int:
		return strconv.Itoa(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	}
	panic("synth: cannot write a value of this type") // the generator only builds the types above
}

// scalar writes s plain when YAML reads it back as the same string, and double-quoted
// (JSON syntax, which YAML accepts) otherwise: numbers, dates, booleans, paths with '\'.
func scalar(s string) string {
	if plain(s) {
		return s
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return strings.TrimSuffix(b.String(), "\n")
}

func plain(s string) bool {
	if s == "" || !(s[0] == '/' || s[0] < unicode.MaxASCII && unicode.IsLetter(rune(s[0]))) || strings.HasSuffix(s, " ") || strings.HasSuffix(s, ":") {
		return false
	}
	switch strings.ToLower(s) {
	case "true", "false", "yes", "no", "on", "off", "null", "y", "n":
		return false
	}
	for i, r := range s {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune(" ._/-()+=", r):
		case r == ':' && s[i+1] != ' ': // a colon is plain unless it ends a key
		default:
			return false
		}
	}
	return true
}
