package refs

import "testing"

func TestClosest(t *testing.T) {
	cands := []string{"dell-latitude-5450", "firefox", "firefox-esr", "region-norr", "windows-11-23h2", "windows-11-24h2"}
	tests := []struct {
		name, want string
	}{
		{"windows-11-25h2", "windows-11-24h2"}, // a tie on distance goes to the nearer character
		{"windows-11-22h2", "windows-11-23h2"},
		{"windows-1124h2", "windows-11-24h2"},
		{"firefx", "firefox"},
		{"firefox-esr-128", "firefox-esr"}, // a candidate that is a prefix of the name
		{"dell-latitude", "dell-latitude-5450"},
		{"region-syd", ""}, // a shared prefix alone is not enough
		{"windows-12", ""},
		{"fi", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := closest(tt.name, cands); got != tt.want {
				t.Errorf("closest(%q) = %q, want %q", tt.name, got, tt.want)
			}
		})
	}
}

func TestDistance(t *testing.T) {
	tests := []struct {
		a, b  string
		limit int
		want  int
	}{
		{"kitten", "sitting", 5, 3},
		{"kitten", "sitting", 2, 3}, // beyond the limit: limit+1
		{"", "abc", 5, 3},
		{"abc", "abc", 0, 0},
		{"ab", "ba", 2, 2},
	}
	for _, tt := range tests {
		if got := distance(tt.a, tt.b, tt.limit); got != tt.want {
			t.Errorf("distance(%q, %q, %d) = %d, want %d", tt.a, tt.b, tt.limit, got, tt.want)
		}
	}
}
