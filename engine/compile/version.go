package compile

import "strings"

// CompareVersions orders two package versions by precedence and returns -1, 0 or +1.
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
// Versions of equal precedence may still be different strings; see compareVersionsTotal.
func CompareVersions(a, b string) int {
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

// compareVersionsTotal is CompareVersions with ties broken by the strings themselves, so that
// sorting is total and therefore deterministic.
func compareVersionsTotal(a, b string) int {
	if c := CompareVersions(a, b); c != 0 {
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
