package blockyaml_test

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// TestGenerated parses block YAML built at random from the lines catalog files are made of,
// valid or not, at random indentation: where Parse handles a file, its trees agree with
// yaml.v3's. Byte-level fuzzing seldom finds files this well-formed.
func TestGenerated(t *testing.T) {
	keys := []string{"a", "bb", "kind", "ä", "\"q k\"", "'s k'", "1", "true", "x-y", "a b"}
	values := []string{"v", "1", "-1", "1.5", "true", "no", "~", "null", "2026-05-01", "\"2026-05-01\"",
		"'it''s'", "\"a\\tb\\u00e4\"", "a#b", "ä ö", "-x", "x:y", "{}", "[]", "'' ", "\"\"", "<<", ".inf", "0x1F", "1_000",
		"False", "falsey", "NULL", "Nope", "yes", "o", "trafikverket"}
	comments := []string{"", "", "", " # c", "  #c"}
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(l []string) string { return l[rng.IntN(len(l))] }
	line := func() string {
		ind := strings.Repeat(" ", []int{0, 0, 2, 2, 4, 4, 6, 1, 3}[rng.IntN(9)])
		switch rng.IntN(12) {
		case 0, 1, 2:
			return ind + pick(keys) + ": " + pick(values) + pick(comments)
		case 3, 4:
			return ind + pick(keys) + ":" + pick(comments)
		case 5:
			return ind + "- " + pick(values) + pick(comments)
		case 6:
			return ind + "- " + pick(keys) + ": " + pick(values)
		case 7:
			return ind + "-" + pick(comments)
		case 8:
			return ind + "- - " + pick(values)
		case 9:
			return ind + "# comment"
		case 10:
			return ""
		}
		return []string{"---", "--- # c", "- " + pick(keys) + ":", ind + pick(values)}[rng.IntN(4)]
	}
	handled := 0
	const files = 30000
	for range files {
		n := 1 + rng.IntN(8)
		var b strings.Builder
		for range n {
			b.WriteString(line())
			b.WriteByte('\n')
		}
		src := b.String()
		if rng.IntN(4) == 0 {
			src = strings.TrimSuffix(src, "\n")
		}
		if agree(t, "generated", []byte(src)) {
			handled++
		}
		if t.Failed() {
			return
		}
	}
	t.Logf("%d of %d generated files on the fast path", handled, files)
}
