package secrets

import (
	"strings"
	"testing"
)

func TestMatch(t *testing.T) {
	secret := strings.Repeat("k", MinAdminLength)
	tok := New(secret)
	tests := []struct {
		name      string
		tok       Token
		presented string
		want      bool
	}{
		{"the secret", tok, secret, true},
		{"empty", tok, "", false},
		{"a prefix", tok, secret[:10], false},
		{"longer", tok, secret + "k", false},
		{"one byte off", tok, secret[:len(secret)-1] + "x", false},
		{"unset matches nothing", Token{}, "", false},
		{"unset matches no value", New(""), secret, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.tok.Match(tt.presented); got != tt.want {
				t.Errorf("Match(%q) = %v, want %v", tt.presented, got, tt.want)
			}
		})
	}
	if !tok.IsSet() || New("").IsSet() {
		t.Error("IsSet is wrong")
	}
}

func TestCheckAdmin(t *testing.T) {
	tests := []struct {
		name    string
		token   string
		wantErr bool
	}{
		{"empty disables the admin API", "", false},
		{"long enough", strings.Repeat("a", MinAdminLength), false},
		{"one short", strings.Repeat("a", MinAdminLength-1), true},
		{"a word", "s3cret", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckAdmin(tt.token)
			if (err != nil) != tt.wantErr {
				t.Fatalf("CheckAdmin: %v, want error %v", err, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), tt.token) {
				t.Errorf("the message reveals the token: %v", err)
			}
		})
	}
}
