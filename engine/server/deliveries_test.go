package server

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func TestDeliveriesExpire(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)}
	d := newDeliveries(time.Hour, 100, clk.now)
	if !d.add("github/a") {
		t.Fatal("a new id is refused")
	}
	if d.add("github/a") || !d.has("github/a") {
		t.Fatal("a seen id is accepted again")
	}
	clk.t = clk.t.Add(59 * time.Minute)
	if !d.add("github/b") {
		t.Fatal("a second id is refused")
	}
	if !d.has("github/a") {
		t.Error("forgotten before its time")
	}
	clk.t = clk.t.Add(time.Minute)
	if d.has("github/a") {
		t.Error("remembered past its time")
	}
	if !d.has("github/b") || d.len() != 1 {
		t.Errorf("expiry took more than the old id: len %d", d.len())
	}
	if !d.add("github/a") {
		t.Error("an expired id is not accepted again")
	}
}

func TestDeliveriesBounded(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)}
	d := newDeliveries(24*time.Hour, 1000, clk.now)
	for i := range 50_000 {
		if !d.add(fmt.Sprintf("github/%d", i)) {
			t.Fatalf("id %d refused", i)
		}
		clk.t = clk.t.Add(time.Millisecond)
	}
	if n := d.len(); n != 1000 {
		t.Errorf("len = %d, want the cap 1000", n)
	}
	if !d.has("github/49999") || !d.has("github/49000") || d.has("github/48999") || d.has("github/0") {
		t.Error("the oldest ids are not the ones forgotten")
	}
	if c := cap(d.order); c > 4*1000 {
		t.Errorf("the order slice holds %d slots for 1000 ids", c)
	}
}

func TestDeliveryID(t *testing.T) {
	long := strings.Repeat("x", maxDeliveryID+1)
	tests := []struct {
		name     string
		provider string
		header   map[string]string
		want     string
	}{
		{"github", providerGitHub, map[string]string{"X-GitHub-Delivery": "abc"}, "github/abc"},
		{"github ignores another provider's header", providerGitHub, map[string]string{"X-Samverk-Delivery": "abc"}, ""},
		{"gitlab prefers the idempotency key", providerGitLab, map[string]string{"Idempotency-Key": "k", "X-Gitlab-Event-UUID": "u"}, "gitlab/k"},
		{"gitlab event uuid", providerGitLab, map[string]string{"X-Gitlab-Event-UUID": "u"}, "gitlab/u"},
		{"generic", providerGeneric, map[string]string{"X-Samverk-Delivery": " d "}, "generic/d"},
		{"none", providerGeneric, nil, ""},
		{"a long id is hashed", providerGitHub, map[string]string{"X-GitHub-Delivery": long}, "github/sha256:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := http.NewRequest("POST", "/hooks/"+tt.provider, nil)
			for k, v := range tt.header {
				r.Header.Set(k, v)
			}
			got := deliveryID(tt.provider, r)
			if got != tt.want && !(strings.HasSuffix(tt.want, ":") && strings.HasPrefix(got, tt.want) && len(got) < maxDeliveryID) {
				t.Errorf("deliveryID = %q, want %q", got, tt.want)
			}
		})
	}
}
