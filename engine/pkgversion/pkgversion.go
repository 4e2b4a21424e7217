// Package pkgversion orders package versions the way vendors write them (24.08, 128.10.0,
// 1.0-rc1) and tells a version's shape, so every part of samverk picks "the highest" alike.
package pkgversion

import (
	"strconv"
	"strings"
)

// Compare orders two package versions by precedence and returns -1, 0 or +1.
//
// A version is read as runs of digits and runs of letters; '.', '-', '_' and '+' only separate
// runs, and whatever follows the first '+' is build metadata that does not count. Runs are
// compared left to right:
//   - two digit runs numerically, whatever their length ("128.10.0" > "128.9.1");
//   - two letter runs alphabetically, ignoring case ("1.0-beta" < "1.0-rc");
//   - a digit run is greater than a letter run ("1.0.1" > "1.0.beta").
//
// When one version runs out first, the other is greater if its next run is a number
// ("1.0" < "1.0.1", "24.08" < "24.08-1") and smaller if it is letters: a pre-release
// ("1.0-rc1" < "1.0"). Trailing zero runs count for nothing ("1.0" == "1.0.0").
//
// Versions of equal precedence may still be different strings; see CompareTotal.
func Compare(a, b string) int {
	a, b = stripBuild(a), stripBuild(b)
	for {
		ra, restA := nextRun(a)
		rb, restB := nextRun(b)
		switch {
		case ra == "" && rb == "":
			return 0
		case ra == "":
			return -tail(rb, restB)
		case rb == "":
			return tail(ra, restA)
		}
		if c := compareRuns(ra, rb); c != 0 {
			return c
		}
		a, b = restA, restB
	}
}

// CompareTotal is Compare with ties broken by the strings themselves, so that
// sorting is total and therefore deterministic.
func CompareTotal(a, b string) int {
	if c := Compare(a, b); c != 0 {
		return c
	}
	return strings.Compare(a, b)
}

// tail says how a version whose remaining runs start with run (followed by rest) compares with a
// version that has run out: +1 when a non-zero number is left, -1 for letters (a pre-release),
// 0 when only zero runs are left.
func tail(run, rest string) int {
	for run != "" {
		if !isDigit(run[0]) {
			return -1
		}
		if strings.TrimLeft(run, "0") != "" {
			return 1
		}
		run, rest = nextRun(rest)
	}
	return 0
}

func compareRuns(a, b string) int {
	da, db := isDigit(a[0]), isDigit(b[0])
	switch {
	case da && db:
		a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
		if len(a) != len(b) {
			if len(a) < len(b) {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	case da:
		return 1
	case db:
		return -1
	}
	return strings.Compare(strings.ToLower(a), strings.ToLower(b))
}

// nextRun skips separators and returns the next run of digits or of other characters.
func nextRun(s string) (run, rest string) {
	i := 0
	for i < len(s) && isSep(s[i]) {
		i++
	}
	s = s[i:]
	if s == "" {
		return "", ""
	}
	digits := isDigit(s[0])
	j := 1
	for j < len(s) && !isSep(s[j]) && isDigit(s[j]) == digits {
		j++
	}
	return s[:j], s[j:]
}

func stripBuild(v string) string {
	if i := strings.IndexByte(v, '+'); i >= 0 {
		return v[:i]
	}
	return v
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isSep(c byte) bool { return c == '.' || c == '-' || c == '_' || c == '+' }

// Schemes of a version, as Shape tells them.
const (
	// SchemeNumeric is a version that starts with a number that is not a year: 24.08, 1.7.1-3.
	SchemeNumeric = "numeric"
	// SchemeYear starts with a number that reads as a year: 2024.1, 2025.10.0.
	SchemeYear = "year-based"
	// SchemeAlphabetic starts with letters: A05, v2.
	SchemeAlphabetic = "alphabetic"
)

// Shape is how a version is written: its scheme and how many numbers its release part has.
// Versions of one product normally share one shape; a version that does not is a vendor
// changing its numbering, which makes "the highest version" pick the wrong one.
type Shape struct {
	Scheme string
	// Components counts the numbers of the leading release part, up to the first letter or
	// separator other than '.': 24.08 has 2, 0.81.0.0 has 4, 1.7.1-3build1 has 3, A05 has 0.
	Components int
}

// ShapeOf returns the shape of version v.
func ShapeOf(v string) Shape {
	v = stripBuild(v)
	if v == "" || !isDigit(v[0]) {
		return Shape{Scheme: SchemeAlphabetic}
	}
	s := Shape{Scheme: SchemeNumeric}
	first := true
	for v != "" {
		i := 0
		for i < len(v) && isDigit(v[i]) {
			i++
		}
		if i == 0 {
			break
		}
		if first && i == 4 && (v[:2] == "19" || v[:2] == "20") {
			s.Scheme = SchemeYear
		}
		first = false
		s.Components++
		v = v[i:]
		if len(v) < 2 || v[0] != '.' || !isDigit(v[1]) {
			break
		}
		v = v[1:]
	}
	return s
}

// String reads as "numeric, 3 numbers".
func (s Shape) String() string {
	if s.Scheme == SchemeAlphabetic {
		return "alphabetic"
	}
	n := "numbers"
	if s.Components == 1 {
		n = "number"
	}
	return s.Scheme + ", " + strconv.Itoa(s.Components) + " " + n
}
