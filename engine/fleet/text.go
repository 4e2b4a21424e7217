package fleet

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// What a device sends ends up in text columns of the store. PostgreSQL refuses a NUL byte in
// text and jsonb, and invalid UTF-8 anywhere; the JSON decoder would quietly turn invalid
// UTF-8 into U+FFFD. So a body is checked as received, and a string holding either is refused
// with the field it is in.

// nulEscape is how a NUL byte appears in a JSON string; a raw NUL is invalid JSON already.
var nulEscape = []byte(`\u0000`)

// checkText reports the first string of the JSON document body, key or value, that holds a
// NUL byte or is not valid UTF-8, naming its field. A body that is not JSON passes: the
// decoder says what is wrong with it.
func checkText(body []byte) error {
	if utf8.Valid(body) && !bytes.Contains(body, nulEscape) {
		return nil // the common case, in one pass
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	type frame struct {
		obj     bool
		key     string
		idx     int
		wantKey bool
	}
	var stack []frame
	path := func(extra string) string {
		var b strings.Builder
		for _, f := range stack {
			switch {
			case f.obj && !f.wantKey:
				if b.Len() > 0 {
					b.WriteByte('.')
				}
				b.WriteString(f.key)
			case !f.obj:
				b.WriteString("[" + strconv.Itoa(f.idx) + "]")
			}
		}
		if extra != "" {
			if b.Len() > 0 {
				return b.String() + " " + extra
			}
			return extra
		}
		if b.Len() == 0 {
			return "the body"
		}
		return b.String()
	}
	// done advances the enclosing container past a value.
	done := func() {
		if n := len(stack); n > 0 {
			if stack[n-1].obj {
				stack[n-1].wantKey = true
			} else {
				stack[n-1].idx++
			}
		}
	}
	for {
		start := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			return nil
		}
		raw := body[start:dec.InputOffset()]
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{':
				stack = append(stack, frame{obj: true, wantKey: true})
			case '[':
				stack = append(stack, frame{})
			default:
				stack = stack[:len(stack)-1]
				done()
			}
		case string:
			isKey := len(stack) > 0 && stack[len(stack)-1].obj && stack[len(stack)-1].wantKey
			var field string
			if isKey {
				field = path(fmt.Sprintf("(a key, %.40q)", t))
			}
			switch {
			case !utf8.Valid(raw):
				if field == "" {
					field = path("")
				}
				return fmt.Errorf("%s: not valid UTF-8", field)
			case strings.IndexByte(t, 0) >= 0:
				if field == "" {
					field = path("")
				}
				return fmt.Errorf("%s: holds a NUL byte (\\u0000)", field)
			}
			if isKey {
				stack[len(stack)-1].key, stack[len(stack)-1].wantKey = t, false
			} else {
				done()
			}
		default:
			done()
		}
	}
}
