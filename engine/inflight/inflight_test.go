package inflight

import (
	"context"
	"testing"
	"time"
)

func TestWait(t *testing.T) {
	var c Counter
	if err := c.Wait(context.Background()); err != nil {
		t.Fatalf("Wait with nothing in flight: %v", err)
	}
	c.Add(1)
	c.Add(1)
	done := make(chan error, 1)
	go func() { done <- c.Wait(context.Background()) }()
	c.Add(-1)
	select {
	case err := <-done:
		t.Fatalf("Wait returned (%v) with one still in flight", err)
	case <-time.After(20 * time.Millisecond):
	}
	c.Add(-1)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if c.Len() != 0 {
		t.Fatalf("Len = %d", c.Len())
	}
	// Work queued again after an idle moment is waited for anew.
	c.Add(1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Wait(ctx); err != context.Canceled {
		t.Fatalf("Wait on an ended context with work in flight = %v", err)
	}
}
