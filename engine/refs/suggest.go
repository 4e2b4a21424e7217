package refs

// maxDistance is the largest edit distance at which a name is offered as a suggestion.
const maxDistance = 2

// closest returns the candidate most likely meant by name, or "". The nearest candidate within
// maxDistance edits wins; on a tie, the one sharing a longer prefix with name, then the one
// whose first differing character is nearer (windows-11-25h2 suggests 24h2 over 23h2), then
// the first in order. Failing an edit match, the longest candidate that name is a prefix of,
// or that is a prefix of name (firefox for firefox-esr), at least three characters long.
func closest(name string, cands []string) string {
	best, bestDist, bestPrefix, bestGap := "", maxDistance+1, 0, 0
	for _, c := range cands {
		if c == name || abs(len(c)-len(name)) > min(bestDist, maxDistance) {
			continue
		}
		d := distance(name, c, maxDistance)
		if d > maxDistance || d > bestDist {
			continue
		}
		p := commonPrefix(name, c)
		gap := 0
		if p < len(name) && p < len(c) {
			gap = abs(int(name[p]) - int(c[p]))
		}
		if d < bestDist || p > bestPrefix || p == bestPrefix && gap < bestGap {
			best, bestDist, bestPrefix, bestGap = c, d, p, gap
		}
	}
	if best != "" {
		return best
	}
	for _, c := range cands {
		if c == name {
			continue
		}
		p := commonPrefix(name, c)
		if p >= 3 && (p == len(name) || p == len(c)) && len(c) > len(best) {
			best = c
		}
	}
	return best
}

// distance is the Levenshtein distance between a and b (bytes; names are ASCII), or limit+1
// once it is certain to exceed limit.
func distance(a, b string, limit int) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			rowMin = min(rowMin, cur[j])
		}
		if rowMin > limit {
			return limit + 1
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func commonPrefix(a, b string) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
