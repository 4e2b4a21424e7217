package fleet

import (
	"fmt"
	"slices"
	"strings"

	"samverk.io/samverk/engine/compile"
)

// Overlay is what one device has on top of its class's desired state: the products granted to
// it alone (Present) and those whose grant has ended (Absent), by product id as a Service's
// spec.delivers.products names them. Present products are chosen as the device's group
// chooses its own, for the revision its ring is served; an absent product the group does not
// install itself becomes an absent resource, which the agent uninstalls. A product in both
// lists is present. See compile.Overlay.
type Overlay struct {
	Present, Absent []string
}

// Bounds on one overlay.
const (
	maxOverlayProducts = 1000
	maxProductID       = 63
)

// SetOverlays replaces every device's overlay at once: each device named in overlays (by id)
// gets its overlay, every other device none. A device with an overlay is served a state of
// its own (its own ETag), shared with the devices of its class that have the same overlay;
// the devices without one keep sharing their class's. The overlays hold across publishes and
// ring changes, and apply to devices not yet in memory once they are loaded.
//
// A malformed device id, a product id the newest revision published has no Package document
// for, or an overlay past the bounds is an error naming them, and nothing changes. Before the
// first publish product ids are not checked: a product the catalog does not have is then a
// condition of the device's state.
func (s *Service) SetOverlays(overlays map[string]Overlay) error {
	n, err := s.ix.setOverlays(overlays)
	if err != nil {
		return fmt.Errorf("set overlays: %w", err)
	}
	s.log.Info("device overlays set", "devices", len(overlays), "overlays", n)
	return nil
}

// setOverlays is SetOverlays; it returns the number of distinct overlays.
func (ix *index) setOverlays(overlays map[string]Overlay) (int, error) {
	type assigned struct {
		k   devKey
		o   compile.Overlay
		key string
	}
	type normal struct {
		o   compile.Overlay
		key string
	}
	todo := make([]assigned, 0, len(overlays))
	products := map[string]bool{}
	// Devices that share a grant usually pass equal overlays: each distinct one, by its lists
	// as given, is normalised once.
	seen := map[string]normal{}
	for id, o := range overlays {
		k, ok := parseID(id)
		if !ok {
			return 0, fmt.Errorf("device %.80q: malformed device id", id)
		}
		if n := len(o.Present) + len(o.Absent); n > maxOverlayProducts {
			return 0, fmt.Errorf("device %s: %d products; at most %d", id, n, maxOverlayProducts)
		}
		for _, list := range [][]string{o.Present, o.Absent} {
			for _, p := range list {
				if !validProductID(p) {
					return 0, fmt.Errorf("device %s: product id %.80q: want 1 to %d lower-case letters, digits and '-'", id, p, maxProductID)
				}
				products[p] = true
			}
		}
		// Valid ids hold no newline or NUL: raw is unambiguous.
		raw := strings.Join(o.Present, "\n") + "\x00" + strings.Join(o.Absent, "\n")
		n, known := seen[raw]
		if !known {
			n.o = compile.Overlay(o).Normal()
			n.key = n.o.Key()
			seen[raw] = n
		}
		if n.key == "" {
			continue
		}
		todo = append(todo, assigned{k, n.o, n.key})
	}

	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.compiler != nil {
		if unknown := ix.compiler.UnknownProducts(slices.Collect(mapKeys(products))); len(unknown) > 0 {
			return 0, fmt.Errorf("the catalog (revision %s) has no product %s", ix.revision, strings.Join(unknown, ", "))
		}
	}
	interned := make(map[string]*devOverlay, len(ix.overlays))
	var next [shardCount]map[devKey]*devOverlay
	for _, a := range todo {
		key := a.key
		o := interned[key]
		if o == nil {
			if o = ix.overlays[key]; o == nil {
				o = &devOverlay{key: key, o: a.o}
			}
			interned[key] = o
		}
		i := a.k[0] % shardCount
		if next[i] == nil {
			next[i] = map[devKey]*devOverlay{}
		}
		next[i][a.k] = o
	}
	for i := range ix.shards {
		s := &ix.shards[i]
		s.mu.Lock()
		for k := range s.over {
			if _, stays := next[i][k]; stays {
				continue
			}
			if e, ok := s.m[k]; ok {
				e.ov = nil
				s.m[k] = e
			}
		}
		for k, o := range next[i] {
			if e, ok := s.m[k]; ok && e.ov != o {
				e.ov = o
				s.m[k] = e
			}
		}
		s.over = next[i]
		s.mu.Unlock()
	}
	ix.overlays = interned
	ix.reviewOverlays()
	return len(interned), nil
}

// validProductID reports whether id may be a product id: a DNS label, as the schema has it,
// loosely (it is checked against the catalog once one is published).
func validProductID(id string) bool {
	if id == "" || len(id) > maxProductID {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
