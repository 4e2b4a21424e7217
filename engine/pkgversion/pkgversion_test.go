package pkgversion

import (
	"slices"
	"testing"
)

func TestCompare(t *testing.T) {
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
			if got := Compare(tt.a, tt.b); got != tt.want {
				t.Errorf("Compare(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
			}
			if got := Compare(tt.b, tt.a); got != -tt.want {
				t.Errorf("Compare(%q, %q) = %d, want %d", tt.b, tt.a, got, -tt.want)
			}
		})
	}
}

func TestSortVersions(t *testing.T) {
	got := []string{"128.10.0", "9.0", "128.9.1", "128.10.0-beta2", "128.10.0-beta10", "128.10", "1.0.0+b", "1.0.0", "128.10.0.1"}
	slices.SortFunc(got, CompareTotal)
	want := []string{"1.0.0", "1.0.0+b", "9.0", "128.9.1", "128.10.0-beta2", "128.10.0-beta10", "128.10", "128.10.0", "128.10.0.1"}
	if !slices.Equal(got, want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}
}

// FuzzCompare checks that the order is one: antisymmetric, reflexive, transitive over
// the inputs, and blind to build metadata.
func FuzzCompare(f *testing.F) {
	for _, s := range []string{"1.0", "1.0.0", "128.10.0", "1.0-rc1", "24.08-1", "1.0+x", "a.b", "0001", "1..", "-"} {
		f.Add(s, "1.0.1", "2.0rc1")
	}
	f.Fuzz(func(t *testing.T, a, b, c string) {
		ab, ba := Compare(a, b), Compare(b, a)
		if ab != -ba || ab < -1 || ab > 1 {
			t.Fatalf("not antisymmetric: %q %q: %d %d", a, b, ab, ba)
		}
		if Compare(a, a) != 0 {
			t.Fatalf("%q differs from itself", a)
		}
		if Compare(a+"+meta", a) != 0 && !containsPlus(a) {
			t.Fatalf("build metadata counts: %q", a)
		}
		if ab <= 0 && Compare(b, c) <= 0 && Compare(a, c) > 0 {
			t.Fatalf("not transitive: %q <= %q <= %q but %q > %q", a, b, c, a, c)
		}
		if tab := CompareTotal(a, b); tab == 0 && a != b {
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

func TestShapeOf(t *testing.T) {
	tests := []struct {
		v    string
		want Shape
	}{
		{"24.08", Shape{SchemeNumeric, 2}},
		{"0.81", Shape{SchemeNumeric, 2}},
		{"0.81.0.0", Shape{SchemeNumeric, 4}},
		{"1.7.1-3build1", Shape{SchemeNumeric, 3}},
		{"1.7.1-3ubuntu0.24.04.1", Shape{SchemeNumeric, 3}},
		{"1.0rc1", Shape{SchemeNumeric, 2}},
		{"1.0.0+build.5", Shape{SchemeNumeric, 3}},
		{"2024.1", Shape{SchemeYear, 2}},
		{"25060.205.3499.6849", Shape{SchemeNumeric, 4}},
		{"1999", Shape{SchemeYear, 1}},
		{"A05", Shape{SchemeAlphabetic, 0}},
		{"8.", Shape{SchemeNumeric, 1}},
	}
	for _, tt := range tests {
		if got := ShapeOf(tt.v); got != tt.want {
			t.Errorf("ShapeOf(%q) = %v, want %v", tt.v, got, tt.want)
		}
	}
	if s := ShapeOf("24.08").String(); s != "numeric, 2 numbers" {
		t.Errorf("String = %q", s)
	}
}
