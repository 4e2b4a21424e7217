package backoff_test

import (
	"testing"
	"time"

	"samverk.io/samverk/engine/backoff"
)

func TestDelay(t *testing.T) {
	const base, max = 5 * time.Second, 10 * time.Minute
	tests := []struct {
		failures int
		full     time.Duration // the capped exponential; the delay lies in [full/2, full]
	}{
		{0, base},
		{1, base},
		{2, 10 * time.Second},
		{3, 20 * time.Second},
		{7, 320 * time.Second},
		{8, max},
		{40, max},
		{63, max},
		{1 << 20, max},
	}
	for _, tt := range tests {
		for range 200 {
			d := backoff.Delay(base, max, tt.failures)
			if d < tt.full/2 || d > tt.full {
				t.Fatalf("Delay(%d) = %v, want within [%v, %v]", tt.failures, d, tt.full/2, tt.full)
			}
		}
	}
	// A base above the cap is capped.
	if d := backoff.Delay(time.Hour, time.Minute, 1); d > time.Minute {
		t.Errorf("Delay with base above max = %v", d)
	}
}
