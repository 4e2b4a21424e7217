package fleet

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCheckText(t *testing.T) {
	for _, c := range []struct {
		name, body, want string
	}{
		{"clean", `{"facts":{"hostname":"pc-1","labels":{"site":"umeå"}}}`, ""},
		{"escaped backslash before u0000", `{"facts":{"hostname":"a\\u0000b"}}`, ""},
		{"NUL in hostname", `{"facts":{"hostname":"pc\u0000"}}`, "facts.hostname: holds a NUL byte"},
		{"NUL in a label value", `{"facts":{"hostname":"h","labels":{"site":"x\u0000"}}}`, "facts.labels.site: holds a NUL byte"},
		{"NUL in a label key", `{"facts":{"labels":{"si\u0000te":"x"}}}`, `facts.labels (a key, "si\x00te"): holds a NUL byte`},
		{"NUL in a resource", `{"revision":"r","resources":[{"id":"a","outcome":"unchanged"},{"id":"b","message":"\u0000"}]}`, "resources[1].message: holds a NUL byte"},
		{"invalid UTF-8 in revision", "{\"revision\":\"r\xff\"}", "revision: not valid UTF-8"},
		{"invalid UTF-8 in a product", "{\"facts\":{\"products\":{\"firefox\":\"1\xc3\"}}}", "facts.products.firefox: not valid UTF-8"},
		{"invalid UTF-8 after numbers and arrays", "{\"a\":[1,[2,{}],3],\"b\":true,\"c\":\"\xfe\"}", "c: not valid UTF-8"},
		{"top-level string", `"\u0000"`, "the body: holds a NUL byte"},
		{"not JSON", "{nope\xff", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := checkText([]byte(c.body))
			switch {
			case c.want == "" && err != nil:
				t.Errorf("got %v, want none", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Errorf("got %v, want %q", err, c.want)
			}
		})
	}
}

func FuzzCheckText(f *testing.F) {
	f.Add([]byte(`{"facts":{"hostname":"pc\u0000"}}`))
	f.Add([]byte("{\"a\":[\"\xff\"]}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		err := checkText(b)
		if err != nil || !json.Valid(b) {
			return
		}
		// What passes holds no NUL and no invalid UTF-8, keys included.
		if !utf8.Valid(b) {
			t.Fatalf("invalid UTF-8 passed: %q", b)
		}
		var v any
		if json.Unmarshal(b, &v) == nil && hasNUL(v) {
			t.Fatalf("a NUL byte passed: %q", b)
		}
	})
}

func hasNUL(v any) bool {
	switch x := v.(type) {
	case string:
		return strings.IndexByte(x, 0) >= 0
	case []any:
		for _, e := range x {
			if hasNUL(e) {
				return true
			}
		}
	case map[string]any:
		for k, e := range x {
			if strings.IndexByte(k, 0) >= 0 || hasNUL(e) {
				return true
			}
		}
	}
	return false
}
