package compile

import (
	"encoding/json"
	"testing"
)

func TestAppendString(t *testing.T) {
	for _, s := range []string{"", "plain", `q"uote\back`, "<a>&b", "\x00\x01\b\f\n\r\t\x1f\x7f", "é ü 日本", "\u2028\u2029", "bad \xff\xfe utf8", "\xe2\x80"} {
		want, _ := json.Marshal(s)
		if got := appendString(nil, s); string(got) != string(want) {
			t.Errorf("%q: got %s, want %s", s, got, want)
		}
	}
}

func FuzzAppendString(f *testing.F) {
	f.Add("a<b>&\"\\\n\u2028\xff")
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := appendString(nil, s); string(got) != string(want) {
			t.Fatalf("%q: got %s, want %s", s, got, want)
		}
	})
}

// The hand-written encoder must agree with encoding/json on every State, or the hash would not
// be the hash of the State's JSON.
func TestEncoderMatchesEncodingJSON(t *testing.T) {
	patch := `apiVersion: samverk.io/v1
kind: Baseline
metadata: {name: win11-base}
spec:
  osReleases: [win11-23h2, win11-24h2]
  settings:
    - {id: html, type: file, target: 'C:\x<y>&z', value: "<script>\u2028\"é\"\t</script>"}
    - {id: cmd, type: command, target: x, check: "a && b", set: "c > d"}
`
	ix := newIndexT(t, fixture(t, patch))
	for _, d := range fleet {
		st, _ := ix.Compile(d, "r")
		if st.Hash != HashOf(st) {
			t.Errorf("%+v: hash %s, encoding/json gives %s", d, st.Hash, HashOf(st))
		}
	}
}
