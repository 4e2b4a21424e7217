package history

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/compile"
)

func TestCache(t *testing.T) {
	ctx := context.Background()
	c := newCache(2)
	var loads atomic.Int64
	load := func() (*compile.Compiler, error) {
		loads.Add(1)
		cat, _ := catalog.New(nil)
		return compile.New(cat, "x"), nil
	}
	get := func(rev string) *compile.Compiler {
		t.Helper()
		comp, err := c.get(ctx, rev, load)
		if err != nil || comp == nil {
			t.Fatalf("%s: %v", rev, err)
		}
		return comp
	}

	a := get("a")
	if get("a") != a || loads.Load() != 1 {
		t.Fatalf("a was loaded %d times", loads.Load())
	}
	get("b")
	get("a") // a is now the most recently used
	get("c") // evicts b
	if c.len() != 2 {
		t.Fatalf("%d revisions cached, want at most 2", c.len())
	}
	n := loads.Load()
	if get("a") != a || loads.Load() != n {
		t.Fatal("a, used last, was evicted")
	}
	get("b")
	if loads.Load() != n+1 {
		t.Fatal("b, used least recently, was not evicted")
	}

	// Many asking for one revision at once load it once.
	loads.Store(0)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { get("d") })
	}
	wg.Wait()
	if loads.Load() != 1 {
		t.Fatalf("d was loaded %d times", loads.Load())
	}

	// A failed load is not kept.
	fail := errors.New("repository unreadable")
	if _, err := c.get(ctx, "e", func() (*compile.Compiler, error) { return nil, fail }); !errors.Is(err, fail) {
		t.Fatalf("err %v", err)
	}
	loads.Store(0)
	get("e")
	if loads.Load() != 1 {
		t.Fatal("the failed load of e was kept")
	}
}
