package compile

import (
	"slices"
	"testing"
)

func TestCompareVersions(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"128.10.0", "128.9.1", 1},
		{"128.9.1", "128.10.0", -1},
		{"1.2.3", "1.2.3", 0},
		{"2", "10", -1},
		{"1.0", "1.0.0", 0},
		{"1.0", "1.0.1", -1},
		{"1.0.0.0.1", "1.0", 1},
		{"010", "10", 0},
		{"99999999999999999999999", "99999999999999999999998", 1}, // beyond int64
		{"1.0.0-rc1", "1.0.0", -1},
		{"1.0-beta", "1.0-rc", -1},
		{"1.0-RC", "1.0-rc", 0},
		{"1.0.1", "1.0.beta", 1},
		{"1.0rc1", "1.0", -1},
		{"1.0rc2", "1.0rc10", -1},
		{"24.08", "24.08-1", -1},
		{"1.0.0+build5", "1.0.0+build9", 0},
		{"1.0.0+build5", "1.0.0", 0},
		{"16.0.17928.20114", "16.0.17726.20160", 1},
		{"14.40.33810.0", "14.38.33135.0", 1},
		{"5.15.0-101", "5.15.0-91", 1},
		{"2024.1", "2023.12", 1},
		{"", "", 0},
		{"", "1", -1},
		{"", "alpha", 1},
		{"1..2", "1.2", 0},
	}
	for _, tt := range tests {
		t.Run(tt.a+"_vs_"+tt.b, func(t *testing.T) {
			if got := CompareVersions(tt.a, tt.b); got != tt.want {
				t.Errorf("CompareVersions(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
			}
			if got := CompareVersions(tt.b, tt.a); got != -tt.want {
				t.Errorf("CompareVersions(%q, %q) = %d, want %d", tt.b, tt.a, got, -tt.want)
			}
		})
	}
}

func TestSortVersions(t *testing.T) {
	got := []string{"128.10.0", "9.0", "128.9.1", "128.10.0-beta2", "128.10.0-beta10", "128.10", "1.0.0+b", "1.0.0", "128.10.0.1"}
	slices.SortFunc(got, compareVersionsTotal)
	want := []string{"1.0.0", "1.0.0+b", "9.0", "128.9.1", "128.10.0-beta2", "128.10.0-beta10", "128.10", "128.10.0", "128.10.0.1"}
	if !slices.Equal(got, want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}
}

// FuzzCompareVersions checks that the order is one: antisymmetric, reflexive, transitive over
// the inputs, and blind to build metadata.
func FuzzCompareVersions(f *testing.F) {
	for _, s := range []string{"1.0", "1.0.0", "128.10.0", "1.0-rc1", "24.08-1", "1.0+x", "a.b", "0001", "1..", "-"} {
		f.Add(s, "1.0.1", "2.0rc1")
	}
	f.Fuzz(func(t *testing.T, a, b, c string) {
		ab, ba := CompareVersions(a, b), CompareVersions(b, a)
		if ab != -ba || ab < -1 || ab > 1 {
			t.Fatalf("not antisymmetric: %q %q: %d %d", a, b, ab, ba)
		}
		if CompareVersions(a, a) != 0 {
			t.Fatalf("%q differs from itself", a)
		}
		if CompareVersions(a+"+meta", a) != 0 && !containsPlus(a) {
			t.Fatalf("build metadata counts: %q", a)
		}
		if ab <= 0 && CompareVersions(b, c) <= 0 && CompareVersions(a, c) > 0 {
			t.Fatalf("not transitive: %q <= %q <= %q but %q > %q", a, b, c, a, c)
		}
		if tab := compareVersionsTotal(a, b); tab == 0 && a != b {
			t.Fatalf("total order ties %q and %q", a, b)
		}
	})
}

func containsPlus(s string) bool {
	for i := range len(s) {
		if s[i] == '+' {
			return true
		}
	}
	return false
}
